/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Peer identity from the ipcache: longest prefix match on a /32 key. A miss
 * is world: velum knows nothing about that address.
 */
#pragma once

#include "maps.h"

static __always_inline void ipcache_lookup(__be32 addr, struct velum_ipcache_value *out)
{
	struct velum_ipcache_key k = { .prefixlen = 32, .addr = addr };
	struct velum_ipcache_value *v = bpf_map_lookup_elem(&velum_ipcache, &k);

	if (v) {
		*out = *v;
		return;
	}
	out->identity = VELUM_ID_WORLD;
	out->ep_id = 0;
	out->flags = 0;
}
