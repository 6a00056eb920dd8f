/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The policy engine's output: computing one subject's map state, and
 * regeneration (recomputing the marked subjects, reporting the endpoints
 * whose entries changed).
 *
 * Computing a map state for a subject (identity X, named ports, audit):
 *  1. every rule whose endpoint selector selects X contributes, per
 *     direction, one raw entry per (peer, protocol, port block) with its
 *     verdict class (deny, audit, redirect, allow) and rule id; identical
 *     keys merge, keeping the higher class, then a real rule over a
 *     pseudo-rule, then the lower rule id;
 *  2. a direction no rule enforces gets a catch-all allow (the "no policy"
 *     pseudo-rule), except for the reserved:init identity, whose directions
 *     are always enforced; an enforced direction in audit mode a catch-all
 *     audit;
 *  3. overlaps within one identity are resolved so that the longest match is
 *     also the highest class among that identity's matching entries: an
 *     entry covered by a broader entry of a higher class takes that entry's
 *     value (LPM alone would otherwise let a narrow allow hide a broad deny).
 *     Overlaps between the peer's entries and the any-peer entries are left
 *     to lookup time, where the higher class wins (include/velum/policy.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "policy/resolve_internal.h"

/* ---- computing one map state ----------------------------------------------------- */

struct builder {
	struct pol_mapentry *v;
	size_t n, cap;
	uint32_t *slots; /* open addressing: index + 1, 0 = empty */
	size_t mask;
	VEC(struct pol_l7_item) l7;
	bool has_redirect[2];
};

static uint64_t key_hash(const struct velum_policy_key *k)
{
	return hash_bytes(k, sizeof(*k), 0);
}

static struct pol_mapentry *b_find(const struct builder *b, const struct velum_policy_key *k)
{
	size_t i;

	if (!b->slots)
		return NULL;
	for (i = key_hash(k) & b->mask; b->slots[i]; i = (i + 1) & b->mask) {
		struct pol_mapentry *e = &b->v[b->slots[i] - 1];

		if (!memcmp(&e->key, k, sizeof(*k)))
			return e;
	}
	return NULL;
}

static int b_rehash(struct builder *b, size_t nslots)
{
	uint32_t *ns = calloc(nslots, sizeof(*ns));
	size_t i, j;

	if (!ns)
		return -ENOMEM;
	for (i = 0; i < b->n; i++) {
		for (j = key_hash(&b->v[i].key) & (nslots - 1); ns[j]; j = (j + 1) & (nslots - 1))
			;
		ns[j] = (uint32_t)i + 1;
	}
	free(b->slots);
	b->slots = ns;
	b->mask = nslots - 1;
	return 0;
}

/* True if value a should replace value b at the same key. */
static bool val_better(const struct velum_policy_value *a, const struct velum_policy_value *b)
{
	bool ra = a->rule_id >= VELUM_RULE_FIRST, rb = b->rule_id >= VELUM_RULE_FIRST;
	bool aa = a->flags & VELUM_POLICY_F_AUDIT, ab = b->flags & VELUM_POLICY_F_AUDIT;

	if (a->verdict != b->verdict)
		return a->verdict > b->verdict;
	if (aa != ab)
		return !aa;
	if (ra != rb)
		return ra;
	return a->rule_id < b->rule_id;
}

static int b_add(struct builder *b, uint32_t peer, uint8_t dir, uint8_t proto, uint16_t port,
		 uint8_t pp, const struct velum_policy_value *val)
{
	struct velum_policy_key k = {
		.prefixlen = VELUM_POLICY_PREFIX_FIXED + pp,
		.identity = htonl(peer),
		.egress = dir,
		.protocol = pp ? proto : 0,
		.dport = pp > 8 ? htons((uint16_t)(port & (0xffffu << (24 - pp)))) : 0,
	};
	struct pol_mapentry *e = b_find(b, &k);
	size_t i;

	if (val->verdict == VELUM_VERDICT_REDIRECT)
		b->has_redirect[dir] = true;
	if (e) {
		if (val_better(val, &e->val)) {
			e->val = *val;
			e->val.port_prefix = pp;
		}
		return 0;
	}
	if ((b->n + 1) * 2 > b->mask + 1 && b_rehash(b, b->slots ? (b->mask + 1) * 2 : 64))
		return -ENOMEM;
	if (vec_reserve(b, b->n + 1))
		return -ENOMEM;
	e = &b->v[b->n];
	e->key = k;
	e->val = *val;
	e->val.port_prefix = pp;
	for (i = key_hash(&k) & b->mask; b->slots[i]; i = (i + 1) & b->mask)
		;
	b->slots[i] = (uint32_t)++b->n;
	return 0;
}

/* Splits [lo, hi] into aligned power-of-two blocks; 0..0 means every port. */
static int b_add_range(struct builder *b, const uint32_t *peers, size_t npeers, uint8_t dir,
		       uint8_t proto, uint16_t lo, uint16_t hi,
		       const struct velum_policy_value *val)
{
	uint32_t cur = lo;
	size_t i;
	int err;

	if (lo == 0 && hi == 0) {
		for (i = 0; i < npeers; i++)
			if ((err = b_add(b, peers[i], dir, proto, 0, 8, val)))
				return err;
		return 0;
	}
	while (cur <= hi) {
		unsigned k = 0;

		while (k < 16 && !(cur & ((1u << (k + 1)) - 1)) && cur + (1u << (k + 1)) - 1 <= hi)
			k++;
		for (i = 0; i < npeers; i++)
			if ((err = b_add(b, peers[i], dir, proto, (uint16_t)cur, (uint8_t)(24 - k),
					 val)))
				return err;
		cur += 1u << k;
	}
	return 0;
}

static int b_add_l7(struct builder *b, uint8_t dir, uint8_t proto, uint16_t lo, uint16_t hi,
		    const uint32_t *peers, size_t npeers, bool any, const struct pol_port_rule *pr,
		    uint32_t rule_id)
{
	struct pol_l7_item *it = vec_push_zero(&b->l7);

	if (!it)
		return -ENOMEM;
	it->dir = dir;
	it->proto = proto;
	it->lo = lo;
	it->hi = (lo == 0 && hi == 0) ? 65535 : hi;
	it->any_peer = any;
	it->pr = pr;
	it->matcher = pr ? pr->matcher : NULL;
	it->rule_id = rule_id;
	if (!any && npeers) {
		it->peers = malloc(npeers * sizeof(uint32_t));
		if (!it->peers) {
			b->l7.n--;
			return -ENOMEM;
		}
		memcpy(it->peers, peers, npeers * sizeof(uint32_t));
		it->npeers = npeers;
	}
	return 0;
}

/* Union of the identities an entry's selectors select, sorted, into *out. */
static int entry_peers(const struct eng_entry *en, struct u32_vec *out)
{
	size_t i, j, w;

	out->n = 0;
	for (i = 0; i < en->n; i++)
		for (j = 0; j < en->sels[i]->ids.n; j++)
			if (vec_push(out, en->sels[i]->ids.v[j]))
				return -ENOMEM;
	if (out->n > 1) {
		qsort(out->v, out->n, sizeof(uint32_t), u32_cmp);
		for (i = w = 1; i < out->n; i++)
			if (out->v[i] != out->v[w - 1])
				out->v[w++] = out->v[i];
		out->n = w;
	}
	return 0;
}

static const uint8_t any_protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP };

struct contrib {
	struct pol_engine *e;
	struct builder *b;
	const struct eng_subject *s;
	uint8_t dir;
	struct u32_vec scratch;
};

/*
 * A named port: at ingress, this endpoint's port of that name; at egress,
 * the ports of that name on each peer's endpoints.
 */
static int add_named(struct contrib *c, const struct pol_port *pt, const uint32_t *peers,
		     size_t npeers, bool any, const struct velum_policy_value *val,
		     const struct pol_port_rule *l7pr, bool l7)
{
	const uint32_t zero = 0;
	size_t i, k, q;
	int err;

	if (c->dir == POL_INGRESS) {
		for (k = 0; k < c->s->nports; k++) {
			const struct pol_named_port *np = &c->s->ports[k];

			if (strcmp(np->name, pt->name) || (pt->proto && pt->proto != np->proto))
				continue;
			err = b_add_range(c->b, any ? &zero : peers, any ? 1 : npeers, c->dir,
					  np->proto, np->port, np->port, val);
			if (!err && l7)
				err = b_add_l7(c->b, c->dir, np->proto, np->port, np->port, peers,
					       npeers, any, l7pr, val->rule_id);
			if (err)
				return err;
		}
		return 0;
	}
	/* egress: per peer identity (or every identity for "any peer") */
	{
		struct hnode *it, *nx;
		size_t b;

		hmap_for_each_safe(&c->e->identities, b, it, nx)
		{
			const struct eng_identity *x = container_of(it, struct eng_identity, node);
			bool in = any;

			for (i = 0; !in && i < npeers; i++)
				in = peers[i] == x->id;
			if (!in)
				continue;
			for (q = 0; q < x->subjects.n; q++) {
				const struct eng_subject *ps = x->subjects.v[q];

				for (k = 0; k < ps->nports; k++) {
					const struct pol_named_port *np = &ps->ports[k];
					uint32_t pid = any ? 0 : x->id;

					if (strcmp(np->name, pt->name) ||
					    (pt->proto && pt->proto != np->proto))
						continue;
					err = b_add_range(c->b, &pid, 1, c->dir, np->proto,
							  np->port, np->port, val);
					if (!err && l7)
						err = b_add_l7(c->b, c->dir, np->proto, np->port,
							       np->port, &pid, 1, any, l7pr,
							       val->rule_id);
					if (err)
						return err;
				}
			}
		}
	}
	return 0;
}

static int contribute(struct contrib *c, const struct eng_rule *er, size_t idx, bool audit)
{
	const struct pol_peer_rule *pr = &er->r->entries[c->dir][idx];
	const struct eng_entry *en = &er->entries[c->dir][idx];
	struct velum_policy_value val = { .rule_id = pr->id };
	const uint32_t zero = 0;
	const uint32_t *peers;
	size_t npeers, i, k;
	bool any;
	int err;

	if (pr->peer_kind == POL_PEER_NONE)
		return 0;
	any = pr->peer_kind == POL_PEER_ALL;
	if (any) {
		peers = &zero;
		npeers = 1;
	} else {
		err = entry_peers(en, &c->scratch);
		if (err)
			return err;
		peers = c->scratch.v;
		npeers = c->scratch.n;
		if (!npeers)
			return 0;
	}
	val.verdict =
		pr->deny ? (audit ? VELUM_VERDICT_AUDIT : VELUM_VERDICT_DENY) : VELUM_VERDICT_ALLOW;

	if (!pr->nto_ports && !pr->nicmps) {
		for (i = 0; i < npeers; i++)
			if ((err = b_add(c->b, peers[i], c->dir, 0, 0, 0, &val)))
				return err;
		if (!pr->deny)
			return b_add_l7(c->b, c->dir, 0, 0, 65535, peers, npeers, any, NULL,
					pr->id);
		return 0;
	}
	for (k = 0; k < pr->nicmps; k++) {
		uint8_t proto = pr->icmps[k].family == 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;

		for (i = 0; i < npeers; i++)
			if ((err = b_add(c->b, peers[i], c->dir, proto, pr->icmps[k].type, 24,
					 &val)))
				return err;
	}
	for (k = 0; k < pr->nto_ports; k++) {
		const struct pol_port_rule *ports = &pr->to_ports[k];
		static const struct pol_port all_ports = { 0 };
		struct velum_policy_value pval = val;
		const struct pol_port_rule *l7pr = NULL;
		size_t np = ports->nports ? ports->nports : 1, q, t;

		if (!pr->deny && ports->nhttp) {
			pval.verdict = VELUM_VERDICT_REDIRECT;
			pval.proxy_port = htons(c->e->proxy_port[c->dir]);
			/* a rule that does not enforce default deny only observes at L7 */
			l7pr = er->r->default_deny[c->dir] ? ports : NULL;
		}
		for (q = 0; q < np; q++) {
			const struct pol_port *pt = ports->nports ? &ports->ports[q] : &all_ports;

			if (pt->name) {
				err = add_named(c, pt, peers, npeers, any, &pval, l7pr, !pr->deny);
				if (err)
					return err;
				continue;
			}
			for (t = 0; t < (pt->proto ? 1u : 3u); t++) {
				uint8_t proto = pt->proto ? pt->proto : any_protos[t];

				err = b_add_range(c->b, peers, npeers, c->dir, proto, pt->lo,
						  pt->hi, &pval);
				if (!err && !pr->deny)
					err = b_add_l7(c->b, c->dir, proto, pt->lo, pt->hi, peers,
						       npeers, any, l7pr, pr->id);
				if (err)
					return err;
			}
		}
	}
	return 0;
}

static int key_cmp(const void *pa, const void *pb)
{
	const struct pol_mapentry *a = pa, *b = pb;
	int c = memcmp(&a->key.identity, &b->key.identity, 8);

	if (c)
		return c;
	return (a->key.prefixlen > b->key.prefixlen) - (a->key.prefixlen < b->key.prefixlen);
}

/* Step 3 of the file comment: make the longest match within an identity the strongest. */
static void b_resolve_overlaps(struct builder *b)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		struct pol_mapentry *e = &b->v[i];
		const struct pol_mapentry *best = NULL;
		uint8_t pp = (uint8_t)(e->key.prefixlen - VELUM_POLICY_PREFIX_FIXED);
		int q;

		for (q = 0; q < pp; q++) {
			struct velum_policy_key k = e->key;
			const struct pol_mapentry *o;

			if (q > 0 && q < 8)
				continue;
			k.prefixlen = VELUM_POLICY_PREFIX_FIXED + (uint32_t)q;
			if (q == 0) {
				k.protocol = 0;
				k.dport = 0;
			} else {
				k.dport = htons(q == 8 ? 0 :
							 (uint16_t)(ntohs(k.dport) &
								    (0xffffu << (24 - q))));
			}
			o = b_find(b, &k);
			if (o && o->val.verdict > e->val.verdict &&
			    (!best || o->val.verdict > best->val.verdict ||
			     (o->val.verdict == best->val.verdict &&
			      o->val.port_prefix > best->val.port_prefix)))
				best = o;
		}
		if (best) {
			/*
			 * The stronger verdict, rule and proxy port; the specificity stays
			 * the key's own, as the kernel's ranking assumes (port_prefix only
			 * breaks ties within one verdict class, so only the reported rule
			 * of such a tie depends on it).
			 */
			e->val = best->val;
			e->val.port_prefix = pp;
		}
	}
}

/*
 * An endpoint whose labels are not known yet (only reserved:init) is never
 * open: both directions are enforced, so only what policies selecting
 * reserved:init allow passes. (Cilium lets init traffic through in its
 * default enforcement mode when no rule selects init.)
 */
static bool subject_is_init(const struct pol_engine *e, const struct eng_subject *s)
{
	const struct eng_identity *x = identity_find(e, s->identity);

	return x && x->labels.n == 1 && pol_labels_find(&x->labels, POL_SOURCE_RESERVED, "init");
}

static int compute_state(struct pol_engine *e, struct eng_subject *s, struct pol_mapstate **out)
{
	struct builder b = { 0 };
	struct contrib c = { .e = e, .b = &b, .s = s };
	struct pol_mapstate *ms;
	struct eng_policy *p;
	size_t i, j, w;
	int d, err = 0;

	ms = calloc(1, sizeof(*ms));
	if (!ms)
		return -ENOMEM;
	for (d = 0; d < 2 && !err; d++) {
		bool enforce = subject_is_init(e, s), audit_dd = false;
		struct velum_policy_value dv = { 0 };

		c.dir = (uint8_t)d;
		for (p = e->first; p && !err; p = p->next) {
			for (i = 0; i < p->nrules && !err; i++) {
				const struct eng_rule *er = &p->rules[i];
				bool audit = p->p->audit || s->audit;

				if (!u32_has(&er->subject->ids, s->identity))
					continue;
				if (er->r->default_deny[d]) {
					if (p->p->audit)
						audit_dd = true;
					else
						enforce = true;
				}
				for (j = 0; j < er->r->nentries[d] && !err; j++)
					err = contribute(&c, er, j, audit);
			}
		}
		if (err)
			break;
		if (enforce && !s->audit) {
			ms->enforced[d] = true;
			continue;
		}
		if (enforce || audit_dd) {
			/* default deny in audit mode: passes, reported AUDIT */
			ms->enforced[d] = true;
			ms->audit[d] = true;
			dv.verdict = VELUM_VERDICT_ALLOW;
			dv.flags = VELUM_POLICY_F_AUDIT;
			dv.rule_id = VELUM_RULE_NONE;
		} else {
			dv.verdict = VELUM_VERDICT_ALLOW;
			dv.rule_id = VELUM_RULE_DEFAULT_ALLOW;
		}
		err = b_add(&b, 0, (uint8_t)d, 0, 0, 0, &dv);
		if (!err)
			err = b_add_l7(&b, (uint8_t)d, 0, 0, 65535, NULL, 0, true, NULL,
				       dv.rule_id);
	}
	vec_free(&c.scratch);
	if (err)
		goto err_free;

	b_resolve_overlaps(&b);
	/* no entries at all: both directions enforced, nothing allowed (reserved:init) */
	if (b.n)
		qsort(b.v, b.n, sizeof(*b.v), key_cmp);
	ms->entries = b.v;
	ms->n = b.n;
	b.v = NULL;
	/* L7 items matter only where something is redirected */
	for (i = w = 0; i < b.l7.n; i++) {
		if (b.has_redirect[b.l7.v[i].dir])
			b.l7.v[w++] = b.l7.v[i];
		else
			free(b.l7.v[i].peers);
	}
	ms->l7 = b.l7.v;
	ms->nl7 = w;
	free(b.slots);
	*out = ms;
	return 0;

err_free:
	for (i = 0; i < b.l7.n; i++)
		free(b.l7.v[i].peers);
	vec_free(&b.l7);
	free(b.v);
	free(b.slots);
	free(ms);
	return err;
}

int pol_engine_regenerate(struct pol_engine *e, uint32_t **changed, size_t *nchanged)
{
	struct u32_vec ch = { 0 };
	int err = 0;

	if (e->mark_failed) {
		struct hnode *it, *nx;
		size_t b;

		e->mark_failed = false;
		hmap_for_each_safe(&e->subjects, b, it, nx)
			mark_subject(e, container_of(it, struct eng_subject, node));
		if (e->mark_failed)
			return -ENOMEM;
	}
	while (e->dirty.n) {
		struct eng_subject *s = e->dirty.v[e->dirty.n - 1];
		struct pol_mapstate *ms;
		size_t i;

		err = compute_state(e, s, &ms);
		if (err)
			break;
		e->dirty.n--;
		s->dirty = false;
		if (s->fresh || !s->state || !pol_mapstate_entries_equal(s->state, ms)) {
			for (i = 0; changed && i < s->eps.n; i++)
				if (vec_push(&ch, s->eps.v[i]))
					err = -ENOMEM;
		}
		s->fresh = false;
		pol_mapstate_free(s->state);
		s->state = ms;
		if (err)
			break;
	}
	if (changed && !err) {
		size_t i, w;

		for (i = 0; i < e->joined.n && !err; i++)
			if (endpoint_find(e, e->joined.v[i]) && vec_push(&ch, e->joined.v[i]))
				err = -ENOMEM;
		if (ch.n > 1)
			qsort(ch.v, ch.n, sizeof(uint32_t), u32_cmp);
		for (i = w = 0; i < ch.n; i++)
			if (!w || ch.v[w - 1] != ch.v[i])
				ch.v[w++] = ch.v[i];
		ch.n = w;
	}
	if (!err)
		e->joined.n = 0;
	if (changed) {
		*changed = ch.v;
		*nchanged = ch.n;
	} else {
		vec_free(&ch);
	}
	return err;
}
