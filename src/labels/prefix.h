/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IP prefixes (IPv4 and IPv6) for CIDR rules and the ipcache: parsing with
 * strict validation, containment, formatting, and set subtraction (a CIDR
 * with `except` entries becomes the list of prefixes that cover the rest).
 */
#ifndef VELUM_LABELS_PREFIX_H
#define VELUM_LABELS_PREFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/errbuf.h"

struct pol_prefix {
	uint8_t family;	  /* 4 or 6 */
	uint8_t len;	  /* 0..32 or 0..128 */
	uint8_t addr[16]; /* network byte order; bits past len are zero */
};

/*
 * Parses "a.b.c.d/n", "x::y/n", or (allow_bare) a bare address as a host
 * prefix. Host bits past the length are cleared, as Cilium's prefix parser
 * accepts them ("10.1.2.3/8" is 10.0.0.0/8). Rejects garbage and
 * out-of-range lengths with a message in eb.
 */
int pol_prefix_parse(const char *s, bool allow_bare, struct pol_prefix *out, struct errbuf *eb);

/* True if inner lies within outer (same family, outer.len <= inner.len). */
bool pol_prefix_contains(const struct pol_prefix *outer, const struct pol_prefix *inner);

bool pol_prefix_eq(const struct pol_prefix *a, const struct pol_prefix *b);

/* Writes "10.0.0.0/8" into buf (at least 64 bytes). Returns buf. */
char *pol_prefix_format(const struct pol_prefix *p, char *buf, size_t size);

/* Host prefix of an IPv4 address given in network byte order. */
struct pol_prefix pol_prefix_v4(uint32_t addr_be, uint8_t len);

/*
 * Computes base minus the union of excepts as a minimal list of prefixes,
 * appended to *out (realloc'd array of *n). Excepts outside base are ignored.
 * Returns 0 or -ENOMEM.
 */
int pol_prefix_subtract(const struct pol_prefix *base, const struct pol_prefix *excepts,
			size_t nexcepts, struct pol_prefix **out, size_t *n);

/*
 * A prefix trie: values (uint32_t, e.g. identities) stored under prefixes,
 * with every value under a given prefix enumerated in time proportional to
 * the answer (plus the prefix length), not to the trie's size. One node per
 * bit of each stored prefix's path (nodes shared), 12 bytes each; the
 * empty branches of a removed value are freed.
 */
struct pol_ptrie_node;
struct pol_ptrie_link;

struct pol_ptrie {
	struct pol_ptrie_node *nodes; /* [0]: IPv4 root, [1]: IPv6 root */
	size_t nnodes, cap;
	uint32_t free_node;	      /* free list through child[0], 0: empty */
	struct pol_ptrie_link *links; /* values, chained per node */
	size_t nlinks, lcap;
	uint32_t free_link;
	size_t count;
};

/* Stores value under p (a value may be stored twice). Returns 0 or -ENOMEM (trie unchanged). */
int pol_ptrie_add(struct pol_ptrie *t, const struct pol_prefix *p, uint32_t value);
/* Removes one copy of value stored under p. Returns 0 or -ENOENT. */
int pol_ptrie_remove(struct pol_ptrie *t, const struct pol_prefix *p, uint32_t value);
/*
 * Calls fn for every value stored under a prefix within p (p itself
 * included); stops at and returns fn's first non-zero return.
 */
int pol_ptrie_walk(const struct pol_ptrie *t, const struct pol_prefix *p,
		   int (*fn)(void *ctx, uint32_t value), void *ctx);
/* Frees the trie's memory (it is empty and usable again). */
void pol_ptrie_free(struct pol_ptrie *t);

/* p cut to its first len bits (len <= p->len). */
struct pol_prefix pol_prefix_truncate(const struct pol_prefix *p, uint8_t len);

#endif
