/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `velum policy import|get|delete`: policies in the running agent. (trace
 * and resolve live in trace.c.) Import sends every file in one request: the
 * agent takes all of them or none.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/table.h"
#include "lib/file.h"

#define MAX_POLICY_FILE (16u << 20)

static const char import_usage[] =
	"usage: velum policy import FILE|DIR ... [--audit] [--dry-run] [-o json|yaml]\n"
	"\n"
	"Imports policy files (CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy, NetworkPolicy\n"
	"or raw Cilium rules; JSON or YAML; a directory means its *.json, *.yaml and *.yml files).\n"
	"All or nothing: on any error nothing changes and the error names file:line:field.\n"
	"A policy with the kind, namespace and name of a loaded one replaces it. Kubernetes\n"
	"Namespace objects (v1) in the files set their namespaces' labels (as a whole), in the\n"
	"same change. Returns once every affected endpoint enforces the new policy.\n"
	"\n"
	"  --audit   import in audit mode: the policies' denials pass and are reported as AUDIT\n"
	"            (same as the annotation policy.velum.io/audit-mode: \"true\")\n"
	"  --dry-run validate as an import and change nothing: print the enforced entries each\n"
	"            endpoint would gain (+) and lose (-), and the flows in the agent's flow\n"
	"            buffer whose verdict would flip\n"
	"  -o json   print the agent's answer as JSON\n";

static const char get_usage[] =
	"usage: velum policy get [NAME] [--namespace NS] [--kind KIND] [-o json|yaml]\n"
	"\n"
	"Lists the loaded policies in load order; with NAME, also prints their source.\n";

static const char delete_usage[] =
	"usage: velum policy delete (NAME [--namespace NS] [--kind KIND] | --all) [-o json|yaml]\n"
	"\n"
	"Deletes the named policies (every kind and namespace unless narrowed), or all.\n";

static bool policy_ext(const char *name)
{
	const char *dot = strrchr(name, '.');

	return dot &&
	       (!strcasecmp(dot, ".json") || !strcasecmp(dot, ".yaml") || !strcasecmp(dot, ".yml"));
}

/* Adds path (a file, or the policy files of a directory) to files. */
static int add_path(const char *path, json_t *files)
{
	struct errbuf eb = { "" };
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int err;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		struct dirent **ents;
		int n = scandir(path, &ents, NULL, alphasort), i;
		size_t before = json_array_size(files);

		if (n < 0) {
			fprintf(stderr, "velum policy import: %s: %s\n", path, strerror(errno));
			return CLI_EXIT_USAGE;
		}
		for (i = 0, err = 0; i < n; i++) {
			char sub[4096];

			if (!err && ents[i]->d_name[0] != '.' && policy_ext(ents[i]->d_name)) {
				snprintf(sub, sizeof(sub), "%s/%s", path, ents[i]->d_name);
				err = add_path(sub, files);
			}
			free(ents[i]);
		}
		free(ents);
		if (!err && json_array_size(files) == before) {
			fprintf(stderr,
				"velum policy import: %s: no *.json, *.yaml or *.yml file\n", path);
			return CLI_EXIT_USAGE;
		}
		return err;
	}
	err = file_read_all(path, MAX_POLICY_FILE, &buf, &len, &eb);
	if (err) {
		fprintf(stderr, "velum policy import: %s\n", eb.msg);
		return CLI_EXIT_USAGE;
	}
	{
		/* a NUL cannot travel in the request's JSON: say where it is */
		const char *nul = memchr(buf, '\0', len), *p, *bol = buf;
		unsigned line = 1;

		if (nul) {
			for (p = buf; p < nul; p++)
				if (*p == '\n') {
					line++;
					bol = p + 1;
				}
			fprintf(stderr,
				"velum policy import: %s:%u:%zu: a NUL byte (a policy file is "
				"text)\n",
				path, line, (size_t)(nul - bol) + 1);
			free(buf);
			return CLI_EXIT_USAGE;
		}
	}
	err = json_array_append_new(files,
				    json_pack("{s:s, s:s%}", "name", path, "content", buf, len));
	free(buf);
	if (err) {
		fprintf(stderr, "velum policy import: %s: not valid UTF-8 text\n", path);
		return CLI_EXIT_USAGE;
	}
	return 0;
}

static int cmd_import(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "audit", no_argument, NULL, 'A' },
		{ "dry-run", no_argument, NULL, 'D' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	json_t *files = json_array(), *body = NULL, *out = NULL, *ps, *warn;
	struct client_resp r = { 0 };
	bool json = false, audit = false, dry = false;
	char *s = NULL;
	size_t i;
	int c, rc = CLI_EXIT_USAGE;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'A':
			audit = true;
			break;
		case 'D':
			dry = true;
			break;
		case 'o':
			if (cli_output_parse(optarg, &json)) {
				rc = cli_usage_err("velum policy", import_usage,
						   "-o '%s': json or yaml", optarg);
				goto out;
			}
			break;
		case 'h':
			fputs(import_usage, stdout);
			rc = CLI_EXIT_OK;
			goto out;
		default:
			rc = cli_usage_err("velum policy", import_usage,
					   "unknown or incomplete option '%s'", argv[optind - 1]);
			goto out;
		}
	}
	if (optind >= argc) {
		rc = cli_usage_err("velum policy", import_usage, "%s",
				   "give at least one policy FILE");
		goto out;
	}
	for (; optind < argc; optind++) {
		rc = add_path(argv[optind], files);
		if (rc)
			goto out;
	}
	body = json_pack("{s:O, s:b}", "files", files, "audit", audit);
	s = body ? json_dumps(body, JSON_COMPACT) : NULL;
	if (!s) {
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	rc = cli_request("POST", dry ? "/v1/policies?dry_run=1" : "/v1/policies", s, strlen(s), &r);
	if (rc)
		goto out;
	rc = cli_check(&r, "policy import");
	if (rc) {
		if (rc == CLI_EXIT_USAGE)
			fprintf(stderr, "velum policy import: nothing was changed\n");
		goto out;
	}
	if (dry) {
		out = cli_json(&r, "policy import");
		warn = json_object_get(out, "warnings");
		for (i = 0; i < json_array_size(warn); i++)
			fprintf(stderr, "warning: %s\n",
				json_string_value(json_array_get(warn, i)));
		rc = cli_policy_dry_run(files, audit);
		goto out;
	}
	out = cli_json(&r, "policy import");
	if (!out) {
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	warn = json_object_get(out, "warnings");
	for (i = 0; i < json_array_size(warn); i++)
		fprintf(stderr, "warning: %s\n", json_string_value(json_array_get(warn, i)));
	if (json) {
		cli_print_json(out);
		goto out;
	}
	ps = json_object_get(out, "policies");
	if (json_is_true(json_object_get(out, "unchanged")))
		printf("unchanged: %zu polic%s already loaded from the same file%s, nothing "
		       "changed (revision %lld)\n",
		       json_array_size(ps), json_array_size(ps) == 1 ? "y" : "ies",
		       json_array_size(ps) == 1 ? "" : "s",
		       json_integer_value(json_object_get(out, "revision")));
	else
		printf("imported %zu polic%s (revision %lld)%s\n", json_array_size(ps),
		       json_array_size(ps) == 1 ? "y" : "ies",
		       json_integer_value(json_object_get(out, "revision")),
		       audit ? " in audit mode" : "");
	for (i = 0; i < json_array_size(ps); i++) {
		json_t *p = json_array_get(ps, i);
		const char *ns = json_string_value(json_object_get(p, "namespace"));

		printf("  %s %s%s%s (%s)%s\n", json_string_value(json_object_get(p, "kind")),
		       ns ? ns : "", ns ? "/" : "", json_string_value(json_object_get(p, "name")),
		       json_string_value(json_object_get(p, "file")),
		       json_is_true(json_object_get(p, "audit")) ? " audit" : "");
	}
	ps = json_object_get(out, "namespaces");
	for (i = 0; i < json_array_size(ps); i++)
		printf("  Namespace %s\n", json_string_value(json_array_get(ps, i)));
out:
	free(s);
	client_resp_free(&r);
	json_decref(files);
	json_decref(body);
	json_decref(out);
	return rc;
}

struct sel {
	const char *name, *ns, *kind;
};

static bool kind_matches(const char *want, const char *kind)
{
	static const char *const shorts[][2] = {
		{ "cnp", "CiliumNetworkPolicy" }, { "ccnp", "CiliumClusterwideNetworkPolicy" },
		{ "netpol", "NetworkPolicy" },	  { "knp", "NetworkPolicy" },
		{ "rules", "CiliumRules" },
	};
	size_t i;

	if (!strcasecmp(want, kind))
		return true;
	for (i = 0; i < sizeof(shorts) / sizeof(shorts[0]); i++)
		if (!strcasecmp(want, shorts[i][0]) && !strcmp(kind, shorts[i][1]))
			return true;
	return false;
}

static bool selected(json_t *p, const struct sel *s)
{
	const char *ns = json_string_value(json_object_get(p, "namespace"));

	if (s->name && strcmp(s->name, json_string_value(json_object_get(p, "name")) ?: ""))
		return false;
	if (s->ns && strcmp(s->ns, ns ? ns : ""))
		return false;
	if (s->kind && !kind_matches(s->kind, json_string_value(json_object_get(p, "kind")) ?: ""))
		return false;
	return true;
}

static int sel_args(int argc, char **argv, const char *usage, struct sel *s, bool *json, bool *all)
{
	static const struct option opts[] = {
		{ "namespace", required_argument, NULL, 'n' },
		{ "kind", required_argument, NULL, 'k' },
		{ "all", no_argument, NULL, 'a' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "n:k:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			s->ns = optarg;
			break;
		case 'k':
			s->kind = optarg;
			break;
		case 'a':
			if (!all)
				return cli_usage_err("velum policy", usage, "%s",
						     "--all is not an option here");
			*all = true;
			break;
		case 'o':
			if (!json || cli_output_parse(optarg, json))
				return cli_usage_err("velum policy", usage,
						     "-o '%s': not supported here", optarg);
			break;
		case 'h':
			fputs(usage, stdout);
			return -1;
		default:
			return cli_usage_err("velum policy", usage,
					     "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		s->name = argv[optind++];
	if (optind < argc)
		return cli_usage_err("velum policy", usage, "unexpected argument '%s'",
				     argv[optind]);
	return 0;
}

/* A policy's per-rule hits: flows each rule allowed and denied (kept across velumd restarts). */
static void print_hits(json_t *hits)
{
	static const char *const hdr[] = { "RULE ID", "RULE", "ALLOWED", "DENIED" };
	struct cli_table t;
	json_t *h;
	size_t k;

	if (!json_array_size(hits))
		return;
	printf("\n# flows each rule decided\n");
	cli_table_init(&t, 4, hdr, NULL);
	json_array_foreach(hits, k, h)
	{
		char id[16], a[24], d[24];
		const char *row[4] = { id, json_string_value(json_object_get(h, "rule")), a, d };

		snprintf(id, sizeof(id), "%lld", json_integer_value(json_object_get(h, "id")));
		snprintf(a, sizeof(a), "%lld", json_integer_value(json_object_get(h, "allowed")));
		snprintf(d, sizeof(d), "%lld", json_integer_value(json_object_get(h, "denied")));
		cli_table_add(&t, row);
	}
	cli_table_print(&t, stdout);
	cli_table_free(&t);
}

static int cmd_get(int argc, char **argv)
{
	static const char *const hdr[] = { "KIND",  "NAMESPACE", "NAME",   "RULES",    "RULE IDS",
					   "AUDIT", "ALLOWED",	 "DENIED", "IMPORTED", "FILE" };
	struct sel s = { 0 };
	struct strbuf url = STRBUF_INIT, path = STRBUF_INIT;
	struct client_resp r;
	struct cli_table t;
	json_t *j, *ps, *sel;
	bool json = false;
	size_t i;
	int rc = sel_args(argc, argv, get_usage, &s, &json, NULL);

	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	/* the list carries no sources; with NAME, ask for that policy's file(s) */
	if (s.name) {
		client_url_escape(&path, s.name);
		strbuf_printf(&url, "/v1/policies?source=1&name=%s", strbuf_str(&path));
	} else {
		strbuf_puts(&url, "/v1/policies");
	}
	rc = url.oom || path.oom ? CLI_EXIT_FAIL :
				   cli_request("GET", strbuf_str(&url), NULL, 0, &r);
	strbuf_free(&path);
	strbuf_free(&url);
	if (rc)
		return rc;
	rc = cli_check(&r, "policy get");
	j = rc ? NULL : cli_json(&r, "policy get");
	client_resp_free(&r);
	if (!j)
		return rc ? rc : CLI_EXIT_FAIL;
	ps = json_object_get(j, "policies");
	sel = json_array();
	for (i = 0; i < json_array_size(ps); i++)
		if (selected(json_array_get(ps, i), &s))
			json_array_append(sel, json_array_get(ps, i));
	if (s.name && !json_array_size(sel)) {
		fprintf(stderr, "velum policy get: no policy named '%s'\n", s.name);
		rc = CLI_EXIT_FAIL;
	} else if (json) {
		json_object_set(j, "policies", sel);
		cli_print_json(j);
	} else {
		cli_table_init(&t, 10, hdr, NULL);
		for (i = 0; i < json_array_size(sel); i++) {
			json_t *p = json_array_get(sel, i), *h;
			long long rules = json_integer_value(json_object_get(p, "rules"));
			long long first = json_integer_value(json_object_get(p, "first_rule_id"));
			long long allowed = 0, denied = 0;
			char nr[16], ids[48], na[24], nd[24];
			const char *row[10];
			size_t k;

			/* the flows the policy's rules decided (per rule with NAME, below) */
			json_array_foreach(json_object_get(p, "hits"), k, h)
			{
				allowed += json_integer_value(json_object_get(h, "allowed"));
				denied += json_integer_value(json_object_get(h, "denied"));
			}
			snprintf(nr, sizeof(nr), "%lld", rules);
			snprintf(ids, sizeof(ids), "%lld+", first);
			snprintf(na, sizeof(na), "%lld", allowed);
			snprintf(nd, sizeof(nd), "%lld", denied);
			row[0] = json_string_value(json_object_get(p, "kind"));
			row[1] = json_string_value(json_object_get(p, "namespace")) ?: "-";
			row[2] = json_string_value(json_object_get(p, "name"));
			row[3] = nr;
			row[4] = ids;
			row[5] = json_is_true(json_object_get(p, "audit")) ? "yes" : "no";
			row[6] = na;
			row[7] = nd;
			row[8] = json_string_value(json_object_get(p, "imported"));
			row[9] = json_string_value(json_object_get(p, "file"));
			cli_table_add(&t, row);
		}
		cli_table_print(&t, stdout);
		cli_table_free(&t);
		printf("Revision: %lld\n", json_integer_value(json_object_get(j, "revision")));
		for (i = 0; s.name && i < json_array_size(sel); i++) {
			json_t *p = json_array_get(sel, i), *srcs = json_object_get(j, "sources");
			const char *file = json_string_value(json_object_get(p, "file")) ?: "";
			const char *text = NULL;
			size_t f;

			for (f = 0; !text && f < json_array_size(srcs); f++)
				if (!strcmp(json_string_value(json_object_get(json_array_get(srcs, f), "file")) ?:
						    "",
					    file))
					text = json_string_value(json_object_get(
						json_array_get(srcs, f), "content"));
			print_hits(json_object_get(p, "hits"));
			printf("\n# source of %s %s (file %s)\n%s",
			       json_string_value(json_object_get(p, "kind")),
			       json_string_value(json_object_get(p, "name")), file, text ?: "");
		}
	}
	json_decref(sel);
	json_decref(j);
	return rc;
}

static int cmd_delete(int argc, char **argv)
{
	struct sel s = { 0 };
	struct strbuf path = STRBUF_INIT;
	struct client_resp r;
	json_t *j;
	bool all = false, json = false;
	int rc = sel_args(argc, argv, delete_usage, &s, &json, &all);

	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if (all == (s.name != NULL))
		return cli_usage_err("velum policy", delete_usage, "%s",
				     "give a policy NAME or --all");
	strbuf_puts(&path, "/v1/policies?");
	if (all) {
		strbuf_puts(&path, "all=1");
	} else {
		strbuf_puts(&path, "name=");
		client_url_escape(&path, s.name);
		if (s.ns) {
			strbuf_puts(&path, "&namespace=");
			client_url_escape(&path, s.ns);
		}
		if (s.kind) {
			strbuf_puts(&path, "&kind=");
			client_url_escape(&path, s.kind);
		}
	}
	rc = cli_request("DELETE", strbuf_str(&path), NULL, 0, &r);
	strbuf_free(&path);
	if (rc)
		return rc;
	rc = cli_check(&r, "policy delete");
	j = rc ? NULL : cli_json(&r, "policy delete");
	if (j && json)
		cli_print_json(j);
	else if (j)
		printf("deleted %lld polic%s (revision %lld)\n",
		       json_integer_value(json_object_get(j, "deleted")),
		       json_integer_value(json_object_get(j, "deleted")) == 1 ? "y" : "ies",
		       json_integer_value(json_object_get(j, "revision")));
	json_decref(j);
	client_resp_free(&r);
	return rc;
}

static const char group_usage[] =
	"usage: velum policy <verb> [args]\n"
	"\n"
	"  import FILE|DIR ... [--audit]   load policies into the agent (all or nothing)\n"
	"  get [NAME]                      loaded policies (and a policy's source)\n"
	"  delete NAME | --all             remove policies\n"
	"  trace --from PEER --to PEER --dport N[/PROTO] [--http-...]\n"
	"                                  would this pass, and which rule decides? (live state;\n"
	"                                  --offline with --policy/--endpoints needs no agent)\n"
	"  resolve --offline ...           the policy-map entries each endpoint enforces\n";

static const struct cli_cmd verbs[] = {
	/* clang-format off */
	{ "trace",	NULL,	cli_policy_trace },
	{ "resolve",	NULL,	cli_policy_resolve },
	{ "import",	NULL,	cmd_import },
	{ "get",	"list",	cmd_get },
	{ "delete",	NULL,	cmd_delete },
	/* clang-format on */
};

int cli_policy(int argc, char **argv)
{
	return cli_dispatch("velum policy", "verb", verbs, sizeof(verbs) / sizeof(verbs[0]),
			    group_usage, argc, argv);
}
