/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Security identities: one number per distinct set of security-relevant
 * labels, shared by every endpoint with that set. Reserved identities keep
 * Cilium's numbers; allocated ones start at ID_FIRST_ALLOC; identities for
 * CIDR prefixes used in policy live in the node-local scope (top byte 0x01),
 * as Cilium's do.
 *
 * Identities are reference-counted: the first acquire of a label set
 * allocates, the last release frees the number for reuse. Reserved
 * identities are never freed.
 */
#ifndef VELUM_IDENTITY_IDENTITY_H
#define VELUM_IDENTITY_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "labels/labels.h"
#include "labels/prefix.h"

#define ID_UNKNOWN	  0
#define ID_HOST		  1
#define ID_WORLD	  2
#define ID_UNMANAGED	  3
#define ID_HEALTH	  4
#define ID_INIT		  5
#define ID_REMOTE_NODE	  6
#define ID_KUBE_APISERVER 7
#define ID_INGRESS	  8
#define ID_WORLD_IPV4	  9
#define ID_WORLD_IPV6	  10
#define ID_RESERVED_MAX	  10
#define ID_FIRST_ALLOC	  256
#define ID_LAST_GLOBAL	  65535
#define ID_LOCAL_SCOPE	  0x01000000u
#define ID_LOCAL_LAST	  0x01ffffffu

struct id_entry {
	uint32_t id;
	struct pol_labels labels; /* security-relevant labels */
	bool has_cidr;
	struct pol_prefix cidr; /* CIDR identities */
	bool reserved;
	unsigned refs;
};

struct id_alloc;

/* Returns a new allocator holding the reserved identities, or NULL (errno). */
struct id_alloc *id_alloc__new(void);
void id_alloc__free(struct id_alloc *a);

/*
 * Returns (in *id) the identity of the security-relevant subset of labels,
 * allocating one if needed and taking a reference. *created (optional) tells
 * whether the number is new. A label set equal to a reserved identity's
 * (e.g. only reserved:host) maps to it. Returns 0, -ENOSPC (range
 * exhausted) or -ENOMEM.
 */
int id_alloc_acquire(struct id_alloc *a, const struct pol_labels *labels, uint32_t *id,
		     bool *created);

/* As id_alloc_acquire() for the CIDR identity of prefix p (labels cidr:<p>, reserved:world). */
int id_alloc_acquire_cidr(struct id_alloc *a, const struct pol_prefix *p, uint32_t *id,
			  bool *created);

/*
 * Re-creates identity id for labels with one reference (state restore after
 * a restart, so numbers stay stable). Fails with -EEXIST if id or the label
 * set is already taken by something else, -EINVAL for a reserved or
 * out-of-range number.
 */
int id_alloc_restore(struct id_alloc *a, uint32_t id, const struct pol_labels *labels);

/* Drops a reference; *freed (optional) tells whether the identity is gone. -ENOENT if unknown. */
int id_alloc_release(struct id_alloc *a, uint32_t id, bool *freed);

/* The entry for id, or NULL. Valid until that identity is released. */
const struct id_entry *id_alloc_get(const struct id_alloc *a, uint32_t id);

/* Every identity, in ascending order of number, into a new array (free()). Returns count or -ENOMEM. */
long id_alloc_list(const struct id_alloc *a, const struct id_entry ***out);

/* The number of identities (reserved ones included). */
size_t id_alloc_count(const struct id_alloc *a);

/* "host", "world", ... for reserved identities, else NULL. */
const char *id_reserved_name(uint32_t id);

#endif
