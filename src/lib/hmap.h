/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An intrusive chained hash table keyed by a 64-bit hash. Nodes live inside
 * the caller's structs (container_of); equal hashes may hold different
 * objects, so lookups walk the chain with hmap_for_each_hash() and compare
 * the real key. The table doubles when full; insertions can fail only on
 * that growth (-ENOMEM, table unchanged).
 */
#ifndef VELUM_LIB_HMAP_H
#define VELUM_LIB_HMAP_H

#include <stddef.h>
#include <stdint.h>

struct hnode {
	struct hnode *next;
	uint64_t hash;
};

struct hmap {
	struct hnode **buckets;
	size_t mask; /* bucket count - 1; 0 with no buckets */
	size_t n;
};

#ifndef container_of
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#endif

/* Inserts node with hash h (duplicates allowed). Returns 0 or -ENOMEM. */
int hmap_insert(struct hmap *m, struct hnode *node, uint64_t h);
/* Unlinks node, which must be in m. */
void hmap_remove(struct hmap *m, struct hnode *node);
/* First node in h's chain, then hmap_next_hash(); NULL at the end. */
struct hnode *hmap_first_hash(const struct hmap *m, uint64_t h);
struct hnode *hmap_next_hash(const struct hnode *node, uint64_t h);
/* Frees the bucket array; nodes are the caller's. */
void hmap_destroy(struct hmap *m);

#define hmap_for_each_hash(m, h, it) \
	for ((it) = hmap_first_hash((m), (h)); (it); (it) = hmap_next_hash((it), (h)))

/* Iterates every node; safe against removing `it` (uses nx). */
#define hmap_for_each_safe(m, b, it, nx)                                            \
	for ((b) = 0; (m)->buckets && (b) <= (m)->mask; (b)++)                      \
		for ((it) = (m)->buckets[b], (nx) = (it) ? (it)->next : NULL; (it); \
		     (it) = (nx), (nx) = (it) ? (it)->next : NULL)

static inline uint64_t hash_mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static inline uint64_t hash_bytes(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ULL;
	}
	return hash_mix64(h);
}

#endif
