/* SPDX-License-Identifier: Apache-2.0 */
/*
 * velum: the user's command line. Dispatches `velum <group> <verb> ...` to
 * the subcommands; each prints its own --help.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char usage[] =
	"usage: velum <command> [args]\n"
	"\n"
	"  policy trace     would a packet or HTTP request pass, and which rule decides?\n"
	"  policy resolve   the policy-map entries each endpoint enforces\n"
	"\n"
	"Run 'velum <command> --help' for a command's options.\n";

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
	}
	if (!strcmp(argv[1], "policy") && argc >= 3 && !strcmp(argv[2], "trace"))
		return cli_policy_trace(argc - 2, argv + 2);
	if (!strcmp(argv[1], "policy") && argc >= 3 && !strcmp(argv[2], "resolve"))
		return cli_policy_resolve(argc - 2, argv + 2);
	fprintf(stderr, "velum: unknown command '%s%s%s'\n%s", argv[1], argc >= 3 ? " " : "",
		argc >= 3 ? argv[2] : "", usage);
	return CLI_EXIT_USAGE;
}
