/* SPDX-License-Identifier: Apache-2.0 */
/*
 * velumd's API handlers' private interface (src/agent/api*.c): api.c runs
 * the HTTP servers and routes each request through one table of
 * {method, path pattern, handler}; each api_<resource>.c holds the handlers
 * of one resource. A handler gets the call, answers it with one of the
 * agent_api_reply/error/fail() functions, and holds a->lock while it
 * touches agent state.
 */
#ifndef VELUM_AGENT_API_INTERNAL_H
#define VELUM_AGENT_API_INTERNAL_H

#include <jansson.h>
#include <microhttpd.h>

#include "agent/agent.h"

/*
 * Connections: a client that sends nothing for API_IDLE_S seconds (a
 * partial request, a dead peer) is closed; streams of `observe --follow`
 * send a keep-alive every 5 s and may hold at most API_FOLLOWERS of the
 * API_CONNECTIONS, so commands always find a free one.
 */
#define API_CONNECTIONS 512
#define API_FOLLOWERS	256
#define API_IDLE_S	10

/*
 * Every answer velumd makes carries this header (api_front.c removes it):
 * an answer without it is the HTTP library's own, replaced by a JSON error.
 */
#define FRONT_MARK "X-Velum-Api"

struct agent_front;

/*
 * Accepts API connections on lfd (borrowed) in a thread of its own: peers
 * that are not root get 403, connections over max_conns 503 (as JSON), the
 * others are relayed to d (MHD_add_connection()) with the library's own
 * answers replaced (see api_front.c). NULL with errno on failure.
 */
struct agent_front *agent_front__start(int lfd, struct MHD_Daemon *d, unsigned max_conns);
/* Stops accepting and ends the relays (within a second). Accepts NULL. */
void agent_front__stop(struct agent_front *f);

struct agent_http {
	struct agent *a;
	struct MHD_Daemon *api, *metrics;
	struct agent_front *front;
	char metrics_addr[64];
	atomic_int followers;
};

/* One API request as a handler sees it. */
struct api_call {
	struct agent_http *h;
	struct agent *a;
	struct MHD_Connection *c;
	/*
	 * The path's variable segments joined by '/' ("ns/name" for
	 * /v1/endpoints/{ns}/{name}), or NULL when the route has none.
	 */
	const char *arg;
	json_t *body; /* POST and PATCH: the request's JSON object (borrowed); else NULL */
};

typedef enum MHD_Result (*api_handler)(const struct api_call *call);

/*
 * Queues response r with status: adds FRONT_MARK and "Connection: close"
 * (one request per connection, so the front door sees every answer's head).
 */
enum MHD_Result agent_api_queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *r);
/* Queues buf (takes it; NULL answers 500 out of memory) with a content type. */
enum MHD_Result agent_api_send_buf(struct MHD_Connection *c, unsigned status, char *buf, size_t len,
				   const char *type);
/* Queues a copy of text (borrowed), without allocating a JSON tree: the answer of last resort. */
enum MHD_Result agent_api_send_copy(struct MHD_Connection *c, unsigned status, const char *text,
				    const char *type);
/* Answers j (takes it; NULL answers 500) as JSON with a trailing newline. */
enum MHD_Result agent_api_reply(const struct api_call *call, unsigned status, json_t *j);
/* Answers {"error": msg}. */
enum MHD_Result agent_api_error(const struct api_call *call, unsigned status, const char *msg);
/* Answers a failed agent call: eb's message (else strerror), status from err (agent_err_status()). */
enum MHD_Result agent_api_fail(const struct api_call *call, int err, const struct errbuf *eb);
/* A query-string argument, or NULL. */
const char *agent_api_query(const struct api_call *call, const char *key);

/* A label set as a JSON array of "source:key=value" strings (new reference). */
json_t *agent_api_labels_json(const struct pol_labels *ls);
/*
 * The endpoint an API path names (call->arg): "ns/name", or a decimal id
 * (the /v1/endpoints/{epid} routes). The caller holds a->lock; the result
 * is borrowed from the model. NULL with msg (len bytes) saying which
 * endpoint does not exist.
 */
const struct model_ep *agent_api_endpoint_ref(struct agent *a, const char *ref, char *msg,
					      size_t len);

/* An identity's CIDR ("10.0.0.0/8") into buf, or NULL if it has none. */
const char *agent_api_cidr_of(const struct id_entry *ie, char *buf, size_t len);

/* The handlers, by resource. */
enum MHD_Result agent_api_status(const struct api_call *call);
enum MHD_Result agent_api_version(const struct api_call *call);
enum MHD_Result agent_api_endpoints_list(const struct api_call *call);
enum MHD_Result agent_api_endpoint_create(const struct api_call *call);
enum MHD_Result agent_api_endpoint_get(const struct api_call *call);
enum MHD_Result agent_api_endpoint_patch(const struct api_call *call);
enum MHD_Result agent_api_endpoint_delete(const struct api_call *call);
enum MHD_Result agent_api_bpf_policy(const struct api_call *call);
enum MHD_Result agent_api_bpf_endpoints(const struct api_call *call);
enum MHD_Result agent_api_bpf_ct(const struct api_call *call);
enum MHD_Result agent_api_bpf_ipcache(const struct api_call *call);
enum MHD_Result agent_api_identities(const struct api_call *call);
enum MHD_Result agent_api_namespaces_list(const struct api_call *call);
enum MHD_Result agent_api_namespace_get(const struct api_call *call);
enum MHD_Result agent_api_namespace_patch(const struct api_call *call);
enum MHD_Result agent_api_namespace_delete(const struct api_call *call);
enum MHD_Result agent_api_policies_get(const struct api_call *call);
enum MHD_Result agent_api_policies_import(const struct api_call *call);
enum MHD_Result agent_api_policies_delete(const struct api_call *call);
enum MHD_Result agent_api_trace(const struct api_call *call);
enum MHD_Result agent_api_flows(const struct api_call *call);

/*
 * A PATCH's JSON object of labels ({"key": "value", ...}; with nulls, a
 * null member too) as "key=value" strings into set[] (new, counted in
 * *nset; with bare_empty an empty value is written "key") and the null
 * members' keys into rm[] (borrowed from obj, *nrm); both arrays of
 * json_object_size(obj) + 1. field names the object in errors; a key
 * holding '=' is refused (its value would move).
 */
int agent_api_label_members(json_t *obj, const char *field, bool nulls, bool bare_empty, char **set,
			    size_t *nset, const char **rm, size_t *nrm, struct errbuf *eb);

#endif
