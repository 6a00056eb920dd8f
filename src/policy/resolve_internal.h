/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The policy engine's private state (src/policy/resolve*.c): resolve.c keeps
 * identities, the selector cache, policies, subjects and endpoints;
 * resolve_state.c computes map states and regenerates; resolve_lint.c
 * finds rules that shadow each other.
 */
#ifndef VELUM_POLICY_RESOLVE_INTERNAL_H
#define VELUM_POLICY_RESOLVE_INTERNAL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "lib/hmap.h"
#include "lib/vec.h"
#include "policy/resolve.h"

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
	int idx_req;  /* the IN requirement it is indexed under, or -1 */
	int idx_cidr; /* else the CIDR requirement it is indexed under, or -1 (unindexed) */
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

/*
 * The CIDR index: selectors without an IN requirement but with a CIDR one,
 * by that prefix. A CIDR identity can only be selected by the buckets of its
 * prefix's ancestors (at most 33 or 129 probes), an identity without a
 * prefix only by the /0 buckets (the world identities); the identities a new
 * such selector can select are the CIDR identities within its prefix
 * (pol_engine.cidr_ids, a prefix trie). So n prefixes cost O(n), not
 * O(n * identities).
 */
struct cidr_bucket {
	struct hnode node;
	struct pol_prefix p;
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
	struct hmap cidr_buckets;   /* struct cidr_bucket by prefix */
	unsigned cidr_lens[2][129]; /* [v6][len]: buckets with that prefix length */
	struct pol_ptrie cidr_ids;  /* CIDR identities by prefix */
	struct eng_policy *first, *last;
	/* load order as an array, rebuilt on demand after a change (plist_stale) */
	const struct pol_policy **plist;
	size_t nplist;
	bool plist_stale;
	uint32_t next_rule_id;
	uint16_t proxy_port[2];
	struct subj_ptr_vec dirty;
	struct u32_vec joined; /* endpoints that joined a computed subject */
	bool mark_failed;      /* a mark was lost to ENOMEM: regenerate everything */
};

/* ---- small helpers ---------------------------------------------------------- */

static inline bool u32_has(const struct u32_vec *v, uint32_t x)
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

static inline int u32_insert_sorted(struct u32_vec *v, uint32_t x)
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

/* Removes x from sorted v (binary search). */
static inline void u32_remove(struct u32_vec *v, uint32_t x)
{
	size_t lo = 0, hi = v->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v->v[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < v->n && v->v[lo] == x) {
		memmove(&v->v[lo], &v->v[lo + 1], (v->n - lo - 1) * sizeof(*v->v));
		v->n--;
	}
}

static inline void ptr_remove(void **v, size_t *n, const void *x)
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

static inline int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

static inline struct eng_identity *identity_find(const struct pol_engine *e, uint32_t id)
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

static inline struct eng_endpoint *endpoint_find(const struct pol_engine *e, uint32_t ep)
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

static inline void mark_subject(struct pol_engine *e, struct eng_subject *s)
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

#endif
