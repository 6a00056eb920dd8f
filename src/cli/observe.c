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
	"                     [-t|--type T] [--http-status S] [--http-method M] [--http-path RE]\n"
	"                     [--since 5m|RFC3339] [--last N] [-f|--follow] [-o compact|json|yaml]\n"
	"\n"
	"Prints recent flows (policy verdicts and drops, and the L7 proxy's http-request and\n"
	"http-response events) from the agent, oldest first, one per line; every drop names\n"
	"the rule that decided it or says 'default deny', every denied request the reason.\n"
	"\n"
	"  --from/--to PEER  source/destination: endpoint name ([ns/]name), IPv4 address or\n"
	"                    prefix, identity number, host, world, or a label [source:]k[=v]\n"
	"  -l, --label L     a label on either side\n"
	"  --verdict V       FORWARDED, DROPPED, AUDIT, REDIRECTED or ERROR\n"
	"  --port N          source or destination port\n"
	"  -t, --type T      drop, policy-verdict or l7\n"
	"  --http-status S   an HTTP status code (404) or a prefix (5+, 40+): responses only\n"
	"  --http-method M   an HTTP method (GET)\n"
	"  --http-path RE    an RE2 regular expression found in the URL's path (/v1/.*)\n"
	"  --since T         flows since a duration ago (30s, 5m, 2h) or an RFC 3339 time\n"
	"  --last N          the last N matching flows [20; all with --since; 0 with --follow]\n"
	"  -f, --follow      keep printing new flows until interrupted\n"
	"  -o json           the agent's JSON objects, one per line\n"
	"  -o yaml           the same objects as a stream of YAML documents\n"
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

	if (o->json && cli_output_format() == CLI_FMT_YAML) {
		/* a stream of YAML documents, one per flow */
		fputs("---\n", stdout);
		cli_print_json_text(text, len);
	} else if (o->json) {
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

/*
 * Checks a filter value here, so that a bad one is a usage error (exit 2)
 * with the flag named, before the agent is asked.
 */
static bool filter_ok(const char *key, const char *value)
{
	struct mon_filter f = { 0 };
	struct errbuf eb;
	int err;

	errbuf_clear(&eb);
	err = mon_filter_add(&f, key, value, 0, &eb);
	mon_filter_free(&f);
	if (!err)
		return true;
	fprintf(stderr, "velum observe: --%s %s\n", key, eb.msg[0] ? eb.msg : strerror(-err));
	return false;
}

enum { O_FROM = 256, O_TO, O_VERDICT, O_PORT, O_SINCE, O_LAST, O_STATUS, O_METHOD, O_PATH };

/* The /v1/flows argument (and mon_filter_add() key) of a filter option. */
static const char *filter_key(int c)
{
	switch (c) {
	case O_FROM:
		return "from";
	case O_TO:
		return "to";
	case 'l':
		return "label";
	case O_VERDICT:
		return "verdict";
	case O_PORT:
		return "port";
	case O_SINCE:
		return "since";
	case 't':
		return "type";
	case O_STATUS:
		return "http-status";
	case O_METHOD:
		return "http-method";
	default:
		return "http-path";
	}
}

int cli_observe(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "from", required_argument, NULL, O_FROM },
		{ "to", required_argument, NULL, O_TO },
		{ "label", required_argument, NULL, 'l' },
		{ "verdict", required_argument, NULL, O_VERDICT },
		{ "port", required_argument, NULL, O_PORT },
		{ "type", required_argument, NULL, 't' },
		{ "http-status", required_argument, NULL, O_STATUS },
		{ "http-method", required_argument, NULL, O_METHOD },
		{ "http-path", required_argument, NULL, O_PATH },
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
	while ((c = getopt_long(argc, argv, "l:t:fo:h", opts, NULL)) != -1) {
		switch (c) {
		case O_FROM:
		case O_TO:
		case 'l':
		case O_VERDICT:
		case O_PORT:
		case O_SINCE:
		case 't':
		case O_STATUS:
		case O_METHOD:
		case O_PATH: {
			const char *key = filter_key(c);

			if (!filter_ok(key, optarg)) {
				strbuf_free(&q);
				return CLI_EXIT_USAGE;
			}
			add_arg(&q, key, optarg);
			break;
		}
		case O_LAST:
			add_arg(&q, "last", optarg);
			break;
		case 'f':
			follow = true;
			break;
		case 'o':
			if (!strcmp(optarg, "json") || !strcmp(optarg, "jsonpb") ||
			    !strcmp(optarg, "yaml")) {
				cli_output_parse(!strcmp(optarg, "yaml") ? "yaml" : "json", NULL);
				o.json = true;
			} else if (strcmp(optarg, "compact")) {
				fprintf(stderr,
					"velum observe: -o '%s': expected compact, json or yaml\n%s",
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
