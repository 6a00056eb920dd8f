/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `velum observe`: the flow log, Hubble-style. One compact line per flow
 * (time, source and its identity, destination, verdict, reason, and the
 * rule that decided, or "default deny"), or the agent's JSON objects one per
 * line with -o json. Filters are applied by the agent (same flag repeated:
 * OR; different flags: AND).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "monitor/flow_json.h"

static const char usage[] =
	"usage: velum observe [--from PEER] [--to PEER] [--label k=v] [--verdict V] [--port N]\n"
	"                     [--since 5m|RFC3339] [--last N] [-f|--follow] [-o compact|json]\n"
	"\n"
	"Prints recent flows (policy verdicts and drops) from the agent, oldest first, one per\n"
	"line; every drop names the rule that decided it or says 'default deny'.\n"
	"\n"
	"  --from/--to PEER  source/destination: endpoint name ([ns/]name), IPv4 address or\n"
	"                    prefix, identity number, host, world, or a label [source:]k[=v]\n"
	"  -l, --label L     a label on either side\n"
	"  --verdict V       FORWARDED, DROPPED, AUDIT or REDIRECTED\n"
	"  --port N          source or destination port\n"
	"  --since T         flows since a duration ago (30s, 5m, 2h) or an RFC 3339 time\n"
	"  --last N          the last N matching flows [20; all with --since; 0 with --follow]\n"
	"  -f, --follow      keep printing new flows until interrupted\n"
	"  -o json           the agent's JSON objects, one per line\n"
	"\n"
	"A flag given twice matches either value; different flags must all match.\n";

struct obs {
	bool json;
	long count;
};

static int on_line(void *ctx, const char *text, size_t len)
{
	struct obs *o = ctx;
	struct mon_flow f;
	struct strbuf sb = STRBUF_INIT;
	struct errbuf eb;

	if (o->json) {
		fwrite(text, 1, len, stdout);
		fputc('\n', stdout);
	} else if (!mon_flow_from_json(text, len, &f, &eb)) {
		mon_flow_format_compact(&f, false, &sb);
		puts(strbuf_str(&sb));
		strbuf_free(&sb);
		mon_flow_release(&f);
	} else {
		fprintf(stderr, "velum observe: skipping an unreadable flow: %s\n", eb.msg);
	}
	o->count++;
	fflush(stdout);
	return ferror(stdout) ? 1 : 0;
}

static void add_arg(struct strbuf *q, const char *key, const char *value)
{
	strbuf_putc(q, q->len && strchr(strbuf_str(q), '?') ? '&' : '?');
	strbuf_puts(q, key);
	strbuf_putc(q, '=');
	client_url_escape(q, value);
}

int cli_observe(int argc, char **argv)
{
	enum { O_FROM = 256, O_TO, O_VERDICT, O_PORT, O_SINCE, O_LAST };
	static const struct option opts[] = {
		{ "from", required_argument, NULL, O_FROM },
		{ "to", required_argument, NULL, O_TO },
		{ "label", required_argument, NULL, 'l' },
		{ "verdict", required_argument, NULL, O_VERDICT },
		{ "port", required_argument, NULL, O_PORT },
		{ "since", required_argument, NULL, O_SINCE },
		{ "last", required_argument, NULL, O_LAST },
		{ "follow", no_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct strbuf q = STRBUF_INIT;
	struct obs o = { 0 };
	bool follow = false;
	int c, rc;

	strbuf_puts(&q, "/v1/flows");
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "l:fo:h", opts, NULL)) != -1) {
		switch (c) {
		case O_FROM:
			add_arg(&q, "from", optarg);
			break;
		case O_TO:
			add_arg(&q, "to", optarg);
			break;
		case 'l':
			add_arg(&q, "label", optarg);
			break;
		case O_VERDICT:
			add_arg(&q, "verdict", optarg);
			break;
		case O_PORT:
			add_arg(&q, "port", optarg);
			break;
		case O_SINCE:
			add_arg(&q, "since", optarg);
			break;
		case O_LAST:
			add_arg(&q, "last", optarg);
			break;
		case 'f':
			follow = true;
			break;
		case 'o':
			if (!strcmp(optarg, "json") || !strcmp(optarg, "jsonpb")) {
				o.json = true;
			} else if (strcmp(optarg, "compact")) {
				fprintf(stderr,
					"velum observe: -o '%s': expected compact or json\n%s",
					optarg, usage);
				strbuf_free(&q);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'h':
			fputs(usage, stdout);
			strbuf_free(&q);
			return CLI_EXIT_OK;
		default:
			fprintf(stderr, "velum observe: unknown or incomplete option '%s'\n%s",
				argv[optind - 1], usage);
			strbuf_free(&q);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "velum observe: unexpected argument '%s'\n%s", argv[optind], usage);
		strbuf_free(&q);
		return CLI_EXIT_USAGE;
	}
	if (follow)
		add_arg(&q, "follow", "1");
	rc = cli_stream(strbuf_str(&q), on_line, &o);
	strbuf_free(&q);
	return rc;
}
