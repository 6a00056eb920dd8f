/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `velum policy trace`: argument handling, the endpoints file of the
 * offline mode, and output. The offline mode builds the same model the
 * agent holds (src/agent/model.c) from files and traces on it.
 */
#include "cli/cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/errbuf.h"
#include "lib/file.h"
#include "lib/proto.h"
#include "lib/strbuf.h"
#include "lib/vec.h"
#include "model/model.h"
#include "policy/doc.h"
#include "policy/trace.h"
#include "velum/endpoint.h"

#define MAX_ENDPOINTS_FILE (64u << 20)

static const char trace_usage[] =
	"usage: velum policy trace --offline --policy FILE [--policy FILE ...] --endpoints FILE\n"
	"           --from PEER --to PEER (--dport PORT[/PROTO] | --icmp-type N)\n"
	"           [--http-method M --http-path P [--http-host H] [--http-header 'Name: value' ...]]\n"
	"           [--allow-localhost always|policy] [-o json|yaml]\n"
	"       velum policy trace --from PEER --to PEER (--dport PORT[/PROTO] | --icmp-type N)\n"
	"           [--http-...] [-o json|yaml]\n"
	"\n"
	"Answers whether a packet (and an HTTP request) from PEER to PEER passes, and which\n"
	"rule decides, at the source's egress and at the destination's ingress. Without\n"
	"--offline it asks the running agent (velumd) about its live state; the output is\n"
	"the same.\n"
	"\n"
	"  --offline          evaluate the given files; no agent needed\n"
	"  --policy FILE      a policy file (CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy,\n"
	"                     NetworkPolicy or raw rules; JSON or YAML); repeatable\n"
	"  --endpoints FILE   JSON array of {\"name\", \"namespace\", \"labels\", \"ips\", \"ports\"},\n"
	"                     or what velum endpoint list -o json prints, or an object\n"
	"                     {\"namespaces\": [{\"name\", \"labels\"}], \"endpoints\": [...]}\n"
	"  --from/--to PEER   an endpoint name or numeric id, host, world, an identity ID:N,\n"
	"                     or an IPv4 address (the forms velum observe --from/--to takes)\n"
	"  --dport PORT[/P]   destination port; P is TCP (default), UDP or SCTP\n"
	"  --icmp-type N      trace an ICMP packet of type N instead (8: echo request)\n"
	"  --http-*           trace this HTTP request through the L7 proxy\n"
	"  --allow-localhost always|policy  (--offline) as velumd's option: always lets the\n"
	"                     host reach every endpoint its ingress only default-denies;\n"
	"                     policy (default) judges the host by the ingress policy\n"
	"  -o json            one JSON object instead of text\n"
	"\n"
	"Exit status: 0 when the trace ran (whatever the verdict), 2 on bad input.\n";

/* ---- endpoints file ---------------------------------------------------------- */

VEC_DECLARE(str_vec, char *);

/*
 * A labels object {"k": "v"} as "k=v" strings ("k" for an empty value)
 * appended to out (new strings; the caller frees them). Returns 0, -ENOMEM,
 * or -EINVAL with *bad the first pair whose value is not a string.
 */
static int label_map_strings(const struct doc_node *labels, struct str_vec *out,
			     const struct doc_pair **bad)
{
	size_t i;

	for (i = 0; i < labels->map.n; i++) {
		const struct doc_pair *p = &labels->map.pairs[i];
		char *s;

		if (p->value->type != DOC_STR) {
			*bad = p;
			return -EINVAL;
		}
		s = malloc(strlen(p->key) + p->value->str.len + 2);
		if (!s || vec_push(out, s)) {
			free(s);
			return -ENOMEM;
		}
		sprintf(s, p->value->str.len ? "%s=%s" : "%s%s", p->key, p->value->str.s);
	}
	return 0;
}

static int ep_err(struct errbuf *eb, const char *file, const struct doc_node *n, size_t idx,
		  const char *field, const char *msg)
{
	if (field)
		return errbuf_set(eb, -EINVAL, "%s:%u: [%zu].%s: %s", file, n->line, idx, field,
				  msg);
	return errbuf_set(eb, -EINVAL, "%s:%u: [%zu]: %s", file, n->line, idx, msg);
}

/*
 * One endpoint of the file: {name, namespace, labels, ips, ports}, or an
 * endpoint object as velumd answers it (`velum endpoint list -o json`):
 * its id, labels as strings, ipv4 and audit are used, the fields only the
 * agent knows (its identity, state, interfaces, ...) are ignored.
 */
static int load_one(struct model *m, const char *file, const struct doc_node *n, size_t idx,
		    struct errbuf *eb)
{
	static const char *const known[] = { "name", "namespace", "labels", "ips", "ports",
					     "id",   "ipv4",	  "audit",  NULL };
	/* the rest of GET /v1/endpoints' endpoint (docs/api.md): what the agent derives */
	static const char *const agents[] = { "identity",    "identity_labels", "netns",
					      "host_ifname", "policy",		"state",
					      "error",	     "created",		"ifname",
					      "gateway",     "container_id",	"revision",
					      NULL };
	const struct doc_node *name, *ns, *labels, *ips, *ports, *idn, *ipv4, *audit;
	uint32_t id = 0;
	struct str_vec lv = { 0 };
	VEC(uint32_t) iv = { 0 };
	VEC(struct pol_named_port) pv = { 0 };
	char msg[256];
	size_t i, k;
	int err = 0;

	if (n->type != DOC_MAP)
		return ep_err(eb, file, n, idx, NULL, "expected an object");
	for (i = 0; i < n->map.n; i++) {
		for (k = 0; known[k] && strcmp(known[k], n->map.pairs[i].key); k++)
			;
		if (known[k])
			continue;
		for (k = 0; agents[k] && strcmp(agents[k], n->map.pairs[i].key); k++)
			;
		if (!agents[k]) {
			snprintf(
				msg, sizeof(msg),
				"unknown field '%s' (expected name, namespace, labels, ips, ports, "
				"or an endpoint of velum endpoint list -o json)",
				n->map.pairs[i].key);
			return errbuf_set(eb, -EINVAL, "%s:%u: [%zu].%s: %s", file,
					  n->map.pairs[i].line, idx, n->map.pairs[i].key, msg);
		}
	}
	name = doc_map_get(n, "name");
	ns = doc_map_get(n, "namespace");
	labels = doc_map_get(n, "labels");
	ips = doc_map_get(n, "ips");
	ports = doc_map_get(n, "ports");
	idn = doc_map_get(n, "id");
	ipv4 = doc_map_get(n, "ipv4");
	audit = doc_map_get(n, "audit");
	if (idn && (idn->type != DOC_INT || idn->i < 1 || idn->i > VELUM_EP_ID_MAX))
		return ep_err(eb, file, idn, idx, "id", "expected an endpoint id (1-65535)");
	if (idn)
		id = (uint32_t)idn->i;
	if (audit && audit->type != DOC_BOOL)
		return ep_err(eb, file, audit, idx, "audit", "expected true or false");
	if (!name || name->type != DOC_STR || !name->str.len)
		return ep_err(eb, file, name ? name : n, idx, "name",
			      "a non-empty string is required");
	if (ns && ns->type != DOC_STR)
		return ep_err(eb, file, ns, idx, "namespace", "expected a string");
	if (labels && labels->type != DOC_MAP && labels->type != DOC_SEQ)
		return ep_err(eb, file, labels, idx, "labels",
			      "expected an object of strings or a list of label strings");
	/* ["k8s:class=xwing", ...]: the agent's spelling, each [source:]key[=value] */
	for (i = 0; labels && labels->type == DOC_SEQ && i < labels->seq.n && !err; i++) {
		const struct doc_node *l = labels->seq.items[i];
		char *s;

		if (l->type != DOC_STR) {
			snprintf(msg, sizeof(msg), "labels[%zu]", i);
			err = ep_err(eb, file, l, idx, msg, "expected a string");
			break;
		}
		s = strdup(l->str.s);
		if (!s || vec_push(&lv, s)) {
			free(s);
			err = -ENOMEM;
		}
	}
	if (!err && labels && labels->type == DOC_MAP) {
		const struct doc_pair *bad = NULL;

		err = label_map_strings(labels, &lv, &bad);
		if (bad) {
			snprintf(msg, sizeof(msg), "labels.%s", bad->key);
			err = ep_err(eb, file, bad->value, idx, msg, "expected a string");
		}
	}
	if (!err && ipv4 && ipv4->type != DOC_NULL) {
		struct in_addr in;

		/* the agent's "ipv4" is "" for an endpoint without an address */
		if (ipv4->type != DOC_STR ||
		    (ipv4->str.len && inet_pton(AF_INET, ipv4->str.s, &in) != 1))
			err = ep_err(eb, file, ipv4, idx, "ipv4", "not an IPv4 address");
		else if (ipv4->str.len && vec_push(&iv, in.s_addr))
			err = -ENOMEM;
	}
	if (!err && ips && ips->type != DOC_SEQ)
		err = ep_err(eb, file, ips, idx, "ips", "expected a list of IPv4 addresses");
	for (i = 0; !err && ips && i < ips->seq.n; i++) {
		const struct doc_node *a = ips->seq.items[i];
		struct in_addr in;

		snprintf(msg, sizeof(msg), "ips[%zu]", i);
		if (a->type != DOC_STR || inet_pton(AF_INET, a->str.s, &in) != 1)
			err = ep_err(eb, file, a, idx, msg, "not an IPv4 address");
		else if (vec_push(&iv, in.s_addr))
			err = -ENOMEM;
	}
	if (!err && ports && ports->type != DOC_SEQ)
		err = ep_err(eb, file, ports, idx, "ports", "expected a list");
	for (i = 0; !err && ports && i < ports->seq.n; i++) {
		const struct doc_node *p = ports->seq.items[i], *pn, *pp, *pr;
		struct pol_named_port np = { .proto = IPPROTO_TCP };

		snprintf(msg, sizeof(msg), "ports[%zu]", i);
		pn = doc_map_get(p, "name");
		pp = doc_map_get(p, "port");
		pr = doc_map_get(p, "protocol");
		if (p->type != DOC_MAP || (pn && pn->type != DOC_STR) || !pp ||
		    pp->type != DOC_INT || pp->i < 1 || pp->i > 65535) {
			err = ep_err(eb, file, p, idx, msg,
				     "expected {\"name\": string (optional), \"port\": 1-65535, "
				     "\"protocol\": TCP|UDP|SCTP}");
			break;
		}
		if (pr && (pr->type != DOC_STR || proto_parse(pr->str.s, &np.proto) ||
			   !proto_has_ports(np.proto))) {
			err = ep_err(eb, file, pr, idx, msg, "protocol must be TCP, UDP or SCTP");
			break;
		}
		/* a port without a name (common in pods) is one no policy can name */
		if (!pn)
			continue;
		np.name = pn->str.s;
		np.port = (uint16_t)pp->i;
		if (vec_push(&pv, np))
			err = -ENOMEM;
	}
	if (!err) {
		struct errbuf meb;

		errbuf_clear(&meb);
		err = model_endpoint_add(m, id, name->str.s, ns ? ns->str.s : "default",
					 (const char *const *)lv.v, lv.n, iv.v, iv.n, pv.v, pv.n,
					 audit && audit->b, NULL, &meb);
		if (err && err != -ENOMEM)
			ep_err(eb, file, n, idx, NULL, meb.msg);
	}
	for (i = 0; i < lv.n; i++)
		free(lv.v[i]);
	vec_free(&lv);
	vec_free(&iv);
	vec_free(&pv);
	return err;
}

static bool has_id(const struct doc_node *n)
{
	return n->type == DOC_MAP && doc_map_get(n, "id");
}

/*
 * The "namespaces" of an endpoints file object: [{"name": "x", "labels":
 * {"k": "v"}}]; known keys only (besides "endpoints"), errors as file:line:
 * namespaces[i].field.
 */
static int load_namespaces(struct model *m, const char *file, const struct doc_node *top,
			   struct errbuf *eb)
{
	const struct doc_node *nss = doc_map_get(top, "namespaces");
	size_t i, j;
	int err = 0;

	for (i = 0; i < top->map.n; i++)
		if (strcmp(top->map.pairs[i].key, "namespaces") &&
		    strcmp(top->map.pairs[i].key, "endpoints"))
			return errbuf_set(
				eb, -EINVAL,
				"%s:%u: %s: unknown field (expected namespaces, endpoints)", file,
				top->map.pairs[i].line, top->map.pairs[i].key);
	if (nss && nss->type != DOC_SEQ)
		return errbuf_set(eb, -EINVAL, "%s:%u: namespaces: expected a list", file,
				  nss->line);
	for (i = 0; nss && i < nss->seq.n && !err; i++) {
		const struct doc_node *n = nss->seq.items[i], *name, *labels;
		struct str_vec lv = { 0 };
		struct errbuf meb;

		if (n->type != DOC_MAP)
			return errbuf_set(eb, -EINVAL, "%s:%u: namespaces[%zu]: expected an object",
					  file, n->line, i);
		for (j = 0; j < n->map.n; j++)
			if (strcmp(n->map.pairs[j].key, "name") &&
			    strcmp(n->map.pairs[j].key, "labels"))
				return errbuf_set(eb, -EINVAL,
						  "%s:%u: namespaces[%zu].%s: unknown field "
						  "(expected name, labels)",
						  file, n->map.pairs[j].line, i,
						  n->map.pairs[j].key);
		name = doc_map_get(n, "name");
		labels = doc_map_get(n, "labels");
		if (!name || name->type != DOC_STR || !name->str.len)
			return errbuf_set(
				eb, -EINVAL,
				"%s:%u: namespaces[%zu].name: a non-empty string is required", file,
				(name ? name : n)->line, i);
		if (model_namespace(m, name->str.s))
			return errbuf_set(
				eb, -EINVAL,
				"%s:%u: namespaces[%zu].name: namespace '%s' is given twice", file,
				name->line, i, name->str.s);
		if (labels && labels->type != DOC_MAP)
			return errbuf_set(
				eb, -EINVAL,
				"%s:%u: namespaces[%zu].labels: expected an object of strings",
				file, labels->line, i);
		if (labels) {
			const struct doc_pair *bad = NULL;

			err = label_map_strings(labels, &lv, &bad);
			if (bad)
				err = errbuf_set(
					eb, -EINVAL,
					"%s:%u: namespaces[%zu].labels.%s: expected a string", file,
					bad->value->line, i, bad->key);
		}
		errbuf_clear(&meb);
		if (!err)
			err = model_namespace_relabel(m, name->str.s, (const char *const *)lv.v,
						      lv.n, &meb);
		if (err && err != -ENOMEM && errbuf_empty(eb))
			errbuf_set(eb, err, "%s:%u: namespaces[%zu]: %s", file, n->line, i,
				   meb.msg);
		for (j = 0; j < lv.n; j++)
			free(lv.v[j]);
		vec_free(&lv);
	}
	return err;
}

int cli_load_endpoints(struct model *m, const char *path, struct errbuf *eb)
{
	const struct doc_node *eps;
	struct doc_stream ds = { 0 };
	char *buf = NULL;
	size_t len = 0, i;
	int err = file_read_all(path, MAX_ENDPOINTS_FILE, &buf, &len, eb);

	if (err)
		return err;
	err = doc_parse(buf, len, DOC_FMT_JSON, &ds, eb);
	free(buf);
	if (err) {
		errbuf_prefix(eb, "%s:", path);
		return err;
	}
	eps = ds.n == 1 ? ds.docs[0] : NULL;
	if (eps && eps->type == DOC_MAP) {
		err = load_namespaces(m, path, eps, eb);
		if (err)
			goto out;
		eps = doc_map_get(ds.docs[0], "endpoints");
		if (!eps) {
			err = errbuf_set(eb, -EINVAL, "%s:%u: endpoints: a list is required", path,
					 ds.docs[0]->line);
			goto out;
		}
		if (eps->type != DOC_SEQ) {
			err = errbuf_set(eb, -EINVAL, "%s:%u: endpoints: expected a list", path,
					 eps->line);
			goto out;
		}
	}
	if (!eps || eps->type != DOC_SEQ) {
		err = errbuf_set(eb, -EINVAL,
				 "%s:%u: expected a JSON array of endpoints or an object "
				 "{\"namespaces\": [...], \"endpoints\": [...]}",
				 path, ds.n ? ds.docs[0]->line : 1);
		goto out;
	}
	/* endpoints with an id first: the others take the lowest ids left */
	for (i = 0; i < eps->seq.n && !err; i++)
		if (has_id(eps->seq.items[i]))
			err = load_one(m, path, eps->seq.items[i], i, eb);
	for (i = 0; i < eps->seq.n && !err; i++)
		if (!has_id(eps->seq.items[i]))
			err = load_one(m, path, eps->seq.items[i], i, eb);
out:
	doc_stream_free(&ds);
	return err;
}

/* ---- the command -------------------------------------------------------------- */

struct trace_args {
	bool offline, json;
	int allow_localhost; /* -1: not given; 0: policy; 1: always */
	VEC(const char *) policies;
	const char *endpoints, *from, *to;
	bool have_port, have_icmp;
	uint8_t proto;
	uint16_t port;
	const char *method, *path, *host;
	VEC(struct pol_http_field) headers;
};

#define TRACE_CMD      "velum policy trace"
#define TRACE_SEE_HELP "(see velum policy trace --help)\n"

static int parse_port(const char *s, struct trace_args *a)
{
	const char *slash = strchr(s, '/');
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || (*end && *end != '/') || v < 1 || v > 65535)
		return -EINVAL;
	a->port = (uint16_t)v;
	a->proto = IPPROTO_TCP;
	if (slash && (proto_parse(slash + 1, &a->proto) || !proto_has_ports(a->proto)))
		return -EINVAL;
	return 0;
}

static int parse_header(const char *s, struct pol_http_field *f)
{
	const char *colon = strchr(s, ':');
	const char *v;

	if (!colon || colon == s)
		return -EINVAL;
	v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	f->name.p = s;
	f->name.len = (size_t)(colon - s);
	f->value.p = v;
	f->value.len = strlen(v);
	return 0;
}

/*
 * Builds a model from the endpoints file and the policy files, and resolves
 * it. Returns the model, or NULL with the error printed and *rc set.
 */
static struct model *offline_model(const char *cmd, const char *endpoints,
				   const char *const *policies, size_t npolicies, int *rc)
{
	struct model *m = model__new();
	struct pol_set set = { 0 };
	struct errbuf eb;
	size_t i;
	int err = 0;

	errbuf_clear(&eb);
	if (!m) {
		fprintf(stderr, "velum: out of memory\n");
		*rc = CLI_EXIT_FAIL;
		return NULL;
	}
	err = cli_load_endpoints(m, endpoints, &eb);
	for (i = 0; !err && i < npolicies; i++)
		err = pol_parse_file(policies[i], &set, &eb);
	if (!err) {
		for (i = 0; i < set.n; i++)
			if (set.v[i]->warnings)
				fprintf(stderr, "warning: %s", set.v[i]->warnings);
		/* Namespace objects of the policy files label as the endpoints file does */
		for (i = 0; i < set.nns && !err; i++)
			if ((err = model_namespace_set(m, set.nss[i].name, &set.nss[i].labels,
						       &eb)))
				errbuf_prefix(&eb, "namespace %s: ", set.nss[i].name);
	}
	if (!err) {
		err = model_policies_load(m, &set);
		if (err)
			errbuf_set(&eb, err, "loading policies: %s", strerror(-err));
	}
	if (!err) {
		err = model_regenerate(m, NULL, NULL);
		if (err)
			errbuf_set(&eb, err, "resolving policies: %s", strerror(-err));
	}
	pol_set_free(&set);
	if (err) {
		fprintf(stderr, "velum %s: %s\n", cmd, eb.msg);
		*rc = err == -ENOMEM ? CLI_EXIT_FAIL : CLI_EXIT_USAGE;
		model__free(m);
		return NULL;
	}
	return m;
}

static int trace_offline(struct trace_args *a)
{
	struct pol_trace_query q = { .proto = a->proto,
				     .dport = a->port,
				     .allow_localhost = a->allow_localhost > 0 };
	struct pol_trace_result r;
	struct strbuf out = STRBUF_INIT;
	char sbuf[INET_ADDRSTRLEN], dbuf[INET_ADDRSTRLEN];
	struct model *m;
	struct errbuf eb;
	int err, rc = CLI_EXIT_USAGE;

	m = offline_model("policy trace", a->endpoints, a->policies.v, a->policies.n, &rc);
	if (!m)
		return rc;
	errbuf_clear(&eb);
	err = model_peer(m, a->from, &q.src, sbuf, &eb);
	if (err)
		errbuf_prefix(&eb, "--from: ");
	if (!err && (err = model_peer(m, a->to, &q.dst, dbuf, &eb)))
		errbuf_prefix(&eb, "--to: ");
	if (err) {
		fprintf(stderr, "velum policy trace: %s\n", eb.msg);
		goto out;
	}
	if (a->method) {
		q.http = true;
		q.req.method = sv_from(a->method);
		q.req.path = sv_from(a->path);
		q.req.host = sv_from(a->host ? a->host : "");
		q.req.headers = a->headers.v;
		q.req.nheaders = a->headers.n;
	}
	pol_trace_run(&q, &r);
	if (a->json)
		pol_trace_format_json(model_engine(m), &q, &r, &out);
	else
		pol_trace_format_text(model_engine(m), &q, &r, &out);
	rc = out.oom ? CLI_EXIT_FAIL : CLI_EXIT_OK;
	if (!rc && a->json && cli_print_json_text(strbuf_str(&out), out.len))
		rc = CLI_EXIT_FAIL;
	else if (!rc && !a->json)
		fputs(strbuf_str(&out), stdout);
out:
	strbuf_free(&out);
	model__free(m);
	return rc;
}

static void name_rule(void *ctx, uint32_t rule_id, struct strbuf *sb)
{
	pol_engine_rule_name(ctx, rule_id, sb);
}

static const char resolve_usage[] =
	"usage: velum policy resolve --offline --policy FILE [--policy FILE ...] --endpoints FILE\n"
	"\n"
	"Prints, for every endpoint, the policy-map entries the datapath enforces: verdict,\n"
	"peer identity, protocol/port, and the rule that produced each entry.\n";

int cli_policy_resolve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "offline", no_argument, NULL, 'O' },
		{ "policy", required_argument, NULL, 'p' },
		{ "endpoints", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	VEC(const char *) policies = { 0 };
	const char *endpoints = NULL;
	const struct model_ep *const *eps;
	struct strbuf out = STRBUF_INIT;
	struct model *m;
	bool offline = false;
	int c, rc = CLI_EXIT_USAGE;
	size_t i, n;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'O':
			offline = true;
			break;
		case 'p':
			if (vec_push(&policies, optarg)) {
				rc = CLI_EXIT_FAIL;
				goto out;
			}
			break;
		case 'e':
			endpoints = optarg;
			break;
		case 'h':
			fputs(resolve_usage, stdout);
			rc = CLI_EXIT_OK;
			goto out;
		default:
			fprintf(stderr,
				"velum policy resolve: unknown or incomplete option '%s'\n%s",
				argv[optind - 1], resolve_usage);
			goto out;
		}
	}
	if (!offline || !endpoints || optind < argc) {
		fprintf(stderr,
			"velum policy resolve: needs --offline, --endpoints and --policy\n%s",
			resolve_usage);
		goto out;
	}
	m = offline_model("policy resolve", endpoints, policies.v, policies.n, &rc);
	if (!m)
		goto out;
	n = model_endpoints(m, &eps);
	for (i = 0; i < n; i++) {
		const struct pol_mapstate *ms =
			pol_engine_endpoint_state(model_engine(m), eps[i]->id);

		strbuf_printf(&out, "%sendpoint %s (id %u, identity %u)\n", i ? "\n" : "",
			      eps[i]->name, eps[i]->id, eps[i]->identity);
		if (ms)
			pol_mapstate_format(ms, &out, name_rule, model_engine(m));
	}
	fputs(strbuf_str(&out), stdout);
	rc = out.oom ? CLI_EXIT_FAIL : CLI_EXIT_OK;
	model__free(m);
out:
	strbuf_free(&out);
	vec_free(&policies);
	return rc;
}

/* The same trace on velumd's live state (POST /v1/trace), printed as the agent formats it. */
static int trace_live(const struct trace_args *a)
{
	json_t *body = json_pack("{s:s, s:s}", "from", a->from, "to", a->to), *http;
	struct client_resp r;
	char *s;
	size_t i;
	int rc;

	if (!body)
		return CLI_EXIT_FAIL;
	if (a->have_icmp) {
		json_object_set_new(body, "icmp_type", json_integer(a->port));
	} else {
		json_object_set_new(body, "dport", json_integer(a->port));
		json_object_set_new(body, "protocol", json_string(proto_name(a->proto)));
	}
	if (a->method) {
		http = json_pack("{s:s, s:s, s:[]}", "method", a->method, "path", a->path,
				 "headers");
		if (a->host)
			json_object_set_new(http, "host", json_string(a->host));
		for (i = 0; i < a->headers.n; i++) {
			struct strbuf h = STRBUF_INIT;

			strbuf_printf(&h, "%.*s: %.*s", (int)a->headers.v[i].name.len,
				      a->headers.v[i].name.p, (int)a->headers.v[i].value.len,
				      a->headers.v[i].value.p);
			json_array_append_new(json_object_get(http, "headers"),
					      json_string(strbuf_str(&h)));
			strbuf_free(&h);
		}
		json_object_set_new(body, "http", http);
	}
	s = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (!s)
		return CLI_EXIT_FAIL;
	rc = cli_request("POST", a->json ? "/v1/trace" : "/v1/trace?format=text", s, strlen(s), &r);
	free(s);
	if (rc)
		return rc;
	rc = cli_check(&r, "policy trace");
	if (!rc && a->json && cli_print_json_text(r.body.p ? r.body.p : "", r.body.len))
		rc = CLI_EXIT_FAIL;
	else if (!rc && !a->json)
		fwrite(r.body.p ? r.body.p : "", 1, r.body.len, stdout);
	client_resp_free(&r);
	return rc;
}

int cli_policy_trace(int argc, char **argv)
{
	enum {
		OPT_OFFLINE = 256,
		OPT_POLICY,
		OPT_ENDPOINTS,
		OPT_FROM,
		OPT_TO,
		OPT_DPORT,
		OPT_ICMP,
		OPT_METHOD,
		OPT_PATH,
		OPT_HOST,
		OPT_HEADER,
		OPT_LOCALHOST
	};
	static const struct option opts[] = {
		{ "offline", no_argument, NULL, OPT_OFFLINE },
		{ "policy", required_argument, NULL, OPT_POLICY },
		{ "endpoints", required_argument, NULL, OPT_ENDPOINTS },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "to", required_argument, NULL, OPT_TO },
		{ "dport", required_argument, NULL, OPT_DPORT },
		{ "icmp-type", required_argument, NULL, OPT_ICMP },
		{ "http-method", required_argument, NULL, OPT_METHOD },
		{ "http-path", required_argument, NULL, OPT_PATH },
		{ "http-host", required_argument, NULL, OPT_HOST },
		{ "http-header", required_argument, NULL, OPT_HEADER },
		{ "allow-localhost", required_argument, NULL, OPT_LOCALHOST },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct trace_args a = { .allow_localhost = -1 };
	int c, rc;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_OFFLINE:
			a.offline = true;
			break;
		case OPT_POLICY:
			if (vec_push(&a.policies, optarg)) {
				rc = CLI_EXIT_FAIL;
				goto out;
			}
			break;
		case OPT_ENDPOINTS:
			a.endpoints = optarg;
			break;
		case OPT_FROM:
			a.from = optarg;
			break;
		case OPT_TO:
			a.to = optarg;
			break;
		case OPT_DPORT:
			if (parse_port(optarg, &a)) {
				rc = cli_usage_err(
					TRACE_CMD, TRACE_SEE_HELP,
					"--dport '%s': expected PORT[/TCP|UDP|SCTP] with PORT "
					"1-65535",
					optarg);
				goto out;
			}
			a.have_port = true;
			break;
		case OPT_ICMP: {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (end == optarg || *end || v < 0 || v > 255) {
				rc = cli_usage_err(TRACE_CMD, TRACE_SEE_HELP,
						   "--icmp-type '%s': expected 0-255", optarg);
				goto out;
			}
			a.have_icmp = true;
			a.proto = IPPROTO_ICMP;
			a.port = (uint16_t)v;
			break;
		}
		case OPT_LOCALHOST:
			if (strcmp(optarg, "always") && strcmp(optarg, "policy")) {
				rc = cli_usage_err(
					TRACE_CMD, TRACE_SEE_HELP,
					"--allow-localhost '%s': expected always or policy",
					optarg);
				goto out;
			}
			a.allow_localhost = !strcmp(optarg, "always");
			break;
		case OPT_METHOD:
			a.method = optarg;
			break;
		case OPT_PATH:
			a.path = optarg;
			break;
		case OPT_HOST:
			a.host = optarg;
			break;
		case OPT_HEADER: {
			struct pol_http_field f;

			if (parse_header(optarg, &f)) {
				rc = cli_usage_err(TRACE_CMD, TRACE_SEE_HELP,
						   "--http-header '%s': expected 'Name: value'",
						   optarg);
				goto out;
			}
			if (vec_push(&a.headers, f)) {
				rc = CLI_EXIT_FAIL;
				goto out;
			}
			break;
		}
		case 'o':
			if (cli_output_parse(optarg, &a.json)) {
				rc = cli_usage_err(TRACE_CMD, TRACE_SEE_HELP,
						   "-o '%s': json or yaml", optarg);
				goto out;
			}
			break;
		case 'h':
			fputs(trace_usage, stdout);
			rc = CLI_EXIT_OK;
			goto out;
		default:
			rc = cli_usage_err(TRACE_CMD, TRACE_SEE_HELP,
					   "unknown or incomplete option '%s'", argv[optind - 1]);
			goto out;
		}
	}
	if (optind < argc) {
		rc = cli_usage_err(TRACE_CMD, TRACE_SEE_HELP, "unexpected argument '%s'",
				   argv[optind]);
		goto out;
	}
	if (!a.from || !a.to) {
		rc = cli_usage_err(TRACE_CMD, TRACE_SEE_HELP, "%s", "--from and --to are required");
		goto out;
	}
	if (a.allow_localhost >= 0 && !a.offline) {
		rc = cli_usage_err(TRACE_CMD, TRACE_SEE_HELP, "%s",
				   "--allow-localhost is for --offline (the live trace uses "
				   "velumd's own mode: velum status shows it)");
		goto out;
	}
	if (a.have_port == a.have_icmp) {
		rc = cli_usage_err(TRACE_CMD, TRACE_SEE_HELP, "%s",
				   "give exactly one of --dport and --icmp-type");
		goto out;
	}
	if ((a.method || a.path || a.host || a.headers.n) && (!a.method || !a.path)) {
		rc = cli_usage_err(TRACE_CMD, TRACE_SEE_HELP, "%s",
				   "an HTTP trace needs both --http-method and --http-path");
		goto out;
	}
	if (a.method && a.proto != IPPROTO_TCP) {
		rc = cli_usage_err(TRACE_CMD, TRACE_SEE_HELP, "%s",
				   "an HTTP trace needs a TCP --dport");
		goto out;
	}
	if (a.method) {
		struct pol_http_request req = {
			.method = sv_from(a.method),
			.path = sv_from(a.path),
			.host = sv_from(a.host ? a.host : ""),
			.headers = a.headers.v,
			.nheaders = a.headers.n,
		};
		struct errbuf eb;

		errbuf_clear(&eb);
		if (pol_trace_request_check(&req, &eb)) {
			rc = cli_usage_err(TRACE_CMD, TRACE_SEE_HELP, "%s", eb.msg);
			goto out;
		}
	}
	if (!a.offline) {
		if (a.policies.n || a.endpoints) {
			rc = cli_usage_err(TRACE_CMD, TRACE_SEE_HELP, "%s",
					   "--policy and --endpoints need --offline (without "
					   "it the trace asks the running agent)");
			goto out;
		}
		rc = trace_live(&a);
		goto out;
	}
	if (!a.policies.n || !a.endpoints) {
		rc = cli_usage_err(TRACE_CMD, TRACE_SEE_HELP, "%s",
				   "--offline needs --policy FILE and --endpoints FILE");
		goto out;
	}
	rc = trace_offline(&a);
out:
	vec_free(&a.policies);
	vec_free(&a.headers);
	return rc;
}
