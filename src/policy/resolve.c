/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The policy engine: identities with their label index, the selector cache,
 * loaded policies and their rule ids, subjects and endpoints, and which
 * subjects a change marks for regeneration (resolve_state.c computes them).
 */
#include "policy/resolve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "policy/resolve_internal.h"

/* ---- identities ------------------------------------------------------------- */

static bool sel_matches_identity(const struct eng_sel *s, const struct eng_identity *x)
{
	struct pol_sel_target t = { &x->labels, x->has_cidr ? &x->cidr : NULL };

	return pol_selector_match(&s->sel, &t);
}

static void mark_identity(struct pol_engine *e, uint32_t id)
{
	struct eng_identity *x = identity_find(e, id);
	size_t i;

	if (!x)
		return;
	for (i = 0; i < x->subjects.n; i++)
		mark_subject(e, x->subjects.v[i]);
}

static void mark_sel_subjects(struct pol_engine *e, const struct eng_sel *s)
{
	size_t i;

	for (i = 0; i < s->ids.n; i++)
		mark_identity(e, s->ids.v[i]);
}

static uint64_t kv_hash(const char *key, const char *value)
{
	return hash_bytes(key, strlen(key), 11) ^ hash_bytes(value, strlen(value), 13);
}

static struct lbl_bucket *bucket_find(const struct pol_engine *e, const char *key,
				      const char *value)
{
	struct hnode *it;

	hmap_for_each_hash(&e->buckets, kv_hash(key, value), it)
	{
		struct lbl_bucket *bk = container_of(it, struct lbl_bucket, node);

		if (!strcmp(bk->key, key) && !strcmp(bk->value, value))
			return bk;
	}
	return NULL;
}

static struct lbl_bucket *bucket_get(struct pol_engine *e, const char *key, const char *value)
{
	struct lbl_bucket *bk = bucket_find(e, key, value);

	if (bk)
		return bk;
	bk = calloc(1, sizeof(*bk));
	if (!bk)
		return NULL;
	bk->key = strdup(key);
	bk->value = strdup(value);
	if (!bk->key || !bk->value || hmap_insert(&e->buckets, &bk->node, kv_hash(key, value))) {
		free(bk->key);
		free(bk->value);
		free(bk);
		return NULL;
	}
	return bk;
}

static void bucket_put(struct pol_engine *e, struct lbl_bucket *bk)
{
	if (bk->ids.n || bk->sels.n)
		return;
	hmap_remove(&e->buckets, &bk->node);
	vec_free(&bk->ids);
	vec_free(&bk->sels);
	free(bk->key);
	free(bk->value);
	free(bk);
}

static int index_identity(struct pol_engine *e, const struct eng_identity *x)
{
	size_t i;

	for (i = 0; i < x->labels.n; i++) {
		struct lbl_bucket *bk = bucket_get(e, x->labels.v[i].key, x->labels.v[i].value);

		if (!bk || u32_insert_sorted(&bk->ids, x->id))
			return -ENOMEM;
	}
	return 0;
}

static void unindex_identity(struct pol_engine *e, const struct eng_identity *x)
{
	size_t i;

	for (i = 0; i < x->labels.n; i++) {
		struct lbl_bucket *bk = bucket_find(e, x->labels.v[i].key, x->labels.v[i].value);

		if (bk) {
			u32_remove(&bk->ids, x->id);
			bucket_put(e, bk);
		}
	}
}

/* The IN requirement with the fewest values, or -1. */
static int pick_index_req(const struct pol_selector *sel)
{
	size_t i;
	int best = -1;

	for (i = 0; i < sel->n; i++)
		if (sel->reqs[i].op == POL_SEL_IN &&
		    (best < 0 || sel->reqs[i].nvalues < sel->reqs[best].nvalues))
			best = (int)i;
	return best;
}

/* The first CIDR requirement, or -1. */
static int pick_cidr_req(const struct pol_selector *sel)
{
	size_t i;

	for (i = 0; i < sel->n; i++)
		if (sel->reqs[i].op == POL_SEL_CIDR)
			return (int)i;
	return -1;
}

static uint64_t prefix_hash(const struct pol_prefix *p)
{
	return hash_bytes(p, sizeof(*p), 17);
}

static struct cidr_bucket *cbucket_find(const struct pol_engine *e, const struct pol_prefix *p)
{
	struct hnode *it;

	hmap_for_each_hash(&e->cidr_buckets, prefix_hash(p), it)
	{
		struct cidr_bucket *bk = container_of(it, struct cidr_bucket, node);

		if (pol_prefix_eq(&bk->p, p))
			return bk;
	}
	return NULL;
}

static int cbucket_add(struct pol_engine *e, const struct pol_prefix *p, struct eng_sel *s)
{
	struct cidr_bucket *bk = cbucket_find(e, p);

	if (!bk) {
		bk = calloc(1, sizeof(*bk));
		if (!bk)
			return -ENOMEM;
		bk->p = *p;
		if (hmap_insert(&e->cidr_buckets, &bk->node, prefix_hash(p))) {
			free(bk);
			return -ENOMEM;
		}
		e->cidr_lens[p->family == 6][p->len]++;
	}
	return vec_push(&bk->sels, s);
}

static void cbucket_remove(struct pol_engine *e, const struct pol_prefix *p, struct eng_sel *s)
{
	struct cidr_bucket *bk = cbucket_find(e, p);

	if (!bk)
		return;
	ptr_remove((void **)bk->sels.v, &bk->sels.n, s);
	if (bk->sels.n)
		return;
	e->cidr_lens[p->family == 6][p->len]--;
	hmap_remove(&e->cidr_buckets, &bk->node);
	vec_free(&bk->sels);
	free(bk);
}

static int index_sel(struct pol_engine *e, struct eng_sel *s)
{
	const struct pol_sel_req *r;
	size_t i;

	s->idx_req = pick_index_req(&s->sel);
	s->idx_cidr = s->idx_req < 0 ? pick_cidr_req(&s->sel) : -1;
	if (s->idx_cidr >= 0)
		return cbucket_add(e, &s->sel.reqs[s->idx_cidr].cidr, s);
	if (s->idx_req < 0)
		return vec_push(&e->unindexed, s);
	r = &s->sel.reqs[s->idx_req];
	for (i = 0; i < r->nvalues; i++) {
		struct lbl_bucket *bk = bucket_get(e, r->key, r->values[i]);

		if (!bk || vec_push(&bk->sels, s))
			return -ENOMEM;
	}
	return 0;
}

static void unindex_sel(struct pol_engine *e, struct eng_sel *s)
{
	const struct pol_sel_req *r;
	size_t i;

	if (s->idx_cidr >= 0) {
		cbucket_remove(e, &s->sel.reqs[s->idx_cidr].cidr, s);
		return;
	}
	if (s->idx_req < 0) {
		ptr_remove((void **)e->unindexed.v, &e->unindexed.n, s);
		return;
	}
	r = &s->sel.reqs[s->idx_req];
	for (i = 0; i < r->nvalues; i++) {
		struct lbl_bucket *bk = bucket_find(e, r->key, r->values[i]);

		if (bk) {
			ptr_remove((void **)bk->sels.v, &bk->sels.n, s);
			bucket_put(e, bk);
		}
	}
}

/* Brings one selector's membership of x up to date; marks affected subjects. */
static int reselect_one(struct pol_engine *e, struct eng_sel *s, const struct eng_identity *x,
			bool leaving)
{
	bool was = u32_has(&s->ids, x->id);
	bool now = !leaving && sel_matches_identity(s, x);
	size_t i;

	if (was == now)
		return 0;
	if (now && u32_insert_sorted(&s->ids, x->id))
		return -ENOMEM;
	if (!now)
		u32_remove(&s->ids, x->id);
	for (i = 0; i < s->peer_users.n; i++)
		mark_sel_subjects(e, s->peer_users.v[i]->subject);
	return 0;
}

/*
 * Identity x appeared or is leaving: update the memberships of the
 * selectors that can select it (those indexed under one of its labels, and
 * the unindexed ones).
 */
static int identity_reselect(struct pol_engine *e, struct eng_identity *x, bool leaving)
{
	size_t i, k;
	int err, f;

	for (i = 0; i < x->labels.n; i++) {
		struct lbl_bucket *bk = bucket_find(e, x->labels.v[i].key, x->labels.v[i].value);

		for (k = 0; bk && k < bk->sels.n; k++)
			if ((err = reselect_one(e, bk->sels.v[k], x, leaving)))
				return err;
	}
	for (k = 0; k < e->unindexed.n; k++)
		if ((err = reselect_one(e, e->unindexed.v[k], x, leaving)))
			return err;
	/* CIDR selectors: those of the prefix's ancestors, or the /0 ones (world) */
	for (f = 0; f < 2; f++) {
		struct pol_prefix q = { .family = f ? 6 : 4 };
		unsigned len, max = 0;

		if (x->has_cidr) {
			if ((x->cidr.family == 6) != f)
				continue;
			q = x->cidr;
			max = q.len;
		}
		for (len = 0; len <= max; len++) {
			struct pol_prefix a;
			struct cidr_bucket *bk;

			if (!e->cidr_lens[f][len])
				continue;
			a = pol_prefix_truncate(&q, (uint8_t)len);
			bk = cbucket_find(e, &a);
			for (k = 0; bk && k < bk->sels.n; k++)
				if ((err = reselect_one(e, bk->sels.v[k], x, leaving)))
					return err;
		}
	}
	mark_identity(e, x->id);
	return 0;
}

int pol_engine_identity_add(struct pol_engine *e, uint32_t id, const struct pol_labels *labels,
			    const struct pol_prefix *cidr)
{
	struct eng_identity *x = identity_find(e, id);
	struct pol_labels copy = { 0 };
	bool same = false;
	int err;

	if (x) {
		/*
		 * A known number: leave with the old labels and prefix first. The
		 * same labels (a restored CIDR identity getting its prefix) stay
		 * in the label index: taking 60,000 ids out of the reserved:world
		 * bucket and back would move O(n^2) bytes.
		 */
		same = !pol_labels_cmp(&x->labels, labels);
		err = identity_reselect(e, x, true);
		if (err)
			return err;
		if (!same)
			unindex_identity(e, x);
		if (x->has_cidr)
			pol_ptrie_remove(&e->cidr_ids, &x->cidr, x->id);
		x->has_cidr = false;
	} else {
		x = calloc(1, sizeof(*x));
		if (!x)
			return -ENOMEM;
		x->id = id;
		if (hmap_insert(&e->identities, &x->node, hash_mix64(id))) {
			free(x);
			return -ENOMEM;
		}
	}
	if (!same) {
		if (pol_labels_copy(&copy, labels))
			return -ENOMEM;
		pol_labels_free(&x->labels);
		x->labels = copy;
	}
	if (cidr) {
		if (pol_ptrie_add(&e->cidr_ids, cidr, id))
			return -ENOMEM;
		x->has_cidr = true;
		x->cidr = *cidr;
	}
	err = same ? 0 : index_identity(e, x);
	return err ? err : identity_reselect(e, x, false);
}

int pol_engine_identity_remove(struct pol_engine *e, uint32_t id)
{
	struct eng_identity *x = identity_find(e, id);
	int err;

	if (!x)
		return -ENOENT;
	if (x->subjects.n)
		return -EBUSY;
	err = identity_reselect(e, x, true);
	if (err)
		return err;
	unindex_identity(e, x);
	if (x->has_cidr)
		pol_ptrie_remove(&e->cidr_ids, &x->cidr, x->id);
	hmap_remove(&e->identities, &x->node);
	pol_labels_free(&x->labels);
	vec_free(&x->subjects);
	free(x);
	return 0;
}

const struct pol_labels *pol_engine_identity_labels(const struct pol_engine *e, uint32_t id)
{
	const struct eng_identity *x = identity_find(e, id);

	return x ? &x->labels : NULL;
}

/* ---- selector cache ----------------------------------------------------------- */

static uint64_t str_hash(const char *s)
{
	return hash_bytes(s, strlen(s), 7);
}

struct cand_ctx {
	const struct pol_engine *e;
	struct eng_sel *s;
};

static int cand_add(void *ctx, uint32_t id)
{
	struct cand_ctx *cc = ctx;
	const struct eng_identity *x = identity_find(cc->e, id);

	if (x && sel_matches_identity(cc->s, x))
		return vec_push(&cc->s->ids, id);
	return 0;
}

static int sel_intern(struct pol_engine *e, const struct pol_selector *sel, struct eng_sel **out)
{
	struct strbuf sb = STRBUF_INIT;
	struct hnode *it, *nx;
	struct eng_sel *s;
	uint64_t h;
	size_t b;

	pol_selector_format(sel, &sb);
	if (sb.oom)
		return -ENOMEM;
	h = str_hash(strbuf_str(&sb));
	hmap_for_each_hash(&e->sels, h, it)
	{
		s = container_of(it, struct eng_sel, node);
		if (!strcmp(s->canon, strbuf_str(&sb))) {
			strbuf_free(&sb);
			s->refs++;
			*out = s;
			return 0;
		}
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		goto err_sb;
	s->canon = strbuf_detach(&sb);
	if (!s->canon || pol_selector_copy(&s->sel, sel))
		goto err_free;
	s->idx_req = pick_index_req(&s->sel);
	s->idx_cidr = s->idx_req < 0 ? pick_cidr_req(&s->sel) : -1;
	if (s->idx_cidr >= 0 && s->sel.reqs[s->idx_cidr].cidr.len) {
		/* candidates: the CIDR identities within the prefix (a /0 also selects world) */
		struct cand_ctx cc = { e, s };

		if (pol_ptrie_walk(&e->cidr_ids, &s->sel.reqs[s->idx_cidr].cidr, cand_add, &cc))
			goto err_free;
		if (s->ids.n > 1)
			qsort(s->ids.v, s->ids.n, sizeof(uint32_t), u32_cmp);
	} else if (s->idx_req >= 0) {
		/* candidates: the identities carrying one of the index values */
		const struct pol_sel_req *r = &s->sel.reqs[s->idx_req];
		size_t v, k, w;

		for (v = 0; v < r->nvalues; v++) {
			const struct lbl_bucket *bk = bucket_find(e, r->key, r->values[v]);

			for (k = 0; bk && k < bk->ids.n; k++) {
				const struct eng_identity *x = identity_find(e, bk->ids.v[k]);

				if (x && sel_matches_identity(s, x) && vec_push(&s->ids, x->id))
					goto err_free;
			}
		}
		if (s->ids.n > 1)
			qsort(s->ids.v, s->ids.n, sizeof(uint32_t), u32_cmp);
		for (k = w = 0; k < s->ids.n; k++)
			if (!w || s->ids.v[w - 1] != s->ids.v[k])
				s->ids.v[w++] = s->ids.v[k];
		s->ids.n = w;
	} else {
		hmap_for_each_safe(&e->identities, b, it, nx)
		{
			struct eng_identity *x = container_of(it, struct eng_identity, node);

			if (sel_matches_identity(s, x) && vec_push(&s->ids, x->id))
				goto err_free;
		}
		if (s->ids.n > 1)
			qsort(s->ids.v, s->ids.n, sizeof(uint32_t), u32_cmp);
	}
	if (index_sel(e, s)) {
		unindex_sel(e, s);
		goto err_free;
	}
	if (hmap_insert(&e->sels, &s->node, h)) {
		unindex_sel(e, s);
		goto err_free;
	}
	s->refs = 1;
	*out = s;
	return 0;

err_free:
	pol_selector_free(&s->sel);
	vec_free(&s->ids);
	free(s->canon);
	free(s);
err_sb:
	strbuf_free(&sb);
	return -ENOMEM;
}

static void sel_unref(struct pol_engine *e, struct eng_sel *s)
{
	if (!s || --s->refs)
		return;
	unindex_sel(e, s);
	hmap_remove(&e->sels, &s->node);
	pol_selector_free(&s->sel);
	vec_free(&s->ids);
	vec_free(&s->subj_users);
	vec_free(&s->peer_users);
	free(s->canon);
	free(s);
}

/* ---- policies ------------------------------------------------------------------ */

static uint64_t policy_key_hash(enum pol_kind kind, const char *ns, const char *name)
{
	uint64_t h = hash_bytes(name, strlen(name), kind);

	return ns ? h ^ hash_bytes(ns, strlen(ns), 99) : h;
}

static struct eng_policy *policy_find(const struct pol_engine *e, enum pol_kind kind,
				      const char *ns, const char *name)
{
	struct hnode *it;

	hmap_for_each_hash(&e->policies, policy_key_hash(kind, ns, name), it)
	{
		struct eng_policy *p = container_of(it, struct eng_policy, node);

		if (p->p->kind == kind && !strcmp(p->p->name, name) &&
		    !strcmp(p->p->namespace ? p->p->namespace : "", ns ? ns : ""))
			return p;
	}
	return NULL;
}

static void rule_release(struct pol_engine *e, struct eng_rule *er)
{
	size_t i, j;
	int d;

	if (er->subject) {
		ptr_remove((void **)er->subject->subj_users.v, &er->subject->subj_users.n, er);
		sel_unref(e, er->subject);
	}
	for (d = 0; d < 2; d++) {
		if (!er->entries[d])
			continue;
		for (i = 0; i < er->r->nentries[d]; i++) {
			struct eng_entry *en = &er->entries[d][i];

			for (j = 0; j < en->n; j++) {
				if (!en->sels[j])
					continue;
				ptr_remove((void **)en->sels[j]->peer_users.v,
					   &en->sels[j]->peer_users.n, er);
				sel_unref(e, en->sels[j]);
			}
			free(en->sels);
		}
		free(er->entries[d]);
	}
}

/* Builds the engine's view of policy p; on error releases what it built. */
static int policy_bind(struct pol_engine *e, struct eng_policy *ep)
{
	struct pol_policy *p = ep->p;
	size_t i, j, k, nrefs = 0;
	uint32_t next_id;
	int d, err = -ENOMEM;

	ep->rules = calloc(p->nrules ? p->nrules : 1, sizeof(*ep->rules));
	if (!ep->rules)
		return -ENOMEM;
	ep->nrules = p->nrules;
	for (i = 0; i < p->nrules; i++)
		for (d = 0; d < 2; d++)
			nrefs += p->rules[i].nentries[d];
	ep->refs = calloc(nrefs ? nrefs : 1, sizeof(*ep->refs));
	if (!ep->refs)
		goto err;
	/* a restored policy keeps its ids, unless they collide with loaded ones */
	next_id = p->first_rule_id;
	if (next_id < VELUM_RULE_FIRST || next_id > UINT32_MAX - nrefs)
		next_id = e->next_rule_id;
	for (i = 0; i < nrefs && next_id != e->next_rule_id; i++)
		if (pol_engine_rule(e, next_id + (uint32_t)i))
			next_id = e->next_rule_id;
	p->first_rule_id = next_id;
	for (i = 0; i < p->nrules; i++) {
		struct eng_rule *er = &ep->rules[i];
		struct pol_rule *r = &p->rules[i];

		er->r = r;
		er->ep = ep;
		if (sel_intern(e, &r->subject, &er->subject))
			goto err;
		if (vec_push(&er->subject->subj_users, er)) {
			sel_unref(e, er->subject);
			er->subject = NULL;
			goto err;
		}
		for (d = 0; d < 2; d++) {
			er->entries[d] = calloc(r->nentries[d] ? r->nentries[d] : 1,
						sizeof(*er->entries[d]));
			if (!er->entries[d])
				goto err;
			for (j = 0; j < r->nentries[d]; j++) {
				struct pol_peer_rule *pr = &r->entries[d][j];
				struct eng_entry *en = &er->entries[d][j];
				struct eng_ruleref *ref = &ep->refs[ep->nrefs];

				en->sels = calloc(pr->nsels ? pr->nsels : 1, sizeof(*en->sels));
				if (!en->sels)
					goto err;
				en->n = pr->nsels;
				for (k = 0; k < pr->nsels; k++) {
					if (sel_intern(e, &pr->sels[k], &en->sels[k]))
						goto err;
					if (vec_push(&en->sels[k]->peer_users, er)) {
						sel_unref(e, en->sels[k]);
						en->sels[k] = NULL;
						goto err;
					}
				}
				for (k = 0; d == POL_EGRESS && k < pr->nto_ports; k++) {
					size_t q;

					for (q = 0; q < pr->to_ports[k].nports; q++)
						if (pr->to_ports[k].ports[q].name)
							er->egress_named = true;
				}
				pr->id = next_id++;
				ref->id = pr->id;
				ref->pr = pr;
				if (hmap_insert(&e->rules, &ref->node, hash_mix64(ref->id)))
					goto err;
				ep->nrefs++;
			}
		}
	}
	if (next_id > e->next_rule_id)
		e->next_rule_id = next_id;
	return 0;

err:
	for (i = 0; i < ep->nrefs; i++)
		hmap_remove(&e->rules, &ep->refs[i].node);
	for (i = 0; i < ep->nrules; i++)
		if (ep->rules[i].r)
			rule_release(e, &ep->rules[i]);
	free(ep->refs);
	free(ep->rules);
	ep->refs = NULL;
	ep->rules = NULL;
	ep->nrefs = ep->nrules = 0;
	return err;
}

static void policy_mark(struct pol_engine *e, const struct eng_policy *ep)
{
	size_t i;

	for (i = 0; i < ep->nrules; i++)
		mark_sel_subjects(e, ep->rules[i].subject);
}

static int plist_rebuild(struct pol_engine *e)
{
	const struct pol_policy **v = malloc((e->policies.n ? e->policies.n : 1) * sizeof(*v));
	struct eng_policy *p;
	size_t n = 0;

	if (!v)
		return -ENOMEM;
	for (p = e->first; p; p = p->next)
		v[n++] = p->p;
	free(e->plist);
	e->plist = v;
	e->nplist = n;
	return 0;
}

static void policy_destroy(struct pol_engine *e, struct eng_policy *ep)
{
	size_t i;

	policy_mark(e, ep);
	hmap_remove(&e->policies, &ep->node);
	if (ep->prev)
		ep->prev->next = ep->next;
	else
		e->first = ep->next;
	if (ep->next)
		ep->next->prev = ep->prev;
	else
		e->last = ep->prev;
	for (i = 0; i < ep->nrefs; i++)
		hmap_remove(&e->rules, &ep->refs[i].node);
	for (i = 0; i < ep->nrules; i++)
		rule_release(e, &ep->rules[i]);
	free(ep->refs);
	free(ep->rules);
	pol_policy_free(ep->p);
	free(ep);
}

/* The number of rule ids policy p takes (one per peer rule of each direction). */
static size_t policy_nrefs(const struct pol_policy *p)
{
	size_t i, n = 0;

	for (i = 0; i < p->nrules; i++)
		n += p->rules[i].nentries[POL_INGRESS] + p->rules[i].nentries[POL_EGRESS];
	return n;
}

int pol_engine_policy_upsert(struct pol_engine *e, struct pol_policy *p)
{
	struct eng_policy *old = policy_find(e, p->kind, p->namespace, p->name);
	struct eng_policy *ep = calloc(1, sizeof(*ep));
	bool reuse;
	size_t i;
	int err;

	if (!ep) {
		pol_policy_free(p);
		return -ENOMEM;
	}
	ep->p = p;
	/*
	 * A replacement of the same shape takes over the old policy's rule ids,
	 * so that entries it does not change compare equal and no endpoint's
	 * map is swapped for them (a change of HTTP rules only, or the same file
	 * imported again, swaps nothing). A restored policy keeps its own.
	 */
	reuse = old && old->nrefs && p->first_rule_id < VELUM_RULE_FIRST &&
		policy_nrefs(p) == old->nrefs;
	if (reuse) {
		for (i = 0; i < old->nrefs; i++)
			hmap_remove(&e->rules, &old->refs[i].node);
		p->first_rule_id = old->refs[0].id;
	}
	err = policy_bind(e, ep);
	if (!err)
		err = hmap_insert(&e->policies, &ep->node,
				  policy_key_hash(p->kind, p->namespace, p->name));
	if (err) {
		if (ep->rules) {
			for (i = 0; i < ep->nrefs; i++)
				hmap_remove(&e->rules, &ep->refs[i].node);
			for (i = 0; i < ep->nrules; i++)
				rule_release(e, &ep->rules[i]);
			free(ep->refs);
			free(ep->rules);
		}
		/* the map held these before: putting them back cannot need memory */
		for (i = 0; reuse && i < old->nrefs; i++)
			(void)hmap_insert(&e->rules, &old->refs[i].node, old->refs[i].node.hash);
		free(ep);
		pol_policy_free(p);
		return err;
	}
	ep->prev = e->last;
	if (e->last)
		e->last->next = ep;
	else
		e->first = ep;
	e->last = ep;
	policy_mark(e, ep);
	if (old)
		policy_destroy(e, old);
	e->plist_stale = true; /* rebuilt once, not per policy: loading n policies stays O(n) */
	return 0;
}

int pol_engine_policy_delete(struct pol_engine *e, enum pol_kind kind, const char *ns,
			     const char *name)
{
	struct eng_policy *ep = policy_find(e, kind, ns, name);

	if (!ep)
		return -ENOENT;
	policy_destroy(e, ep);
	e->plist_stale = true;
	return 0;
}

size_t pol_engine_policies(const struct pol_engine *e, const struct pol_policy *const **out)
{
	/* the array is a cache of the list: rebuilding it changes no state a caller sees */
	static const struct pol_policy *const none[1];
	struct pol_engine *me = (struct pol_engine *)e;

	if (e->plist_stale) {
		if (plist_rebuild(me)) {
			*out = NULL;
			return 0;
		}
		me->plist_stale = false;
	}
	*out = e->plist ? e->plist : none;
	return e->nplist;
}

const struct pol_policy *pol_engine_policy(const struct pol_engine *e, enum pol_kind kind,
					   const char *ns, const char *name)
{
	const struct eng_policy *ep = policy_find(e, kind, ns, name);

	return ep ? ep->p : NULL;
}

const struct pol_peer_rule *pol_engine_rule(const struct pol_engine *e, uint32_t rule_id)
{
	struct hnode *it;

	hmap_for_each_hash(&e->rules, hash_mix64(rule_id), it)
	{
		struct eng_ruleref *r = container_of(it, struct eng_ruleref, node);

		if (r->id == rule_id)
			return r->pr;
	}
	return NULL;
}

void pol_engine_rule_name(const struct pol_engine *e, uint32_t rule_id, struct strbuf *sb)
{
	const struct pol_peer_rule *pr;

	if (rule_id == VELUM_RULE_NONE) {
		strbuf_puts(sb, "default deny");
		return;
	}
	if (rule_id == VELUM_RULE_DEFAULT_ALLOW) {
		strbuf_puts(sb, "no policy enforces this direction");
		return;
	}
	pr = pol_engine_rule(e, rule_id);
	if (pr)
		pol_peer_rule_format(pr, sb);
	else
		strbuf_printf(sb, "rule %u (no longer loaded)", rule_id);
}

int pol_policy_foreach_cidr(const struct pol_policy *p,
			    int (*fn)(void *ctx, const struct pol_prefix *prefix), void *ctx)
{
	size_t i, j, k, q;
	int d, err;

	for (i = 0; i < p->nrules; i++)
		for (d = 0; d < 2; d++)
			for (j = 0; j < p->rules[i].nentries[d]; j++) {
				const struct pol_peer_rule *pr = &p->rules[i].entries[d][j];

				for (k = 0; k < pr->nsels; k++)
					for (q = 0; q < pr->sels[k].n; q++)
						if (pr->sels[k].reqs[q].op == POL_SEL_CIDR) {
							err = fn(ctx, &pr->sels[k].reqs[q].cidr);
							if (err)
								return err;
						}
			}
	return 0;
}

/* ---- subjects and endpoints ------------------------------------------------------- */

static int port_cmp(const void *pa, const void *pb)
{
	const struct pol_named_port *a = pa, *b = pb;
	int c = strcmp(a->name, b->name);

	if (!c)
		c = (int)a->port - (int)b->port;
	return c ? c : (int)a->proto - (int)b->proto;
}

static uint64_t subject_hash(uint32_t id, const struct pol_named_port *ports, size_t n, bool audit)
{
	uint64_t h = hash_mix64(((uint64_t)id << 1) | audit);
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= hash_bytes(ports[i].name, strlen(ports[i].name), i);
		h ^= hash_mix64(((uint64_t)ports[i].port << 8 | ports[i].proto) + i);
	}
	return h;
}

static struct eng_subject *subject_find(const struct pol_engine *e, uint32_t id,
					const struct pol_named_port *ports, size_t n, bool audit,
					uint64_t h)
{
	struct hnode *it;
	size_t i;

	hmap_for_each_hash(&e->subjects, h, it)
	{
		struct eng_subject *s = container_of(it, struct eng_subject, node);

		if (s->identity != id || s->audit != audit || s->nports != n)
			continue;
		for (i = 0; i < n; i++)
			if (port_cmp(&s->ports[i], &ports[i]))
				break;
		if (i == n)
			return s;
	}
	return NULL;
}

static void subject_free(struct eng_subject *s)
{
	size_t i;

	for (i = 0; i < s->nports; i++)
		free((char *)s->ports[i].name);
	free(s->ports);
	pol_mapstate_free(s->state);
	vec_free(&s->eps);
	free(s);
}

/* Marks subjects whose egress rules use named ports (a peer's named ports changed). */
static void mark_egress_named(struct pol_engine *e)
{
	struct eng_policy *p;
	size_t i;

	for (p = e->first; p; p = p->next)
		for (i = 0; i < p->nrules; i++)
			if (p->rules[i].egress_named)
				mark_sel_subjects(e, p->rules[i].subject);
}

static void subject_unref_ep(struct pol_engine *e, struct eng_subject *s, uint32_t ep)
{
	struct eng_identity *x;

	u32_remove(&s->eps, ep);
	if (s->eps.n)
		return;
	hmap_remove(&e->subjects, &s->node);
	x = identity_find(e, s->identity);
	if (x)
		ptr_remove((void **)x->subjects.v, &x->subjects.n, s);
	if (s->dirty)
		ptr_remove((void **)e->dirty.v, &e->dirty.n, s);
	if (s->nports)
		mark_egress_named(e);
	subject_free(s);
}

int pol_engine_endpoint_set(struct pol_engine *e, uint32_t ep, uint32_t identity,
			    const struct pol_named_port *ports, size_t nports, bool audit)
{
	struct eng_identity *x = identity_find(e, identity);
	struct pol_named_port *sorted = NULL;
	struct eng_endpoint *en;
	struct eng_subject *s;
	size_t i;
	uint64_t h;

	if (!x)
		return -ENOENT;
	if (nports) {
		sorted = calloc(nports, sizeof(*sorted));
		if (!sorted)
			return -ENOMEM;
		memcpy(sorted, ports, nports * sizeof(*sorted));
		qsort(sorted, nports, sizeof(*sorted), port_cmp);
	}
	h = subject_hash(identity, sorted, nports, audit);
	s = subject_find(e, identity, sorted, nports, audit, h);
	en = endpoint_find(e, ep);
	if (en && en->subj == s) {
		free(sorted);
		return 0;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			goto err_sorted;
		s->identity = identity;
		s->audit = audit;
		s->fresh = true;
		for (i = 0; i < nports; i++) {
			sorted[i].name = strdup(sorted[i].name);
			if (!sorted[i].name) {
				while (i--)
					free((char *)sorted[i].name);
				free(s);
				goto err_sorted;
			}
		}
		s->ports = sorted;
		s->nports = nports;
		sorted = NULL;
		if (hmap_insert(&e->subjects, &s->node, h)) {
			subject_free(s);
			return -ENOMEM;
		}
		if (vec_push(&x->subjects, s)) {
			hmap_remove(&e->subjects, &s->node);
			subject_free(s);
			return -ENOMEM;
		}
		if (nports)
			mark_egress_named(e);
		mark_subject(e, s);
	}
	free(sorted);
	if (u32_insert_sorted(&s->eps, ep))
		return -ENOMEM;
	if (!en) {
		en = calloc(1, sizeof(*en));
		if (!en || hmap_insert(&e->endpoints, &en->node, hash_mix64(ep))) {
			free(en);
			u32_remove(&s->eps, ep);
			return -ENOMEM;
		}
		en->ep = ep;
	} else {
		subject_unref_ep(e, en->subj, ep);
	}
	en->subj = s;
	/*
	 * An endpoint joining an already computed subject gets that state as is:
	 * report it at the next regenerate without recomputing the subject.
	 */
	if (!s->fresh && vec_push(&e->joined, ep))
		return -ENOMEM;
	return 0;

err_sorted:
	free(sorted);
	return -ENOMEM;
}

int pol_engine_endpoint_remove(struct pol_engine *e, uint32_t ep)
{
	struct eng_endpoint *en = endpoint_find(e, ep);

	if (!en)
		return -ENOENT;
	hmap_remove(&e->endpoints, &en->node);
	subject_unref_ep(e, en->subj, ep);
	free(en);
	return 0;
}

const struct pol_mapstate *pol_engine_endpoint_state(const struct pol_engine *e, uint32_t ep)
{
	const struct eng_endpoint *en = endpoint_find(e, ep);

	return en ? en->subj->state : NULL;
}

/* ---- lifecycle -------------------------------------------------------------------- */

struct pol_engine *pol_engine__new(void)
{
	struct pol_engine *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->next_rule_id = VELUM_RULE_FIRST;
	return e;
}

void pol_engine_set_proxy_ports(struct pol_engine *e, uint16_t ingress, uint16_t egress)
{
	struct hnode *it, *nx;
	size_t b;

	e->proxy_port[POL_INGRESS] = ingress;
	e->proxy_port[POL_EGRESS] = egress;
	hmap_for_each_safe(&e->subjects, b, it, nx)
		mark_subject(e, container_of(it, struct eng_subject, node));
}

void pol_engine__free(struct pol_engine *e)
{
	struct hnode *it, *nx;
	size_t b;

	if (!e)
		return;
	while (e->first)
		policy_destroy(e, e->first);
	hmap_for_each_safe(&e->endpoints, b, it, nx)
		free(container_of(it, struct eng_endpoint, node));
	hmap_for_each_safe(&e->subjects, b, it, nx)
		subject_free(container_of(it, struct eng_subject, node));
	hmap_for_each_safe(&e->identities, b, it, nx)
	{
		struct eng_identity *x = container_of(it, struct eng_identity, node);

		unindex_identity(e, x);
		pol_labels_free(&x->labels);
		vec_free(&x->subjects);
		free(x);
	}
	hmap_destroy(&e->buckets);
	vec_free(&e->unindexed);
	hmap_destroy(&e->cidr_buckets);
	pol_ptrie_free(&e->cidr_ids);
	hmap_destroy(&e->sels);
	hmap_destroy(&e->policies);
	hmap_destroy(&e->identities);
	hmap_destroy(&e->subjects);
	hmap_destroy(&e->endpoints);
	hmap_destroy(&e->rules);
	vec_free(&e->dirty);
	vec_free(&e->joined);
	free(e->plist);
	free(e);
}
