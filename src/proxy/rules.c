/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Rule sets for velum-proxy: loading a standalone rules file (with the
 * policy decoder's reader of a `rules.http` list, so a rules file means what
 * the same list means in a policy), reference counting, and the verdict
 * (the only caller of the policy matcher here).
 */
#include "proxy/rules.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/parse.h"

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

/* --- the standalone rules file: the policy decoder's own rules.http reader --- */

struct px_rules *px_rules__load(const char *path, struct errbuf *eb)
{
	struct pol_http_rules r = { 0 };
	struct px_rules *rs;
	int err = pol_parse_http_rules_file(path, &r, eb);

	if (err) {
		errno = -err;
		return NULL;
	}
	rs = px_rules__new(r.v, r.n, eb);
	err = errno;
	pol_http_rules_free(&r);
	errno = err;
	return rs;
}
