/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The policy engine: selector cache, subjects, incremental regeneration and
 * the computation of one map state.
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
#include "policy/resolve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hmap.h"
#include "lib/vec.h"

struct eng_rule;

VEC_DECLARE(rule_ptr_vec, struct eng_rule *);
VEC_DECLARE(u32_vec, uint32_t);

struct eng_sel {
	struct hnode node; /* by canonical text */
	char *canon;
	struct pol_selector sel;
	struct u32_vec ids; /* sorted identities it selects */
	unsigned refs;
	struct rule_ptr_vec subj_users, peer_users;
	int idx_req; /* the IN requirement it is indexed under, or -1 (unindexed) */
};

VEC_DECLARE(sel_ptr_vec, struct eng_sel *);

/*
 * The label index: for each key=value (any source), the identities that carry
 * it and the selectors indexed under it (by one IN requirement). A selector
 * can only select an identity that carries one of its index values, so a new
 * selector is evaluated against those identities only, and a new identity
 * against the selectors of its labels plus the unindexed ones.
 */
struct lbl_bucket {
	struct hnode node;
	char *key, *value;
	struct u32_vec ids; /* sorted */
	struct sel_ptr_vec sels;
};

struct eng_entry {
	struct eng_sel **sels;
	size_t n;
};

struct eng_policy;

struct eng_rule {
	struct pol_rule *r;
	struct eng_policy *ep;
	struct eng_sel *subject;
	struct eng_entry *entries[2];
	bool egress_named; /* has an egress port given by name */
};

struct eng_ruleref {
	struct hnode node;
	uint32_t id;
	const struct pol_peer_rule *pr;
};

struct eng_policy {
	struct hnode node;
	struct pol_policy *p;
	struct eng_rule *rules;
	size_t nrules;
	struct eng_ruleref *refs;
	size_t nrefs;
	struct eng_policy *prev, *next; /* load order */
};

struct eng_subject;
VEC_DECLARE(subj_ptr_vec, struct eng_subject *);

struct eng_identity {
	struct hnode node;
	uint32_t id;
	struct pol_labels labels;
	bool has_cidr;
	struct pol_prefix cidr;
	struct subj_ptr_vec subjects;
};

struct eng_subject {
	struct hnode node;
	uint32_t identity;
	struct pol_named_port *ports; /* sorted, names owned */
	size_t nports;
	bool audit;
	bool dirty;
	bool fresh; /* never computed: report its endpoints as changed */
	struct pol_mapstate *state;
	struct u32_vec eps;
};

struct eng_endpoint {
	struct hnode node;
	uint32_t ep;
	struct eng_subject *subj;
};

struct pol_engine {
	struct hmap sels, policies, identities, subjects, endpoints, rules;
	struct hmap buckets; /* struct lbl_bucket by key=value */
	struct sel_ptr_vec unindexed;
	struct eng_policy *first, *last;
	const struct pol_policy **plist;
	size_t nplist;
	uint32_t next_rule_id;
	uint16_t proxy_port[2];
	struct subj_ptr_vec dirty;
	struct u32_vec joined; /* endpoints that joined a computed subject */
	bool mark_failed;      /* a mark was lost to ENOMEM: regenerate everything */
};

/* ---- small helpers ---------------------------------------------------------- */

static bool u32_has(const struct u32_vec *v, uint32_t x)
{
	size_t lo = 0, hi = v->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v->v[mid] == x)
			return true;
		if (v->v[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static int u32_insert_sorted(struct u32_vec *v, uint32_t x)
{
	size_t i = v->n;

	if (vec_reserve(v, v->n + 1))
		return -ENOMEM;
	while (i > 0 && v->v[i - 1] > x)
		i--;
	if (i > 0 && v->v[i - 1] == x)
		return 0;
	memmove(&v->v[i + 1], &v->v[i], (v->n - i) * sizeof(*v->v));
	v->v[i] = x;
	v->n++;
	return 0;
}

static void u32_remove(struct u32_vec *v, uint32_t x)
{
	size_t i;

	for (i = 0; i < v->n; i++) {
		if (v->v[i] == x) {
			memmove(&v->v[i], &v->v[i + 1], (v->n - i - 1) * sizeof(*v->v));
			v->n--;
			return;
		}
	}
}

static void ptr_remove(void **v, size_t *n, const void *x)
{
	size_t i;

	for (i = 0; i < *n; i++) {
		if (v[i] == x) {
			memmove(&v[i], &v[i + 1], (*n - i - 1) * sizeof(*v));
			(*n)--;
			return;
		}
	}
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* ---- identities ------------------------------------------------------------- */

static struct eng_identity *identity_find(const struct pol_engine *e, uint32_t id)
{
	struct hnode *it;

	hmap_for_each_hash(&e->identities, hash_mix64(id), it)
	{
		struct eng_identity *x = container_of(it, struct eng_identity, node);

		if (x->id == id)
			return x;
	}
	return NULL;
}

static bool sel_matches_identity(const struct eng_sel *s, const struct eng_identity *x)
{
	struct pol_sel_target t = { &x->labels, x->has_cidr ? &x->cidr : NULL };

	return pol_selector_match(&s->sel, &t);
}

static void mark_subject(struct pol_engine *e, struct eng_subject *s)
{
	if (s->dirty)
		return;
	if (vec_push(&e->dirty, s)) {
		/* out of memory: the next regenerate recomputes every subject */
		e->mark_failed = true;
		return;
	}
	s->dirty = true;
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

static int index_sel(struct pol_engine *e, struct eng_sel *s)
{
	const struct pol_sel_req *r;
	size_t i;

	s->idx_req = pick_index_req(&s->sel);
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
	int err;

	for (i = 0; i < x->labels.n; i++) {
		struct lbl_bucket *bk = bucket_find(e, x->labels.v[i].key, x->labels.v[i].value);

		for (k = 0; bk && k < bk->sels.n; k++)
			if ((err = reselect_one(e, bk->sels.v[k], x, leaving)))
				return err;
	}
	for (k = 0; k < e->unindexed.n; k++)
		if ((err = reselect_one(e, e->unindexed.v[k], x, leaving)))
			return err;
	mark_identity(e, x->id);
	return 0;
}

int pol_engine_identity_add(struct pol_engine *e, uint32_t id, const struct pol_labels *labels,
			    const struct pol_prefix *cidr)
{
	struct eng_identity *x = identity_find(e, id);
	struct pol_labels copy = { 0 };
	int err;

	if (pol_labels_copy(&copy, labels))
		return -ENOMEM;
	if (x) {
		/* new labels for a known number: leave with the old ones first */
		err = identity_reselect(e, x, true);
		if (err) {
			pol_labels_free(&copy);
			return err;
		}
		unindex_identity(e, x);
	} else {
		x = calloc(1, sizeof(*x));
		if (!x) {
			pol_labels_free(&copy);
			return -ENOMEM;
		}
		x->id = id;
		if (hmap_insert(&e->identities, &x->node, hash_mix64(id))) {
			free(x);
			pol_labels_free(&copy);
			return -ENOMEM;
		}
	}
	pol_labels_free(&x->labels);
	x->labels = copy;
	x->has_cidr = cidr != NULL;
	if (cidr)
		x->cidr = *cidr;
	err = index_identity(e, x);
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
	if (s->idx_req >= 0) {
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

int pol_engine_policy_upsert(struct pol_engine *e, struct pol_policy *p)
{
	struct eng_policy *old = policy_find(e, p->kind, p->namespace, p->name);
	struct eng_policy *ep = calloc(1, sizeof(*ep));
	int err;

	if (!ep) {
		pol_policy_free(p);
		return -ENOMEM;
	}
	ep->p = p;
	err = policy_bind(e, ep);
	if (!err)
		err = hmap_insert(&e->policies, &ep->node,
				  policy_key_hash(p->kind, p->namespace, p->name));
	if (err) {
		if (ep->rules) {
			size_t i;

			for (i = 0; i < ep->nrefs; i++)
				hmap_remove(&e->rules, &ep->refs[i].node);
			for (i = 0; i < ep->nrules; i++)
				rule_release(e, &ep->rules[i]);
			free(ep->refs);
			free(ep->rules);
		}
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
	return plist_rebuild(e);
}

int pol_engine_policy_delete(struct pol_engine *e, enum pol_kind kind, const char *ns,
			     const char *name)
{
	struct eng_policy *ep = policy_find(e, kind, ns, name);

	if (!ep)
		return -ENOENT;
	policy_destroy(e, ep);
	return plist_rebuild(e);
}

size_t pol_engine_policies(const struct pol_engine *e, const struct pol_policy *const **out)
{
	*out = e->plist;
	return e->nplist;
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

static struct eng_endpoint *endpoint_find(const struct pol_engine *e, uint32_t ep)
{
	struct hnode *it;

	hmap_for_each_hash(&e->endpoints, hash_mix64(ep), it)
	{
		struct eng_endpoint *x = container_of(it, struct eng_endpoint, node);

		if (x->ep == ep)
			return x;
	}
	return NULL;
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
			      pol_dir_name(lp->dir),
			      lp->proto == IPPROTO_UDP	? "UDP" :
			      lp->proto == IPPROTO_SCTP ? "SCTP" :
							  "TCP");
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
