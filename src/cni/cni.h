/* SPDX-License-Identifier: Apache-2.0 */
/*
 * velum-cni, the CNI plugin: the runtime's side (environment, network
 * configuration, results and errors in the CNI spec's JSON, spec.c) and the
 * agent's side (velumd's API over its unix socket, call.c). The plugin holds
 * no state of its own: velumd keeps each endpoint's container id and
 * interface name.
 */
#ifndef VELUM_CNI_CNI_H
#define VELUM_CNI_CNI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define CNI_SOCKET_DEFAULT "/run/velum/velum.sock"

/* The spec's reserved error codes (SPEC section 5) and velum's own (>= 100). */
enum cni_code {
	CNI_ERR_VERSION = 1,	/* incompatible CNI version */
	CNI_ERR_FIELD = 2,	/* unsupported field in the network configuration */
	CNI_ERR_UNKNOWN = 3,	/* container unknown or does not exist */
	CNI_ERR_ENV = 4,	/* invalid necessary environment variables */
	CNI_ERR_IO = 5,		/* I/O failure */
	CNI_ERR_DECODE = 6,	/* failed to decode content */
	CNI_ERR_CONFIG = 7,	/* invalid network config */
	CNI_ERR_TRY_AGAIN = 11, /* try again later (velumd not reachable) */
	CNI_ERR_REFUSED = 100,	/* velumd refused the request (its message says why) */
	CNI_ERR_AGENT = 101,	/* velumd failed while serving it */
	CNI_ERR_MISMATCH = 102, /* CHECK: what ADD made is not there as it was */
};

/* A CNI error: printed as {"cniVersion", "code", "msg", "details"} on stdout. */
struct cni_err {
	int code;
	char msg[256];
	char details[1024];
};

/* Sets e (printf format for details) and returns -1 for convenience. */
int cni_fail(struct cni_err *e, int code, const char *msg, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* What the runtime asked for: the environment and stdin. */
struct cni_req {
	const char *command; /* ADD, DEL, CHECK, VERSION, STATUS, GC */
	const char *container_id, *netns, *ifname;
	/* CNI_ARGS */
	const char *pod_name, *pod_namespace, *ip;
	/* stdin */
	json_t *conf;		  /* the whole configuration (owned) */
	const char *cni_version;  /* conf's cniVersion */
	const char *socket;	  /* velumd's socket */
	const char *ep_namespace; /* the endpoint's namespace */
	const char *runtime;	  /* "podman", "none", or NULL: detect */
	json_t *prev_result;	  /* borrowed from conf, or NULL */
	const char *rc_ip;	  /* runtimeConfig.ips[0], or NULL */
	char args_buf[4096];	  /* CNI_ARGS split in place */
};

/* Versions this plugin speaks, oldest first (NULL-terminated). */
extern const char *const cni_versions[];

/*
 * Reads the environment and the configuration text (len bytes) into *r for
 * every command but VERSION. Returns 0, or -1 with e set (codes 1, 2, 4, 6,
 * 7). r->conf is the caller's to json_decref() either way.
 */
int cni_req_parse(struct cni_req *r, const char *text, size_t len, struct cni_err *e);

/*
 * VERSION: the answer for the configuration text (only its cniVersion is
 * read; no other variable). Returns a new JSON object.
 */
json_t *cni_version_result(const char *text, size_t len);

/* Prints e as the spec's error object for version (NULL: the newest) on stdout. */
void cni_print_error(const struct cni_err *e, const char *version);

/*
 * Sends method path with body (borrowed, or NULL) to velumd at socket
 * (src/client). On a 2xx answer returns 0 with *status and *resp (new JSON,
 * or NULL for an empty body). Otherwise returns -1 with *status the HTTP
 * status (0 if none arrived) and e set: velumd not running (11, saying how
 * to start it), not answering or not ready (11), another I/O failure (5),
 * velumd's own message for a refusal (100) or its failure (101).
 */
int cni_call(const char *socket, const char *method, const char *path, json_t *body, long *status,
	     json_t **resp, struct cni_err *e);

/* Commands (cmd.c): 0, or -1 with e set; ADD and CHECK print their result. */
int cni_cmd_add(struct cni_req *r, struct cni_err *e);
int cni_cmd_del(struct cni_req *r, struct cni_err *e);
int cni_cmd_check(struct cni_req *r, struct cni_err *e);
int cni_cmd_status(struct cni_req *r, struct cni_err *e);
int cni_cmd_gc(struct cni_req *r, struct cni_err *e);

#endif
