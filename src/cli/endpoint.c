/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `velum endpoint ...`: create, delete, list, get, label, config, exec.
 * Every verb speaks to velumd (docs/api.md); exec then joins the
 * endpoint's network namespace itself and runs the command there.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/table.h"
#include "lib/proto.h"

static const char create_usage[] =
	"usage: velum endpoint create NAME [--namespace NS] [--label k=v ...] [--port NAME:PORT[/PROTO] ...]\n"
	"                             [--audit] [--netns PATH] [-o json|yaml]\n"
	"\n"
	"Creates an endpoint: a network namespace joined to the host by a veth pair, an address\n"
	"from the pool, an identity from its labels, and its policy enforced before any packet.\n"
	"\n"
	"  NAME               'name' (namespace default) or 'namespace/name'\n"
	"  -n, --namespace NS the endpoint's namespace [default]\n"
	"  -l, --label k=v    a label ([source:]key[=value]; source k8s if omitted); repeatable\n"
	"  --port NAME:PORT[/TCP|UDP|SCTP]  a named port (for policies with named ports)\n"
	"  --audit            policy audit mode: would-be drops pass and are reported as AUDIT\n"
	"  --netns PATH       adopt this network namespace instead of creating one\n"
	"  -o json|yaml       print the endpoint as JSON or YAML\n";

static const char delete_usage[] =
	"usage: velum endpoint delete NAME [--namespace NS] [-o json|yaml]\n"
	"\n"
	"Removes the endpoint: its veth, its namespace (if velumd made "
	"it) and its policy.\n";

static const char list_usage[] =
	"usage: velum endpoint list [-o json|yaml|name]\n"
	"\n"
	"Lists endpoints with their policy enforcement, identity, labels, address and state.\n";

static const char get_usage[] =
	"usage: velum endpoint get NAME [--namespace NS] [-o json|yaml]\n"
	"\n"
	"NAME is 'name' (namespace default), 'namespace/name', or the endpoint's numeric ID as\n"
	"velum endpoint list prints it (an endpoint whose name is all digits: 'default/NAME').\n"
	"The other verbs that take an endpoint NAME take its ID too.\n";

static const char label_usage[] =
	"usage: velum endpoint label NAME [--namespace NS] [--replace] k=v ... [k- ...] [-o json|yaml]\n"
	"\n"
	"Sets labels (k=v adds or changes, k- removes; --replace makes the given labels the\n"
	"whole set). velumd applies k=v and k- to the labels the endpoint has when it changes\n"
	"them, so label commands on other keys at the same time all land. The endpoint gets\n"
	"the identity of its new labels and every endpoint whose policy depends on it is updated.\n";

static const char config_usage[] =
	"usage: velum endpoint config NAME [--namespace NS] PolicyAuditMode=Enabled|Disabled\n"
	"\n"
	"Per-endpoint options. PolicyAuditMode: would-be drops of this endpoint's policy pass\n"
	"and are reported as AUDIT.\n";

static const char exec_usage[] =
	"usage: velum endpoint exec NAME [--namespace NS] -- COMMAND [ARG ...]\n"
	"\n"
	"Runs COMMAND inside the endpoint's network namespace (like kubectl exec).\n";

/*
 * "ns/name" into buf from NAME and --namespace; a decimal NAME without
 * --namespace is the endpoint's id and stays as it is (the API's
 * /v1/endpoints/{id}).
 */
static int full_name(const char *name, const char *ns, char *buf, size_t len)
{
	if (!ns && cli_is_endpoint_id(name)) {
		snprintf(buf, len, "%s", name);
	} else if (strchr(name, '/')) {
		if (ns && strncmp(name, ns, strlen(ns)))
			return -EINVAL;
		snprintf(buf, len, "%s", name);
	} else {
		snprintf(buf, len, "%s/%s", ns ? ns : "default", name);
	}
	return 0;
}

static const char *enforcement(json_t *ep, const char *dir)
{
	const char *s = json_string_value(json_object_get(json_object_get(ep, "policy"), dir));

	if (!s || !strcmp(s, "disabled"))
		return "Disabled";
	return !strcmp(s, "audit") ? "Audit" : "Enabled";
}

static char *join_labels(json_t *arr)
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

static void print_endpoints(json_t *arr)
{
	static const char *const hdr[] = { "ENDPOINT",
					   "NAME",
					   "POLICY (ingress)",
					   "POLICY (egress)",
					   "IDENTITY",
					   "LABELS (source:key[=value])",
					   "IPv4",
					   "STATUS" };
	static const char *const hdr2[] = { "", "", "ENFORCEMENT", "ENFORCEMENT", "", "", "", "" };
	struct cli_table t;
	size_t i;

	cli_table_init(&t, 8, hdr, hdr2);
	for (i = 0; i < json_array_size(arr); i++) {
		json_t *ep = json_array_get(arr, i);
		char id[16], ident[16], *labels = join_labels(json_object_get(ep, "labels"));
		const char *row[8];

		snprintf(id, sizeof(id), "%lld", json_integer_value(json_object_get(ep, "id")));
		snprintf(ident, sizeof(ident), "%lld",
			 json_integer_value(json_object_get(ep, "identity")));
		row[0] = id;
		row[1] = json_string_value(json_object_get(ep, "name"));
		row[2] = enforcement(ep, "ingress");
		row[3] = enforcement(ep, "egress");
		row[4] = ident;
		row[5] = labels;
		row[6] = json_string_value(json_object_get(ep, "ipv4"));
		row[7] = json_string_value(json_object_get(ep, "state"));
		cli_table_add(&t, row);
		free(labels);
	}
	cli_table_print(&t, stdout);
	cli_table_free(&t);
}

/* "Key:    first\n        second\n..." */
static void print_lines(const char *key, const char *lines)
{
	const char *p;

	fputs(key, stdout);
	for (p = lines; *p; p++) {
		putchar(*p);
		if (*p == '\n')
			printf("%*s", (int)strlen(key), "");
	}
	putchar('\n');
}

static void print_endpoint(json_t *ep)
{
	json_t *ports = json_object_get(ep, "ports");
	char *labels = join_labels(json_object_get(ep, "labels"));
	char *ilabels = join_labels(json_object_get(ep, "identity_labels"));
	const char *err = json_string_value(json_object_get(ep, "error"));
	size_t i;

	printf("Name:             %s\n", json_string_value(json_object_get(ep, "name")) ?: "");
	printf("ID:               %lld\n", json_integer_value(json_object_get(ep, "id")));
	printf("Identity:         %lld\n", json_integer_value(json_object_get(ep, "identity")));
	printf("IPv4:             %s\n", json_string_value(json_object_get(ep, "ipv4")) ?: "");
	printf("Netns:            %s\n", json_string_value(json_object_get(ep, "netns")) ?: "");
	printf("Host link:        %s\n",
	       json_string_value(json_object_get(ep, "host_ifname")) ?: "");
	printf("Policy:           ingress %s, egress %s%s\n", enforcement(ep, "ingress"),
	       enforcement(ep, "egress"),
	       json_is_true(json_object_get(ep, "audit")) ? " (endpoint audit mode)" : "");
	printf("State:            %s%s%s\n", json_string_value(json_object_get(ep, "state")) ?: "",
	       err ? ": " : "", err ? err : "");
	print_lines("Labels:           ", labels);
	print_lines("Identity labels:  ", ilabels);
	for (i = 0; i < json_array_size(ports); i++) {
		json_t *pt = json_array_get(ports, i);

		printf("%s%s %lld/%s\n", i ? "                  " : "Ports:            ",
		       json_string_value(json_object_get(pt, "name")) ?: "",
		       json_integer_value(json_object_get(pt, "port")),
		       json_string_value(json_object_get(pt, "protocol")) ?: "");
	}
	free(labels);
	free(ilabels);
}

/* GET /v1/endpoints/NAME into *out; prints errors. */
static int fetch(const char *full, const char *cmd, json_t **out)
{
	struct strbuf path = STRBUF_INIT;
	struct client_resp r;
	int rc;

	strbuf_puts(&path, "/v1/endpoints/");
	client_url_escape(&path, full);
	rc = cli_request("GET", strbuf_str(&path), NULL, 0, &r);
	strbuf_free(&path);
	if (rc)
		return rc;
	rc = cli_check(&r, cmd);
	if (!rc) {
		*out = cli_json(&r, cmd);
		rc = *out ? 0 : CLI_EXIT_FAIL;
	}
	client_resp_free(&r);
	return rc;
}

static int parse_port(const char *s, json_t *ports)
{
	const char *colon = strchr(s, ':'), *slash;
	char name[64], *end;
	uint8_t proto = IPPROTO_TCP;
	long port;

	if (!colon || colon == s || (size_t)(colon - s) >= sizeof(name))
		return -EINVAL;
	snprintf(name, sizeof(name), "%.*s", (int)(colon - s), s);
	port = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || port < 1 || port > 65535)
		return -EINVAL;
	slash = *end == '/' ? end + 1 : NULL;
	if (*end && !slash)
		return -EINVAL;
	if (slash && (proto_parse(slash, &proto) || !proto_has_ports(proto)))
		return -EINVAL;
	return json_array_append_new(ports, json_pack("{s:s, s:i, s:s}", "name", name, "port",
						      (int)port, "protocol", proto_name(proto)));
}

static int send_json_body(const char *method, const char *path, json_t *body, const char *cmd,
			  json_t **out)
{
	char *s = json_dumps(body, JSON_COMPACT);
	struct client_resp r;
	int rc;

	if (!s)
		return CLI_EXIT_FAIL;
	rc = cli_request(method, path, s, strlen(s), &r);
	free(s);
	if (rc)
		return rc;
	rc = cli_check(&r, cmd);
	if (!rc && out) {
		*out = cli_json(&r, cmd);
		rc = *out ? 0 : CLI_EXIT_FAIL;
	}
	client_resp_free(&r);
	return rc;
}

static int cmd_create(int argc, char **argv)
{
	enum { O_PORT = 256, O_AUDIT, O_NETNS };
	static const struct option opts[] = {
		{ "namespace", required_argument, NULL, 'n' },
		{ "label", required_argument, NULL, 'l' },
		{ "port", required_argument, NULL, O_PORT },
		{ "audit", no_argument, NULL, O_AUDIT },
		{ "netns", required_argument, NULL, O_NETNS },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	json_t *labels = json_array(), *ports = json_array(), *body = NULL, *out = NULL;
	const char *ns = NULL, *netns = NULL;
	bool json = false, audit = false;
	int c, rc = CLI_EXIT_USAGE;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "n:l:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			ns = optarg;
			break;
		case 'l':
			json_array_append_new(labels, json_string(optarg));
			break;
		case O_PORT:
			if (parse_port(optarg, ports)) {
				rc = cli_usage_err("velum endpoint", create_usage,
						   "--port '%s': expected NAME:PORT[/TCP|UDP|SCTP]",
						   optarg);
				goto out;
			}
			break;
		case O_AUDIT:
			audit = true;
			break;
		case O_NETNS:
			netns = optarg;
			break;
		case 'o':
			if (cli_output_parse(optarg, &json)) {
				rc = cli_usage_err("velum endpoint", create_usage,
						   "-o '%s': json or yaml", optarg);
				goto out;
			}
			json = true;
			break;
		case 'h':
			fputs(create_usage, stdout);
			rc = CLI_EXIT_OK;
			goto out;
		default:
			rc = cli_usage_err("velum endpoint", create_usage,
					   "unknown or incomplete option '%s'", argv[optind - 1]);
			goto out;
		}
	}
	if (optind + 1 != argc) {
		rc = cli_usage_err("velum endpoint", create_usage, "%s",
				   optind >= argc ? "an endpoint NAME is required" :
						    "exactly one endpoint NAME");
		goto out;
	}
	body = json_pack("{s:s, s:O, s:O, s:b}", "name", argv[optind], "labels", labels, "ports",
			 ports, "audit", audit);
	if (ns)
		json_object_set_new(body, "namespace", json_string(ns));
	if (netns) {
		/* the agent resolves paths in its own working directory: send an absolute one */
		char *abs = netns[0] == '/' ? NULL : realpath(netns, NULL);

		json_object_set_new(body, "netns", json_string(abs ? abs : netns));
		free(abs);
	}
	rc = send_json_body("POST", "/v1/endpoints", body, "endpoint create", &out);
	if (!rc) {
		if (json)
			cli_print_json(out);
		else
			printf("endpoint %s created: id %lld, identity %lld, %s\n",
			       json_string_value(json_object_get(out, "name")),
			       json_integer_value(json_object_get(out, "id")),
			       json_integer_value(json_object_get(out, "identity")),
			       json_string_value(json_object_get(out, "ipv4")));
	}
out:
	json_decref(labels);
	json_decref(ports);
	json_decref(body);
	json_decref(out);
	return rc;
}

/*
 * Parses NAME [--namespace NS] [-o json] [--replace] for the simple verbs.
 * Returns 0 (*rest = index of the first operand after NAME), -1 after
 * printing --help, or an exit status after a usage error.
 */
static int name_args(int argc, char **argv, const char *usage, bool want_json, char *full,
		     size_t len, bool *json, bool *replace, int *rest)
{
	static const struct option opts[] = {
		{ "namespace", required_argument, NULL, 'n' },
		{ "output", required_argument, NULL, 'o' },
		{ "replace", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ns = NULL;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+n:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			ns = optarg;
			break;
		case 'o':
			if (!want_json || cli_output_parse(optarg, json))
				return cli_usage_err("velum endpoint", usage,
						     "-o '%s': not supported here", optarg);
			break;
		case 'R':
			if (!replace)
				return cli_usage_err("velum endpoint", usage, "%s",
						     "--replace is not an option here");
			*replace = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return -1;
		default:
			return cli_usage_err("velum endpoint", usage,
					     "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage_err("velum endpoint", usage, "%s", "an endpoint NAME is required");
	if (full_name(argv[optind], ns, full, len))
		return cli_usage_err("velum endpoint", usage,
				     "'%s': the namespace contradicts --namespace", argv[optind]);
	*rest = optind + 1;
	/* options after NAME (but before --) */
	if (*rest < argc && argv[*rest][0] == '-' && strcmp(argv[*rest], "--")) {
		int sub = argc - optind, r2;
		char **av = argv + optind;

		optind = 1;
		while ((c = getopt_long(sub, av, "+n:o:h", opts, NULL)) != -1) {
			if (c == 'o' && want_json) {
				if (cli_output_parse(optarg, json))
					return cli_usage_err("velum endpoint", usage,
							     "-o '%s': not supported here", optarg);
			} else if (c == 'R' && replace)
				*replace = true;
			else if (c == 'h')
				return fputs(usage, stdout), -1;
			else if (c == 'n' && !strchr(argv[*rest - 1], '/'))
				snprintf(full, len, "%s/%s", optarg, argv[*rest - 1]);
			else
				return cli_usage_err("velum endpoint", usage,
						     "unknown or misplaced option '%s'",
						     av[optind - 1]);
		}
		r2 = optind;
		*rest = (int)(av - argv) + r2;
	}
	return 0;
}

static int cmd_delete(int argc, char **argv)
{
	struct strbuf path = STRBUF_INIT;
	struct client_resp r;
	char full[512];
	bool json = false;
	int rest = 0,
	    rc = name_args(argc, argv, delete_usage, true, full, sizeof(full), &json, NULL, &rest);

	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if (rest < argc)
		return cli_usage_err("velum endpoint", delete_usage, "unexpected argument '%s'",
				     argv[rest]);
	strbuf_puts(&path, "/v1/endpoints/");
	client_url_escape(&path, full);
	rc = cli_request("DELETE", strbuf_str(&path), NULL, 0, &r);
	strbuf_free(&path);
	if (rc)
		return rc;
	rc = cli_check(&r, "endpoint delete");
	if (!rc && json)
		cli_print_json_text(r.body.p ? r.body.p : "", r.body.len);
	else if (!rc)
		printf("endpoint %s deleted\n", full);
	client_resp_free(&r);
	return rc;
}

static int cmd_list(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct client_resp r;
	json_t *j;
	bool json = false, names = false;
	int c, rc;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if (!strcmp(optarg, "name"))
				names = true;
			else if (cli_output_parse(optarg, &json))
				return cli_usage_err("velum endpoint", list_usage,
						     "-o '%s': expected json, yaml or name",
						     optarg);
			break;
		case 'h':
			fputs(list_usage, stdout);
			return CLI_EXIT_OK;
		default:
			return cli_usage_err("velum endpoint", list_usage,
					     "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_err("velum endpoint", list_usage, "unexpected argument '%s'",
				     argv[optind]);
	rc = cli_request("GET", "/v1/endpoints", NULL, 0, &r);
	if (rc)
		return rc;
	rc = cli_check(&r, "endpoint list");
	j = rc ? NULL : cli_json(&r, "endpoint list");
	if (!rc && !j)
		rc = CLI_EXIT_FAIL;
	if (j && json) {
		cli_print_json(j);
	} else if (j && names) {
		for (size_t i = 0; i < json_array_size(j); i++)
			puts(json_string_value(json_object_get(json_array_get(j, i), "name")));
	} else if (j) {
		print_endpoints(j);
	}
	json_decref(j);
	client_resp_free(&r);
	return rc;
}

static int cmd_get(int argc, char **argv)
{
	char full[512];
	bool json = false;
	json_t *ep = NULL;
	int rest = 0,
	    rc = name_args(argc, argv, get_usage, true, full, sizeof(full), &json, NULL, &rest);

	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if (rest < argc)
		return cli_usage_err("velum endpoint", get_usage, "unexpected argument '%s'",
				     argv[rest]);
	rc = fetch(full, "endpoint get", &ep);
	if (rc)
		return rc;
	if (json)
		cli_print_json(ep);
	else
		print_endpoint(ep);
	json_decref(ep);
	return CLI_EXIT_OK;
}

/* The key of a label string "[source:]key[=value]" with its source ("k8s" if none). */
static void label_key(const char *s, char *buf, size_t len)
{
	const char *colon = strchr(s, ':'), *eq = strchr(s, '=');
	size_t klen;

	if (!colon || (eq && colon > eq)) {
		klen = eq ? (size_t)(eq - s) : strlen(s);
		snprintf(buf, len, "k8s:%.*s", (int)klen, s);
	} else {
		klen = eq ? (size_t)(eq - s) : strlen(s);
		snprintf(buf, len, "%.*s", (int)klen, s);
	}
}

struct arg_key {
	char key[512]; /* without its source: one value per key, whatever the source */
	int arg;
};

static int arg_key_cmp(const void *pa, const void *pb)
{
	const struct arg_key *a = pa, *b = pb;
	int c = strcmp(a->key, b->key);

	return c ? c : a->arg - b->arg;
}

/*
 * Refuses two arguments of `endpoint label` on one key ("app=a app=b",
 * "app- app=b"), as velumd refuses a key given twice in a label list: the
 * last would silently win. Sorted, so n labels cost O(n log n).
 */
static int check_dup_keys(int argc, char **argv, int rest)
{
	struct arg_key *v = calloc((size_t)(argc > 0 ? argc : 1), sizeof(*v));
	int i, n = 0, dup = -1, rc = CLI_EXIT_OK;

	if (!v)
		return cli_usage_err("velum endpoint", label_usage, "out of memory");
	for (i = rest; i < argc; i++) {
		const char *l = argv[i], *colon;
		char tmp[512], full[512];
		size_t len = strlen(l);

		if (!strcmp(l, "--replace"))
			continue;
		if (!strcmp(l, "-o") && i + 1 < argc) {
			i++;
			continue;
		}
		snprintf(tmp, sizeof(tmp), "%.*s",
			 (int)(len > 1 && l[len - 1] == '-' && !strchr(l, '=') ? len - 1 : len), l);
		label_key(tmp, full, sizeof(full));
		colon = strchr(full, ':');
		snprintf(v[n].key, sizeof(v[n].key), "%s", colon ? colon + 1 : full);
		v[n++].arg = i;
	}
	qsort(v, (size_t)n, sizeof(*v), arg_key_cmp);
	for (i = 1; i < n; i++)
		if (!strcmp(v[i].key, v[i - 1].key) && (dup < 0 || v[i].arg < v[dup].arg))
			dup = i;
	if (dup >= 0)
		rc = cli_usage_err("velum endpoint", label_usage,
				   "label '%s': key '%s' is given twice (one value per key)",
				   argv[v[dup].arg], v[dup].key);
	free(v);
	return rc;
}

static int cmd_label(int argc, char **argv)
{
	char full[512];
	bool json = false, replace = false;
	json_t *labels = NULL, *body = NULL, *out = NULL;
	struct strbuf path = STRBUF_INIT;
	int rest = 0, rc, i;

	rc = name_args(argc, argv, label_usage, true, full, sizeof(full), &json, &replace, &rest);
	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	for (i = rest; i < argc; i++) {
		if (!strcmp(argv[i], "--replace"))
			replace = true;
		else if (!strcmp(argv[i], "-o") && i + 1 < argc &&
			 !cli_output_parse(argv[i + 1], &json))
			i++;
	}
	if (rest >= argc)
		return cli_usage_err("velum endpoint", label_usage, "%s",
				     "give at least one label k=v (or k- to remove)");
	rc = check_dup_keys(argc, argv, rest);
	if (rc)
		return rc;
	/*
	 * --replace sends the whole label set. Else velumd applies the changes
	 * to the labels the endpoint has when it makes the change ({"merge":
	 * {"[source:]key": "value" or null}}), so two label commands on
	 * different keys at once both land.
	 */
	labels = replace ? json_array() : json_object();
	if (!labels)
		return CLI_EXIT_FAIL;
	for (i = rest; i < argc; i++) {
		const char *l = argv[i], *eq = strchr(l, '=');
		size_t n = strlen(l);
		bool remove = n > 1 && l[n - 1] == '-' && !eq;
		char *key;
		int bad;

		if (!strcmp(l, "--replace"))
			continue; /* handled above */
		if (!strcmp(l, "-o") && i + 1 < argc &&
		    (!strcmp(argv[i + 1], "json") || !strcmp(argv[i + 1], "yaml"))) {
			i++;
			continue;
		}

		if (replace && remove) {
			rc = cli_usage_err("velum endpoint", label_usage,
					   "'%s': removal makes no sense with --replace", l);
			goto out;
		}
		if (replace) {
			bad = json_array_append_new(labels, json_string(l));
		} else {
			key = strndup(l, remove ? n - 1 : eq ? (size_t)(eq - l) : n);
			if (!key) {
				rc = CLI_EXIT_FAIL;
				goto out;
			}
			bad = json_object_set_new(
				labels, key, remove ? json_null() : json_string(eq ? eq + 1 : ""));
			free(key);
		}
		if (bad) {
			rc = cli_usage_err("velum endpoint", label_usage, "'%s': not valid UTF-8",
					   l);
			goto out;
		}
	}
	body = json_pack("{s:O}", replace ? "labels" : "merge", labels);
	if (!body) {
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	strbuf_puts(&path, "/v1/endpoints/");
	client_url_escape(&path, full);
	rc = send_json_body("PATCH", strbuf_str(&path), body, "endpoint label", &out);
	if (!rc) {
		if (json)
			cli_print_json(out);
		else
			printf("endpoint %s labelled: identity %lld\n", full,
			       json_integer_value(json_object_get(out, "identity")));
	}
out:
	strbuf_free(&path);
	json_decref(labels);
	json_decref(body);
	json_decref(out);
	return rc;
}

static int cmd_config(int argc, char **argv)
{
	char full[512];
	bool json = false;
	struct strbuf path = STRBUF_INIT;
	json_t *body = json_object(), *out = NULL;
	int rest = 0,
	    rc = name_args(argc, argv, config_usage, true, full, sizeof(full), &json, NULL, &rest);
	int i;

	if (rc) {
		json_decref(body);
		return rc < 0 ? CLI_EXIT_OK : rc;
	}
	if (rest >= argc) {
		json_decref(body);
		return cli_usage_err("velum endpoint", config_usage, "%s",
				     "give an option, e.g. PolicyAuditMode=Enabled");
	}
	for (i = rest; i < argc; i++) {
		const char *v = strchr(argv[i], '=');

		if (v && !strncasecmp(argv[i], "PolicyAuditMode=", 16) &&
		    (!strcasecmp(v + 1, "Enabled") || !strcasecmp(v + 1, "Disabled"))) {
			json_object_set_new(body, "audit",
					    json_boolean(!strcasecmp(v + 1, "Enabled")));
			continue;
		}
		json_decref(body);
		return cli_usage_err("velum endpoint", config_usage,
				     "'%s': expected PolicyAuditMode=Enabled|Disabled", argv[i]);
	}
	strbuf_puts(&path, "/v1/endpoints/");
	client_url_escape(&path, full);
	rc = send_json_body("PATCH", strbuf_str(&path), body, "endpoint config", &out);
	if (!rc) {
		if (json)
			cli_print_json(out);
		else
			printf("endpoint %s: PolicyAuditMode=%s\n", full,
			       json_is_true(json_object_get(out, "audit")) ? "Enabled" :
									     "Disabled");
	}
	strbuf_free(&path);
	json_decref(body);
	json_decref(out);
	return rc;
}

static int cmd_exec(int argc, char **argv)
{
	char full[512];
	bool json = false;
	json_t *ep = NULL;
	const char *netns;
	int rest = 0, rc, fd;

	rc = name_args(argc, argv, exec_usage, false, full, sizeof(full), &json, NULL, &rest);
	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if (rest < argc && !strcmp(argv[rest], "--"))
		rest++;
	if (rest >= argc)
		return cli_usage_err("velum endpoint", exec_usage, "%s", "give a COMMAND after --");
	rc = fetch(full, "endpoint exec", &ep);
	if (rc)
		return rc;
	netns = json_string_value(json_object_get(ep, "netns"));
	if (!netns) {
		fprintf(stderr, "velum endpoint exec: %s has no network namespace\n", full);
		json_decref(ep);
		return CLI_EXIT_FAIL;
	}
	fd = open(netns, O_RDONLY | O_CLOEXEC);
	if (fd == -1 || setns(fd, CLONE_NEWNET) == -1) {
		fprintf(stderr, "velum endpoint exec: join %s: %s\n", netns, strerror(errno));
		json_decref(ep);
		return CLI_EXIT_FAIL;
	}
	close(fd);
	json_decref(ep);
	execvp(argv[rest], argv + rest);
	fprintf(stderr, "velum endpoint exec: %s: %s\n", argv[rest], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}

static const char group_usage[] =
	"usage: velum endpoint <verb> [args]\n"
	"\n"
	"  create NAME --label k=v ...   create an endpoint (namespace, veth, address, identity)\n"
	"  delete NAME                   remove it\n"
	"  list                          all endpoints\n"
	"  get NAME                      one endpoint\n"
	"  label NAME k=v ... [k- ...]   change its labels (and so its identity)\n"
	"  config NAME PolicyAuditMode=Enabled|Disabled\n"
	"  exec NAME -- COMMAND ...      run a command in its network namespace\n"
	"\n"
	"NAME is 'name' (namespace default), 'namespace/name', or 'name --namespace NS'.\n";

static const struct cli_cmd verbs[] = {
	/* clang-format off */
	{ "create",	NULL,	cmd_create },
	{ "delete",	"rm",	cmd_delete },
	{ "list",	"ls",	cmd_list },
	{ "get",	NULL,	cmd_get },
	{ "label",	NULL,	cmd_label },
	{ "config",	NULL,	cmd_config },
	{ "exec",	NULL,	cmd_exec },
	/* clang-format on */
};

int cli_endpoint(int argc, char **argv)
{
	return cli_dispatch("velum endpoint", "verb", verbs, sizeof(verbs) / sizeof(verbs[0]),
			    group_usage, argc, argv);
}
