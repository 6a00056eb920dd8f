/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP L7 rules: method, path and host are regular expressions in RE2
 * syntax, matched against the whole value (anchored at both ends, as Envoy's
 * safe_regex full match does for Cilium); `path` sees the normalized request
 * target (src/l7/normalize.h), query string included. `headers` entries
 * require presence, or an exact value; `headerMatches` entries with an empty
 * `mismatch` do too, while LOG/ADD/DELETE/REPLACE never fail the rule: for
 * the rule that matched, pol_http_rule_actions() lists what the proxy does
 * about them (log the mismatch, or edit the forwarded request's headers).
 *
 * Patterns are validated by RE2 itself, so a policy accepted here means the
 * same thing it means to Cilium. Each HTTP rule list (a toPorts entry's
 * `rules.http`) compiles once into a matcher: one RE2 set per field, so a
 * request is scanned about once per field whatever the number of rules, in
 * time linear in its length. `.` matches one UTF-8 character.
 */
#ifndef VELUM_POLICY_HTTP_H
#define VELUM_POLICY_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/errbuf.h"
#include "lib/sv.h"

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
 * Checks that pattern is valid RE2 syntax. Returns 0, or -EINVAL with the
 * pattern and RE2's reason in eb, or -ENOMEM.
 */
int pol_http_regex_check(const char *pattern, struct errbuf *eb);

/*
 * Parses a `headers` list entry: "Name", "Name value" or "Name: value".
 * Fills *out with new strings. Returns 0 or -EINVAL (eb) / -ENOMEM.
 */
int pol_http_header_parse(const char *s, struct pol_http_header *out, struct errbuf *eb);

/*
 * A compiled, immutable HTTP rule list: what the proxy and the trace match
 * requests against. It owns copies of its rules (it never points into the
 * policy it was built from) and is reference-counted, so rule snapshots
 * built from a policy can outlive it. Safe to match from many threads.
 */
struct pol_http_matcher;

/* Most HTTP rules in one list (one toPorts entry). */
#define POL_HTTP_MAX_RULES 4096

/*
 * Compiles rules[0..n) (borrowed; copied). Returns a new matcher with one
 * reference (drop it with pol_http_matcher__put()), or NULL with errno
 * EINVAL (eb says why: an invalid pattern, too many rules, a set too big
 * for the engine's memory, a headerMatches edit that could not be forwarded
 * safely: a name that is not a token, a value with a control character, an
 * ADD/DELETE/REPLACE of a header that frames or routes the request (Host,
 * Content-Length, Transfer-Encoding, Connection, Upgrade, Expect, TE,
 * Trailer, Keep-Alive), more than POL_HTTP_MAX_ACTIONS actions in a rule)
 * or ENOMEM.
 */
struct pol_http_matcher *pol_http_matcher__new(const struct pol_http_rule *rules, size_t n,
					       struct errbuf *eb);
/* Takes one more reference; returns m. Accepts NULL. */
struct pol_http_matcher *pol_http_matcher__get(struct pol_http_matcher *m);
/* Drops one reference, freeing m with the last. Accepts NULL. */
void pol_http_matcher__put(struct pol_http_matcher *m);

/* Number of rules, and rule i (owned by m, valid while m is). */
size_t pol_http_matcher_count(const struct pol_http_matcher *m);
const struct pol_http_rule *pol_http_matcher_rule(const struct pol_http_matcher *m, size_t i);

/*
 * Finds the first rule (lowest index) that req satisfies: every regex field
 * matches its whole value and every header requirement holds. Borrows all.
 * Returns 1 with *index set, 0 when no rule matches, or a negative errno
 * when the regex engine gave no answer (-ENOMEM: out of memory, -EIO):
 * that is not a verdict; callers deny and count it as an error.
 */
int pol_http_matcher_match(const struct pol_http_matcher *m, const struct pol_http_request *req,
			   size_t *index);

/*
 * Most headerMatches entries with a mismatch action in one rule (checked by
 * pol_http_matcher__new()), so a caller's list of actions has a fixed size.
 */
#define POL_HTTP_MAX_ACTIONS 64

/* One headerMatches entry that a request fails, and what its rule asks for. */
struct pol_http_action {
	enum pol_hdr_mismatch action;	      /* LOG, ADD, DELETE or REPLACE */
	const struct pol_http_header *header; /* the rule's entry (borrowed from the rule) */
};

/*
 * Lists, in the rule's order, the headerMatches entries of rule (the one
 * that matched req) that carry a mismatch action and whose requirement req
 * does not meet: the header is absent, or (with a value) its value, several
 * occurrences comma-joined, is not exactly the entry's. What each asks (as
 * Cilium's proxy does, applied in this order to the forwarded head):
 *   LOG      nothing but the note in the access event;
 *   ADD      append a line `name: value` (empty value for a presence entry);
 *   DELETE   remove every line of that header (none when absent);
 *   REPLACE  remove them, then append `name: value`.
 * Entries without an action never appear: a mismatch there fails the rule.
 * Fills out[0, min(count, cap)) and returns count, at most
 * POL_HTTP_MAX_ACTIONS for a rule of a matcher. Borrows all; out's pointers
 * live as long as rule.
 */
size_t pol_http_rule_actions(const struct pol_http_rule *rule, const struct pol_http_request *req,
			     struct pol_http_action *out, size_t cap);

/* "LOG", "ADD", "DELETE", "REPLACE" ("" for POL_MISMATCH_NONE). */
const char *pol_hdr_mismatch_name(enum pol_hdr_mismatch m);

/*
 * Writes "header NAME mismatch (ACTION)" for a into buf (size bytes, NUL
 * terminated, cut to fit). Returns the length it wanted, as snprintf().
 */
int pol_http_action_text(const struct pol_http_action *a, char *buf, size_t size);

/* Frees what rule owns (not rule itself) and zeroes it. Accepts NULL. */
void pol_http_rule_free(struct pol_http_rule *rule);

#endif
