/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `velum observe`: the flow log with hubble observe's flags. Filters run in
 * the agent on GET /v1/flows (the same mon_filter code re-filters saved
 * flows with --input-file here, without an agent); the agent also refuses
 * a filter naming an endpoint or identity it has never seen (exit 2).
 * Output: compact lines (time, peers and identities, verdict, and the rule
 * that decided, or "default deny"), Hubble's dict and table, Hubble's flow
 * JSON (-o jsonpb/json, read back by --input-file), or the agent's own
 * objects (-o raw, and -o yaml).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/table.h"
#include "monitor/flow_json.h"

static const char usage[] =
	"usage: velum observe [FILTERS] [--since T] [--until T] [--last N | --first N | --all]\n"
	"                     [-f|--follow] [-o compact|dict|table|jsonpb|json|raw|yaml]\n"
	"                     [--input-file FILE|-]\n"
	"\n"
	"Prints flows (policy verdicts and drops, and the L7 proxy's http-request and\n"
	"http-response events) from the agent, oldest first; every verdict names the rule\n"
	"that decided it or says 'default deny', every denied request the reason.\n"
	"\n"
	"Filters (hubble observe's): a flag given twice matches either value, different\n"
	"flags must all match, --not negates the filter after it.\n"
	"  --pod, --from-pod, --to-pod [NS/]NAME    endpoint name prefix (namespace default)\n"
	"  -n, --namespace, --from-namespace, --to-namespace NS\n"
	"  --ip, --from-ip, --to-ip ADDR[/LEN]      IPv4 address or prefix\n"
	"  --identity, --from-identity, --to-identity ID   number or host, world, ...\n"
	"  -l, --label, --from-label, --to-label [SOURCE:]KEY[=VALUE]\n"
	"  --port, --from-port, --to-port N\n"
	"  --from, --to PEER      as policy trace takes it: endpoint [ns/]name or id, host,\n"
	"                         world, identity ID:N, address; also a prefix or a label\n"
	"  --protocol P           tcp, udp, icmp, sctp or http\n"
	"  -t, --type T           drop, policy-verdict, trace or l7\n"
	"  --verdict V            FORWARDED, DROPPED, AUDIT, REDIRECTED or ERROR\n"
	"  --drop-reason-desc R   Hubble's drop reason name (POLICY_DENIED, POLICY_DENY)\n"
	"  --traffic-direction D  ingress or egress\n"
	"  --tcp-flags F[,F]      TCP flags all set (syn, ack, fin, rst, psh)\n"
	"  --http-status S        an HTTP status code (404) or a prefix (5+, 40+)\n"
	"  --http-method M        an HTTP method (GET)\n"
	"  --http-path RE         an RE2 regular expression found in the URL's path\n"
	"  --not                  the next filter excludes what it matches\n"
	"Selection:\n"
	"  --since/--until T      a duration ago (30s, 5m, 2h) or an RFC 3339 time\n"
	"  --last N               the last N matching flows [20; all with --since]\n"
	"  --first N              the first N matching flows\n"
	"  --all                  every matching flow\n"
	"  -f, --follow           keep printing new flows until interrupted\n"
	"  --input-file FILE      read flows saved with -o jsonpb (or -o raw) from FILE, '-'\n"
	"                         for stdin, instead of asking the agent\n"
	"Output:\n"
	"  -o compact             one line per flow [default]\n"
	"  -o dict, -o table      Hubble's key: value blocks, or a table\n"
	"  -o jsonpb, -o json     Hubble's flow JSON, one object per line\n"
	"  -o raw                 the agent's flow objects (docs/api.md), one per line\n"
	"  -o yaml                the agent's flow objects as a stream of YAML documents\n";

enum out { OUT_COMPACT, OUT_DICT, OUT_TABLE, OUT_JSONPB, OUT_RAW, OUT_YAML };

struct obs {
	enum out out;
	bool follow;
	char node[256];
	struct cli_table table;
	bool table_open;
};

/* The flags that are filters: option name = mon_filter_add() key = /v1/flows argument. */
static const char *const filter_keys[] = {
	"from",
	"to",
	"pod",
	"from-pod",
	"to-pod",
	"namespace",
	"from-namespace",
	"to-namespace",
	"ip",
	"from-ip",
	"to-ip",
	"identity",
	"from-identity",
	"to-identity",
	"label",
	"from-label",
	"to-label",
	"port",
	"from-port",
	"to-port",
	"protocol",
	"type",
	"verdict",
	"drop-reason-desc",
	"traffic-direction",
	"tcp-flags",
	"http-status",
	"http-method",
	"http-path",
	"since",
	"until",
};
#define NFILTERS (sizeof(filter_keys) / sizeof(filter_keys[0]))

enum { O_FILTER = 256, O_NOT = O_FILTER + 64, O_LAST, O_FIRST, O_ALL, O_INPUT };

static void print_flow(struct obs *o, const struct mon_flow *f)
{
	struct strbuf sb = STRBUF_INIT;

	switch (o->out) {
	case OUT_DICT:
		mon_flow_format_dict(f, o->node, &sb);
		fputs(strbuf_str(&sb), stdout);
		break;
	case OUT_TABLE: {
		struct strbuf c[6] = { STRBUF_INIT, STRBUF_INIT, STRBUF_INIT,
				       STRBUF_INIT, STRBUF_INIT, STRBUF_INIT };
		const char *cells[7];
		size_t i;

		mon_flow_table_cells(f, c);
		cells[0] = strbuf_str(&c[0]);
		cells[1] = o->node;
		for (i = 1; i < 6; i++)
			cells[i + 1] = strbuf_str(&c[i]);
		if (o->follow) {
			for (i = 0; i < 7; i++)
				printf("%s%s", i ? "  " : "", cells[i]);
			putchar('\n');
		} else {
			cli_table_add(&o->table, cells);
		}
		for (i = 0; i < 6; i++)
			strbuf_free(&c[i]);
		break;
	}
	case OUT_JSONPB:
		mon_flow_format_hubble(f, o->node, &sb);
		puts(strbuf_str(&sb));
		break;
	case OUT_RAW:
	case OUT_YAML:
		mon_flow_format_json(f, &sb);
		if (o->out == OUT_YAML) {
			fputs("---\n", stdout);
			cli_print_json_text(sb.p, sb.len);
		} else {
			puts(strbuf_str(&sb));
		}
		break;
	default:
		mon_flow_format_compact(f, false, &sb);
		puts(strbuf_str(&sb));
	}
	strbuf_free(&sb);
}

static const char *const table_hdr[] = { "TIMESTAMP", "NODE",	 "SOURCE", "DESTINATION",
					 "TYPE",      "VERDICT", "SUMMARY" };

/*
 * A table prints when complete, its columns aligned. With --follow the
 * header prints once and each row at once, its cells two spaces apart.
 */
static void table_start(struct obs *o)
{
	size_t i;

	if (o->out != OUT_TABLE)
		return;
	cli_table_init(&o->table, 7, table_hdr, NULL);
	o->table_open = true;
	if (!o->follow)
		return;
	for (i = 0; i < 7; i++)
		printf("%s%s", i ? "  " : "", table_hdr[i]);
	putchar('\n');
}

static int on_line(void *ctx, const char *text, size_t len)
{
	struct obs *o = ctx;
	struct mon_flow f;
	struct errbuf eb;

	if (o->out == OUT_RAW) {
		/* the agent's object as it came */
		fwrite(text, 1, len, stdout);
		fputc('\n', stdout);
	} else if (o->out == OUT_YAML) {
		fputs("---\n", stdout);
		cli_print_json_text(text, len);
	} else if (!mon_flow_from_json(text, len, &f, &eb)) {
		print_flow(o, &f);
		mon_flow_release(&f);
	} else {
		fprintf(stderr, "velum observe: skipping an unreadable flow: %s\n", eb.msg);
	}
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

/* The filters, as given, to rebuild a mon_filter from (for --input-file). */
struct kv {
	char *key;
	const char *value;
};

/*
 * Reads saved flows (Hubble's jsonpb or the agent's objects, one per
 * line) from path ("-": stdin), filters them as the agent would, and
 * prints the selection: the first or last N, or all.
 */
static int from_file(struct obs *o, const char *path, const struct kv *kv, size_t nkv, long first,
		     long last)
{
	struct mon_filter flt = { 0 };
	struct mon_flow *sel = NULL;
	size_t nsel = 0, cap = 0, i, lineno = 0, start;
	char *line = NULL;
	size_t lcap = 0;
	ssize_t n;
	struct errbuf eb;
	struct timespec ts;
	int64_t now;
	FILE *in = strcmp(path, "-") ? fopen(path, "r") : stdin;
	int rc = CLI_EXIT_OK;

	if (!in) {
		fprintf(stderr, "velum observe: --input-file %s: %s\n", path, strerror(errno));
		return CLI_EXIT_FAIL;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	for (i = 0; i < nkv; i++) {
		errbuf_clear(&eb);
		if (mon_filter_add(&flt, kv[i].key, kv[i].value, now, &eb)) {
			fprintf(stderr, "velum observe: --%s %s\n", kv[i].key, eb.msg);
			rc = CLI_EXIT_USAGE;
			goto out;
		}
	}
	for (i = 0; i < flt.allow.npeers + flt.deny.npeers; i++) {
		const struct mon_peer_spec *s = i < flt.allow.npeers ?
							&flt.allow.peers[i] :
							&flt.deny.peers[i - flt.allow.npeers];

		if (s->kind == MON_PEER_EPID) {
			fprintf(stderr,
				"velum observe: endpoint id %u: an id names an endpoint only for the "
				"agent; with --input-file give the endpoint's name\n",
				s->identity);
			rc = CLI_EXIT_USAGE;
			goto out;
		}
	}
	while ((n = getline(&line, &lcap, in)) > 0) {
		struct mon_flow f;

		lineno++;
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (!n)
			continue;
		errbuf_clear(&eb);
		if (mon_flow_from_json(line, (size_t)n, &f, &eb)) {
			fprintf(stderr, "velum observe: %s:%zu: %s\n", path, lineno, eb.msg);
			rc = CLI_EXIT_FAIL;
			goto out;
		}
		if (!mon_filter_match(&flt, &f)) {
			mon_flow_release(&f);
			continue;
		}
		if (first >= 0 && (long)nsel >= first) {
			mon_flow_release(&f);
			break;
		}
		if (nsel == cap) {
			struct mon_flow *nv = realloc(sel, (cap ? cap * 2 : 64) * sizeof(*nv));

			if (!nv) {
				mon_flow_release(&f);
				rc = CLI_EXIT_FAIL;
				goto out;
			}
			sel = nv;
			cap = cap ? cap * 2 : 64;
		}
		sel[nsel++] = f;
	}
	start = last >= 0 && (size_t)last < nsel ? nsel - (size_t)last : 0;
	for (i = start; i < nsel; i++)
		print_flow(o, &sel[i]);
out:
	for (i = 0; i < nsel; i++)
		mon_flow_release(&sel[i]);
	free(sel);
	free(line);
	mon_filter_free(&flt);
	if (in != stdin)
		fclose(in);
	return rc;
}

static int parse_count(const char *opt, const char *v, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(v, &end, 10);
	if (errno || end == v || *end || *out < 0) {
		fprintf(stderr, "velum observe: --%s '%s': expected a count\n", opt, v);
		return -EINVAL;
	}
	return 0;
}

int cli_observe(int argc, char **argv)
{
	struct option opts[NFILTERS + 12];
	struct strbuf q = STRBUF_INIT;
	struct obs o = { 0 };
	struct kv *kv = calloc(argc > 0 ? (size_t)argc : 1, sizeof(*kv));
	const char *input = NULL, *last_arg = NULL;
	long first = -1, last = -1;
	bool negate = false, all = false;
	size_t i, nkv = 0;
	int c, rc = CLI_EXIT_USAGE;

	if (!kv)
		return CLI_EXIT_FAIL;
	for (i = 0; i < NFILTERS; i++)
		opts[i] = (struct option){ filter_keys[i], required_argument, NULL,
					   O_FILTER + (int)i };
	opts[i++] = (struct option){ "not", no_argument, NULL, O_NOT };
	opts[i++] = (struct option){ "last", required_argument, NULL, O_LAST };
	opts[i++] = (struct option){ "first", required_argument, NULL, O_FIRST };
	opts[i++] = (struct option){ "all", no_argument, NULL, O_ALL };
	opts[i++] = (struct option){ "input-file", required_argument, NULL, O_INPUT };
	opts[i++] = (struct option){ "follow", no_argument, NULL, 'f' };
	opts[i++] = (struct option){ "output", required_argument, NULL, 'o' };
	opts[i++] = (struct option){ "help", no_argument, NULL, 'h' };
	opts[i++] = (struct option){ NULL, 0, NULL, 0 };

	strbuf_puts(&q, "/v1/flows");
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "l:t:n:fo:h", opts, NULL)) != -1) {
		const char *key = NULL;

		if (c >= O_FILTER && c < O_FILTER + (int)NFILTERS)
			key = filter_keys[c - O_FILTER];
		else if (c == 'l')
			key = "label";
		else if (c == 't')
			key = "type";
		else if (c == 'n')
			key = "namespace";
		if (key) {
			struct mon_filter f = { 0 };
			struct errbuf eb;
			char *k = malloc(strlen(key) + 5);
			int err;

			if (!k) {
				rc = CLI_EXIT_FAIL;
				goto out;
			}
			sprintf(k, "%s%s", negate ? "not-" : "", key);
			kv[nkv++] = (struct kv){ k, optarg };
			negate = false;
			/* a bad value is a usage error naming the flag, before the agent is asked */
			errbuf_clear(&eb);
			err = mon_filter_add(&f, k, optarg, 0, &eb);
			mon_filter_free(&f);
			if (err) {
				fprintf(stderr, "velum observe: --%s %s\n", key,
					eb.msg[0] ? eb.msg : strerror(-err));
				goto out;
			}
			add_arg(&q, k, optarg);
			continue;
		}
		if (negate) {
			fprintf(stderr,
				"velum observe: --not must be followed by a filter, not '%s'\n",
				argv[optind - 1]);
			goto out;
		}
		switch (c) {
		case O_NOT:
			negate = true;
			break;
		case O_LAST:
		case O_FIRST:
			if (parse_count(c == O_LAST ? "last" : "first", optarg,
					c == O_LAST ? &last : &first))
				goto out;
			last_arg = c == O_LAST ? optarg : last_arg;
			break;
		case O_ALL:
			all = true;
			break;
		case O_INPUT:
			input = optarg;
			break;
		case 'f':
			o.follow = true;
			break;
		case 'o':
			if (!strcmp(optarg, "json") || !strcmp(optarg, "jsonpb")) {
				o.out = OUT_JSONPB;
			} else if (!strcmp(optarg, "raw")) {
				o.out = OUT_RAW;
			} else if (!strcmp(optarg, "yaml")) {
				cli_output_parse("yaml", NULL);
				o.out = OUT_YAML;
			} else if (!strcmp(optarg, "dict")) {
				o.out = OUT_DICT;
			} else if (!strcmp(optarg, "table")) {
				o.out = OUT_TABLE;
			} else if (!strcmp(optarg, "compact")) {
				o.out = OUT_COMPACT;
			} else {
				fprintf(stderr,
					"velum observe: -o '%s': expected compact, dict, table, "
					"jsonpb, json, raw or yaml\n%s",
					optarg, usage);
				goto out;
			}
			break;
		case 'h':
			fputs(usage, stdout);
			rc = CLI_EXIT_OK;
			goto out;
		default:
			fprintf(stderr, "velum observe: unknown or incomplete option '%s'\n%s",
				argv[optind - 1], usage);
			goto out;
		}
	}
	if (negate) {
		fprintf(stderr, "velum observe: --not must be followed by a filter\n");
		goto out;
	}
	if (optind < argc) {
		fprintf(stderr, "velum observe: unexpected argument '%s'\n%s", argv[optind], usage);
		goto out;
	}
	if ((first >= 0) + (last >= 0) + all > 1 || (first >= 0 && o.follow)) {
		fprintf(stderr, "velum observe: give at most one of --first, --last and --all, "
				"and --first not with --follow\n");
		goto out;
	}
	if (input && o.follow) {
		fprintf(stderr, "velum observe: --input-file and --follow cannot be combined\n");
		goto out;
	}
	if (gethostname(o.node, sizeof(o.node) - 1))
		snprintf(o.node, sizeof(o.node), "localhost");
	table_start(&o);
	if (input) {
		/* as the agent: the last 20 unless told, every one with --since */
		if (first < 0 && last < 0 && !all) {
			bool since = false;

			for (i = 0; i < nkv; i++)
				since |= !strcmp(kv[i].key, "since");
			last = since ? -1 : 20;
		}
		rc = from_file(&o, input, kv, nkv, first, all ? -1 : last);
	} else {
		if (last_arg)
			add_arg(&q, "last", last_arg);
		if (first >= 0) {
			char buf[32];

			snprintf(buf, sizeof(buf), "%ld", first);
			add_arg(&q, "first", buf);
		}
		if (all)
			add_arg(&q, "all", "1");
		if (o.follow)
			add_arg(&q, "follow", "1");
		rc = cli_stream(strbuf_str(&q), on_line, &o);
	}
	if (o.out == OUT_TABLE && !o.follow)
		cli_table_print(&o.table, stdout);
out:
	if (o.table_open)
		cli_table_free(&o.table);
	for (i = 0; i < nkv; i++)
		free(kv[i].key);
	free(kv);
	strbuf_free(&q);
	return rc;
}
