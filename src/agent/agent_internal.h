/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The change pipeline's private interface (src/agent): agent.c runs the
 * changes, change.c holds what they share (the writer's copy of the model,
 * the commit step, the replay), rows.c writes store rows, sync.c builds and swaps policy maps
 * and keeps the kernel's ipcache, restore.c rebuilds everything from the
 * store. All of it runs with a->wlock held and works on the writer's model
 * a->wm; what touches the kernel or the extras also holds a->lock (agent.h).
 */
#ifndef VELUM_AGENT_AGENT_INTERNAL_H
#define VELUM_AGENT_AGENT_INTERNAL_H

#include <jansson.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"
#include "lib/hmap.h"

/* qsort() order of uint32_t. */
static inline int cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return a < b ? -1 : a > b;
}

static inline const char *ns_or_empty(const char *s)
{
	return s ? s : "";
}

/* Hash of a policy's key: its kind's name, namespace ("" or NULL for none), name. */
static inline uint64_t agent_policy_key_hash(const char *kind, const char *ns, const char *name)
{
	uint64_t h = hash_bytes(kind, strlen(kind), 1);

	h = hash_bytes(ns ? ns : "", ns ? strlen(ns) : 0, h);
	return hash_bytes(name, strlen(name), h);
}

/* Clock clk in nanoseconds. */
static inline int64_t agent_now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Seconds since t0 (CLOCK_MONOTONIC nanoseconds). */
static inline double agent_secs_since(int64_t t0)
{
	return (double)(agent_now_ns(CLOCK_MONOTONIC) - t0) / 1e9;
}

/* ---- the change machinery (change.c; wlock held) ---- */

/*
 * What a change does beyond the writer's model, for the common tail:
 * kernel() changes the kernel beyond policy maps and ipcache (an
 * endpoint's identity, its removal), under a->lock, before the maps swap or
 * between a bridge and the maps (agent_apply_change());
 * replay() makes the same model changes on the other copy after the commit
 * (it must not fail but for memory). Both optional.
 */
struct agent_change {
	int (*kernel)(struct agent *a, void *ctx, struct errbuf *eb);
	int (*replay)(struct agent *a, struct model *m, void *ctx);
	void *ctx;
};

/*
 * Makes the writer's copy of the model if there is none (from the store,
 * beside a fresh committed copy when the committed one changed since it
 * was built) and starts a change. 0 or the error with eb set.
 */
int agent_writer_begin(struct agent *a, struct errbuf *eb);
/*
 * Drops the writer's copy of the model and rolls back the store's open
 * transaction (wlock held, the kernel untouched): the next change builds
 * the copy again from the store.
 */
void agent_writer_drop(struct agent *a);

/* model_regenerate() on the writer's copy; eb says what failed. */
int agent_regenerate(struct agent *a, uint32_t **changed, size_t *n, struct errbuf *eb);

/*
 * The common tail of every change inside its open transaction: size check,
 * identities, revision, ipcache; then, with a->lock, L7 snapshot,
 * ch->kernel and the changed endpoints' maps (agent_apply_change()), the
 * commit, the swap of the two
 * copies; then ch->replay on the other copy. On error the caller calls
 * agent_rebuild().
 */
int agent_finish(struct agent *a, const uint32_t *changed, size_t n, int64_t t_regen,
		 const struct agent_change *ch, struct errbuf *eb);

/*
 * After a failed change: rolls the store back and drops the writer's copy;
 * if the change touched the kernel, restores everything from the store
 * (taking a->lock). what and why are for the log.
 */
void agent_rebuild(struct agent *a, const char *what, const struct errbuf *why);

/* A change abandoned because velumd is stopping (SIGTERM): -EINTR, eb says so. */
int agent_stopping(struct errbuf *eb);

/* Frees what x owns (not x). */
void agent_epx_free(struct agent_epx *x);

/* Frees every endpoint's extra state. */
void agent_epx_clear(struct agent *a);

/* Inserts (or replaces) the extras of x->id; takes x's strings. */
int agent_epx_put(struct agent *a, struct agent_epx *x);

/* Puts x in state "error" with msg (copied; on ENOMEM the state says so without it). */
void agent_epx_set_error(struct agent_epx *x, const char *msg);

/* Writes ep's store row (labels, ports, address, namespace) in the open transaction. */
int agent_save_ep(struct agent *a, const struct model_ep *ep, struct errbuf *eb);

/* Writes namespace name's store row (its labels), or deletes it if the model has none. */
int agent_save_ns(struct agent *a, const char *name, struct errbuf *eb);

/* A namespace's labels as a JSON object {"key": "value"} (new), with its name label or not. */
json_t *agent_ns_labels_json(const struct model_ns *ns, bool with_name);

/* The store's JSON object of a namespace's labels into *out (k8s source; empty first). */
int agent_ns_labels_from_json(const json_t *j, struct pol_labels *out, struct errbuf *eb);

/* Writes identities the store lacks and deletes those that are gone (in a transaction). */
int agent_save_identities(struct agent *a, struct errbuf *eb);

/* Endpoint ep_id's entries as the datapath takes them, into new arrays (free() both). */
int agent_build_entries(struct agent *a, uint32_t ep_id, struct velum_policy_key **keys,
			struct velum_policy_value **vals, size_t *n, struct errbuf *eb);

/* Swaps endpoint ep_id's policy map for the engine's current state. */
int agent_apply_ep(struct agent *a, uint32_t ep_id, struct errbuf *eb);

/*
 * Swaps the maps of the endpoints in ids (skipping ones no longer in the
 * model), in parallel when there are several.
 */
int agent_apply_many(struct agent *a, const uint32_t *ids, size_t n, struct errbuf *eb);

/* Refuses states the kernel map cannot hold, before anything is written. */
int agent_check_sizes(struct agent *a, const uint32_t *changed, size_t n, struct errbuf *eb);

/*
 * The kernel's part of a change under a->lock: ch->kernel (optional) and
 * the changed endpoints' new maps. When endpoints that stay change identity
 * (a->m: before the change, a->wm: after), their peers' maps must know the
 * new identity before it is used and the old one until it is no longer
 * used, or new flows that the old and the new policy both allow meet a map
 * that knows neither and are dropped. So then the maps go first, as
 * bridges (the new entries plus the old ones of the identities no longer
 * allocated, which only packets of an endpoint not yet switched carry),
 * then ch->kernel switches the identities, then the bridged maps get their
 * new state. (Cilium too adds a new identity to the policy maps before an
 * endpoint takes it.) Otherwise ch->kernel, then the maps.
 */
int agent_apply_change(struct agent *a, const uint32_t *changed, size_t n,
		       const struct agent_change *ch, struct errbuf *eb);

/*
 * Refuses, before anything changes, a change whose CIDR prefixes (policies
 * of add loaded, loaded ones for which gone() says true deleted; see
 * model_cidr_plan()) would not fit the kernel's ipcache (with the endpoint
 * and host addresses) or the CIDR identities: -ENOSPC, the message names the
 * limit and the count.
 */
int agent_check_capacity(struct agent *a, const struct pol_set *add,
			 bool (*gone)(void *ctx, const struct pol_policy *p), void *ctx,
			 struct errbuf *eb);

/*
 * A new model built from the store (as agent_restore() builds it, without
 * touching the kernel or the extras) into *out. 0 or a negative errno with
 * eb set.
 */
int agent_model_load(struct agent *a, struct model **out, struct errbuf *eb);

/* qsort() order of ipcache entries: family, address, length (ipcache_list()'s). */
int agent_ipcache_cmp(const void *a, const void *b);

/*
 * Brings the kernel's CIDR entries in line with the writer's model's
 * ipcache; lock: take a->lock to update a->pushed (false: it is held).
 */
int agent_sync_ipcache(struct agent *a, bool lock, struct errbuf *eb);

#endif
