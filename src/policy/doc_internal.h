/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pieces shared by the document readers (doc.c, doc_json.c, doc_yaml.c) and
 * nothing else: the arena that owns a stream's nodes and strings, a string
 * hash table for duplicate keys and anchors, position computation, and
 * locale-independent number conversion. Private to src/policy/doc*.c.
 */
#ifndef VELUM_POLICY_DOC_INTERNAL_H
#define VELUM_POLICY_DOC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/doc.h"

/*
 * A bump allocator. Allocations are 8-byte aligned and live until
 * doc_arena__free(); nothing is freed one by one. The arena struct itself
 * lives in its first chunk, so a small document costs one malloc.
 */
struct doc_arena;

/* Returns a new empty arena, or NULL with errno set. */
struct doc_arena *doc_arena__new(void);
/* Frees every chunk, the arena included. Accepts NULL. */
void doc_arena__free(struct doc_arena *a);
/* Returns n uninitialised bytes (n may be 0), or NULL on allocation failure. */
void *doc_arena_alloc(struct doc_arena *a, size_t n);
/* Returns n zeroed bytes, or NULL. */
void *doc_arena_zalloc(struct doc_arena *a, size_t n);
/*
 * Gives back the tail of the most recent allocation p (old bytes) so that
 * only new bytes stay in use. Does nothing if p is not the most recent one.
 */
void doc_arena_shrink(struct doc_arena *a, void *p, size_t old, size_t new);
/* Returns a NUL-terminated copy of s[0..n), or NULL. */
char *doc_arena_strndup(struct doc_arena *a, const char *s, size_t n);

/*
 * A set of (scope, string) entries with one value pointer each; scope lets
 * one table hold the keys of many maps (scope = map serial number) without
 * clearing. Strings are borrowed and must outlive their entries.
 */
struct doc_htab_ent {
	const char *key;
	size_t len;
	size_t scope;
	uint64_t hash;
	void *val;
};

struct doc_htab {
	struct doc_htab_ent *v;
	size_t n, cap; /* cap is 0 or a power of two */
};

/*
 * Finds (scope, key[0..len)) or inserts it with val NULL. Returns the entry
 * (valid until the next insertion) and sets *found, or NULL when out of memory.
 */
struct doc_htab_ent *doc_htab_upsert(struct doc_htab *h, size_t scope, const char *key, size_t len,
				     bool *found);
/* Returns the entry for (scope, key) or NULL. */
struct doc_htab_ent *doc_htab_find(const struct doc_htab *h, size_t scope, const char *key,
				   size_t len);
/* Forgets every entry, keeping the memory. */
void doc_htab_clear(struct doc_htab *h);
void doc_htab_free(struct doc_htab *h);

/*
 * Tells whether key[0..len) (NUL-terminated, no NUL inside) is already a key
 * of the map being built, whose earlier pairs are pairs[0..n) and whose keys
 * are scoped scope in h. Maps of up to DOC_KEYS_SCAN keys are scanned; the
 * keys of bigger ones are recorded in h (borrowed), so every key of a map must
 * go through here in order. Returns 1 for a duplicate, 0, or -ENOMEM.
 */
#define DOC_KEYS_SCAN 16
int doc_key_dup(struct doc_htab *h, size_t scope, const struct doc_pair *pairs, size_t n,
		const char *key, size_t len);

/*
 * Line and column (1-based; columns count UTF-8 characters, a CR LF pair or
 * a lone CR or LF ends a line) of byte offset off in buf. A cursor makes
 * monotonic queries linear overall; a query behind the cursor rescans.
 */
struct doc_pos {
	const char *buf;
	size_t len;
	size_t off; /* cursor: offset already accounted for */
	size_t line, col;
};

/* off may be len (the end of input), never more. */
void doc_pos_init(struct doc_pos *ps, const char *buf, size_t len);
void doc_pos_at(struct doc_pos *ps, size_t off, unsigned *line, unsigned *col);

/*
 * Converts s[0..n) to a double in the C locale whatever the process locale.
 * The caller has checked the syntax. Returns 0, or -ERANGE on overflow
 * (underflow rounds towards zero and succeeds), or -ENOMEM.
 */
int doc_strtod(const char *s, size_t n, double *out);

/* Returns a new node of type t at (line, col) with an all-zero value, or NULL. */
struct doc_node *doc_node__new(struct doc_arena *a, enum doc_type t, unsigned line, unsigned col);

/*
 * Copies the nchildren entries of a finished collection from the readers'
 * scratch list into arena arrays owned by node: values for a DOC_SEQ, whole
 * pairs for a DOC_MAP. Returns 0 or -ENOMEM.
 */
int doc_node_fill(struct doc_arena *a, struct doc_node *node, const struct doc_pair *children,
		  size_t nchildren);

/* The readers: as doc_parse() with a known format, after the BOM is skipped. */
int doc_parse_json(const char *buf, size_t len, struct doc_stream *out, struct errbuf *eb);
int doc_parse_yaml(const char *buf, size_t len, struct doc_stream *out, struct errbuf *eb);

#endif
