/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `velum namespace ...`: list, get, label, delete. Namespaces carry labels
 * (kubectl's forms: `k=v` sets, `k-` removes, changing a key's value needs
 * --overwrite); every endpoint of a namespace carries them as
 * io.cilium.k8s.namespace.labels.<k>=<v> (docs/policy.md). Each verb speaks
 * to velumd's /v1/namespaces (docs/api.md).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/table.h"

#define NS_CMD "velum namespace"

static const char list_usage[] =
	"usage: velum namespace list [-o json|yaml|name]\n"
	"\n"
	"Lists the namespaces (named by endpoints, labelled, or imported) with their labels\n"
	"and endpoint counts.\n";

static const char get_usage[] =
	"usage: velum namespace get NAME [-o json|yaml]\n"
	"\n"
	"Prints one namespace: its labels (kubernetes.io/metadata.name is its name) and how\n"
	"many endpoints live in it.\n";

static const char label_usage[] =
	"usage: velum namespace label NAME k=v ... [k- ...] [--overwrite] [-o json|yaml]\n"
	"\n"
	"Sets a namespace's labels as kubectl label does: k=v adds a label, k- removes one;\n"
	"changing the value of an existing key needs --overwrite. A namespace not known yet\n"
	"is made. Its endpoints carry the labels as io.cilium.k8s.namespace.labels.<k>=<v>:\n"
	"they get new identities, and every endpoint whose policy changes is updated at once.\n"
	"\n"
	"  --overwrite        allow changing the value of an existing label\n"
	"  -o json|yaml       print the namespace as JSON or YAML\n";

static const char delete_usage[] =
	"usage: velum namespace delete NAME [-o json|yaml]\n"
	"\n"
	"Forgets a namespace and its labels; refused while endpoints live in it.\n";

/* The namespace NAME from velumd into *out (new reference); an exit status. */
static int fetch(const char *name, const char *cmd, json_t **out)
{
	struct strbuf path = STRBUF_INIT;
	struct client_resp r;
	int rc;

	*out = NULL;
	strbuf_puts(&path, "/v1/namespaces/");
	client_url_escape(&path, name);
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

/* "k=v\nk=v" of a labels object, in key order (new string). */
static char *join_labels(json_t *labels)
{
	struct strbuf sb = STRBUF_INIT;
	const char **keys = calloc(json_object_size(labels) + 1, sizeof(*keys));
	const char *k;
	json_t *v;
	size_t n = 0, i, j;

	json_object_foreach(labels, k, v)
	{
		if (keys)
			keys[n++] = k;
	}
	/* insertion sort: a namespace has few labels */
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
			const char *t = keys[j];

			keys[j] = keys[j - 1];
			keys[j - 1] = t;
		}
	for (i = 0; i < n; i++)
		strbuf_printf(&sb, "%s%s=%s", i ? "\n" : "", keys[i],
			      json_string_value(json_object_get(labels, keys[i])) ?: "");
	free(keys);
	return strbuf_detach(&sb) ?: strdup("");
}

static void print_namespaces(json_t *arr)
{
	static const char *const hdr[] = { "NAME", "ENDPOINTS", "LABELS" };
	struct cli_table t;
	size_t i;

	cli_table_init(&t, 3, hdr, NULL);
	for (i = 0; i < json_array_size(arr); i++) {
		json_t *ns = json_array_get(arr, i);
		char count[24], *labels = join_labels(json_object_get(ns, "labels"));
		const char *row[3];

		snprintf(count, sizeof(count), "%lld",
			 json_integer_value(json_object_get(ns, "endpoints")));
		row[0] = json_string_value(json_object_get(ns, "name"));
		row[1] = count;
		row[2] = labels ? labels : "";
		cli_table_add(&t, row);
		free(labels);
	}
	cli_table_print(&t, stdout);
	cli_table_free(&t);
}

static void print_namespace(json_t *ns)
{
	char *labels = join_labels(json_object_get(ns, "labels")), *p, *save = NULL;
	bool first = true;

	printf("Name:        %s\n", json_string_value(json_object_get(ns, "name")));
	printf("Endpoints:   %lld\n", json_integer_value(json_object_get(ns, "endpoints")));
	for (p = labels ? strtok_r(labels, "\n", &save) : NULL; p;
	     p = strtok_r(NULL, "\n", &save)) {
		printf("%s%s\n", first ? "Labels:      " : "             ", p);
		first = false;
	}
	if (first)
		printf("Labels:      <none>\n");
	free(labels);
}

/*
 * Options anywhere among the operands: -o, --overwrite (when overwrite is
 * not NULL), --help. Operands are moved to the front of argv; *nops says
 * how many. Returns 0, -1 after --help, or an exit status.
 */
static int args(int argc, char **argv, const char *usage, bool *json, bool *names, bool *overwrite,
		int *nops)
{
	enum { O_OVERWRITE = 256 };
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "overwrite", no_argument, NULL, O_OVERWRITE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	opterr = 0;
	/* GNU getopt permutes: operands (k=v, k-) end up after the options */
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if (names && !strcmp(optarg, "name"))
				*names = true;
			else if (cli_output_parse(optarg, json))
				return cli_usage_err(NS_CMD, usage,
						     "-o '%s': expected json or yaml%s", optarg,
						     names ? " or name" : "");
			break;
		case O_OVERWRITE:
			if (!overwrite)
				return cli_usage_err(NS_CMD, usage, "%s",
						     "--overwrite is not an option here");
			*overwrite = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return -1;
		default:
			return cli_usage_err(NS_CMD, usage, "unknown or incomplete option '%s'",
					     argv[optind - 1]);
		}
	}
	*nops = argc - optind;
	memmove(argv + 1, argv + optind, (size_t)*nops * sizeof(*argv));
	return 0;
}

static int cmd_list(int argc, char **argv)
{
	struct client_resp r;
	bool json = false, names = false;
	json_t *j;
	int nops, rc = args(argc, argv, list_usage, &json, &names, NULL, &nops);
	size_t i;

	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if (nops)
		return cli_usage_err(NS_CMD, list_usage, "unexpected argument '%s'", argv[1]);
	rc = cli_request("GET", "/v1/namespaces", NULL, 0, &r);
	if (rc)
		return rc;
	rc = cli_check(&r, "namespace list");
	j = rc ? NULL : cli_json(&r, "namespace list");
	if (!rc && !j)
		rc = CLI_EXIT_FAIL;
	if (j && json)
		cli_print_json(j);
	else if (j && names)
		for (i = 0; i < json_array_size(j); i++)
			puts(json_string_value(json_object_get(json_array_get(j, i), "name")));
	else if (j)
		print_namespaces(j);
	json_decref(j);
	client_resp_free(&r);
	return rc;
}

static int cmd_get(int argc, char **argv)
{
	bool json = false;
	json_t *ns = NULL;
	int nops, rc = args(argc, argv, get_usage, &json, NULL, NULL, &nops);

	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if (nops != 1)
		return cli_usage_err(NS_CMD, get_usage, "%s",
				     nops ? "give one namespace NAME" :
					    "a namespace NAME is required");
	rc = fetch(argv[1], "namespace get", &ns);
	if (rc)
		return rc;
	if (json)
		cli_print_json(ns);
	else
		print_namespace(ns);
	json_decref(ns);
	return CLI_EXIT_OK;
}

/* PATCH /v1/namespaces/NAME {"merge": changes, "overwrite"}; the answer into *out. */
static int send_patch(const char *name, json_t *changes, bool overwrite, json_t **out)
{
	json_t *body = json_pack("{s:O, s:b}", "merge", changes, "overwrite", overwrite);
	struct strbuf path = STRBUF_INIT;
	struct client_resp r;
	char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
	int rc;

	json_decref(body);
	if (!s)
		return CLI_EXIT_FAIL;
	strbuf_puts(&path, "/v1/namespaces/");
	client_url_escape(&path, name);
	rc = cli_request("PATCH", strbuf_str(&path), s, strlen(s), &r);
	strbuf_free(&path);
	free(s);
	if (rc)
		return rc;
	rc = cli_check(&r, "namespace label");
	if (!rc) {
		*out = cli_json(&r, "namespace label");
		rc = *out ? 0 : CLI_EXIT_FAIL;
	}
	client_resp_free(&r);
	return rc;
}

static int cmd_label(int argc, char **argv)
{
	bool json = false, overwrite = false;
	json_t *labels = NULL, *out = NULL;
	const char *name;
	int nops, rc = args(argc, argv, label_usage, &json, NULL, &overwrite, &nops), i, j;

	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if (nops < 1)
		return cli_usage_err(NS_CMD, label_usage, "%s", "a namespace NAME is required");
	if (nops < 2)
		return cli_usage_err(NS_CMD, label_usage, "%s",
				     "give at least one label k=v (or k- to remove)");
	name = argv[1];
	/* one argument per key, as kubectl */
	for (i = 2; i <= nops; i++) {
		size_t ki = strcspn(argv[i], "=");

		if (!argv[i][ki] && ki > 1 && argv[i][ki - 1] == '-')
			ki--;
		else if (!argv[i][ki])
			return cli_usage_err(NS_CMD, label_usage,
					     "'%s': expected k=v (set) or k- (remove)", argv[i]);
		for (j = 2; j < i; j++) {
			size_t kj = strcspn(argv[j], "=");

			if (!argv[j][kj])
				kj--;
			if (ki == kj && !strncmp(argv[i], argv[j], ki))
				return cli_usage_err(NS_CMD, label_usage,
						     "label '%s': key '%.*s' is given twice",
						     argv[i], (int)ki, argv[i]);
		}
	}
	/*
	 * velumd applies the changes to the labels it has, in one change (a
	 * merge: null removes), and checks --overwrite there: two label commands
	 * on different keys at once both land. A namespace not known yet is made.
	 */
	labels = json_object();
	if (!labels) {
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	for (i = 2; i <= nops; i++) {
		const char *eq = strchr(argv[i], '=');
		size_t klen = eq ? (size_t)(eq - argv[i]) : strlen(argv[i]) - 1;
		char key[512];

		snprintf(key, sizeof(key), "%.*s", (int)klen, argv[i]);
		if (json_object_set_new(labels, key, eq ? json_string(eq + 1) : json_null())) {
			rc = cli_usage_err(NS_CMD, label_usage, "'%s': not valid UTF-8", argv[i]);
			goto out;
		}
	}
	rc = send_patch(name, labels, overwrite, &out);
	if (!rc) {
		if (json)
			cli_print_json(out);
		else
			printf("namespace %s labeled (revision %lld)\n", name,
			       json_integer_value(json_object_get(out, "revision")));
	}
out:
	json_decref(labels);
	json_decref(out);
	return rc;
}

static int cmd_delete(int argc, char **argv)
{
	struct strbuf path = STRBUF_INIT;
	struct client_resp r;
	bool json = false;
	int nops, rc = args(argc, argv, delete_usage, &json, NULL, NULL, &nops);

	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	if (nops != 1)
		return cli_usage_err(NS_CMD, delete_usage, "%s",
				     nops ? "give one namespace NAME" :
					    "a namespace NAME is required");
	strbuf_puts(&path, "/v1/namespaces/");
	client_url_escape(&path, argv[1]);
	rc = cli_request("DELETE", strbuf_str(&path), NULL, 0, &r);
	strbuf_free(&path);
	if (rc)
		return rc;
	rc = cli_check(&r, "namespace delete");
	if (!rc && json)
		cli_print_json_text(r.body.p ? r.body.p : "", r.body.len);
	else if (!rc)
		printf("namespace %s deleted\n", argv[1]);
	client_resp_free(&r);
	return rc;
}

static const char group_usage[] =
	"usage: velum namespace <verb> [args]\n"
	"\n"
	"  list                               namespaces, their labels and endpoint counts\n"
	"  get NAME                           one namespace\n"
	"  label NAME k=v ... [k- ...] [--overwrite]   change its labels (kubectl's forms)\n"
	"  delete NAME                        forget an empty namespace\n"
	"\n"
	"Every endpoint carries its namespace's labels as io.cilium.k8s.namespace.labels.<k>=<v>:\n"
	"namespaceSelector and namespace-label selectors match them.\n";

static const struct cli_cmd verbs[] = {
	/* clang-format off */
	{ "list",	"ls",	cmd_list },
	{ "get",	NULL,	cmd_get },
	{ "label",	NULL,	cmd_label },
	{ "delete",	"rm",	cmd_delete },
	/* clang-format on */
};

int cli_namespace(int argc, char **argv)
{
	return cli_dispatch(NS_CMD, "verb", verbs, sizeof(verbs) / sizeof(verbs[0]), group_usage,
			    argc, argv);
}
