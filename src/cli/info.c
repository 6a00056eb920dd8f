/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Read-only views of the agent: `velum status`, `velum identity list|get`
 * and `velum bpf policy get` (the policy map the kernel enforces, read back
 * from the kernel, not recomputed).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/table.h"
#include "lib/version.h"
#include "velum/conntrack.h"
#include "velum/endpoint.h"
#include "velum/ipcache.h"
#include "velum/policy.h"

/* Options -o json, -n/--numeric (when numeric is non-NULL) and --help; *rest = first operand. */
static int simple_args(int argc, char **argv, const char *usage, bool *json, bool *numeric,
		       int *rest)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "numeric", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:nh", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if (cli_output_parse(optarg, json)) {
				fprintf(stderr, "velum: -o '%s': json or yaml\n%s", optarg, usage);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'n':
			if (!numeric)
				goto bad;
			*numeric = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return -1;
		default:
		bad:
			fprintf(stderr, "velum: unknown or incomplete option '%s'\n%s",
				argv[optind - 1], usage);
			return CLI_EXIT_USAGE;
		}
	}
	*rest = optind;
	return 0;
}

/* GET path and parse; prints errors. */
static int get_json(const char *path, const char *cmd, json_t **out)
{
	struct client_resp r;
	int rc = cli_request("GET", path, NULL, 0, &r);

	if (rc)
		return rc;
	rc = cli_check(&r, cmd);
	if (!rc) {
		*out = cli_json(&r, cmd);
		if (!*out)
			rc = CLI_EXIT_FAIL;
	}
	client_resp_free(&r);
	return rc;
}

/*
 * A command without operands: options (-o json, --help), then GET path.
 * Returns 0 with *out to print as text, 0 with *out NULL when done (help,
 * or -o json printed), or an exit code.
 */
static int fetch_plain(int argc, char **argv, const char *usage, const char *what, const char *path,
		       json_t **out)
{
	bool json = false;
	int rest, rc = simple_args(argc, argv, usage, &json, NULL, &rest);

	*out = NULL;
	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if (rest < argc) {
		fprintf(stderr, "velum %s: unexpected argument '%s'\n%s", what, argv[rest], usage);
		return CLI_EXIT_USAGE;
	}
	rc = get_json(path, what, out);
	if (rc)
		return rc;
	if (json) {
		cli_print_json(*out);
		json_decref(*out);
		*out = NULL;
	}
	return 0;
}

static const char status_usage[] =
	"usage: velum status [-v|--verbose] [-o json|yaml]\n"
	"\n"
	"The agent, its datapath, its store and what it holds. --verbose adds each endpoint's\n"
	"state and policy map fill, and the BPF maps with their entries and capacity.\n";

static void uptime(const char *started, char *buf, size_t len)
{
	struct tm tm = { 0 };
	long s;

	if (!started || !strptime(started, "%Y-%m-%dT%H:%M:%SZ", &tm)) {
		snprintf(buf, len, "?");
		return;
	}
	s = (long)(time(NULL) - timegm(&tm));
	if (s < 120)
		snprintf(buf, len, "%lds", s);
	else if (s < 7200)
		snprintf(buf, len, "%ldm", s / 60);
	else if (s < 172800)
		snprintf(buf, len, "%ldh%02ldm", s / 3600, (s / 60) % 60);
	else
		snprintf(buf, len, "%ldd", s / 86400);
}

/* "Proxy:" line: disabled, or pid, listeners, redirects, restarts. */
static void print_proxy(json_t *px)
{
	json_t *ls = json_object_get(px, "listeners"), *l, *sm = json_object_get(px, "sockmap");
	long long pid = json_integer_value(json_object_get(px, "pid"));
	size_t i;

	if (!json_is_true(json_object_get(px, "enabled"))) {
		printf("Proxy:       Disabled   (velumd --proxy off: HTTP rules are refused)\n");
		return;
	}
	if (pid)
		printf("Proxy:       Ok   velum-proxy (pid %lld%s), listeners", pid,
		       json_is_true(json_object_get(px, "adopted")) ? ", adopted" : "");
	else
		printf("Proxy:       Restarting   listeners");
	json_array_foreach(ls, i, l) printf("%s %s", i ? "," : "", json_string_value(l));
	printf(", %lld redirect(s), %lld restart(s)\n",
	       json_integer_value(json_object_get(px, "redirects")),
	       json_integer_value(json_object_get(px, "restarts")));
	if (sm)
		printf("Sockmap:     %s   %lld send(s) carried socket to socket (%lld bytes), "
		       "%lld the TCP way\n",
		       json_is_true(json_object_get(sm, "enabled")) ? "On" : "Off",
		       json_integer_value(json_object_get(sm, "carried_sends")),
		       json_integer_value(json_object_get(sm, "carried_bytes")),
		       json_integer_value(json_object_get(sm, "tcp_sends")));
}

/* An API enforcement state as velum endpoint list prints it: Enabled, Audit, Disabled. */
static const char *enforcement_word(const char *s)
{
	if (!s || !strcmp(s, "disabled"))
		return "Disabled";
	return !strcmp(s, "audit") ? "Audit" : "Enabled";
}

/* "n/max (p%)" of a map's fill. */
static void fill(char *buf, size_t len, long long n, long long max)
{
	snprintf(buf, len, "%lld/%lld (%.2f%%)", n, max, max ? 100.0 * (double)n / (double)max : 0);
}

/* The entry count of GET path's array (key: its member, or NULL for a bare array); -1 if unknown. */
static long long count_of(const char *path, const char *key)
{
	struct client_resp r;
	json_t *j = NULL;
	long long n = -1;

	if (cli_request("GET", path, NULL, 0, &r))
		return -1;
	if (!cli_check(&r, "status"))
		j = cli_json(&r, "status");
	if (j)
		n = (long long)json_array_size(key ? json_object_get(j, key) : j);
	json_decref(j);
	client_resp_free(&r);
	return n;
}

/*
 * The --verbose part, from what the API answers: every endpoint with its
 * state, enforcement and policy-map fill (read back from the kernel), and
 * the BPF maps with their entries against their capacity.
 */
static int print_verbose(json_t *status)
{
	static const char *const hdr[] = { "ID",     "ENDPOINT", "IDENTITY",   "INGRESS",
					   "EGRESS", "IPv4",	 "POLICY MAP", "STATE" };
	json_t *eps = NULL, *dp = json_object_get(status, "datapath");
	long long most = 0, n;
	const char *most_ep = NULL;
	struct client_resp r;
	struct cli_table t;
	char buf[64], id[16], ident[16];
	size_t i;
	int rc = cli_request("GET", "/v1/endpoints", NULL, 0, &r);

	if (rc)
		return rc;
	rc = cli_check(&r, "status");
	if (!rc) {
		eps = cli_json(&r, "status");
		rc = eps ? 0 : CLI_EXIT_FAIL;
	}
	client_resp_free(&r);
	if (rc)
		return rc;
	printf("\nEndpoints:\n");
	cli_table_init(&t, 8, hdr, NULL);
	for (i = 0; i < json_array_size(eps); i++) {
		json_t *ep = json_array_get(eps, i), *pol = json_object_get(ep, "policy");
		const char *err = json_string_value(json_object_get(ep, "error"));
		char path[64], state[512];
		const char *row[8];

		snprintf(id, sizeof(id), "%lld", json_integer_value(json_object_get(ep, "id")));
		snprintf(ident, sizeof(ident), "%lld",
			 json_integer_value(json_object_get(ep, "identity")));
		snprintf(path, sizeof(path), "/v1/endpoints/%s/bpf-policy", id);
		n = count_of(path, "entries");
		if (n >= 0)
			fill(buf, sizeof(buf), n, VELUM_POLICY_MAP_MAX);
		else
			snprintf(buf, sizeof(buf), "?");
		if (n > most) {
			most = n;
			most_ep = json_string_value(json_object_get(ep, "name"));
		}
		snprintf(state, sizeof(state), "%s%s%s",
			 json_string_value(json_object_get(ep, "state")) ?: "?", err ? ": " : "",
			 err ? err : "");
		row[0] = id;
		row[1] = json_string_value(json_object_get(ep, "name")) ?: "?";
		row[2] = ident;
		row[3] = enforcement_word(json_string_value(json_object_get(pol, "ingress")));
		row[4] = enforcement_word(json_string_value(json_object_get(pol, "egress")));
		row[5] = json_string_value(json_object_get(ep, "ipv4")) ?: "";
		row[6] = buf;
		row[7] = state;
		cli_table_add(&t, row);
	}
	cli_table_print(&t, stdout);
	cli_table_free(&t);

	printf("\nBPF maps:\n");
	{
		static const char *const mhdr[] = { "MAP", "ENTRIES/MAX (FILL)", "HOLDS" };
		char c1[64], c2[64], c3[64], c4[64], what[320];
		const char *rows[4][3] = {
			{ "velum_ct", c1, "conntrack: each flow, each enforcing direction" },
			{ "velum_ipcache", c2, "prefix -> identity" },
			{ "velum_lxc", c3, "the endpoints host routing delivers to" },
			{ "velum_policy", c4, what },
		};

		fill(c1, sizeof(c1), json_integer_value(json_object_get(dp, "ct_entries")),
		     VELUM_CT_MAX);
		n = count_of("/v1/bpf/ipcache", "entries");
		fill(c2, sizeof(c2), n, VELUM_IPCACHE_MAX);
		if (n < 0)
			snprintf(c2, sizeof(c2), "?");
		n = count_of("/v1/bpf/endpoints", "endpoints");
		fill(c3, sizeof(c3), n, VELUM_MAX_ENDPOINTS);
		if (n < 0)
			snprintf(c3, sizeof(c3), "?");
		fill(c4, sizeof(c4), most, VELUM_POLICY_MAP_MAX);
		snprintf(what, sizeof(what), "one per endpoint; the fullest%s%s",
			 most_ep ? ": " : "", most_ep ? most_ep : "");
		cli_table_init(&t, 3, mhdr, NULL);
		for (i = 0; i < 4; i++)
			cli_table_add(&t, rows[i]);
		cli_table_print(&t, stdout);
		cli_table_free(&t);
	}
	json_decref(eps);
	return 0;
}

int cli_status(int argc, char **argv)
{
	json_t *j, *ag, *dp, *st, *cn, *fl;
	bool verbose = false;
	char up[32];
	const char *dperr;
	long long failed;
	int i, k, rc;

	/* -v/--verbose here; the rest as every plain command takes them */
	for (i = k = 0; i < argc; i++) {
		if (i && (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")))
			verbose = true;
		else
			argv[k++] = argv[i];
	}
	argc = k;
	rc = fetch_plain(argc, argv, status_usage, "status", "/v1/status", &j);
	if (rc || !j)
		return rc;
	ag = json_object_get(j, "agent");
	dp = json_object_get(j, "datapath");
	st = json_object_get(j, "store");
	cn = json_object_get(j, "counts");
	fl = json_object_get(j, "flows");
	failed = json_integer_value(json_object_get(dp, "endpoints_failed"));
	uptime(json_string_value(json_object_get(ag, "started")), up, sizeof(up));
	printf("Agent:       Ok   velumd %s (pid %lld), up %s, socket %s\n",
	       json_string_value(json_object_get(ag, "version")),
	       json_integer_value(json_object_get(ag, "pid")), up,
	       json_string_value(json_object_get(ag, "socket")));
	dperr = json_string_value(json_object_get(dp, "error"));
	printf("Datapath:    %s   programs %s, host routing %s, pins %s, %lld endpoint(s)%s, "
	       "%lld conntrack entries\n",
	       dperr  ? "Error" :
	       failed ? "Degraded" :
			"Ok",
	       json_string_value(json_object_get(dp, "programs")),
	       strcmp(json_string_value(json_object_get(dp, "host_routing")) ?: "", "legacy") ?
		       "BPF" :
		       "Legacy",
	       json_string_value(json_object_get(dp, "pin_dir")),
	       json_integer_value(json_object_get(dp, "endpoints")),
	       failed ? " (some failed: see velum endpoint list)" : "",
	       json_integer_value(json_object_get(dp, "ct_entries")));
	if (dperr)
		printf("             %s\n", dperr);
	printf("Store:       Ok   %s (schema %lld), revision %lld\n",
	       json_string_value(json_object_get(st, "path")),
	       json_integer_value(json_object_get(st, "schema")),
	       json_integer_value(json_object_get(st, "revision")));
	printf("Endpoints:   %lld\n", json_integer_value(json_object_get(cn, "endpoints")));
	printf("Identities:  %lld\n", json_integer_value(json_object_get(cn, "identities")));
	printf("Policies:    %lld\n", json_integer_value(json_object_get(cn, "policies")));
	print_proxy(json_object_get(j, "proxy"));
	if (json_string_value(json_object_get(j, "allow_localhost")))
		printf("Host access: %s\n",
		       !strcmp(json_string_value(json_object_get(j, "allow_localhost")), "always") ?
			       "always (the host reaches every local endpoint)" :
			       "policy (host traffic meets the endpoints' ingress policy)");
	printf("Flows:       Current/Max Flows: %lld/%lld, %lld events seen\n",
	       json_integer_value(json_object_get(fl, "current")),
	       json_integer_value(json_object_get(fl, "max")),
	       json_integer_value(json_object_get(fl, "seen")));
	printf("Metrics:     %s\n", json_string_value(json_object_get(j, "metrics")));
	rc = verbose ? print_verbose(j) : 0;
	json_decref(j);
	return rc;
}

static const char version_usage[] =
	"usage: velum version [-o json|yaml]\n"
	"\n"
	"This command line's version and the running agent's (velumd, asked over its API).\n"
	"Exit status 1 when the agent cannot be reached or does not say its version.\n";

int cli_version(int argc, char **argv)
{
	struct client_resp r;
	json_t *daemon = NULL, *out;
	bool json = false;
	int rest, rc = simple_args(argc, argv, version_usage, &json, NULL, &rest);
	const char *why = NULL;

	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if (rest < argc) {
		fprintf(stderr, "velum version: unexpected argument '%s'\n%s", argv[rest],
			version_usage);
		return CLI_EXIT_USAGE;
	}
	if (!json)
		printf("Client: velum %s\n", VELUM_VERSION);
	rc = cli_request("GET", "/v1/version", NULL, 0, &r);
	if (rc) {
		why = "not reachable";
	} else {
		/* an agent older than this API has no /v1/version: 404 */
		if (r.status == 404)
			why = "did not say its version (an older velumd? see velum status)";
		else if (!cli_check(&r, "version"))
			daemon = cli_json(&r, "version");
		if (!daemon && !why)
			why = "answered, but not with its version";
		if (daemon && !json_string_value(json_object_get(daemon, "version"))) {
			json_decref(daemon);
			daemon = NULL;
			why = "did not say its version";
		}
		client_resp_free(&r);
	}
	if (json) {
		out = json_pack("{s:{s:s}, s:o?}", "client", "version", VELUM_VERSION, "daemon",
				daemon ? json_incref(daemon) : json_null());
		if (out && why)
			json_object_set_new(out, "daemon_error", json_string(why));
		if (out)
			cli_print_json(out);
		json_decref(out);
	} else if (daemon) {
		printf("Daemon: velumd %s (pid %lld) at %s\n",
		       json_string_value(json_object_get(daemon, "version")),
		       json_integer_value(json_object_get(daemon, "pid")), cli_socket);
	} else {
		printf("Daemon: velumd at %s %s\n", cli_socket, why);
	}
	rc = daemon ? CLI_EXIT_OK : CLI_EXIT_FAIL;
	json_decref(daemon);
	return rc;
}

static const char identity_usage[] =
	"usage: velum identity list [-o json|yaml]\n"
	"       velum identity get ID [-o json|yaml]\n"
	"\n"
	"Security identities: the number each distinct set of labels gets, and who has it.\n";

static char *join(json_t *arr)
{
	struct strbuf sb = STRBUF_INIT;
	size_t i;

	for (i = 0; i < json_array_size(arr); i++) {
		if (i)
			strbuf_putc(&sb, '\n');
		strbuf_puts(&sb, json_string_value(json_array_get(arr, i)) ?: "");
	}
	return strbuf_detach(&sb) ?: strdup("");
}

static void print_identities(json_t *arr)
{
	static const char *const hdr[] = { "ID", "LABELS", "ENDPOINTS" };
	struct cli_table t;
	size_t i;

	cli_table_init(&t, 3, hdr, NULL);
	for (i = 0; i < json_array_size(arr); i++) {
		json_t *id = json_array_get(arr, i);
		char num[16], *labels = join(json_object_get(id, "labels"));
		char *eps = join(json_object_get(id, "endpoints"));
		const char *row[3] = { num, labels, eps };

		snprintf(num, sizeof(num), "%lld", json_integer_value(json_object_get(id, "id")));
		cli_table_add(&t, row);
		free(labels);
		free(eps);
	}
	cli_table_print(&t, stdout);
	cli_table_free(&t);
}

int cli_identity(int argc, char **argv)
{
	struct strbuf path = STRBUF_INIT;
	json_t *j = NULL;
	bool json = false;
	int rest, rc;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(identity_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
	}
	if (strcmp(argv[1], "list") && strcmp(argv[1], "get")) {
		fprintf(stderr, "velum identity: unknown verb '%s'\n%s", argv[1], identity_usage);
		return CLI_EXIT_USAGE;
	}
	rc = simple_args(argc - 1, argv + 1, identity_usage, &json, NULL, &rest);
	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	rest++; /* index in argv */
	if (!strcmp(argv[1], "get") ? rest + 1 != argc : rest != argc) {
		fprintf(stderr, "velum identity %s: %s\n%s", argv[1],
			!strcmp(argv[1], "get") ? "give one identity ID" : "no arguments expected",
			identity_usage);
		return CLI_EXIT_USAGE;
	}
	strbuf_puts(&path, "/v1/identities");
	if (!strcmp(argv[1], "get")) {
		strbuf_putc(&path, '/');
		client_url_escape(&path, argv[rest]);
	}
	rc = get_json(strbuf_str(&path), !strcmp(argv[1], "get") ? "identity get" : "identity list",
		      &j);
	strbuf_free(&path);
	if (rc)
		return rc;
	if (json) {
		cli_print_json(j);
	} else if (json_is_array(j)) {
		print_identities(j);
	} else {
		json_t *arr = json_array();

		json_array_append(arr, j);
		print_identities(arr);
		json_decref(arr);
	}
	json_decref(j);
	return 0;
}

static const char bpf_usage[] =
	"usage: velum bpf policy get ENDPOINT|ID [-n] [-o json|yaml]\n"
	"       velum bpf endpoint list [-o json|yaml]\n"
	"       velum bpf ipcache list [-o json|yaml]\n"
	"       velum bpf ct list [-o json|yaml]\n"
	"\n"
	"policy get: the policy map the kernel enforces for ENDPOINT, read back from the kernel:\n"
	"one line per entry with its verdict, direction, peer identity (labels; -n: numbers),\n"
	"port/protocol, proxy port, port prefix and the rule that produced it.\n"
	"endpoint list: the local endpoints BPF host routing delivers to, read back from the\n"
	"kernel (map velum_lxc): address, endpoint, identity, host-side veth and MAC addresses.\n"
	"ipcache list: every prefix the kernel maps to a security identity (map velum_ipcache).\n"
	"ct list: the live conntrack entries (map velum_ct), one per flow and enforcing\n"
	"direction, with state, peer identity, the rule that allowed the flow and the seconds\n"
	"until the entry expires.\n";

/* A table column read from each JSON entry: e[key] (or e[key][sub]). */
struct json_col {
	const char *head;
	const char *key, *sub;
	enum { COL_STR, COL_INT, COL_LINES, COL_SECS, COL_PORT } kind;
};

/*
 * Prints the array of objects as a table: strings as they are ("-" when
 * null), numbers, arrays one element per line, seconds with "s", ports
 * with 0 as NONE.
 */
static void print_json_table(json_t *arr, const struct json_col *cols, size_t ncols)
{
	const char *hdr[ncols], *row[ncols];
	char num[ncols][24], *owned[ncols];
	struct cli_table t;
	size_t i, c;

	for (c = 0; c < ncols; c++)
		hdr[c] = cols[c].head;
	cli_table_init(&t, ncols, hdr, NULL);
	for (i = 0; i < json_array_size(arr); i++) {
		json_t *e = json_array_get(arr, i);

		for (c = 0; c < ncols; c++) {
			json_t *v = json_object_get(e, cols[c].key);
			long long x;

			if (cols[c].sub)
				v = json_object_get(v, cols[c].sub);
			x = json_integer_value(v);
			owned[c] = NULL;
			row[c] = num[c];
			switch (cols[c].kind) {
			case COL_STR:
				row[c] = json_string_value(v) ?: "-";
				break;
			case COL_INT:
				snprintf(num[c], sizeof(num[c]), "%lld", x);
				break;
			case COL_SECS:
				snprintf(num[c], sizeof(num[c]), "%llds", x);
				break;
			case COL_PORT:
				snprintf(num[c], sizeof(num[c]), x ? "%lld" : "NONE", x);
				break;
			case COL_LINES:
				row[c] = owned[c] = join(v);
				break;
			}
		}
		cli_table_add(&t, row);
		for (c = 0; c < ncols; c++)
			free(owned[c]);
	}
	cli_table_print(&t, stdout);
	cli_table_free(&t);
}

/* velum bpf endpoint list: argv[0] is "list". */
static int bpf_endpoint_list(int argc, char **argv)
{
	static const struct json_col cols[] = {
		{ "IP ADDRESS", "address", NULL, COL_STR },
		{ "ENDPOINT", "name", NULL, COL_STR },
		{ "ID", "id", NULL, COL_INT },
		{ "IDENTITY", "identity", NULL, COL_INT },
		{ "IFINDEX", "ifindex", NULL, COL_INT },
		{ "MAC", "mac", NULL, COL_STR },
		{ "HOST MAC", "host_mac", NULL, COL_STR },
	};
	json_t *j;
	int rc = fetch_plain(argc, argv, bpf_usage, "bpf endpoint list", "/v1/bpf/endpoints", &j);

	if (rc || !j)
		return rc;
	printf("host routing: %s\n", json_string_value(json_object_get(j, "host_routing")) ?: "?");
	print_json_table(json_object_get(j, "endpoints"), cols, sizeof(cols) / sizeof(cols[0]));
	json_decref(j);
	return 0;
}

/* velum bpf ipcache list: argv[0] is "list". */
static int bpf_ipcache_list(int argc, char **argv)
{
	static const struct json_col cols[] = {
		{ "IP PREFIX/ADDRESS", "prefix", NULL, COL_STR },
		{ "IDENTITY", "identity", NULL, COL_INT },
		{ "LABELS", "labels", NULL, COL_LINES },
		{ "ENDPOINT", "endpoint", NULL, COL_STR },
	};
	json_t *j;
	int rc = fetch_plain(argc, argv, bpf_usage, "bpf ipcache list", "/v1/bpf/ipcache", &j);

	if (rc || !j)
		return rc;
	print_json_table(json_object_get(j, "entries"), cols, sizeof(cols) / sizeof(cols[0]));
	json_decref(j);
	return 0;
}

/* velum bpf ct list: argv[0] is "list". */
static int bpf_ct_list(int argc, char **argv)
{
	static const struct json_col cols[] = {
		{ "PROTO", "protocol", NULL, COL_STR },
		{ "DIRECTION", "direction", NULL, COL_STR },
		{ "SOURCE", "source", NULL, COL_STR },
		{ "DESTINATION", "destination", NULL, COL_STR },
		{ "STATE", "state", NULL, COL_STR },
		{ "PEER", "peer_identity", NULL, COL_INT },
		{ "RULE", "rule", "ref", COL_STR },
		{ "PROXY PORT", "proxy_port", NULL, COL_PORT },
		{ "EXPIRES IN", "expires_in", NULL, COL_SECS },
	};
	json_t *j;
	int rc = fetch_plain(argc, argv, bpf_usage, "bpf ct list", "/v1/bpf/ct", &j);

	if (rc || !j)
		return rc;
	print_json_table(json_object_get(j, "entries"), cols, sizeof(cols) / sizeof(cols[0]));
	json_decref(j);
	return 0;
}

void cli_bpf_policy_table(struct cli_table *t, bool marked)
{
	static const char *const hdr[] = { "",		 "POLICY",
					   "DIRECTION",	 "LABELS (source:key[=value])",
					   "PORT/PROTO", "PROXY PORT",
					   "PREFIX",	 "RULE" };

	cli_table_init(t, marked ? 8 : 7, marked ? hdr : hdr + 1, NULL);
}

void cli_bpf_policy_row(struct cli_table *t, json_t *e, bool numeric, const char *mark)
{
	json_t *peer = json_object_get(e, "peer");
	long long id = json_integer_value(json_object_get(peer, "identity"));
	char verdict[24], dir[16], ids[24], proxy[16], prefix[8], *labels;
	const char *v = json_string_value(json_object_get(e, "verdict")) ?: "";
	const char *d = json_string_value(json_object_get(e, "direction")) ?: "";
	const char *row[8], **r = mark ? row + 1 : row;

	/* "Allow", "Deny", "Audit", "Redirect" as cilium-dbg prints */
	snprintf(verdict, sizeof(verdict), "%c%s%s", v[0], v[0] ? v + 1 : "",
		 json_is_true(json_object_get(e, "audit")) && strcmp(v, "AUDIT") ? " (audit)" : "");
	for (char *p = verdict + 1; *p && *p != ' '; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	snprintf(dir, sizeof(dir), "%c%s", d[0] ? d[0] - 32 : ' ', d[0] ? d + 1 : "");
	if (numeric || !id) {
		snprintf(ids, sizeof(ids), "%s", id ? "" : "ANY");
		if (id)
			snprintf(ids, sizeof(ids), "%lld", id);
		labels = strdup(ids);
	} else {
		labels = join(json_object_get(peer, "labels"));
	}
	snprintf(proxy, sizeof(proxy), "%lld",
		 json_integer_value(json_object_get(e, "proxy_port")));
	snprintf(prefix, sizeof(prefix), "%lld", json_integer_value(json_object_get(e, "prefix")));
	row[0] = mark;
	r[0] = verdict;
	r[1] = dir;
	r[2] = labels;
	r[3] = json_string_value(json_object_get(e, "port"));
	r[4] = strcmp(proxy, "0") ? proxy : "NONE";
	r[5] = prefix;
	r[6] = json_string_value(json_object_get(json_object_get(e, "rule"), "ref"));
	cli_table_add(t, row);
	free(labels);
}

int cli_bpf(int argc, char **argv)
{
	struct strbuf path = STRBUF_INIT;
	struct cli_table t;
	json_t *j = NULL, *ents;
	bool json = false, numeric = false;
	char full[512];
	size_t i;
	int rest, rc;

	if (argc >= 3 && !strcmp(argv[1], "endpoint") && !strcmp(argv[2], "list"))
		return bpf_endpoint_list(argc - 2, argv + 2);
	if (argc >= 3 && !strcmp(argv[1], "ipcache") && !strcmp(argv[2], "list"))
		return bpf_ipcache_list(argc - 2, argv + 2);
	if (argc >= 3 && !strcmp(argv[1], "ct") && !strcmp(argv[2], "list"))
		return bpf_ct_list(argc - 2, argv + 2);
	if (argc < 3 || strcmp(argv[1], "policy") || strcmp(argv[2], "get")) {
		bool help = argc >= 2 &&
			    (!strcmp(argv[argc - 1], "--help") || !strcmp(argv[argc - 1], "-h"));

		fputs(bpf_usage, help ? stdout : stderr);
		return help ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	}
	rc = simple_args(argc - 2, argv + 2, bpf_usage, &json, &numeric, &rest);
	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	rest += 2;
	if (rest + 1 != argc) {
		fprintf(stderr, "velum bpf policy get: give one ENDPOINT\n%s", bpf_usage);
		return CLI_EXIT_USAGE;
	}
	if (strchr(argv[rest], '/') || cli_is_endpoint_id(argv[rest]))
		snprintf(full, sizeof(full), "%s", argv[rest]);
	else
		snprintf(full, sizeof(full), "default/%s", argv[rest]);
	strbuf_puts(&path, "/v1/endpoints/");
	client_url_escape(&path, full);
	strbuf_puts(&path, "/bpf-policy");
	rc = get_json(strbuf_str(&path), "bpf policy get", &j);
	strbuf_free(&path);
	if (rc)
		return rc;
	if (json) {
		cli_print_json(j);
		json_decref(j);
		return 0;
	}
	ents = json_object_get(j, "entries");
	printf("%s (endpoint %lld):\n", json_string_value(json_object_get(j, "endpoint")),
	       json_integer_value(json_object_get(j, "id")));
	cli_bpf_policy_table(&t, false);
	for (i = 0; i < json_array_size(ents); i++)
		cli_bpf_policy_row(&t, json_array_get(ents, i), numeric, NULL);
	cli_table_print(&t, stdout);
	cli_table_free(&t);
	json_decref(j);
	return 0;
}
