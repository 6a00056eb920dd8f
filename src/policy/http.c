/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP rule matching: rule lists compiled into per-field RE2 sets
 * (src/l7/regex.h), then the header requirements of the rules whose
 * regexes all matched, in rule order.
 */
#include "policy/http.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "l7/regex.h"

enum { F_METHOD, F_PATH, F_HOST, F_N };

#define WORDS(n) (((n) + 63) / 64)

struct pol_http_matcher {
	int refs; /* atomic */
	size_t n;
	struct pol_http_rule *rules; /* owned copies */
	struct l7_reset *set[F_N];   /* NULL when no rule constrains the field */
	uint64_t *without[F_N];	     /* rules that leave the field free: WORDS(n) each */
	bool any_headers;	     /* some rule has a failing header requirement */
};

int pol_http_regex_check(const char *pattern, struct errbuf *eb)
{
	return l7_regex_check(pattern, eb);
}

static bool header_name_ok(const char *s, size_t n)
{
	size_t i;

	if (!n)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		/* RFC 9110 token characters */
		if (!(isalnum(c) || strchr("!#$%&'*+-.^_`|~", c)))
			return false;
	}
	return true;
}

int pol_http_header_parse(const char *s, struct pol_http_header *out, struct errbuf *eb)
{
	size_t nlen = strcspn(s, ": \t");
	const char *v = s + nlen;

	memset(out, 0, sizeof(*out));
	if (!header_name_ok(s, nlen))
		return errbuf_set(eb, -EINVAL, "'%s' does not start with a header name", s);
	if (*v == ':')
		v++;
	while (*v == ' ' || *v == '\t')
		v++;
	out->name = strndup(s, nlen);
	if (!out->name)
		return -ENOMEM;
	if (*v) {
		size_t vlen = strlen(v);

		while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
			vlen--;
		out->value = strndup(v, vlen);
		if (!out->value) {
			free(out->name);
			out->name = NULL;
			return -ENOMEM;
		}
	}
	return 0;
}

/*
 * Finds the request's value for a header. Several occurrences compare as
 * their comma-joined list, as Envoy does.
 */
static bool header_match(const struct pol_http_header *h, const struct pol_http_request *req)
{
	size_t i, nfound = 0, nlen = strlen(h->name), vlen = h->value ? strlen(h->value) : 0;
	size_t off = 0;
	const char *want = h->value;

	for (i = 0; i < req->nheaders; i++) {
		const struct pol_http_field *f = &req->headers[i];

		if (f->name.len != nlen || strncasecmp(f->name.p, h->name, nlen))
			continue;
		if (!want)
			return true;
		/* Walk the joined list without building it: compare piece by piece. */
		if (nfound) {
			if (off >= vlen || want[off] != ',')
				return false;
			off++;
		}
		if (f->value.len > vlen - off || memcmp(want + off, f->value.p, f->value.len))
			return false;
		off += f->value.len;
		nfound++;
	}
	return nfound && off == vlen;
}

size_t pol_http_rule_actions(const struct pol_http_rule *rule, const struct pol_http_request *req,
			     struct pol_http_action *out, size_t cap)
{
	size_t i, n = 0;

	for (i = 0; i < rule->nheaders; i++) {
		const struct pol_http_header *h = &rule->headers[i];

		if (h->mismatch == POL_MISMATCH_NONE || header_match(h, req))
			continue;
		if (n < cap)
			out[n] = (struct pol_http_action){ h->mismatch, h };
		n++;
	}
	return n;
}

const char *pol_hdr_mismatch_name(enum pol_hdr_mismatch m)
{
	switch (m) {
	case POL_MISMATCH_LOG:
		return "LOG";
	case POL_MISMATCH_ADD:
		return "ADD";
	case POL_MISMATCH_DELETE:
		return "DELETE";
	case POL_MISMATCH_REPLACE:
		return "REPLACE";
	case POL_MISMATCH_NONE:
		break;
	}
	return "";
}

int pol_http_action_text(const struct pol_http_action *a, char *buf, size_t size)
{
	return snprintf(buf, size, "header %s mismatch (%s)", a->header->name,
			pol_hdr_mismatch_name(a->action));
}

/*
 * Headers an ADD/DELETE/REPLACE must not touch: they frame the message or
 * route it (RFC 9112 framing, hop-by-hop fields), so an edit would make the
 * server read other requests, or another Host, than the rules judged.
 */
static const char *const unedited[] = {
	"host", "content-length", "transfer-encoding", "connection", "upgrade", "expect",
	"te",	"trailer",	  "keep-alive",	       NULL,
};

/* Checks that a headerMatches entry's action can be carried out on a forwarded head. */
static int header_edit_check(const struct pol_http_rule *r, size_t ri,
			     const struct pol_http_header *h, struct errbuf *eb)
{
	const char *v;
	size_t k;

	if (h->mismatch == POL_MISMATCH_NONE || h->mismatch == POL_MISMATCH_LOG)
		return 0;
	if (!header_name_ok(h->name, strlen(h->name)))
		return errbuf_set(eb, -EINVAL, "%u: [%zu]: headerMatches '%s': not a header name",
				  r->line, ri, h->name);
	for (k = 0; unedited[k]; k++)
		if (!strcasecmp(h->name, unedited[k]))
			return errbuf_set(eb, -EINVAL,
					  "%u: [%zu]: headerMatches '%s': mismatch %s cannot edit "
					  "this header (it frames or routes the request)",
					  r->line, ri, h->name, pol_hdr_mismatch_name(h->mismatch));
	/* RFC 9110 field-value: visible characters, obs-text, space and tab. */
	for (v = h->value; v && *v; v++) {
		unsigned char c = (unsigned char)*v;

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return errbuf_set(eb, -EINVAL,
					  "%u: [%zu]: headerMatches '%s': control character 0x%02x "
					  "in the value",
					  r->line, ri, h->name, c);
	}
	return 0;
}

/* Checks the rule's header edits (see pol_http_matcher__new()). */
static int rule_edits_check(const struct pol_http_rule *r, size_t ri, struct errbuf *eb)
{
	size_t h, nact = 0;
	int err;

	for (h = 0; h < r->nheaders; h++) {
		err = header_edit_check(r, ri, &r->headers[h], eb);
		if (err)
			return err;
		nact += r->headers[h].mismatch != POL_MISMATCH_NONE;
	}
	if (nact > POL_HTTP_MAX_ACTIONS)
		return errbuf_set(
			eb, -EINVAL,
			"%u: [%zu]: %zu headerMatches with a mismatch action, the most is %d",
			r->line, ri, nact, POL_HTTP_MAX_ACTIONS);
	return 0;
}

void pol_http_rule_free(struct pol_http_rule *rule)
{
	size_t i;

	if (!rule)
		return;
	free(rule->method);
	free(rule->path);
	free(rule->host);
	for (i = 0; i < rule->nheaders; i++) {
		free(rule->headers[i].name);
		free(rule->headers[i].value);
	}
	free(rule->headers);
	memset(rule, 0, sizeof(*rule));
}

static const char *field_text(const struct pol_http_rule *r, int f)
{
	return f == F_METHOD ? r->method : f == F_PATH ? r->path : r->host;
}

static char *dup_or_null(const char *s, bool *oom)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*oom = true;
	return d;
}

static int rule_copy(struct pol_http_rule *dst, const struct pol_http_rule *src)
{
	bool oom = false;
	size_t i;

	memset(dst, 0, sizeof(*dst));
	dst->line = src->line;
	dst->method = dup_or_null(src->method, &oom);
	dst->path = dup_or_null(src->path, &oom);
	dst->host = dup_or_null(src->host, &oom);
	if (src->nheaders) {
		dst->headers = calloc(src->nheaders, sizeof(*dst->headers));
		if (!dst->headers)
			oom = true;
	}
	for (i = 0; dst->headers && i < src->nheaders; i++) {
		dst->headers[i].name = dup_or_null(src->headers[i].name, &oom);
		dst->headers[i].value = dup_or_null(src->headers[i].value, &oom);
		dst->headers[i].mismatch = src->headers[i].mismatch;
		dst->nheaders = i + 1;
	}
	if (oom) {
		pol_http_rule_free(dst);
		return -ENOMEM;
	}
	return 0;
}

static void matcher_free(struct pol_http_matcher *m)
{
	size_t i;
	int f;

	for (f = 0; f < F_N; f++) {
		l7_reset__free(m->set[f]);
		free(m->without[f]);
	}
	for (i = 0; m->rules && i < m->n; i++)
		pol_http_rule_free(&m->rules[i]);
	free(m->rules);
	free(m);
}

/* Compiles one field's set over the rules that constrain it; the others go to without[f]. */
static int field_compile(struct pol_http_matcher *m, int f, struct errbuf *eb)
{
	const char **pats = calloc(m->n, sizeof(*pats));
	uint32_t *ids = calloc(m->n, sizeof(*ids));
	size_t i, k = 0;
	int err = 0;

	m->without[f] = calloc(WORDS(m->n), sizeof(uint64_t));
	if (!pats || !ids || !m->without[f]) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < m->n; i++) {
		const char *t = field_text(&m->rules[i], f);

		if (t) {
			pats[k] = t;
			ids[k++] = (uint32_t)i;
		} else {
			m->without[f][i / 64] |= (uint64_t)1 << (i % 64);
		}
	}
	if (k) {
		m->set[f] = l7_reset__new(pats, ids, k, 0, eb);
		if (!m->set[f])
			err = errno == ENOMEM ? -ENOMEM : -EINVAL;
	}
out:
	free(pats);
	free(ids);
	return err;
}

struct pol_http_matcher *pol_http_matcher__new(const struct pol_http_rule *rules, size_t n,
					       struct errbuf *eb)
{
	struct pol_http_matcher *m;
	size_t i, h;
	int err = 0, f;

	if (n > POL_HTTP_MAX_RULES) {
		errbuf_set(eb, -EINVAL, "%zu HTTP rules in one list, the most is %d", n,
			   POL_HTTP_MAX_RULES);
		errno = EINVAL;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->refs = 1;
	m->rules = calloc(n ? n : 1, sizeof(*m->rules));
	if (!m->rules)
		err = -ENOMEM;
	for (i = 0; !err && i < n; i++) {
		err = rule_edits_check(&rules[i], i, eb);
		if (!err)
			err = rule_copy(&m->rules[i], &rules[i]);
		if (!err)
			m->n = i + 1;
		for (h = 0; !err && h < rules[i].nheaders; h++)
			if (rules[i].headers[h].mismatch == POL_MISMATCH_NONE)
				m->any_headers = true;
	}
	for (f = 0; !err && f < F_N; f++)
		err = field_compile(m, f, eb);
	if (err) {
		matcher_free(m);
		errno = -err;
		return NULL;
	}
	return m;
}

struct pol_http_matcher *pol_http_matcher__get(struct pol_http_matcher *m)
{
	if (m)
		__atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
	return m;
}

void pol_http_matcher__put(struct pol_http_matcher *m)
{
	if (m && __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) == 0)
		matcher_free(m);
}

size_t pol_http_matcher_count(const struct pol_http_matcher *m)
{
	return m->n;
}

const struct pol_http_rule *pol_http_matcher_rule(const struct pol_http_matcher *m, size_t i)
{
	return i < m->n ? &m->rules[i] : NULL;
}

static bool headers_match(const struct pol_http_rule *rule, const struct pol_http_request *req)
{
	size_t i;

	for (i = 0; i < rule->nheaders; i++) {
		const struct pol_http_header *h = &rule->headers[i];

		if (h->mismatch == POL_MISMATCH_NONE && !header_match(h, req))
			return false;
	}
	return true;
}

int pol_http_matcher_match(const struct pol_http_matcher *m, const struct pol_http_request *req,
			   size_t *index)
{
	/* POL_HTTP_MAX_RULES bounds these: 64 words each. */
	uint64_t cand[WORDS(POL_HTTP_MAX_RULES)], got[WORDS(POL_HTTP_MAX_RULES)];
	/* The cheapest field first; stop as soon as no rule is left. */
	static const int order[F_N] = { F_METHOD, F_HOST, F_PATH };
	size_t w, nw = WORDS(m->n), i;
	int f, err;

	if (!m->n)
		return 0;
	memset(cand, 0xff, nw * sizeof(uint64_t));
	if (m->n % 64)
		cand[nw - 1] = ((uint64_t)1 << (m->n % 64)) - 1;
	for (f = 0; f < F_N; f++) {
		const struct l7_reset *set = m->set[order[f]];
		const struct sv *subj = order[f] == F_METHOD ? &req->method :
					order[f] == F_PATH   ? &req->path :
							       &req->host;
		uint64_t left = 0;

		if (!set)
			continue;
		memcpy(got, m->without[order[f]], nw * sizeof(uint64_t));
		err = l7_reset_match(set, *subj, got);
		if (err < 0)
			return err;
		for (w = 0; w < nw; w++)
			left |= (cand[w] &= got[w]);
		if (!left)
			return 0;
	}
	for (w = 0; w < nw; w++) {
		while (cand[w]) {
			i = w * 64 + (size_t)__builtin_ctzll(cand[w]);
			cand[w] &= cand[w] - 1;
			if (!m->any_headers || headers_match(&m->rules[i], req)) {
				*index = i;
				return 1;
			}
		}
	}
	return 0;
}
