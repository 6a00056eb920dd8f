/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Rule sets for velum-proxy: loading a standalone rules file, reference
 * counting, and the verdict (the only caller of the policy matcher here).
 */
#include "proxy/rules.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/file.h"
#include "policy/doc.h"

struct px_rules *px_rules__new(const struct pol_http_rule *rules, size_t n, struct errbuf *eb)
{
	struct px_rules *rs = calloc(1, sizeof(*rs));

	if (!rs)
		return NULL;
	rs->m = pol_http_matcher__new(rules, n, eb);
	if (!rs->m) {
		int e = errno;

		free(rs);
		errno = e;
		return NULL;
	}
	rs->n = n;
	rs->refs = 1;
	return rs;
}

struct px_rules *px_rules__get(struct px_rules *rs)
{
	__atomic_add_fetch(&rs->refs, 1, __ATOMIC_RELAXED);
	return rs;
}

void px_rules__put(struct px_rules *rs)
{
	if (!rs || __atomic_sub_fetch(&rs->refs, 1, __ATOMIC_ACQ_REL))
		return;
	pol_http_matcher__put(rs->m);
	free(rs);
}

void px_rules_decide(const struct px_rules *rs, const struct pol_http_request *req,
		     struct px_decision *out)
{
	size_t i;
	int r = pol_http_matcher_match(rs->m, req, &i);

	memset(out, 0, sizeof(*out));
	if (r > 0) {
		out->allowed = true;
		out->rule = (int)i;
		out->matched[0] = pol_http_matcher_rule(rs->m, i);
		out->line = out->matched[0]->line;
		out->reason = "matched";
		return;
	}
	out->allowed = false;
	if (r < 0) {
		out->rule = -1;
		out->line = 0;
		out->reason = "matcher error";
		return;
	}
	out->rule = -1;
	out->line = 0;
	out->reason = "no HTTP rule matched";
}

/* --- the standalone rules file --- */

#define RULES_MAX_BYTES (16u << 20)

static int str_field(const struct doc_node *n, const char *key, const char *where,
		     const struct doc_node **out, struct errbuf *eb)
{
	const struct doc_node *v = doc_map_get(n, key);

	*out = v;
	if (v && v->type != DOC_STR)
		return errbuf_set(eb, -EINVAL, "%u: %s.%s: expected string, got %s", v->line, where,
				  key, doc_type_name(v->type));
	return 0;
}

static int decode_header_match(const struct doc_node *it, const char *where,
			       struct pol_http_header *hh, struct errbuf *eb)
{
	static const char *const acts[] = { "", "LOG", "ADD", "DELETE", "REPLACE" };
	const struct doc_node *nm, *val, *mm;
	size_t i, k;
	int err;

	if (it->type != DOC_MAP)
		return errbuf_set(eb, -EINVAL, "%u: %s: expected object, got %s", it->line, where,
				  doc_type_name(it->type));
	for (i = 0; i < it->map.n; i++) {
		const char *key = it->map.pairs[i].key;

		if (strcmp(key, "name") && strcmp(key, "value") && strcmp(key, "mismatch"))
			return errbuf_set(eb, -EINVAL, "%u: %s.%s: unknown field",
					  it->map.pairs[i].line, where, key);
	}
	if ((err = str_field(it, "name", where, &nm, eb)) ||
	    (err = str_field(it, "value", where, &val, eb)) ||
	    (err = str_field(it, "mismatch", where, &mm, eb)))
		return err;
	if (!nm || !nm->str.len)
		return errbuf_set(eb, -EINVAL, "%u: %s: name is required", it->line, where);
	for (k = 0; mm && k < 5 && strcmp(acts[k], mm->str.s); k++)
		;
	if (mm && k == 5)
		return errbuf_set(eb, -EINVAL,
				  "%u: %s.mismatch: '%s' is not a mismatch action (LOG, ADD, "
				  "DELETE, REPLACE)",
				  mm->line, where, mm->str.s);
	hh->mismatch = mm ? (enum pol_hdr_mismatch)k : POL_MISMATCH_NONE;
	hh->name = strdup(nm->str.s);
	hh->value = val ? strdup(val->str.s) : NULL;
	return hh->name && (!val || hh->value) ? 0 : -ENOMEM;
}

static int decode_rule(const struct doc_node *n, size_t idx, struct pol_http_rule *hr,
		       struct errbuf *eb)
{
	static const char *const names[] = { "method", "path", "host" };
	char **texts[] = { &hr->method, &hr->path, &hr->host };
	const struct doc_node *h, *hm, *v;
	char where[48], at[96];
	size_t i, nh;
	int err;

	snprintf(where, sizeof(where), "[%zu]", idx);
	hr->line = n->line;
	if (n->type != DOC_MAP)
		return errbuf_set(eb, -EINVAL, "%u: %s: expected object, got %s", n->line, where,
				  doc_type_name(n->type));
	for (i = 0; i < n->map.n; i++) {
		const char *key = n->map.pairs[i].key;

		if (strcmp(key, "method") && strcmp(key, "path") && strcmp(key, "host") &&
		    strcmp(key, "headers") && strcmp(key, "headerMatches"))
			return errbuf_set(eb, -EINVAL, "%u: %s.%s: unknown field",
					  n->map.pairs[i].line, where, key);
	}
	for (i = 0; i < 3; i++) {
		struct errbuf reb;

		if ((err = str_field(n, names[i], where, &v, eb)))
			return err;
		/* An empty expression constrains nothing, as in Cilium. */
		if (!v || !v->str.len)
			continue;
		*texts[i] = strdup(v->str.s);
		if (!*texts[i])
			return -ENOMEM;
		err = pol_http_regex_check(v->str.s, &reb);
		if (err)
			return err == -EINVAL ? errbuf_set(eb, -EINVAL, "%u: %s.%s: %s", v->line,
							   where, names[i], reb.msg) :
						err;
	}
	h = doc_map_get(n, "headers");
	hm = doc_map_get(n, "headerMatches");
	if ((h && h->type != DOC_SEQ) || (hm && hm->type != DOC_SEQ)) {
		v = h && h->type != DOC_SEQ ? h : hm;
		return errbuf_set(eb, -EINVAL, "%u: %s.%s: expected list, got %s", v->line, where,
				  v == h ? "headers" : "headerMatches", doc_type_name(v->type));
	}
	nh = (h ? h->seq.n : 0) + (hm ? hm->seq.n : 0);
	if (!nh)
		return 0;
	hr->headers = calloc(nh, sizeof(*hr->headers));
	if (!hr->headers)
		return -ENOMEM;
	for (i = 0; h && i < h->seq.n; i++) {
		const struct doc_node *it = h->seq.items[i];
		struct errbuf heb;

		if (it->type != DOC_STR)
			return errbuf_set(eb, -EINVAL,
					  "%u: %s.headers[%zu]: expected string, got %s", it->line,
					  where, i, doc_type_name(it->type));
		err = pol_http_header_parse(it->str.s, &hr->headers[hr->nheaders], &heb);
		if (err == -EINVAL)
			return errbuf_set(eb, -EINVAL, "%u: %s.headers[%zu]: %s", it->line, where,
					  i, heb.msg);
		if (err)
			return err;
		hr->nheaders++;
	}
	for (i = 0; hm && i < hm->seq.n; i++) {
		snprintf(at, sizeof(at), "%s.headerMatches[%zu]", where, i);
		err = decode_header_match(hm->seq.items[i], at, &hr->headers[hr->nheaders], eb);
		if (hr->headers[hr->nheaders].name)
			hr->nheaders++;
		if (err)
			return err;
	}
	return 0;
}

struct px_rules *px_rules__load(const char *path, struct errbuf *eb)
{
	struct doc_stream ds = { 0 };
	struct pol_http_rule *rules = NULL;
	const struct doc_node *root;
	struct px_rules *rs = NULL;
	size_t len, i, n = 0;
	char *buf = NULL;
	int err;

	err = file_read_all(path, RULES_MAX_BYTES, &buf, &len, eb);
	if (err)
		goto out;
	err = doc_parse(buf, len, DOC_FMT_AUTO, &ds, eb);
	if (err)
		goto out_prefix;
	if (ds.n != 1) {
		err = -EINVAL;
		errbuf_set(eb, err,
			   "1: expected one document holding a list of HTTP rules, got %zu", ds.n);
		goto out_prefix;
	}
	root = ds.docs[0];
	if (root->type != DOC_SEQ) {
		err = -EINVAL;
		errbuf_set(eb, err, "%u: expected a list of HTTP rules, got %s", root->line,
			   doc_type_name(root->type));
		goto out_prefix;
	}
	rules = calloc(root->seq.n ? root->seq.n : 1, sizeof(*rules));
	if (!rules) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < root->seq.n; i++) {
		n = i + 1;
		err = decode_rule(root->seq.items[i], i, &rules[i], eb);
		if (err)
			goto out_prefix;
	}
	rs = px_rules__new(rules, n, eb);
	if (!rs) {
		err = -errno;
		goto out_prefix;
	}
	goto out;
out_prefix:
	if (err == -EINVAL)
		errbuf_prefix(eb, "%s:", path);
out:
	for (i = 0; rules && i < n; i++)
		pol_http_rule_free(&rules[i]);
	free(rules);
	doc_stream_free(&ds);
	free(buf);
	if (!rs)
		errno = -err;
	return rs;
}
