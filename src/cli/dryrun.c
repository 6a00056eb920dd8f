/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `velum policy import --dry-run`: what an import would change, changing
 * nothing. The agent validates the files as an import does (POST
 * /v1/policies?dry_run=1); then this file rebuilds the agent's world twice
 * in the offline model the offline trace uses (the live endpoints, the
 * loaded policies from their stored sources; then with the new files'
 * policies replacing those of the same kind, namespace and name), and
 * prints the enforced entries each endpoint would gain and lose (as `velum
 * bpf policy get` shows entries), and the policy verdicts in the agent's
 * flow buffer that would flip, grouped: "12 flows from default/xwing to default/deathstar:80/TCP would be
 * DROPPED by default deny (ingress)"; and the proxy's HTTP requests whose
 * verdict would flip, judged as `policy trace` judges a request (both
 * sides, L3/L4 then L7), grouped by method and URL: "1 request from
 * default/tiefighter to default/deathstar:80/TCP PUT
 * http://10.0.0.2/v1/exhaust-port would be ALLOWED by ...". The flow
 * buffer keeps no request headers: a rule that needs one is judged as if
 * the request had none.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/table.h"
#include "lib/proto.h"
#include "model/model.h"
#include "monitor/flow_json.h"
#include "policy/parse.h"
#include "policy/trace.h"
#include "velum/events.h"
#include "velum/policy.h"

/* GETs path into a parsed JSON document (new), or NULL with the error said. */
static json_t *get_json(const char *path)
{
	struct client_resp r = { 0 };
	json_t *j = NULL;

	if (!cli_request("GET", path, NULL, 0, &r) && !cli_check(&r, "policy import --dry-run"))
		j = cli_json(&r, "policy import --dry-run");
	client_resp_free(&r);
	return j;
}

static bool same_key(const struct pol_policy *p, const char *kind, const char *ns, const char *name)
{
	return !strcmp(pol_kind_name(p->kind), kind) && !strcmp(p->name, name) &&
	       !strcmp(p->namespace ? p->namespace : "", ns ? ns : "");
}

/*
 * The loaded policies, re-parsed from their stored sources: of each file
 * only those it is still the source of (a later file may have replaced
 * some), with their audit mode. Appends to set.
 */
static int loaded_policies(json_t *pols, struct pol_set *set, struct errbuf *eb)
{
	json_t *ps = json_object_get(pols, "policies"), *srcs = json_object_get(pols, "sources");
	size_t f, i, k;
	int err = 0;

	for (f = 0; !err && f < json_array_size(srcs); f++) {
		json_t *src = json_array_get(srcs, f);
		const char *file = json_string_value(json_object_get(src, "file"));
		const char *text = json_string_value(json_object_get(src, "content"));
		struct pol_set tmp = { 0 };

		if (!file || !text)
			continue;
		err = pol_parse_buf(file, text, strlen(text), &tmp, eb);
		for (i = 0; !err && i < tmp.n; i++) {
			struct pol_policy *p = tmp.v[i];

			for (k = 0; k < json_array_size(ps); k++) {
				json_t *row = json_array_get(ps, k);

				if (same_key(p, json_string_value(json_object_get(row, "kind")),
					     json_string_value(json_object_get(row, "namespace")),
					     json_string_value(json_object_get(row, "name"))) &&
				    !strcmp(json_string_value(json_object_get(row, "file")) ?: "",
					    file))
					break;
			}
			if (k == json_array_size(ps))
				continue;
			p->audit = json_is_true(json_object_get(json_array_get(ps, k), "audit"));
			err = pol_set_push(set, p);
			if (!err)
				tmp.v[i] = NULL;
		}
		pol_set_free(&tmp); /* what was not taken (taken ones are NULL) */
	}
	return err;
}

/*
 * Adds the new files' policies, each replacing a loaded one of the same
 * key, and their Namespace objects.
 */
static int new_policies(json_t *files, bool audit, struct pol_set *set, struct errbuf *eb)
{
	struct pol_set tmp = { 0 };
	size_t f, i, k;
	int err = 0;

	for (f = 0; !err && f < json_array_size(files); f++) {
		json_t *fj = json_array_get(files, f);
		const char *text = json_string_value(json_object_get(fj, "content"));

		err = pol_parse_buf(json_string_value(json_object_get(fj, "name")), text,
				    strlen(text), &tmp, eb);
	}
	for (i = 0; !err && i < tmp.n; i++) {
		struct pol_policy *p = tmp.v[i];

		for (k = 0; k < set->n; k++) {
			if (set->v[k] && set->v[k]->kind == p->kind &&
			    !strcmp(set->v[k]->name, p->name) &&
			    !strcmp(set->v[k]->namespace ?: "", p->namespace ?: "")) {
				pol_policy_free(set->v[k]);
				memmove(&set->v[k], &set->v[k + 1],
					(set->n - k - 1) * sizeof(*set->v));
				set->n--;
				break;
			}
		}
		p->audit = p->audit || audit;
		err = pol_set_push(set, p);
		if (!err)
			tmp.v[i] = NULL;
	}
	/* the files' Namespace objects go along (the loaded ones are the endpoints' already) */
	if (!err && !set->nns) {
		set->nss = tmp.nss;
		set->nns = tmp.nns;
		tmp.nss = NULL;
		tmp.nns = 0;
	}
	pol_set_free(&tmp); /* what was not taken (taken ones are NULL) */
	return err;
}

/* A model of the endpoints (a file as `velum endpoint list -o json` writes it) and set (taken). */
static struct model *build(const char *eps_file, struct pol_set *set, struct errbuf *eb)
{
	struct model *m = model__new();
	int err = m ? cli_load_endpoints(m, eps_file, eb) : -ENOMEM;
	size_t i;

	/* Namespace objects label their namespaces before the policies see them, as an import */
	for (i = 0; !err && i < set->nns; i++)
		if ((err = model_namespace_set(m, set->nss[i].name, &set->nss[i].labels, eb)))
			errbuf_prefix(eb, "namespace %s: ", set->nss[i].name);
	if (!err)
		err = model_policies_load(m, set);
	if (!err)
		err = model_regenerate(m, NULL, NULL);
	pol_set_free(set);
	if (err) {
		if (!eb->msg[0])
			errbuf_set(eb, err, "building the model: %s", strerror(-err));
		model__free(m);
		return NULL;
	}
	return m;
}

/*
 * One map entry as GET /v1/endpoints/X/bpf-policy gives it (what `velum
 * bpf policy get` prints), and in *key what it enforces, for the diff:
 * direction, verdict, the peer's labels (identity numbers and rule ids may
 * differ between the two models), port, proxy port, rule reference.
 */
static json_t *entry_json(struct model *m, const struct pol_mapentry *e, struct strbuf *key)
{
	uint32_t peer = ntohl(e->key.identity);
	const struct pol_labels *ls =
		peer ? pol_engine_identity_labels(model_engine(m), peer) : NULL;
	json_t *labels = json_array(), *j;
	struct strbuf sb = STRBUF_INIT;
	bool audit = (e->val.flags & VELUM_POLICY_F_AUDIT) || e->val.verdict == VELUM_VERDICT_AUDIT;
	char port[48];
	size_t i;

	mon_policy_port_text(&e->key, port, sizeof(port));
	strbuf_printf(key, "%s %s%s %u %s %u ", e->key.egress ? "egress" : "ingress",
		      pol_verdict_name(e->val.verdict), audit ? "(audit)" : "", peer ? 1 : 0, port,
		      ntohs(e->val.proxy_port));
	for (i = 0; ls && labels && i < ls->n; i++) {
		strbuf_reset(&sb);
		pol_label_format(&ls->v[i], &sb);
		json_array_append_new(labels, json_string(strbuf_str(&sb)));
		strbuf_printf(key, "%s,", strbuf_str(&sb));
	}
	if (peer && !ls)
		strbuf_printf(key, "ID:%u", peer);
	strbuf_reset(&sb);
	pol_engine_rule_name(model_engine(m), e->val.rule_id, &sb);
	strbuf_printf(key, " %s", strbuf_str(&sb));
	j = json_pack("{s:s, s:s, s:b, s:{s:I, s:o}, s:s, s:i, s:i, s:{s:I, s:s}}", "direction",
		      e->key.egress ? "egress" : "ingress", "verdict",
		      pol_verdict_name(e->val.verdict), "audit", audit, "peer", "identity",
		      (json_int_t)peer, "labels", labels ? labels : json_array(), "port", port,
		      "proxy_port", (int)ntohs(e->val.proxy_port), "prefix",
		      (int)(e->key.prefixlen - VELUM_POLICY_PREFIX_FIXED), "rule", "id",
		      (json_int_t)e->val.rule_id, "ref", strbuf_str(&sb));
	strbuf_free(&sb);
	return j;
}

/* The entries of ms as JSON objects (new array) and their keys (new strings, NULL-ended). */
static json_t *entries_of(struct model *m, const struct pol_mapstate *ms, char ***keys)
{
	json_t *arr = json_array();
	size_t i, n = ms ? ms->n : 0;

	*keys = calloc(n + 1, sizeof(**keys));
	for (i = 0; arr && *keys && i < n; i++) {
		struct strbuf key = STRBUF_INIT;

		json_array_append_new(arr, entry_json(m, &ms->entries[i], &key));
		(*keys)[i] = strbuf_detach(&key);
	}
	return arr;
}

static bool has_key(char **keys, const char *k)
{
	for (; keys && *keys; keys++)
		if (!strcmp(*keys, k))
			return true;
	return false;
}

static void keys_free(char **keys)
{
	for (size_t i = 0; keys && keys[i]; i++)
		free(keys[i]);
	free(keys);
}

/* Rows marked mark for the entries of a (keys ka) missing from b (keys kb); how many. */
static size_t diff_rows(struct cli_table *t, json_t *a, char **ka, char **kb, const char *mark)
{
	size_t i, n = 0;

	for (i = 0; ka && ka[i] && i < json_array_size(a); i++) {
		if (has_key(kb, ka[i]))
			continue;
		cli_bpf_policy_row(t, json_array_get(a, i), false, mark);
		n++;
	}
	return n;
}

/* The enforced entries each endpoint gains (+) and loses (-), as `velum bpf policy get` shows them. */
static size_t print_entries(struct model *m0, struct model *m1)
{
	const struct model_ep *const *eps;
	size_t n = model_endpoints(m0, &eps), i, changed = 0;

	for (i = 0; i < n; i++) {
		const struct pol_mapstate *s0 =
			pol_engine_endpoint_state(model_engine(m0), eps[i]->id);
		const struct pol_mapstate *s1 =
			pol_engine_endpoint_state(model_engine(m1), eps[i]->id);
		char **k0, **k1;
		json_t *e0 = entries_of(m0, s0, &k0), *e1 = entries_of(m1, s1, &k1);
		struct cli_table t;

		cli_bpf_policy_table(&t, true);
		if (diff_rows(&t, e1, k1, k0, "+") + diff_rows(&t, e0, k0, k1, "-")) {
			printf("%s%s (endpoint %u): enforced entries added (+) and removed (-)\n",
			       changed ? "\n" : "", eps[i]->name, eps[i]->id);
			cli_table_print(&t, stdout);
			changed++;
		}
		cli_table_free(&t);
		keys_free(k0);
		keys_free(k1);
		json_decref(e0);
		json_decref(e1);
	}
	return changed;
}

struct flip {
	char *key; /* "from A to B:80/TCP [METHOD URL] would be DROPPED by ... (ingress)" */
	size_t n;
	bool http; /* counts requests, not flows */
};

/* One side of a flow as a trace peer: its endpoint's name, else its address. */
static int flow_peer(struct model *m, const struct mon_ident *id, uint32_t addr,
		     struct pol_trace_peer *out, char *buf, struct errbuf *eb)
{
	char a[INET_ADDRSTRLEN];

	if (id && id->endpoint && !model_peer(m, id->endpoint, out, buf, eb))
		return 0;
	inet_ntop(AF_INET, &addr, a, sizeof(a));
	return model_peer(m, a, out, buf, eb);
}

/* The proxy's HTTP request of an l7 flow (its strings borrowed from f), or false. */
static bool flow_request(const struct mon_flow *f, struct pol_http_request *req)
{
	const char *url, *path;

	if (f->type != MON_FLOW_L7 || !f->l7 || f->l7->type != MON_L7_REQUEST || !f->l7->method ||
	    !*f->l7->method || !f->l7->url)
		return false;
	/* "http://host/path?query" as Hubble writes it: the target is from the path on */
	url = f->l7->url;
	path = strstr(url, "://");
	path = path ? strchr(path + 3, '/') : url;
	*req = (struct pol_http_request){ .method = sv_from(f->l7->method),
					  .path = sv_from(path && *path ? path : "/"),
					  .host = sv_from(f->l7->host) };
	return true;
}

/* The rule that decided one side, or what decided without one, into by. */
static void side_by(struct model *m, const struct pol_trace_side *side, bool l7, struct strbuf *by)
{
	if (l7 && side->passes && side->l7_checked) {
		if (side->l7.rule_id)
			pol_engine_rule_name(model_engine(m), side->l7.rule_id, by);
		else
			strbuf_puts(by, pol_l7_reason_name(side->l7.reason));
	} else if (side->v.rule_id) {
		pol_engine_rule_name(model_engine(m), side->v.rule_id, by);
	} else {
		strbuf_puts(by, side->passes ? "no policy" : "default deny");
	}
}

/*
 * This flow decided again in model m: passes? (the deciding rule and its
 * direction into by). A policy verdict: its direction at L3/L4. An HTTP
 * request: as the proxy would judge it, both sides (an L3/L4 denial first).
 */
static int judge(struct model *m, const struct mon_flow *f, bool *passes, struct strbuf *by)
{
	char sb[INET_ADDRSTRLEN], db[INET_ADDRSTRLEN];
	struct pol_trace_query q = { 0 };
	struct pol_trace_result r;
	const struct pol_trace_side *side;
	struct errbuf eb;
	int err;

	errbuf_clear(&eb);
	err = flow_peer(m, f->src, f->saddr, &q.src, sb, &eb);
	if (!err)
		err = flow_peer(m, f->dst, f->daddr, &q.dst, db, &eb);
	if (err)
		return err;
	q.proto = f->protocol;
	q.dport = f->dport;
	q.http = flow_request(f, &q.req);
	pol_trace_run(&q, &r);
	if (!q.http) {
		side = f->dir == VELUM_DIR_EGRESS ? &r.egress : &r.ingress;
		*passes = side->passes;
	} else {
		bool eg_ok = r.egress.passes && (!r.egress.l7_checked || r.egress.l7.allowed);

		*passes = r.allowed;
		/* denied: the side that denies (egress first, as the packet meets them) */
		side = !*passes && !eg_ok ? &r.egress : &r.ingress;
		/* allowed: the side whose HTTP rule allowed it */
		if (*passes && !r.ingress.l7_checked && r.egress.l7_checked)
			side = &r.egress;
	}
	if (by) {
		side_by(m, side, q.http, by);
		strbuf_puts(by, side == &r.egress ? " (egress)" : " (ingress)");
	}
	return 0;
}

struct flips {
	struct model *m0, *m1;
	struct flip *v;
	size_t n, seen;
};

static int on_flow(void *ctx, const char *text, size_t len)
{
	struct flips *fl = ctx;
	struct strbuf key = STRBUF_INIT, by = STRBUF_INIT;
	struct mon_flow f;
	struct errbuf eb;
	bool p0, p1;
	size_t i;

	if (!len || mon_flow_from_json(text, len, &f, &eb))
		return 0;
	struct pol_http_request req;
	bool http = flow_request(&f, &req), judged = f.type == VELUM_EVENT_POLICY_VERDICT || http;

	if (!judged || judge(fl->m0, &f, &p0, NULL) || judge(fl->m1, &f, &p1, &by) || p0 == p1) {
		fl->seen += judged;
		mon_flow_release(&f);
		strbuf_free(&by);
		return 0;
	}
	fl->seen++;
	strbuf_printf(&key, "from %s to %s", f.src->endpoint ?: "", f.dst->endpoint ?: "");
	if (!f.src->endpoint || !f.dst->endpoint) {
		char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &f.saddr, a, sizeof(a));
		inet_ntop(AF_INET, &f.daddr, b, sizeof(b));
		strbuf_reset(&key);
		strbuf_printf(&key, "from %s to %s", f.src->endpoint ?: a, f.dst->endpoint ?: b);
	}
	if (f.protocol == IPPROTO_ICMP)
		strbuf_printf(&key, " (ICMP type %u)", f.dport);
	else
		strbuf_printf(&key, ":%u/%s", f.dport, mon_proto_name(f.protocol));
	if (http)
		strbuf_printf(&key, " %s %s", f.l7->method, f.l7->url);
	strbuf_printf(&key, " would be %s by %s", p1 ? "ALLOWED" : "DROPPED", strbuf_str(&by));
	for (i = 0; i < fl->n; i++)
		if (!strcmp(fl->v[i].key, strbuf_str(&key)))
			break;
	if (i == fl->n) {
		struct flip *nv = realloc(fl->v, (fl->n + 1) * sizeof(*nv));

		if (nv) {
			fl->v = nv;
			fl->v[fl->n].key = strbuf_detach(&key);
			fl->v[fl->n].n = 0;
			fl->v[fl->n].http = http;
			if (fl->v[fl->n].key)
				fl->n++;
		}
	}
	if (i < fl->n)
		fl->v[i].n++;
	strbuf_free(&key);
	strbuf_free(&by);
	mon_flow_release(&f);
	return 0;
}

int cli_policy_dry_run(json_t *files, bool audit)
{
	char eps_file[] = "/tmp/velum-dry-run.XXXXXX";
	struct pol_set s0 = { 0 }, s1 = { 0 };
	struct model *m0 = NULL, *m1 = NULL;
	struct flips fl = { 0 };
	json_t *eps = get_json("/v1/endpoints"), *pols = get_json("/v1/policies?source=1");
	json_t *nss = NULL, *doc = NULL;
	struct errbuf eb;
	char *text = NULL;
	size_t i, changed;
	int fd = -1, rc = CLI_EXIT_FAIL, err;

	errbuf_clear(&eb);
	if (!eps || !pols)
		goto out;
	/* the endpoints and their namespaces' labels, as the offline trace reads them */
	nss = get_json("/v1/namespaces");
	doc = json_pack("{s:[], s:O}", "namespaces", "endpoints", eps);
	for (i = 0; doc && i < json_array_size(nss); i++) {
		json_t *n = json_array_get(nss, i),
		       *labels = json_deep_copy(json_object_get(n, "labels"));

		if (labels)
			json_object_del(labels, "kubernetes.io/metadata.name");
		json_array_append_new(json_object_get(doc, "namespaces"),
				      json_pack("{s:O, s:o}", "name", json_object_get(n, "name"),
						"labels", labels ? labels : json_object()));
	}
	text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	fd = text ? mkstemp(eps_file) : -1;
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		fprintf(stderr, "velum policy import --dry-run: a temporary file: %s\n",
			strerror(errno));
		goto out;
	}
	err = loaded_policies(pols, &s0, &eb);
	if (!err)
		err = loaded_policies(pols, &s1, &eb);
	if (!err)
		err = new_policies(files, audit, &s1, &eb);
	if (!err && (m0 = build(eps_file, &s0, &eb)))
		m1 = build(eps_file, &s1, &eb);
	if (err || !m0 || !m1) {
		fprintf(stderr, "velum policy import --dry-run: %s\n", eb.msg);
		goto out;
	}
	changed = print_entries(m0, m1);
	if (!changed)
		printf("no endpoint's enforced entries would change\n");
	fl.m0 = m0;
	fl.m1 = m1;
	rc = cli_stream("/v1/flows?all=1&type=policy-verdict&type=l7", on_flow, &fl);
	if (rc)
		goto out;
	for (i = 0; i < fl.n; i++)
		printf("%zu %s%s %s\n", fl.v[i].n, fl.v[i].http ? "request" : "flow",
		       fl.v[i].n == 1 ? "" : "s", fl.v[i].key);
	if (!fl.n)
		printf("no policy verdict or HTTP request in the agent's flow buffer would flip (%zu "
		       "checked)\n",
		       fl.seen);
	printf("dry run: nothing was changed\n");
	rc = CLI_EXIT_OK;
out:
	for (i = 0; i < fl.n; i++)
		free(fl.v[i].key);
	free(fl.v);
	if (fd >= 0) {
		close(fd);
		unlink(eps_file);
	}
	pol_set_free(&s0);
	pol_set_free(&s1);
	model__free(m0);
	model__free(m1);
	free(text);
	json_decref(eps);
	json_decref(pols);
	json_decref(nss);
	json_decref(doc);
	return rc;
}
