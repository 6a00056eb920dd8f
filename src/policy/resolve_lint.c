/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pol_engine_lint(): rules of loaded policies whose L7 part another rule
 * makes moot (see resolve.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "policy/resolve_internal.h"

/* ---- lint ------------------------------------------------------------------------ */

static bool peers_overlap(const struct pol_l7_item *a, const struct pol_l7_item *b)
{
	size_t i = 0, j = 0;

	if (a->any_peer || b->any_peer)
		return true;
	while (i < a->npeers && j < b->npeers) {
		if (a->peers[i] == b->peers[j])
			return true;
		if (a->peers[i] < b->peers[j])
			i++;
		else
			j++;
	}
	return false;
}

struct lint_pair {
	uint32_t l7, l4;
	uint8_t dir, proto;
	uint16_t lo, hi;
};

size_t pol_engine_lint(const struct pol_engine *e, struct strbuf *sb)
{
	VEC(struct lint_pair) seen = { 0 };
	struct hnode *it, *nx;
	size_t b, i, j, k;

	hmap_for_each_safe(&e->subjects, b, it, nx)
	{
		const struct pol_mapstate *ms = container_of(it, struct eng_subject, node)->state;

		for (i = 0; ms && i < ms->nl7; i++) {
			const struct pol_l7_item *a = &ms->l7[i];

			if (!a->pr)
				continue;
			for (j = 0; j < ms->nl7; j++) {
				const struct pol_l7_item *o = &ms->l7[j];
				struct lint_pair lp = { a->rule_id,
							o->rule_id,
							a->dir,
							a->proto,
							a->lo > o->lo ? a->lo : o->lo,
							a->hi < o->hi ? a->hi : o->hi };
				bool dup = false;

				if (o->pr || o->rule_id < VELUM_RULE_FIRST || o->dir != a->dir ||
				    (o->proto && o->proto != a->proto) || lp.lo > lp.hi ||
				    !peers_overlap(a, o))
					continue;
				for (k = 0; k < seen.n && !dup; k++)
					dup = !memcmp(&seen.v[k], &lp, sizeof(lp));
				if (dup || vec_push(&seen, lp))
					continue;
			}
		}
	}
	for (k = 0; k < seen.n; k++) {
		const struct lint_pair *lp = &seen.v[k];

		pol_engine_rule_name(e, lp->l7, sb);
		strbuf_printf(sb, ": its HTTP rules have no effect on %s %s/",
			      pol_dir_name(lp->dir), pol_proto_name(lp->proto));
		if (lp->lo == lp->hi)
			strbuf_printf(sb, "%u", lp->lo);
		else
			strbuf_printf(sb, "%u-%u", lp->lo, lp->hi);
		strbuf_puts(sb, " for peers also allowed by ");
		pol_engine_rule_name(e, lp->l4, sb);
		strbuf_puts(sb, " (an L3/L4 allow admits every request)\n");
	}
	vec_free(&seen);
	return k;
}
