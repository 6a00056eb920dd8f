/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The L7 snapshot: every endpoint's L7 items (peer sets, port ranges,
 * compiled HTTP rule lists) as of one regeneration, owned and immutable.
 * It holds no pointer into the engine: peers are copied, HTTP rule lists
 * are counted references to their compiled matchers (which own their
 * rules), and rule names are copied. So the proxy can judge requests on
 * its own threads while the engine changes, and one snapshot judges a
 * request wholly.
 *
 * Lifecycle: built after pol_engine_regenerate() (under the agent's lock),
 * published by one pointer swap (pol_l7_slot_publish()), read by
 * taking a reference (pol_l7_slot_acquire()), dropped with
 * pol_l7_snapshot__put(). To reach another process it turns into bytes
 * (pol_l7_snapshot_serialize()) and back (pol_l7_snapshot_deserialize(),
 * which validates everything and recompiles the rules).
 */
#ifndef VELUM_POLICY_L7SNAP_H
#define VELUM_POLICY_L7SNAP_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/errbuf.h"
#include "lib/strbuf.h"
#include "policy/mapstate.h"
#include "policy/resolve.h"

struct pol_l7_snapshot;

/* One endpoint's source for pol_l7_snapshot__new(). */
struct pol_l7_snap_src {
	uint32_t endpoint; /* the engine's endpoint number */
	const struct pol_mapstate *ms;
};

/*
 * Builds a snapshot of n endpoints' L7 items (ids must be distinct), with
 * revision as its label. Borrows src (copies what it keeps); e, if not
 * NULL, names the rules the items refer to. Returns a new snapshot with
 * one reference (pol_l7_snapshot__put()), or NULL with errno ENOMEM or
 * EINVAL (duplicate endpoint).
 */
struct pol_l7_snapshot *pol_l7_snapshot__new(const struct pol_l7_snap_src *src, size_t n,
					     const struct pol_engine *e, uint64_t revision);

/*
 * What the agent calls after each pol_engine_regenerate(): the snapshot of
 * endpoints eps[0..n) (unknown ones are skipped), with rule names.
 * Borrows e and eps. Same returns as pol_l7_snapshot__new().
 */
struct pol_l7_snapshot *pol_engine_l7_snapshot(const struct pol_engine *e, const uint32_t *eps,
					       size_t n, uint64_t revision);

/* Takes one more reference; returns s. Accepts NULL. */
struct pol_l7_snapshot *pol_l7_snapshot__get(struct pol_l7_snapshot *s);
/* Drops one reference, freeing s with the last. Accepts NULL. */
void pol_l7_snapshot__put(struct pol_l7_snapshot *s);

/*
 * Publishing: a slot holds the current snapshot. publish() takes s (the
 * caller's reference moves into the slot; NULL empties it) and drops the
 * previous one; acquire() returns a new reference to the current snapshot,
 * or NULL. The slot's lock covers only the pointer swap and the reference
 * count increment, so readers never wait on a build; a request judged with
 * an acquired snapshot sees one rule set only.
 */
struct pol_l7_slot {
	pthread_mutex_t lock;
	struct pol_l7_snapshot *cur;
};

#define POL_L7_SLOT_INIT                        \
	{                                       \
		PTHREAD_MUTEX_INITIALIZER, NULL \
	}

void pol_l7_slot_publish(struct pol_l7_slot *slot, struct pol_l7_snapshot *s);
struct pol_l7_snapshot *pol_l7_slot_acquire(struct pol_l7_slot *slot);

uint64_t pol_l7_snapshot_revision(const struct pol_l7_snapshot *s);
size_t pol_l7_snapshot_endpoints(const struct pol_l7_snapshot *s);

/*
 * Decides req, redirected in direction dir between endpoint and peer on TCP
 * port, as pol_l7_items_decide() does on that endpoint's items (an endpoint
 * the snapshot does not know has none: not filtered). req's path must be
 * normalized (l7/normalize.h). Borrows everything; thread-safe.
 */
void pol_l7_snapshot_decide(const struct pol_l7_snapshot *s, uint32_t endpoint, enum pol_dir dir,
			    uint32_t peer, uint16_t port, const struct pol_http_request *req,
			    struct pol_l7_verdict *out);

/* The name of a rule an item refers to, or NULL. Owned by s. */
const char *pol_l7_snapshot_rule_name(const struct pol_l7_snapshot *s, uint32_t rule_id);

/*
 * Appends s as bytes (a versioned, self-contained format; the compiled
 * matchers travel as their rules' text). Returns 0 or -ENOMEM.
 */
int pol_l7_snapshot_serialize(const struct pol_l7_snapshot *s, struct strbuf *out);

/*
 * Rebuilds a snapshot from n bytes. Validates every count, index, range
 * and order and recompiles every HTTP rule list; malformed input returns
 * NULL with errno EINVAL and the byte offset and reason in eb ("L7
 * snapshot: offset 24: item direction 7"); ENOMEM on allocation failure.
 * Borrows buf.
 */
struct pol_l7_snapshot *pol_l7_snapshot_deserialize(const void *buf, size_t n, struct errbuf *eb);

#endif
