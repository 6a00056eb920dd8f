/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CLI's side of docs/api.md: HTTP/1.1 over velumd's unix socket,
 * JSON bodies (jansson), and the error conventions every subcommand shares.
 * The socket is -H/--host, else $VELUM_SOCKET, else /run/velum/velum.sock.
 */
#ifndef VELUM_CLI_CLIENT_H
#define VELUM_CLI_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/strbuf.h"

#define CLI_SOCKET_DEFAULT "/run/velum/velum.sock"

/* The socket path in use (set once by main). */
extern const char *cli_socket;

struct cli_resp {
	long status;	    /* HTTP status, 0 if the request did not complete */
	struct strbuf body; /* the answer's bytes */
};

/*
 * Sends method path (with query) and an optional JSON body (borrowed) to
 * velumd. Returns 0 with *r filled whatever the HTTP status, or prints why
 * the agent cannot be reached ("cannot reach velumd at ...: ... Is it
 * running? Start it with: velumd") and returns CLI_EXIT_FAIL. r->body is the
 * caller's to free (cli_resp_free()).
 */
int cli_request(const char *method, const char *path, const char *body, size_t len,
		struct cli_resp *r);

/*
 * Streams GET path, calling line(ctx, text) for every complete line (without
 * its newline) until the agent closes the stream, line returns non-zero or
 * the user interrupts. Returns an exit status.
 */
int cli_stream(const char *path, int (*line)(void *ctx, const char *text, size_t len), void *ctx);

void cli_resp_free(struct cli_resp *r);

/*
 * For a non-2xx answer: prints "velum <cmd>: <the agent's error>" and returns
 * the exit status (2 for 400, else 1). For 2xx returns 0.
 */
int cli_check(const struct cli_resp *r, const char *cmd);

/* Parses the body as JSON (prints an error and returns NULL on failure). */
json_t *cli_json(const struct cli_resp *r, const char *cmd);

/* Appends s to sb percent-encoded for a query string. */
void cli_url_escape(struct strbuf *sb, const char *s);

/* Prints j indented, with a trailing newline. */
void cli_print_json(json_t *j);

#endif
