/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kernel side of a change: each changed endpoint's policy-map entries
 * from its map state, their size check, the swaps (one, or many in
 * parallel through the applier), and the CIDR entries of the ipcache.
 */
#include "agent/agent_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "lib/log.h"
#include "lib/strbuf.h"
#include "velum/endpoint.h"

/* ---- kernel sync ------------------------------------------------------------------------ */

/* Endpoint ep_id's entries as the datapath takes them, into new arrays (free() both). */
int agent_build_entries(struct agent *a, uint32_t ep_id, struct velum_policy_key **keys,
			struct velum_policy_value **vals, size_t *n, struct errbuf *eb)
{
	const struct pol_mapstate *ms = pol_engine_endpoint_state(model_engine(a->wm), ep_id);
	size_t i;

	if (!ms)
		return errbuf_set(eb, -ENOENT, "endpoint %u: no policy state", ep_id);
	*keys = malloc((ms->n ? ms->n : 1) * sizeof(**keys));
	*vals = malloc((ms->n ? ms->n : 1) * sizeof(**vals));
	if (!*keys || !*vals) {
		free(*keys);
		free(*vals);
		return -ENOMEM;
	}
	for (i = 0; i < ms->n; i++) {
		(*keys)[i] = ms->entries[i].key;
		(*vals)[i] = ms->entries[i].val;
	}
	*n = ms->n;
	return 0;
}

/* Swaps endpoint ep_id's policy map for the engine's current state. */
int agent_apply_ep(struct agent *a, uint32_t ep_id, struct errbuf *eb)
{
	struct velum_policy_key *keys;
	struct velum_policy_value *vals;
	size_t n;
	int err = agent_build_entries(a, ep_id, &keys, &vals, &n, eb);

	if (err)
		return err;
	err = dp_policy_apply(a->dp, ep_id, keys, vals, n, eb);
	if (err)
		errbuf_prefix(eb, "endpoint %u: policy map: ", ep_id);
	free(keys);
	free(vals);
	return err;
}

/* Swaps the maps of items: through the applier (as agent_apply_many()), else one by one. */
static int apply_items(struct agent *a, const struct agent_apply_item *items, size_t n,
		       struct errbuf *eb)
{
	size_t i;
	int err = 0;

	if (!n)
		return 0;
	if (a->applier)
		return agent_applier_run(a->applier, a->dp, items, n, eb);
	for (i = 0; i < n && !err; i++) {
		err = dp_policy_apply(a->dp, items[i].ep_id, items[i].keys, items[i].vals,
				      items[i].n, eb);
		if (err)
			errbuf_prefix(eb, "endpoint %u: policy map: ", items[i].ep_id);
	}
	return err;
}

static void items_free(struct agent_apply_item *items, size_t n)
{
	size_t i;

	for (i = 0; items && i < n; i++) {
		free((void *)items[i].keys);
		free((void *)items[i].vals);
	}
	free(items);
}

/*
 * Swaps the maps of the endpoints in ids (skipping ones no longer in the
 * model) through the applier (apply.c: back when every new map is live,
 * without waiting for the swaps' grace periods), else one by one.
 */
int agent_apply_many(struct agent *a, const uint32_t *ids, size_t n, struct errbuf *eb)
{
	struct agent_apply_item *items;
	size_t i, k = 0;
	int err = 0;

	if (!n)
		return 0;
	if (!a->applier) {
		for (i = 0; i < n && !err; i++)
			if (model_endpoint_by_id(a->wm, ids[i]))
				err = agent_apply_ep(a, ids[i], eb);
		return err;
	}
	items = calloc(n, sizeof(*items));
	if (!items)
		return -ENOMEM;
	for (i = 0; i < n && !err; i++) {
		struct velum_policy_key *keys;
		struct velum_policy_value *vals;

		if (!model_endpoint_by_id(a->wm, ids[i]))
			continue;
		err = agent_build_entries(a, ids[i], &keys, &vals, &items[k].n, eb);
		if (err)
			break;
		items[k].ep_id = ids[i];
		items[k].keys = keys;
		items[k++].vals = vals;
	}
	if (!err)
		err = agent_applier_run(a->applier, a->dp, items, k, eb);
	items_free(items, k);
	return err;
}

/* Refuses states the kernel map cannot hold, before anything is written. */
int agent_check_sizes(struct agent *a, const uint32_t *changed, size_t n, struct errbuf *eb)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const struct pol_mapstate *ms =
			pol_engine_endpoint_state(model_engine(a->wm), changed[i]);
		const struct model_ep *ep = model_endpoint_by_id(a->wm, changed[i]);

		if (ms && ms->n > VELUM_POLICY_MAP_MAX) {
			return errbuf_set(
				eb, -E2BIG,
				"endpoint %s would need %zu policy-map entries (at most %d): "
				"the policies select too many peer/port combinations",
				ep ? ep->name : "?", ms->n, VELUM_POLICY_MAP_MAX);
		}
	}
	return 0;
}

VEC_DECLARE(u32_vec, uint32_t);

/*
 * The identities the change takes from endpoints that stay (sorted, into
 * out): an endpoint's identity in a->m (before the change) that differs
 * from its identity in a->wm (after) and that a->wm no longer allocates.
 * *moved: some endpoint that stays changes identity. Both models' endpoints
 * are in id order: one merge.
 */
static int retired_identities(struct agent *a, struct u32_vec *out, bool *moved)
{
	const struct model_ep *const *before, *const *after;
	size_t nb = model_endpoints(a->m, &before), na = model_endpoints(a->wm, &after), i, j;
	int err = 0;

	*moved = false;
	for (i = j = 0; i < nb && j < na && !err;) {
		if (before[i]->id != after[j]->id) {
			if (before[i]->id < after[j]->id)
				i++;
			else
				j++;
			continue;
		}
		if (before[i]->identity != after[j]->identity) {
			*moved = true;
			if (!id_alloc_get(model_ids(a->wm), before[i]->identity))
				err = vec_push(out, before[i]->identity);
		}
		i++;
		j++;
	}
	if (!err && out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), cmp_u32);
	return err;
}

/*
 * Endpoint ep_id's bridge into *item: its new entries (the first *n_new)
 * followed by its old entries (a->m's) for the retired identities, so that
 * the new state is the same arrays cut to *n_new. A bridge over the map's
 * capacity is the new entries alone.
 */
static int bridge_entries(struct agent *a, uint32_t ep_id, const struct u32_vec *retired,
			  struct agent_apply_item *item, size_t *n_new, struct errbuf *eb)
{
	const struct pol_mapstate *old = pol_engine_endpoint_state(model_engine(a->m), ep_id);
	struct velum_policy_key *keys;
	struct velum_policy_value *vals;
	size_t n, i, extra = 0;
	int err = agent_build_entries(a, ep_id, &keys, &vals, &n, eb);
	void *nk, *nv;

	if (err)
		return err;
	*n_new = n;
	for (i = 0; old && retired->n && i < old->n; i++) {
		uint32_t id = ntohl(old->entries[i].key.identity);

		extra += bsearch(&id, retired->v, retired->n, sizeof(id), cmp_u32) != NULL;
	}
	if (extra && n + extra <= VELUM_POLICY_MAP_MAX) {
		nk = realloc(keys, (n + extra) * sizeof(*keys));
		if (nk)
			keys = nk;
		nv = nk ? realloc(vals, (n + extra) * sizeof(*vals)) : NULL;
		if (nv)
			vals = nv;
		if (!nk || !nv) {
			free(keys);
			free(vals);
			return -ENOMEM;
		}
		for (i = 0; i < old->n; i++) {
			uint32_t id = ntohl(old->entries[i].key.identity);

			if (!bsearch(&id, retired->v, retired->n, sizeof(id), cmp_u32))
				continue;
			keys[n] = old->entries[i].key;
			vals[n++] = old->entries[i].val;
		}
	}
	*item = (struct agent_apply_item){ ep_id, keys, vals, n };
	return 0;
}

int agent_apply_change(struct agent *a, const uint32_t *changed, size_t n,
		       const struct agent_change *ch, struct errbuf *eb)
{
	struct u32_vec retired = { 0 };
	struct agent_apply_item *items = NULL, *final = NULL;
	size_t i, k = 0, nfinal = 0, *n_new = NULL;
	bool moved;
	int err = retired_identities(a, &retired, &moved);

	if (!err && !moved) {
		/* no endpoint that stays changes identity: the kernel's part, then the maps */
		if (ch && ch->kernel)
			err = ch->kernel(a, ch->ctx, eb);
		if (!err)
			err = agent_apply_many(a, changed, n, eb);
		goto out;
	}
	if (!err) {
		items = calloc(n + 1, sizeof(*items));
		final = calloc(n + 1, sizeof(*final));
		n_new = calloc(n + 1, sizeof(*n_new));
		if (!items || !final || !n_new)
			err = -ENOMEM;
	}
	for (i = 0; i < n && !err; i++) {
		if (!model_endpoint_by_id(a->wm, changed[i]))
			continue;
		err = bridge_entries(a, changed[i], &retired, &items[k], &n_new[k], eb);
		if (!err)
			k++;
	}
	/* the maps (bridges) before the identities, the bridges' new state after */
	if (!err)
		err = apply_items(a, items, k, eb);
	if (!err && ch && ch->kernel)
		err = ch->kernel(a, ch->ctx, eb);
	for (i = 0; i < k && !err; i++)
		if (items[i].n > n_new[i]) {
			final[nfinal] = items[i]; /* the same arrays, the bridge's tail cut */
			final[nfinal++].n = n_new[i];
		}
	if (!err)
		err = apply_items(a, final, nfinal, eb);
out:
	items_free(items, k);
	free(final);
	free(n_new);
	vec_free(&retired);
	if (err == -ENOMEM && errbuf_empty(eb))
		errbuf_set(eb, -ENOMEM, "out of memory");
	return err;
}

int agent_ipcache_cmp(const void *pa, const void *pb)
{
	const struct ipcache_entry *a = pa, *b = pb;
	int c = a->prefix.family - b->prefix.family;

	if (!c)
		c = memcmp(a->prefix.addr, b->prefix.addr, 16);
	return c ? c : a->prefix.len - b->prefix.len;
}

/* The endpoints' addresses, sorted, into a new array (free()); count in *n. */
static uint32_t *endpoint_addrs(struct agent *a, size_t *n)
{
	const struct model_ep *const *eps;
	size_t nep = model_endpoints(a->wm, &eps), i, j, k = 0;
	uint32_t *v;

	for (i = 0; i < nep; i++)
		k += eps[i]->nips;
	v = malloc((k ? k : 1) * sizeof(*v));
	if (!v)
		return NULL;
	for (i = k = 0; i < nep; i++)
		for (j = 0; j < eps[i]->nips; j++)
			v[k++] = eps[i]->ips[j];
	qsort(v, k, sizeof(*v), cmp_u32);
	*n = k;
	return v;
}

/* True for the /32 of an endpoint (addrs: endpoint_addrs()): the datapath manages those. */
static bool endpoint_prefix(const uint32_t *addrs, size_t n, const struct pol_prefix *p)
{
	uint32_t addr;

	if (p->family != 4 || p->len != 32)
		return false;
	memcpy(&addr, p->addr, 4);
	return bsearch(&addr, addrs, n, sizeof(*addrs), cmp_u32) != NULL;
}

int agent_check_capacity(struct agent *a, const struct pol_set *add,
			 bool (*gone)(void *ctx, const struct pol_policy *p), void *ctx,
			 struct errbuf *eb)
{
	const struct model_ep *const *eps;
	size_t n4, n6, nep = model_endpoints(a->wm, &eps), need;
	int err = model_cidr_plan(a->wm, add, gone, ctx, &n4, &n6);

	if (err)
		return errbuf_set(eb, err, "planning CIDR prefixes: %s", strerror(-err));
	need = n4 + nep + a->ipcache_host;
	if (need > VELUM_IPCACHE_MAX)
		return errbuf_set(
			eb, -ENOSPC,
			"the policies would use %zu IPv4 CIDR prefixes: with %zu endpoint "
			"and %zu host address(es) the ipcache would need %zu entries, more "
			"than its %d; nothing was changed",
			n4, nep, a->ipcache_host, need, VELUM_IPCACHE_MAX);
	if (n4 + n6 > (size_t)(ID_LOCAL_LAST - ID_LOCAL_SCOPE))
		return errbuf_set(
			eb, -ENOSPC,
			"the policies would use %zu CIDR prefixes, one identity each: more "
			"than the %u CIDR identities; nothing was changed",
			n4 + n6, ID_LOCAL_LAST - ID_LOCAL_SCOPE);
	return 0;
}

/*
 * Brings the kernel's CIDR entries in line with the model's ipcache: both
 * lists sorted, one merge (linear). Deletions go first, so the map never
 * holds more than the larger of before and after (agent_check_capacity()).
 */
int agent_sync_ipcache(struct agent *a, bool lock, struct errbuf *eb)
{
	struct ipcache_entry *list;
	long n = ipcache_list(model_ipcache(a->wm), &list), i;
	VEC(struct ipcache_entry) want = { 0 };
	size_t j, k, naddrs = 0;
	uint32_t *addrs;
	int err = 0, pass;

	if (n < 0)
		return (int)n;
	addrs = endpoint_addrs(a, &naddrs);
	if (!addrs) {
		free(list);
		return -ENOMEM;
	}
	for (i = 0; i < n && !err; i++) {
		if (list[i].prefix.family != 4 || endpoint_prefix(addrs, naddrs, &list[i].prefix))
			continue;
		err = vec_push(&want, list[i]);
	}
	free(list);
	free(addrs);
	/* pass 0 deletes what is no longer wanted, pass 1 adds and changes */
	for (pass = 0; pass < 2 && !err; pass++) {
		for (j = k = 0; !err && (j < want.n || k < a->pushed.n);) {
			const struct ipcache_entry *w = j < want.n ? &want.v[j] : NULL;
			const struct ipcache_entry *p = k < a->pushed.n ? &a->pushed.v[k] : NULL;
			int c = !w ? 1 : !p ? -1 : agent_ipcache_cmp(w, p);
			uint32_t addr;

			if (c > 0) {
				k++;
				if (pass)
					continue;
				memcpy(&addr, p->prefix.addr, 4);
				err = dp_ipcache_delete(a->dp, addr, p->prefix.len);
				if (err == -ENOENT || err == -EBUSY)
					err = 0;
				if (err)
					errbuf_set(eb, err, "ipcache delete: %s", strerror(-err));
				continue;
			}
			j++;
			if (!c)
				k++;
			if (!pass || (!c && w->identity == p->identity))
				continue;
			memcpy(&addr, w->prefix.addr, 4);
			err = dp_ipcache_update(a->dp, addr, w->prefix.len, w->identity);
			if (err)
				errbuf_set(eb, err, "ipcache update: %s", strerror(-err));
		}
	}
	if (err) {
		vec_free(&want);
		return err;
	}
	/* metrics read the mirror's size under a->lock */
	if (lock)
		pthread_mutex_lock(&a->lock);
	vec_free(&a->pushed);
	a->pushed.v = want.v;
	a->pushed.n = want.n;
	a->pushed.cap = want.cap;
	if (lock)
		pthread_mutex_unlock(&a->lock);
	return 0;
}
