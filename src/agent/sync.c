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
	const struct pol_mapstate *ms = pol_engine_endpoint_state(model_engine(a->m), ep_id);
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
			if (model_endpoint_by_id(a->m, ids[i]))
				err = agent_apply_ep(a, ids[i], eb);
		return err;
	}
	items = calloc(n, sizeof(*items));
	if (!items)
		return -ENOMEM;
	for (i = 0; i < n && !err; i++) {
		struct velum_policy_key *keys;
		struct velum_policy_value *vals;

		if (!model_endpoint_by_id(a->m, ids[i]))
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
	for (i = 0; i < k; i++) {
		free((void *)items[i].keys);
		free((void *)items[i].vals);
	}
	free(items);
	return err;
}

/* Refuses states the kernel map cannot hold, before anything is written. */
int agent_check_sizes(struct agent *a, const uint32_t *changed, size_t n, struct errbuf *eb)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const struct pol_mapstate *ms =
			pol_engine_endpoint_state(model_engine(a->m), changed[i]);
		const struct model_ep *ep = model_endpoint_by_id(a->m, changed[i]);

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

int agent_apply_changed(struct agent *a, const uint32_t *changed, size_t n, struct errbuf *eb)
{
	return agent_apply_many(a, changed, n, eb);
}

/* True for the /32 of an endpoint: the datapath manages those entries. */
static bool endpoint_prefix(struct agent *a, const struct pol_prefix *p)
{
	uint32_t addr;

	if (p->family != 4 || p->len != 32)
		return false;
	memcpy(&addr, p->addr, 4);
	return model_endpoint_by_ip(a->m, addr) != NULL;
}

/* Brings the kernel's CIDR entries in line with the model's ipcache. */
int agent_sync_ipcache(struct agent *a, struct errbuf *eb)
{
	struct ipcache_entry *list;
	long n = ipcache_list(model_ipcache(a->m), &list), i;
	VEC(struct ipcache_entry) want = { 0 };
	size_t j, k;
	int err = 0;

	if (n < 0)
		return (int)n;
	for (i = 0; i < n && !err; i++) {
		if (list[i].prefix.family != 4 || endpoint_prefix(a, &list[i].prefix))
			continue;
		err = vec_push(&want, list[i]);
	}
	free(list);
	for (j = 0; !err && j < want.n; j++) {
		const struct ipcache_entry *w = &want.v[j];
		uint32_t addr;
		bool same = false;

		for (k = 0; k < a->pushed.n && !same; k++)
			same = pol_prefix_eq(&a->pushed.v[k].prefix, &w->prefix) &&
			       a->pushed.v[k].identity == w->identity;
		if (same)
			continue;
		memcpy(&addr, w->prefix.addr, 4);
		err = dp_ipcache_update(a->dp, addr, w->prefix.len, w->identity);
		if (err)
			errbuf_set(eb, err, "ipcache update: %s", strerror(-err));
	}
	for (k = 0; !err && k < a->pushed.n; k++) {
		const struct ipcache_entry *p = &a->pushed.v[k];
		bool kept = false;
		uint32_t addr;

		for (j = 0; j < want.n && !kept; j++)
			kept = pol_prefix_eq(&want.v[j].prefix, &p->prefix);
		if (kept)
			continue;
		memcpy(&addr, p->prefix.addr, 4);
		err = dp_ipcache_delete(a->dp, addr, p->prefix.len);
		if (err == -ENOENT || err == -EBUSY)
			err = 0;
		if (err)
			errbuf_set(eb, err, "ipcache delete: %s", strerror(-err));
	}
	if (err) {
		vec_free(&want);
		return err;
	}
	vec_free(&a->pushed);
	a->pushed.v = want.v;
	a->pushed.n = want.n;
	a->pushed.cap = want.cap;
	return 0;
}
