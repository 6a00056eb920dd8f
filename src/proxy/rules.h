/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The rule set a proxy judges requests by, and the one function that asks
 * the policy matcher for a verdict (px_rules_decide()), so that the
 * matcher behind it can change in one place.
 *
 * A rule set is immutable once built and reference counted: a worker takes
 * a reference for each request it judges, so a request is judged wholly by
 * one set while a new one is swapped in.
 */
#ifndef VELUM_PROXY_RULES_H
#define VELUM_PROXY_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/errbuf.h"
#include "policy/http.h"

struct px_rules {
	struct pol_http_matcher *m; /* compiled once; owns copies of the rules */
	size_t n;
	unsigned refs; /* atomic */
};

/* The most HTTP rules one request can be judged by: the client endpoint's egress and the server's ingress. */
#define PX_MAX_MATCHED 2

struct px_decision {
	bool allowed;
	int rule;	    /* index of the rule that allowed in its list, or -1 */
	unsigned line;	    /* its line in the rules file, or 0 */
	const char *reason; /* static text */
	char rule_name[96]; /* the policy rule that allowed (from velumd's snapshot), or "" */
	/*
	 * The HTTP rules that allowed (one per direction judged; NULL for
	 * none or "any request"), for their headerMatches actions. Valid until
	 * px_decision_release().
	 */
	const struct pol_http_rule *matched[PX_MAX_MATCHED];
	void *hold;		      /* what keeps matched alive */
	void (*hold_put)(void *hold); /* drops it */
};

/* Drops what d holds (its matched rules die with it). */
static inline void px_decision_release(struct px_decision *d)
{
	if (d->hold_put)
		d->hold_put(d->hold);
	d->hold = NULL;
	d->hold_put = NULL;
	d->matched[0] = d->matched[1] = NULL;
}

/*
 * Loads a JSON or YAML list of Cilium HTTP rules (the `rules.http` array
 * of a policy: method, path, host, headers, headerMatches) from path.
 * Returns a new set with one reference (drop with px_rules__put()), or
 * NULL with errno set; for EINVAL eb holds "FILE:LINE: FIELD: message".
 */
struct px_rules *px_rules__load(const char *path, struct errbuf *eb);

/*
 * Compiles rules[0..n) (borrowed) into a new set. Returns it, or NULL with
 * errno set (EINVAL: eb says why, e.g. a set too big for the engine).
 */
struct px_rules *px_rules__new(const struct pol_http_rule *rules, size_t n, struct errbuf *eb);

/* Returns rs with one more reference. */
struct px_rules *px_rules__get(struct px_rules *rs);
/* Drops a reference; frees the set with the last. Accepts NULL. */
void px_rules__put(struct px_rules *rs);

/*
 * Judges req: allowed when any rule matches (Cilium: a request passes if
 * any rule matches; an empty list allows nothing). An answer the regex
 * engine could not give denies (reason "matcher error"), never passes.
 * Fills *out (out->matched[0] is the rule that allowed, borrowed from rs:
 * out holds no reference). Borrows both.
 */
void px_rules_decide(const struct px_rules *rs, const struct pol_http_request *req,
		     struct px_decision *out);

#endif
