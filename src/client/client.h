/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client side of docs/api.md, as a library: HTTP/1.1 over velumd's unix
 * socket with JSON bodies (jansson). It never prints and never exits: every
 * failure is a negative errno with a message in a struct errbuf, so the
 * `velum` command, the CNI plugin and the benchmarks share it and each says
 * what went wrong in its own words.
 *
 * A request is one connection (Connection: close). Answers are read with
 * Content-Length, chunked encoding or up to the end of the connection.
 *
 * Typical use (a CNI plugin adding an endpoint):
 *
 *	struct client c = { .socket = CLIENT_SOCKET_DEFAULT, .timeout_ms = 5000 };
 *	struct errbuf eb;
 *	json_t *req = json_pack("{s:s}", "name", "web"), *ans = NULL;
 *	long status;
 *	int err = client_call(&c, "POST", "/v1/endpoints", req, &status, &ans, &eb);
 *	// err == 0: status is 2xx and ans is the parsed answer (or NULL if empty)
 *	// err < 0: eb.msg says why (the agent's own "error" message for a
 *	//          non-2xx answer, whose status is in status; else 0 there)
 *	json_decref(req);
 *	json_decref(ans);
 */
#ifndef VELUM_CLIENT_CLIENT_H
#define VELUM_CLIENT_CLIENT_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/errbuf.h"
#include "lib/strbuf.h"

#define CLIENT_SOCKET_DEFAULT "/run/velum/velum.sock"

/* Where the agent is. Plain data: fill it in and pass it by pointer. */
struct client {
	const char *socket; /* borrowed; NULL means CLIENT_SOCKET_DEFAULT */
	/*
	 * Bounds, in milliseconds, connecting and each send and receive of
	 * client_request() and client_call() (a hung agent gives -ETIMEDOUT);
	 * client_stream() applies it to connecting and sending only. 0 waits
	 * forever.
	 */
	int timeout_ms;
};

struct client_resp {
	long status;	    /* HTTP status, 0 until an answer arrived */
	struct strbuf body; /* the answer's bytes; the caller frees it (client_resp_free()) */
};

/*
 * Sends method path (path with its query, already escaped) and an optional
 * body (borrowed, len bytes, sent as application/json when non-NULL).
 * Returns 0 with *r filled whatever the HTTP status; or a negative errno
 * with *r empty and eb set: the agent cannot be reached ("cannot reach
 * velumd at ...: ..." with a hint to start it), -ETIMEDOUT, or the
 * exchange broke ("request to velumd at ... failed: ...").
 */
int client_request(const struct client *c, const char *method, const char *path, const char *body,
		   size_t len, struct client_resp *r, struct errbuf *eb);

void client_resp_free(struct client_resp *r);

/*
 * For a 2xx answer returns 0. Otherwise sets eb to the agent's message (its
 * JSON "error" member, else "velumd answered <status>: <body>") and returns
 * the errno the status stands for: 400 -EINVAL, 404 -ENOENT, 409 -EEXIST,
 * 503 -EAGAIN, anything else -EIO.
 */
int client_resp_error(const struct client_resp *r, struct errbuf *eb);

/*
 * Parses the answer's body as JSON. Returns a new reference, or NULL with
 * eb set ("unreadable answer from velumd: ...").
 */
json_t *client_resp_json(const struct client_resp *r, struct errbuf *eb);

/*
 * One call in one step: serialises body (borrowed; NULL sends none), sends
 * it, and on a 2xx answer returns 0 with *out the parsed answer (a new
 * reference; NULL when the body is empty). On a non-2xx answer returns
 * client_resp_error()'s errno with eb set; on transport failure the errno
 * of client_request(). *status (may be NULL) is the HTTP status, 0 if none
 * arrived; *out is NULL whenever the call fails.
 */
int client_call(const struct client *c, const char *method, const char *path, const json_t *body,
		long *status, json_t **out, struct errbuf *eb);

/*
 * Streams GET path: calls line(ctx, text, len) for every complete non-empty
 * line of a 200 answer (without its newline; blank lines are the agent's
 * keep-alives) until the agent ends the answer, line() returns non-zero, or
 * *stop (may be NULL) is set (by a signal handler installed without
 * SA_RESTART, so that a blocked read returns). A last line without a newline
 * is passed on when the answer ends. Returns 1 if line() or *stop ended it,
 * 0 if the agent did, with r->status set and, for a non-200 answer, the
 * answer's body in r->body (the caller frees r; see client_resp_error());
 * or a negative errno with eb set when no answer arrived (not reachable, or
 * "stream from velumd at ... failed: ...").
 */
int client_stream(const struct client *c, const char *path,
		  int (*line)(void *ctx, const char *text, size_t len), void *ctx,
		  const volatile sig_atomic_t *stop, struct client_resp *r, struct errbuf *eb);

/* Appends s to sb percent-encoded for a path segment or query value. */
void client_url_escape(struct strbuf *sb, const char *s);

#endif
