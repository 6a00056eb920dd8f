/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ipcache (map velum_ipcache): IPv4 prefix -> security identity, an LPM trie
 * shared by the programs and user space. The programs look up the peer of
 * every new flow here with a full /32 key; the longest matching prefix
 * wins; a miss means the peer is outside anything velum knows: world.
 */
#pragma once

#include <linux/types.h>

/* Reserved identities the datapath itself needs (numbers as in Cilium). */
#define VELUM_ID_UNKNOWN 0
#define VELUM_ID_HOST	 1
#define VELUM_ID_WORLD	 2

/* Default capacity of velum_ipcache. */
#define VELUM_IPCACHE_MAX 65536

/* Key: prefixlen 0..32, then the address (network order, host bits zero). */
struct velum_ipcache_key {
	__u32 prefixlen;
	__be32 addr;
};
_Static_assert(sizeof(struct velum_ipcache_key) == 8, "ABI");

/*
 * The address is a local endpoint's: ep_id names it, and the source
 * endpoint's from-container evaluates the destination's ingress policy on
 * local delivery (see docs/datapath.md).
 */
#define VELUM_IPCACHE_F_LOCAL_EP 0x01

struct velum_ipcache_value {
	__u32 identity;
	__u32 ep_id; /* with VELUM_IPCACHE_F_LOCAL_EP, else 0 */
	__u32 flags; /* VELUM_IPCACHE_F_* */
	__u32 pad;
};
_Static_assert(sizeof(struct velum_ipcache_value) == 16, "ABI");
