/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The policy decoder: walks the document tree (doc.h) of a policy file and
 * builds the policy model (rule.h), validating as it goes. This file reads
 * files and dispatches their objects by kind (metadata, lists, raw rule
 * arrays); the decoders of each kind live beside it (parse_internal.h).
 *
 * Cilium semantics applied here (not later) so that every consumer sees the
 * same normalised rules:
 *  - selector keys without a source get "any:", Kubernetes NetworkPolicy
 *    keys get "k8s:";
 *  - namespaced policies (CNP, NetworkPolicy) AND their namespace into the
 *    subject selector, and into peer selectors that name no namespace, no
 *    namespace label and no reserved label; clusterwide policies require a
 *    namespace to exist on such peers (pods only, never reserved
 *    identities); raw rules are not scoped;
 *  - enableDefaultDeny defaults per direction to "the rule has entries in
 *    that direction" (allow or deny).
 */
#include "policy/parse.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/file.h"
#include "lib/hmap.h"
#include "policy/parse_internal.h"

#define AUDIT_ANNOTATION "policy.velum.io/audit-mode"

/* ---- objects ------------------------------------------------------------------ */

/* DNS-1123 subdomain (names) or label (namespaces). */
static bool dns_name_ok(const char *s, size_t max, bool dots)
{
	size_t i, n = strlen(s);

	if (!n || n > max || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return false;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (!(islower(ch) || isdigit(ch) || ch == '-' || (dots && ch == '.')))
			return false;
	}
	return true;
}

static int decode_metadata(struct dctx *c, const struct doc_node *n, struct pol_policy *p)
{
	static const struct field fields[] = {
		{ "name", FLD_OK },
		{ "namespace", FLD_OK },
		{ "labels", FLD_OK },
		{ "annotations", FLD_OK },
		{ "uid", FLD_IGNORED },
		{ "resourceVersion", FLD_IGNORED },
		{ "generation", FLD_IGNORED },
		{ "creationTimestamp", FLD_IGNORED },
		{ "deletionTimestamp", FLD_IGNORED },
		{ "deletionGracePeriodSeconds", FLD_IGNORED },
		{ "managedFields", FLD_IGNORED },
		{ "selfLink", FLD_IGNORED },
		{ "finalizers", FLD_IGNORED },
		{ "ownerReferences", FLD_IGNORED },
		{ "generateName", FLD_IGNORED },
		{ NULL },
	};
	const struct doc_node *name, *ns, *ann;
	size_t old = path_key(c, "metadata"), i;
	int err;

	err = expect_fields(c, n, fields);
	if (err)
		goto out;
	name = opt(n, "name");
	if (!name) {
		err = derr(c, n->line, "name is required");
		goto out;
	}
	path_key(c, "name");
	err = expect(c, name, DOC_STR);
	if (!err && !dns_name_ok(name->str.s, 253, true))
		err = derr(c, name->line,
			   ERRBUF_Q
			   " is not a valid name (lower-case letters, digits, '-' and '.')",
			   ERRBUF_QARG(name->str.s));
	if (!err)
		err = str_dup(&p->name, name->str.s);
	path_restore(c, old);
	path_key(c, "metadata");
	if (err)
		goto out;
	ns = opt(n, "namespace");
	if (ns) {
		path_key(c, "namespace");
		err = expect(c, ns, DOC_STR);
		if (!err && (p->kind == POL_KIND_CCNP))
			err = derr(c, ns->line, "a %s is not namespaced", pol_kind_name(p->kind));
		if (!err && !dns_name_ok(ns->str.s, 63, false))
			err = derr(c, ns->line, ERRBUF_Q " is not a valid namespace",
				   ERRBUF_QARG(ns->str.s));
		if (!err)
			err = str_dup(&p->namespace, ns->str.s);
		path_restore(c, old);
		path_key(c, "metadata");
		if (err)
			goto out;
	}
	if (!p->namespace && p->kind != POL_KIND_CCNP) {
		err = str_dup(&p->namespace, "default");
		if (err)
			goto out;
	}
	for (i = 0; i < 2 && !err; i++) {
		const char *key = i ? "annotations" : "labels";
		const struct doc_node *m = opt(n, key);
		size_t j;

		if (!m)
			continue;
		path_key(c, key);
		err = expect(c, m, DOC_MAP);
		for (j = 0; !err && j < m->map.n; j++) {
			size_t o2 = path_key(c, m->map.pairs[j].key);

			err = expect(c, m->map.pairs[j].value, DOC_STR);
			path_restore(c, o2);
		}
		path_restore(c, old);
		path_key(c, "metadata");
	}
	ann = opt(n, "annotations");
	if (!err && ann) {
		const struct doc_node *a = opt(ann, AUDIT_ANNOTATION);

		if (a) {
			path_key(c, "annotations");
			path_key(c, AUDIT_ANNOTATION);
			if (!strcmp(a->str.s, "true") || !strcmp(a->str.s, "enabled"))
				p->audit = true;
			else if (strcmp(a->str.s, "false") && strcmp(a->str.s, "disabled"))
				err = derr(c, a->line, ERRBUF_Q " is not true or false",
					   ERRBUF_QARG(a->str.s));
		}
	}
out:
	path_restore(c, old);
	return err;
}

int pol_dec_object_head(struct dctx *c, const struct doc_node *n, const struct field *fields,
			struct pol_policy *p)
{
	const struct doc_node *md;
	int err = check_fields(c, n, fields);

	if (err)
		return err;
	md = opt(n, "metadata");
	if (!md)
		return derr(c, n->line, "metadata is required");
	return decode_metadata(c, md, p);
}

static struct pol_policy *policy_new(struct dctx *c, enum pol_kind kind, unsigned line)
{
	struct pol_policy *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->kind = kind;
	p->line = line;
	p->file = strdup(c->file);
	if (!p->file) {
		free(p);
		return NULL;
	}
	return p;
}

int pol_dec_rules_alloc(struct pol_policy *p, size_t n)
{
	size_t i;

	p->rules = calloc(n ? n : 1, sizeof(*p->rules));
	if (!p->rules)
		return -ENOMEM;
	p->nrules = n;
	for (i = 0; i < n; i++) {
		p->rules[i].policy = p;
		p->rules[i].index = (unsigned)i;
	}
	return 0;
}

/* Fixes entries' back-pointers once the rules array no longer moves. */
static void link_rules(struct pol_policy *p)
{
	size_t i, j;
	int d;

	for (i = 0; i < p->nrules; i++)
		for (d = 0; d < 2; d++)
			for (j = 0; j < p->rules[i].nentries[d]; j++)
				p->rules[i].entries[d][j].rule = &p->rules[i];
}

static bool looks_like_raw_rule(const struct doc_node *n)
{
	return n->type == DOC_MAP && !doc_map_get(n, "apiVersion") && !doc_map_get(n, "kind") &&
	       (doc_map_get(n, "endpointSelector") || doc_map_get(n, "nodeSelector") ||
		doc_map_get(n, "ingress") || doc_map_get(n, "egress") ||
		doc_map_get(n, "ingressDeny") || doc_map_get(n, "egressDeny"));
}

/* Name of a raw rule policy: the file's base name without its extension. */
static int raw_policy_name(struct dctx *c, char **out)
{
	const char *base = strrchr(c->file, '/');
	char *dot, *s;
	size_t i;

	base = base ? base + 1 : c->file;
	s = strdup(base);
	if (!s)
		return -ENOMEM;
	dot = strrchr(s, '.');
	if (dot && dot != s)
		*dot = '\0';
	for (i = 0; s[i]; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.')
			s[i] = '-';
		else
			s[i] = (char)tolower((unsigned char)s[i]);
	if (!s[0]) {
		free(s);
		s = strdup("rules");
		if (!s)
			return -ENOMEM;
	}
	*out = s;
	return 0;
}

/*
 * The name label of a raw rule (`labels: [{key: name, value: ...}]`, any
 * source; or Cilium's io.cilium.k8s.policy.name), or NULL.
 */
static const char *rule_name_label(const struct pol_rule *r)
{
	size_t i;

	for (i = 0; i < r->labels.n; i++)
		if ((!strcmp(r->labels.v[i].key, "name") ||
		     !strcmp(r->labels.v[i].key, "io.cilium.k8s.policy.name")) &&
		    r->labels.v[i].value[0])
			return r->labels.v[i].value;
	return NULL;
}

/* A policy name from a label: 1-253 of letters, digits, '-', '.', '_'. */
static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	return n && n <= 253 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") == n;
}

/*
 * Moves the rules of p named `name` (by their name label) into a new
 * policy of that name, appended to out; p keeps the others, in order.
 * Rules keep their index, so references still name their place in the
 * file.
 */
static int split_named(struct dctx *c, struct pol_policy *p, const char *name, struct pol_set *out)
{
	struct pol_policy *q = policy_new(c, POL_KIND_RULES, p->line);
	size_t i, k = 0, cnt = 0;
	int err;

	if (!q)
		return -ENOMEM;
	for (i = 0; i < p->nrules; i++) {
		const char *l = rule_name_label(&p->rules[i]);

		cnt += l && !strcmp(l, name);
	}
	q->specs = true;
	q->name = strdup(name);
	q->rules = calloc(cnt ? cnt : 1, sizeof(*q->rules));
	if (!q->name || !q->rules) {
		pol_policy_free(q);
		return -ENOMEM;
	}
	for (i = 0; i < p->nrules; i++) {
		const char *l = rule_name_label(&p->rules[i]);

		if (l && !strcmp(l, name)) {
			q->rules[q->nrules] = p->rules[i];
			q->rules[q->nrules++].policy = q;
		} else {
			p->rules[k++] = p->rules[i];
		}
	}
	p->nrules = k;
	link_rules(p);
	link_rules(q);
	err = pol_set_push(out, q);
	if (err)
		pol_policy_free(q);
	return err;
}

/*
 * A raw rule array (or a single raw rule) as policies of kind CiliumRules:
 * the rules with a name label as one policy per name (as Cilium addresses
 * API-imported rules by their labels), the others as one policy named
 * after the file.
 */
static int decode_raw_rules(struct dctx *c, const struct doc_node *const *items, size_t n,
			    bool array, unsigned line, struct pol_set *out)
{
	struct pol_policy *p = policy_new(c, POL_KIND_RULES, line);
	size_t i;
	int err;

	if (!p)
		return -ENOMEM;
	c->pol = p;
	p->specs = true;
	err = raw_policy_name(c, &p->name);
	if (!err)
		err = pol_dec_rules_alloc(p, n);
	for (i = 0; !err && i < n; i++) {
		size_t old = array ? path_idx(c, i) : c->plen;

		err = pol_dec_rule(c, items[i], &p->rules[i], POL_KIND_RULES, NULL);
		path_restore(c, old);
	}
	for (i = 0; !err && i < n; i++) {
		const char *l = rule_name_label(&p->rules[i]);

		if (l && !name_ok(l)) {
			size_t old = array ? path_idx(c, i) : c->plen;

			err = derr(c, items[i]->line,
				   "labels: name " ERRBUF_Q " is not a policy name (1-253 letters, "
				   "digits, '-', '.', '_')",
				   ERRBUF_QARG(l));
			path_restore(c, old);
		}
	}
	if (!err) {
		size_t before = out->n, nnamed = 0;

		link_rules(p);
		/* each name once, in the order the file names them */
		for (i = 0; !err && i < p->nrules;) {
			const char *l = rule_name_label(&p->rules[i]);
			char *name;

			if (!l) {
				i++;
				continue;
			}
			name = strdup(l);
			err = name ? split_named(c, p, name, out) : -ENOMEM;
			free(name);
			nnamed++;
		}
		if (!err && !p->nrules && nnamed) {
			/* every rule has a name: no policy after the file; its notes go along */
			out->v[before]->warnings = p->warnings;
			p->warnings = NULL;
			pol_policy_free(p);
			p = NULL;
		}
		if (!err && p) {
			/* the file's policy first, as before any rule had a name */
			err = pol_set_push(out, p);
			if (!err && out->n - before > 1) {
				memmove(&out->v[before + 1], &out->v[before],
					(out->n - before - 1) * sizeof(*out->v));
				out->v[before] = p;
			}
			if (!err)
				p = NULL;
		}
	}
	if (err)
		pol_policy_free(p);
	c->pol = NULL;
	return err;
}

static int decode_object(struct dctx *c, const struct doc_node *n, struct pol_set *out);

static int decode_list(struct dctx *c, const struct doc_node *items, struct pol_set *out)
{
	size_t i;
	int err = 0;

	for (i = 0; !err && i < items->seq.n; i++) {
		size_t old = path_idx(c, i);

		err = decode_object(c, items->seq.items[i], out);
		path_restore(c, old);
	}
	return err;
}

static int decode_object(struct dctx *c, const struct doc_node *n, struct pol_set *out)
{
	const struct doc_node *kind, *api;
	struct pol_policy *p;
	enum pol_kind k;
	const char *want_api;
	int err;

	if (looks_like_raw_rule(n)) {
		const struct doc_node *one[1] = { n };

		return decode_raw_rules(c, one, 1, false, n->line, out);
	}
	err = expect(c, n, DOC_MAP);
	if (err)
		return err;
	kind = opt(n, "kind");
	api = opt(n, "apiVersion");
	if (!kind)
		return derr(c, n->line,
			    "kind is required (CiliumNetworkPolicy, "
			    "CiliumClusterwideNetworkPolicy, NetworkPolicy, List), or a raw rule "
			    "with endpointSelector");
	if (expect_key(c, kind, "kind", DOC_STR))
		return -EINVAL;
	if (!strcmp(kind->str.s, "List")) {
		static const struct field fields[] = {
			{ "apiVersion", FLD_OK },    { "kind", FLD_OK }, { "items", FLD_OK },
			{ "metadata", FLD_IGNORED }, { NULL },
		};
		const struct doc_node *items;
		size_t old;

		err = check_fields(c, n, fields);
		if (err)
			return err;
		items = opt(n, "items");
		if (!items)
			return derr(c, n->line, "items is required");
		old = path_key(c, "items");
		err = expect(c, items, DOC_SEQ);
		if (!err)
			err = decode_list(c, items, out);
		path_restore(c, old);
		return err;
	}
	if (!strcmp(kind->str.s, "Namespace"))
		return pol_dec_namespace(c, n, out);
	if (!strcmp(kind->str.s, "CiliumNetworkPolicy")) {
		k = POL_KIND_CNP;
		want_api = "cilium.io/v2";
	} else if (!strcmp(kind->str.s, "CiliumClusterwideNetworkPolicy")) {
		k = POL_KIND_CCNP;
		want_api = "cilium.io/v2";
	} else if (!strcmp(kind->str.s, "NetworkPolicy")) {
		k = POL_KIND_KNP;
		want_api = "networking.k8s.io/v1";
	} else {
		size_t old = path_key(c, "kind");

		err = derr(c, kind->line,
			   ERRBUF_Q " is not a policy kind (CiliumNetworkPolicy, "
				    "CiliumClusterwideNetworkPolicy, NetworkPolicy, List) "
				    "or Namespace",
			   ERRBUF_QARG(kind->str.s));
		path_restore(c, old);
		return err;
	}
	if (!api)
		return derr(c, n->line, "apiVersion is required (%s)", want_api);
	if (expect_key(c, api, "apiVersion", DOC_STR))
		return -EINVAL;
	if (strcmp(api->str.s, want_api)) {
		size_t old = path_key(c, "apiVersion");

		err = derr(c, api->line, ERRBUF_Q " is not the apiVersion of %s (%s)",
			   ERRBUF_QARG(api->str.s), kind->str.s, want_api);
		path_restore(c, old);
		return err;
	}
	p = policy_new(c, k, n->line);
	if (!p)
		return -ENOMEM;
	c->pol = p;
	if (k == POL_KIND_KNP)
		err = pol_dec_knp_object(c, n, p);
	else
		err = pol_dec_cilium_object(c, n, k, p);
	if (!err) {
		link_rules(p);
		err = pol_set_push(out, p);
	}
	if (err)
		pol_policy_free(p);
	c->pol = NULL;
	return err;
}

static int decode_doc(struct dctx *c, const struct doc_node *n, struct pol_set *out)
{
	size_t i;

	if (n->type == DOC_SEQ) {
		/* `[]`: raw rules, none of them (importing it removes the file's earlier rules) */
		bool raw = n->seq.n > 0 || c->ndocs == 1;

		for (i = 0; i < n->seq.n; i++)
			raw = raw && looks_like_raw_rule(n->seq.items[i]);
		if (raw)
			return decode_raw_rules(c, (const struct doc_node *const *)n->seq.items,
						n->seq.n, true, n->line, out);
		return decode_list(c, n, out);
	}
	if (n->type != DOC_MAP)
		return derr(c, n->line, "expected a policy object or a list of them, got %s",
			    got_name(n));
	return decode_object(c, n, out);
}

int pol_set_push(struct pol_set *s, struct pol_policy *p)
{
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 4;
		struct pol_policy **nv = realloc(s->v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->cap = ncap;
	}
	s->v[s->n++] = p;
	return 0;
}

void pol_set_free(struct pol_set *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->n; i++)
		pol_policy_free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
	pol_namespaces_free(s, 0);
}

/*
 * Two objects of one file with the same kind, namespace and name: the second
 * would silently win. A hash of the keys seen keeps this linear in the file.
 */
static int check_duplicates(struct dctx *c, const struct pol_set *s, size_t from)
{
	struct seen {
		struct hnode node;
		const struct pol_policy *p;
	} *seen = calloc(s->n - from + 1, sizeof(*seen));
	struct hmap h = { 0 };
	size_t i;
	int err = seen ? 0 : -ENOMEM;

	for (i = from; !err && i < s->n; i++) {
		const struct pol_policy *b = s->v[i];
		const char *ns = b->namespace ? b->namespace : "";
		uint64_t hash = hash_bytes(b->name, strlen(b->name), b->kind) ^
				hash_bytes(ns, strlen(ns), 7);
		struct hnode *it;

		hmap_for_each_hash(&h, hash, it)
		{
			const struct pol_policy *a = container_of(it, struct seen, node)->p;

			if (a->kind == b->kind && !strcmp(a->name, b->name) &&
			    !strcmp(a->namespace ? a->namespace : "", ns)) {
				err = errbuf_set(c->eb, -EINVAL,
						 "%s:%u: %s %s is defined twice (also at line %u)",
						 c->file, b->line, pol_kind_name(b->kind), b->name,
						 a->line);
				break;
			}
		}
		seen[i - from].p = b;
		if (!err)
			err = hmap_insert(&h, &seen[i - from].node, hash);
	}
	hmap_destroy(&h);
	free(seen);
	return err;
}

enum doc_format pol_dec_format(const char *name)
{
	const char *dot = strrchr(name, '.');

	if (dot && !strcasecmp(dot, ".json"))
		return DOC_FMT_JSON;
	if (dot && (!strcasecmp(dot, ".yaml") || !strcasecmp(dot, ".yml")))
		return DOC_FMT_YAML;
	return DOC_FMT_AUTO;
}

int pol_parse_buf(const char *name, const char *buf, size_t len, struct pol_set *out,
		  struct errbuf *eb)
{
	struct dctx c = { .file = name, .eb = eb, .ns_from = out->nns };
	struct doc_stream ds = { 0 };
	size_t start = out->n, start_ns = out->nns, i;
	bool had_array = out->v != NULL;
	int err;

	err = doc_parse(buf, len, pol_dec_format(name), &ds, eb);
	if (err) {
		errbuf_prefix(eb, "%s:", name);
		return err;
	}
	if (!ds.n) {
		doc_stream_free(&ds);
		return errbuf_set(eb, -EINVAL, "%s: no policy in file", name);
	}
	c.ndocs = ds.n;
	for (i = 0; !err && i < ds.n; i++)
		err = decode_doc(&c, ds.docs[i], out);
	if (!err)
		err = check_duplicates(&c, out, start);
	if (!err && c.warnings.len && out->n > start) {
		/* attach the file's notes to its first policy */
		out->v[start]->warnings = strbuf_detach(&c.warnings);
	}
	strbuf_free(&c.warnings);
	doc_stream_free(&ds);
	if (err) {
		pol_namespaces_free(out, start_ns);
		for (i = start; i < out->n; i++)
			pol_policy_free(out->v[i]);
		out->n = start;
		if (!had_array) {
			/* leave the set exactly as it was: no array the caller never asked for */
			free(out->v);
			out->v = NULL;
			out->cap = 0;
		}
		if (err == -ENOMEM)
			errbuf_set(eb, -ENOMEM, "%s: out of memory", name);
	}
	return err;
}

int pol_parse_file(const char *path, struct pol_set *out, struct errbuf *eb)
{
	size_t len;
	char *buf;
	int err = file_read_all(path, MAX_FILE_SIZE, &buf, &len, eb);

	if (err)
		return err;
	err = pol_parse_buf(path, buf, len, out, eb);
	free(buf);
	return err;
}
