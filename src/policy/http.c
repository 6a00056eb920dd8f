/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP rule matching: RE2-compatible, fully anchored regular expressions on
 * PCRE2, and header requirements.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "policy/http.h"

#include <ctype.h>
#include <errno.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct pol_regex {
	pcre2_code *code;
};

/* Longest pattern accepted; Cilium's CRD does not bound it, RE2 defaults to 2 MiB of program. */
#define POL_REGEX_MAX_LEN 4096

/*
 * Rejects PCRE syntax that RE2 does not have, so that a pattern means the
 * same thing here as in Cilium. Escapes are checked against RE2's list;
 * group openers against its (?flags), (?:...) and named-group forms.
 */
static int re2_check(const char *p, struct errbuf *eb)
{
	static const char re2_escapes[] = "aftnrvxdDsSwWbBAzpPQE";
	size_t i, n = strlen(p);
	bool quoted = false;

	for (i = 0; i < n; i++) {
		char c = p[i];

		if (quoted) {
			if (c == '\\' && p[i + 1] == 'E') {
				quoted = false;
				i++;
			}
			continue;
		}
		if (c == '\\') {
			char e = p[i + 1];

			if (e == '\0')
				return errbuf_set(eb, -EINVAL, "trailing backslash");
			if (isdigit((unsigned char)e))
				return errbuf_set(eb, -EINVAL,
						  "\\%c at offset %zu: backreferences and octal "
						  "escapes are not RE2 syntax",
						  e, i);
			if (isalpha((unsigned char)e) && !strchr(re2_escapes, e))
				return errbuf_set(eb, -EINVAL,
						  "\\%c at offset %zu is not an RE2 escape", e, i);
			if (e == 'Q')
				quoted = true;
			i++;
			continue;
		}
		if (c == '(' && p[i + 1] == '?') {
			char g = p[i + 2];

			if (g == ':' || g == 'i' || g == 'm' || g == 's' || g == 'U' || g == '-' ||
			    (g == 'P' && p[i + 3] == '<') ||
			    (g == '<' && p[i + 3] != '=' && p[i + 3] != '!'))
				continue;
			return errbuf_set(eb, -EINVAL,
					  "'(?%c' at offset %zu: lookaround, atomic groups, "
					  "recursion and callouts are not RE2 syntax",
					  g ? g : ' ', i);
		}
		if ((c == '*' || c == '+' || c == '?' || c == '}') && p[i + 1] == '+' && i > 0 &&
		    p[i - 1] != '\\')
			return errbuf_set(eb, -EINVAL,
					  "'%c+' at offset %zu: possessive quantifiers are not "
					  "RE2 syntax",
					  c, i);
	}
	return 0;
}

struct pol_regex *pol_regex_compile(const char *pattern, struct errbuf *eb)
{
	uint32_t opts = PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_DOLLAR_ENDONLY |
			PCRE2_NEVER_BACKSLASH_C | PCRE2_NO_AUTO_CAPTURE;
	struct pol_regex *re;
	PCRE2_SIZE erroff;
	int errcode;

	if (strlen(pattern) > POL_REGEX_MAX_LEN) {
		errbuf_set(eb, -EINVAL, "regular expression longer than %d bytes",
			   POL_REGEX_MAX_LEN);
		errno = EINVAL;
		return NULL;
	}
	if (re2_check(pattern, eb)) {
		errno = EINVAL;
		return NULL;
	}
	re = calloc(1, sizeof(*re));
	if (!re)
		return NULL;
	re->code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, opts, &errcode,
				 &erroff, NULL);
	if (!re->code) {
		PCRE2_UCHAR msg[160];

		pcre2_get_error_message(errcode, msg, sizeof(msg));
		errbuf_set(eb, -EINVAL, "invalid regular expression '%s': %s at offset %zu",
			   pattern, (const char *)msg, (size_t)erroff);
		free(re);
		errno = EINVAL;
		return NULL;
	}
	/* JIT is an optimisation: without it (e.g. no exec memory) matching still works. */
	(void)pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE);
	return re;
}

/* One match-data block per thread, reused: matching allocates nothing after the first call. */
static __thread pcre2_match_data *tls_md;

bool pol_regex_match(const struct pol_regex *re, struct sv subject)
{
	if (!tls_md) {
		tls_md = pcre2_match_data_create(1, NULL);
		if (!tls_md)
			return false;
	}
	return pcre2_match(re->code, (PCRE2_SPTR)(subject.p ? subject.p : ""), subject.len, 0, 0,
			   tls_md, NULL) >= 0;
}

void pol_regex_free(struct pol_regex *re)
{
	if (!re)
		return;
	pcre2_code_free(re->code);
	free(re);
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

bool pol_http_rule_match(const struct pol_http_rule *rule, const struct pol_http_request *req)
{
	size_t i;

	if (rule->re_method && !pol_regex_match(rule->re_method, req->method))
		return false;
	if (rule->re_path && !pol_regex_match(rule->re_path, req->path))
		return false;
	if (rule->re_host && !pol_regex_match(rule->re_host, req->host))
		return false;
	for (i = 0; i < rule->nheaders; i++) {
		const struct pol_http_header *h = &rule->headers[i];

		if (h->mismatch == POL_MISMATCH_NONE && !header_match(h, req))
			return false;
	}
	return true;
}

void pol_http_rule_free(struct pol_http_rule *rule)
{
	size_t i;

	if (!rule)
		return;
	free(rule->method);
	free(rule->path);
	free(rule->host);
	pol_regex_free(rule->re_method);
	pol_regex_free(rule->re_path);
	pol_regex_free(rule->re_host);
	for (i = 0; i < rule->nheaders; i++) {
		free(rule->headers[i].name);
		free(rule->headers[i].value);
	}
	free(rule->headers);
	memset(rule, 0, sizeof(*rule));
}
