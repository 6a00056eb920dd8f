/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP L7 rules: method, path and host are regular expressions in RE2
 * syntax, matched against the whole value (anchored at both ends, as Envoy's
 * safe_regex full match does for Cilium); `path` sees the request target as
 * sent, query string included. `headers` entries require presence, or an
 * exact value; `headerMatches` entries with an empty `mismatch` do too, while
 * LOG/ADD/DELETE/REPLACE never fail the rule (the proxy acts on them).
 *
 * RE2 syntax is enforced at compile time: constructs RE2 lacks
 * (backreferences, lookaround, atomic groups, possessive quantifiers,
 * recursion, callouts, \C) are rejected, so a policy accepted here means
 * the same thing it means to Cilium. Matching uses PCRE2 (JIT when
 * available) with `$` matching only at the very end, as in RE2.
 */
#ifndef VELUM_POLICY_HTTP_H
#define VELUM_POLICY_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/errbuf.h"
#include "lib/sv.h"

struct pol_regex;

enum pol_hdr_mismatch {
	POL_MISMATCH_NONE = 0, /* the rule fails */
	POL_MISMATCH_LOG,
	POL_MISMATCH_ADD,
	POL_MISMATCH_DELETE,
	POL_MISMATCH_REPLACE,
};

struct pol_http_header {
	char *name;  /* compared case-insensitively */
	char *value; /* exact value, or NULL for presence only */
	enum pol_hdr_mismatch mismatch;
};

struct pol_http_rule {
	char *method, *path, *host; /* the policy's text; NULL = any */
	struct pol_regex *re_method, *re_path, *re_host;
	struct pol_http_header *headers;
	size_t nheaders;
	unsigned line;
};

/* A request as the matcher sees it. Header names in any case. */
struct pol_http_field {
	struct sv name, value;
};

struct pol_http_request {
	struct sv method, path, host;
	const struct pol_http_field *headers;
	size_t nheaders;
};

/*
 * Checks pattern for RE2 compatibility and compiles it anchored at both
 * ends. Returns a new regex (free with pol_regex_free()) or NULL with errno
 * set and, for EINVAL, the reason in eb ("missing ) at offset 3").
 */
struct pol_regex *pol_regex_compile(const char *pattern, struct errbuf *eb);
/* True if the whole subject matches. Thread-safe; allocates no memory after warm-up per thread. */
bool pol_regex_match(const struct pol_regex *re, struct sv subject);
void pol_regex_free(struct pol_regex *re);

/*
 * Parses a `headers` list entry: "Name", "Name value" or "Name: value".
 * Fills *out with new strings. Returns 0 or -EINVAL (eb) / -ENOMEM.
 */
int pol_http_header_parse(const char *s, struct pol_http_header *out, struct errbuf *eb);

/* True if req satisfies every field of rule. */
bool pol_http_rule_match(const struct pol_http_rule *rule, const struct pol_http_request *req);

void pol_http_rule_free(struct pol_http_rule *rule);

#endif
