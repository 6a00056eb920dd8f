/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ipcache: IP prefixes to identities, longest prefix first. Endpoint
 * addresses are host prefixes with the endpoint's identity; CIDRs used in
 * policy map to their CIDR identities; addresses nothing covers are world.
 * This is the user-space model the datapath's LPM map mirrors.
 */
#ifndef VELUM_IDENTITY_IPCACHE_H
#define VELUM_IDENTITY_IPCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "labels/prefix.h"

struct ipcache;

struct ipcache_entry {
	struct pol_prefix prefix;
	uint32_t identity;
};

struct ipcache *ipcache__new(void);
void ipcache__free(struct ipcache *c);

/* Maps prefix to identity, replacing an existing mapping. Returns 0 or -ENOMEM. */
int ipcache_upsert(struct ipcache *c, const struct pol_prefix *p, uint32_t identity);
/* Removes the exact prefix. Returns 0 or -ENOENT. */
int ipcache_delete(struct ipcache *c, const struct pol_prefix *p);

/*
 * Longest-prefix match for an address of family 4 or 6 (network byte
 * order, 4 or 16 bytes). Returns the identity, or ID_WORLD (2) when no
 * prefix covers it; *matched (optional) gets the prefix, or a /0.
 */
uint32_t ipcache_lookup(const struct ipcache *c, int family, const uint8_t *addr,
			struct pol_prefix *matched);

/* Every entry into a new array (free()), sorted by family, address, length. Count or -ENOMEM. */
long ipcache_list(const struct ipcache *c, struct ipcache_entry **out);

size_t ipcache_count(const struct ipcache *c);

#endif
