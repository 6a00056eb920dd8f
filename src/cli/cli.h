/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The velum command line: shared declarations of its subcommands. Exit
 * statuses: 0 success (for trace: the trace ran, whatever the verdict),
 * 1 runtime failure (agent unreachable, not found, I/O), 2 bad input or
 * usage (the agent answered 400).
 */
#ifndef VELUM_CLI_CLI_H
#define VELUM_CLI_CLI_H

#define CLI_EXIT_OK    0
#define CLI_EXIT_FAIL  1
#define CLI_EXIT_USAGE 2

/* Subcommand groups: argv[0] is the group's name ("endpoint", ...). */
int cli_endpoint(int argc, char **argv);
int cli_policy(int argc, char **argv);
int cli_identity(int argc, char **argv);
int cli_bpf(int argc, char **argv);
int cli_observe(int argc, char **argv);
int cli_status(int argc, char **argv);

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
struct agent_model;
struct errbuf;
int cli_load_endpoints(struct agent_model *m, const char *path, struct errbuf *eb);

#endif
