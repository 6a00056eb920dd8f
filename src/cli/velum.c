/* SPDX-License-Identifier: Apache-2.0 */
/*
 * velum: the user's command line. Dispatches `velum <group> <verb> ...` to
 * the subcommands (each prints its own --help); all but the offline policy
 * commands talk to velumd's API (src/client/). The global option
 * -H/--host SOCKET (or $VELUM_SOCKET) names the agent's socket.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "velum_completion.h"

static const char usage[] =
	"usage: velum [-H SOCKET] <command> [args]\n"
	"\n"
	"  endpoint create|delete|list|get|label|config|exec   workloads and their labels\n"
	"  namespace list|get|label|delete                     namespaces and their labels\n"
	"  policy import|get|delete|trace|resolve              policies\n"
	"  identity list|get                                   security identities\n"
	"  bpf policy get ENDPOINT                             the policy map the kernel enforces\n"
	"  bpf endpoint list                                   the endpoints BPF host routing delivers to\n"
	"  bpf ipcache list                                    prefixes and their identities in the kernel\n"
	"  bpf ct list                                         the kernel's conntrack entries\n"
	"  observe [--follow] [filters]                        the flow log (Hubble style)\n"
	"  status [--verbose]                                  agent, datapath, store, counts\n"
	"  version                                             this CLI's and the agent's versions\n"
	"  completion bash                                     shell completion script\n"
	"\n"
	"  -H, --host SOCKET   velumd's API socket [$VELUM_SOCKET, else " CLIENT_SOCKET_DEFAULT
	"]\n"
	"  --timeout SECONDS   give up on velumd after this long without an answer; 0: wait\n"
	"                      for ever [$VELUM_TIMEOUT, else 60]\n"
	"\n"
	"Tables by default; -o json or -o yaml on every command that prints objects.\n"
	"Run 'velum <command> --help' for a command's options.\n";

static const char completion_usage[] =
	"usage: velum completion bash\n"
	"\n"
	"Prints the bash completion script. Load it with: source <(velum completion bash)\n"
	"or install it as /usr/share/bash-completion/completions/velum.\n";

static int cmd_completion(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "bash")) {
		fputs(velum_completion_bash, stdout);
		return CLI_EXIT_OK;
	}
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(completion_usage, stdout);
		return CLI_EXIT_OK;
	}
	fprintf(stderr, "velum completion: only bash is supported\n%s", completion_usage);
	return CLI_EXIT_USAGE;
}

/* Seconds (0 to 86400) into cli_timeout_ms; -EINVAL if s is not that. */
static int set_timeout(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < 0 || v > 86400)
		return -EINVAL;
	cli_timeout_ms = (int)v * 1000;
	return 0;
}

/*
 * Takes -H/--host SOCKET and --timeout SECONDS out of argv (up to a "--");
 * returns the new argc, or -EINVAL (message printed) for a bad timeout.
 */
static int take_host(int argc, char **argv)
{
	const char *t;
	int i, j;

	for (i = j = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			while (i < argc)
				argv[j++] = argv[i++];
			break;
		}
		if ((!strcmp(argv[i], "-H") || !strcmp(argv[i], "--host")) && i + 1 < argc) {
			cli_socket = argv[++i];
			continue;
		}
		if (!strncmp(argv[i], "--host=", 7)) {
			cli_socket = argv[i] + 7;
			continue;
		}
		t = !strcmp(argv[i], "--timeout") && i + 1 < argc ? argv[++i] :
		    !strncmp(argv[i], "--timeout=", 10)		  ? argv[i] + 10 :
								    NULL;
		if (t) {
			if (set_timeout(t)) {
				fprintf(stderr,
					"velum: --timeout %s: not a number of seconds "
					"(0 to 86400)\n",
					t);
				return -EINVAL;
			}
			continue;
		}
		argv[j++] = argv[i];
	}
	argv[j] = NULL;
	return j;
}

int cli_usage_err(const char *cmd, const char *usage_text, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s", usage_text ? usage_text : "");
	return CLI_EXIT_USAGE;
}

/* The command groups: argv[1] (or its alias) picks one; it gets argv from there on. */
static const struct cli_cmd commands[] = {
	/* clang-format off */
	{ "policy",	NULL,	cli_policy },
	{ "endpoint",	"ep",	cli_endpoint },
	{ "namespace",	"ns",	cli_namespace },
	{ "identity",	NULL,	cli_identity },
	{ "bpf",	NULL,	cli_bpf },
	{ "observe",	NULL,	cli_observe },
	{ "status",	NULL,	cli_status },
	{ "version",	NULL,	cli_version },
	{ "completion",	NULL,	cmd_completion },
	/* clang-format on */
};

int cli_dispatch(const char *group, const char *what, const struct cli_cmd *cmds, size_t n,
		 const char *usage_text, int argc, char **argv)
{
	size_t i;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage_text, argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
	}
	for (i = 0; i < n; i++)
		if (!strcmp(argv[1], cmds[i].name) ||
		    (cmds[i].alias && !strcmp(argv[1], cmds[i].alias)))
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "%s: unknown %s '%s'\n%s", group, what, argv[1], usage_text);
	return CLI_EXIT_USAGE;
}

int main(int argc, char **argv)
{
	const char *env = getenv("VELUM_SOCKET");

	if (env && *env)
		cli_socket = env;
	env = getenv("VELUM_TIMEOUT");
	if (env && *env && set_timeout(env)) {
		fprintf(stderr, "velum: $VELUM_TIMEOUT %s: not a number of seconds (0 to 86400)\n",
			env);
		return CLI_EXIT_USAGE;
	}
	argc = take_host(argc, argv);
	if (argc < 0)
		return CLI_EXIT_USAGE;
	if (argc >= 2 && !strcmp(argv[1], "help"))
		argv[1] = "--help";
	return cli_dispatch("velum", "command", commands, sizeof(commands) / sizeof(commands[0]),
			    usage, argc, argv);
}
