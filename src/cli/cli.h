/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The velum command line: shared declarations of its subcommands. Exit
 * statuses: 0 success (for trace: the trace ran, whatever the verdict),
 * 1 runtime failure (agent unreachable, not found, I/O), 2 bad input or
 * usage (the agent answered 400).
 */
#ifndef VELUM_CLI_CLI_H
#define VELUM_CLI_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "client/client.h"

#define CLI_EXIT_OK    0
#define CLI_EXIT_FAIL  1
#define CLI_EXIT_USAGE 2

/* velumd's socket: -H/--host, else $VELUM_SOCKET, else CLIENT_SOCKET_DEFAULT (set by main). */
extern const char *cli_socket;
/* Bound on connecting to velumd and on each wait for its answer (0: none). */
#define CLI_TIMEOUT_DEFAULT_MS 60000
extern int cli_timeout_ms;

/*
 * client_request() to cli_socket. Returns 0 with *r filled whatever the
 * HTTP status (the caller frees it with client_resp_free()), or prints why
 * the agent cannot be reached or the exchange failed ("velum: cannot reach
 * velumd at ...") and returns CLI_EXIT_FAIL.
 */
int cli_request(const char *method, const char *path, const char *body, size_t len,
		struct client_resp *r);

/*
 * Streams GET path, calling line(ctx, text) for every complete line until
 * the agent closes the stream, line returns non-zero or the user interrupts
 * (SIGINT, SIGTERM). Prints what went wrong; returns an exit status (a
 * --follow stream the agent closes is a failure).
 */
int cli_stream(const char *path, int (*line)(void *ctx, const char *text, size_t len), void *ctx);

/*
 * For a non-2xx answer: prints "velum <cmd>: <the agent's error>" and returns
 * the exit status (2 for 400, else 1). For 2xx returns 0.
 */
int cli_check(const struct client_resp *r, const char *cmd);

/* Parses the body as JSON (prints an error and returns NULL on failure). */
json_t *cli_json(const struct client_resp *r, const char *cmd);

/* The structured output -o chose: json (the default) or yaml. */
enum cli_format { CLI_FMT_JSON, CLI_FMT_YAML };

/*
 * Takes the argument of -o: "json" or "yaml" (sets the format for
 * cli_print_json() and *structured, if given, to true); -EINVAL otherwise.
 */
int cli_output_parse(const char *arg, bool *structured);
enum cli_format cli_output_format(void);

/*
 * Prints j in the chosen format: JSON indented, or the same document as
 * YAML, with a trailing newline.
 */
void cli_print_json(json_t *j);
/* Prints j as one YAML document on f; 0 or a negative errno. */
int cli_print_yaml(FILE *f, json_t *j);
/* Prints JSON text (len bytes) in the chosen format; -EINVAL if it is not JSON. */
int cli_print_json_text(const char *text, size_t len);

/* One command of a group: its name, an optional alias, and what runs it. */
struct cli_cmd {
	const char *name, *alias;
	int (*fn)(int argc, char **argv);
};

/*
 * Runs the command of cmds (n of them) that argv[1] names, with argv from
 * there on. No command prints usage_text on stderr (exit 2), --help/-h on
 * stdout (0); an unknown one "<group>: unknown <what> 'x'" and the usage.
 */
int cli_dispatch(const char *group, const char *what, const struct cli_cmd *cmds, size_t n,
		 const char *usage_text, int argc, char **argv);

/* Is s an endpoint's numeric id (decimal digits only, as the API's /v1/endpoints/{id})? */
bool cli_is_endpoint_id(const char *s);

/* Subcommand groups: argv[0] is the group's name ("endpoint", ...). */
int cli_endpoint(int argc, char **argv);
int cli_namespace(int argc, char **argv);
int cli_policy(int argc, char **argv);
int cli_identity(int argc, char **argv);
int cli_bpf(int argc, char **argv);
int cli_observe(int argc, char **argv);
int cli_status(int argc, char **argv);
int cli_version(int argc, char **argv);

/*
 * Prints "<cmd>: <message>" and then usage (may be NULL) on stderr; returns
 * CLI_EXIT_USAGE for `return cli_usage_err(...)`.
 */
int cli_usage_err(const char *cmd, const char *usage, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* `velum policy trace ...` (argv[0] is "trace"). */
int cli_policy_trace(int argc, char **argv);
/* `velum policy resolve --offline ...`: every endpoint's enforced entries. */
int cli_policy_resolve(int argc, char **argv);

/*
 * Loads an endpoints file (JSON array of {name, namespace, labels, ips,
 * ports}) into the model. Returns 0 or a negative errno with eb set to
 * "file:line: path: message".
 */
struct model;
struct errbuf;
int cli_load_endpoints(struct model *m, const char *path, struct errbuf *eb);

/*
 * `velum policy import --dry-run` once the agent validated files (the
 * import's [{"name", "content"}], borrowed): prints the enforced entries
 * each endpoint would gain and lose and the policy verdicts in the agent's
 * flow buffer that would flip (dryrun.c). Returns an exit status.
 */
int cli_policy_dry_run(json_t *files, bool audit);

struct cli_table;
/* The table of `velum bpf policy get`; marked: a first column for "+" or "-". */
void cli_bpf_policy_table(struct cli_table *t, bool marked);
/*
 * Adds one policy map entry (an object of GET /v1/endpoints/X/bpf-policy's
 * "entries", borrowed) as `velum bpf policy get` prints it; numeric: the
 * peer's identity instead of its labels; mark: the first cell when marked.
 */
void cli_bpf_policy_row(struct cli_table *t, json_t *e, bool numeric, const char *mark);

#endif
