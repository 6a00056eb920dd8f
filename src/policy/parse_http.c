/* SPDX-License-Identifier: Apache-2.0 */
/*
 * L7 HTTP rules: the `rules.http` list of a toPorts entry (method, path,
 * host as RE2 regexes compiled here, headers, headerMatches), and the same
 * list on its own as a file (pol_parse_http_rules_buf()).
 */
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/file.h"
#include "policy/parse_internal.h"

static int decode_http_rule(struct dctx *c, const struct doc_node *n, struct pol_http_rule *hr)
{
	static const struct field fields[] = {
		{ "method", FLD_OK },  { "path", FLD_OK },	    { "host", FLD_OK },
		{ "headers", FLD_OK }, { "headerMatches", FLD_OK }, { NULL },
	};
	static const char *const names[] = { "method", "path", "host" };
	char **texts[] = { &hr->method, &hr->path, &hr->host };
	const struct doc_node *h, *hm;
	size_t i, old, nh = 0;
	int err;

	hr->line = n->line;
	err = expect_fields(c, n, fields);
	for (i = 0; !err && i < 3; i++) {
		const struct doc_node *v = opt(n, names[i]);
		struct errbuf eb;

		if (!v)
			continue;
		old = path_key(c, names[i]);
		err = expect(c, v, DOC_STR);
		/* An empty expression constrains nothing, as in Cilium. */
		if (!err && v->str.len) {
			err = pol_http_regex_check(v->str.s, &eb);
			if (err == -EINVAL)
				err = derr(c, v->line, "%s", eb.msg);
			if (!err)
				err = str_dup(texts[i], v->str.s);
		}
		path_restore(c, old);
	}
	if (err)
		return err;
	h = opt(n, "headers");
	hm = opt(n, "headerMatches");
	if (h && (err = expect(c, h, DOC_SEQ)))
		return err;
	if (hm && (err = expect(c, hm, DOC_SEQ)))
		return err;
	nh = (h ? h->seq.n : 0) + (hm ? hm->seq.n : 0);
	if (!nh)
		return 0;
	hr->headers = calloc(nh, sizeof(*hr->headers));
	if (!hr->headers)
		return -ENOMEM;
	for (i = 0; h && i < h->seq.n; i++) {
		const struct doc_node *it = h->seq.items[i];
		struct errbuf eb;

		old = path_key(c, "headers");
		path_idx(c, i);
		err = expect(c, it, DOC_STR);
		if (!err) {
			err = pol_http_header_parse(it->str.s, &hr->headers[hr->nheaders], &eb);
			if (err == -EINVAL)
				err = derr(c, it->line, "%s", eb.msg);
			if (!err)
				hr->nheaders++;
		}
		path_restore(c, old);
		if (err)
			return err;
	}
	for (i = 0; hm && i < hm->seq.n; i++) {
		static const struct field hfields[] = {
			{ "name", FLD_OK },
			{ "value", FLD_OK },
			{ "mismatch", FLD_OK },
			{ "secret", FLD_UNSUPPORTED,
			  "values from Kubernetes secrets need a cluster" },
			{ NULL },
		};
		const struct doc_node *it = hm->seq.items[i], *nm, *val, *mm;
		struct pol_http_header *hh = &hr->headers[hr->nheaders];

		old = path_key(c, "headerMatches");
		path_idx(c, i);
		err = expect_fields(c, it, hfields);
		nm = err ? NULL : opt(it, "name");
		if (!err && !nm)
			err = derr(c, it->line, "name is required");
		if (!err)
			err = expect(c, nm, DOC_STR);
		if (!err && !nm->str.len)
			err = derr(c, nm->line, "name is required");
		if (!err)
			err = str_dup(&hh->name, nm->str.s);
		val = err ? NULL : opt(it, "value");
		if (val && !(err = expect(c, val, DOC_STR)))
			err = str_dup(&hh->value, val->str.s);
		mm = err ? NULL : opt(it, "mismatch");
		if (mm && !(err = expect(c, mm, DOC_STR))) {
			static const char *const acts[] = { "", "LOG", "ADD", "DELETE", "REPLACE" };
			size_t k;

			for (k = 0; k < 5 && strcmp(acts[k], mm->str.s); k++)
				;
			if (k == 5)
				err = derr(c, mm->line,
					   ERRBUF_Q
					   " is not a mismatch action (LOG, ADD, DELETE, REPLACE)",
					   ERRBUF_QARG(mm->str.s));
			else
				hh->mismatch = (enum pol_hdr_mismatch)k;
		}
		if (!err || hh->name)
			hr->nheaders++;
		path_restore(c, old);
		if (err)
			return err;
	}
	return 0;
}

/* An `http` list into *v (n entries decoded so far, also on error: the caller frees them). */
static int decode_http_list(struct dctx *c, const struct doc_node *http, struct pol_http_rule **v,
			    size_t *n)
{
	size_t i, old = path_key(c, "http");
	int err = expect(c, http, DOC_SEQ);

	if (!err && http->seq.n) {
		*v = calloc(http->seq.n, sizeof(**v));
		if (!*v)
			err = -ENOMEM;
	}
	for (i = 0; !err && i < http->seq.n; i++) {
		size_t o2 = path_idx(c, i);

		err = decode_http_rule(c, http->seq.items[i], &(*v)[i]);
		*n = i + 1;
		path_restore(c, o2);
	}
	path_restore(c, old);
	return err;
}

int pol_dec_l7(struct dctx *c, const struct doc_node *n, struct pol_port_rule *pr)
{
	static const struct field fields[] = {
		{ "http", FLD_OK },
		{ "dns", FLD_UNSUPPORTED, "DNS rules need the DNS proxy" },
		{ "kafka", FLD_UNSUPPORTED, "Kafka rules were removed from Cilium" },
		{ "l7proto", FLD_UNSUPPORTED, "generic L7 parsers are not implemented" },
		{ "l7", FLD_UNSUPPORTED, "generic L7 parsers are not implemented" },
		{ NULL },
	};
	const struct doc_node *http;
	int err;

	err = expect_fields(c, n, fields);
	http = err ? NULL : opt(n, "http");
	if (!http)
		return err;
	err = decode_http_list(c, http, &pr->http, &pr->nhttp);
	if (!err && pr->nhttp) {
		struct errbuf eb;
		size_t old = path_key(c, "http");

		/* Compiled once here; map states and L7 snapshots share it by reference. */
		pr->matcher = pol_http_matcher__new(pr->http, pr->nhttp, &eb);
		if (!pr->matcher)
			err = errno == EINVAL ? derr(c, http->line, "%s", eb.msg) : -ENOMEM;
		path_restore(c, old);
	}
	return err;
}

/* The one document of a rules file: a list of HTTP rules, or {http: [...]}. */
static int decode_http_doc(struct dctx *c, const struct doc_node *n, struct pol_http_rules *out)
{
	static const struct field fields[] = { { "http", FLD_OK }, { NULL } };
	const struct doc_node *list = n;
	int err;

	if (n->type == DOC_MAP) {
		err = check_fields(c, n, fields);
		if (err)
			return err;
		list = opt(n, "http");
		if (!list)
			return derr(c, n->line, "http is required");
	} else if (n->type != DOC_SEQ) {
		return derr(c, n->line,
			    "expected a list of HTTP rules (the rules.http of a policy), got %s",
			    got_name(n));
	}
	return decode_http_list(c, list, &out->v, &out->n);
}

int pol_parse_http_rules_buf(const char *name, const char *buf, size_t len,
			     struct pol_http_rules *out, struct errbuf *eb)
{
	struct dctx c = { .file = name, .eb = eb };
	struct pol_http_rules r = { 0 };
	struct doc_stream ds = { 0 };
	int err;

	memset(out, 0, sizeof(*out));
	err = doc_parse(buf, len, pol_dec_format(name), &ds, eb);
	if (err) {
		errbuf_prefix(eb, "%s:", name);
		return err;
	}
	if (!ds.n)
		err = errbuf_set(eb, -EINVAL, "%s: no HTTP rules in file", name);
	else if (ds.n > 1)
		err = derr(&c, ds.docs[1]->line, "one list of HTTP rules per file");
	else
		err = decode_http_doc(&c, ds.docs[0], &r);
	doc_stream_free(&ds);
	strbuf_free(&c.warnings);
	if (err) {
		pol_http_rules_free(&r);
		if (err == -ENOMEM)
			errbuf_set(eb, -ENOMEM, "%s: out of memory", name);
		return err;
	}
	*out = r;
	return 0;
}

int pol_parse_http_rules_file(const char *path, struct pol_http_rules *out, struct errbuf *eb)
{
	size_t len;
	char *buf;
	int err;

	memset(out, 0, sizeof(*out));
	err = file_read_all(path, MAX_FILE_SIZE, &buf, &len, eb);
	if (err)
		return err;
	err = pol_parse_http_rules_buf(path, buf, len, out, eb);
	free(buf);
	return err;
}

void pol_http_rules_free(struct pol_http_rules *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->n; i++)
		pol_http_rule_free(&r->v[i]);
	free(r->v);
	r->v = NULL;
	r->n = 0;
}
