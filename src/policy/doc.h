/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A document tree with source positions, built from JSON or YAML text. The
 * policy decoder walks this tree and never sees the syntax it came from, so
 * every schema error can name file, line and field path whatever the format.
 *
 * The JSON reader is strict RFC 8259 (no comments, no trailing commas, no
 * duplicate keys, no NUL in strings, nesting at most DOC_MAX_DEPTH). The YAML
 * reader (libyaml) resolves plain scalars with the YAML 1.2 core schema:
 * null/Null/NULL/~/empty, true/True/TRUE and false/False/FALSE, integers
 * (decimal, 0x, 0o), floats (incl. .inf/.nan); everything else is a string,
 * so `yes` stays a string. Standard tags (!!str, !!int, ...) force a type;
 * other tags are errors. Aliases are expanded, with a budget of
 * DOC_MAX_NODES nodes per stream (aliased subtrees counted in full) so that
 * hostile input cannot explode; an alias shares the anchored node, so the
 * tree may be a DAG and the node's position is the anchor's. Mapping keys
 * must be scalars and are kept as their text.
 *
 * Both readers accept UTF-8 only and skip a leading UTF-8 BOM. Columns count
 * characters, not bytes. A decimal integer beyond long long reads as a
 * DOC_FLOAT; a number beyond the range of double is an error (YAML's .inf
 * is not).
 */
#ifndef VELUM_POLICY_DOC_H
#define VELUM_POLICY_DOC_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/errbuf.h"

#define DOC_MAX_DEPTH 128
#define DOC_MAX_NODES 1000000

enum doc_type { DOC_NULL, DOC_BOOL, DOC_INT, DOC_FLOAT, DOC_STR, DOC_SEQ, DOC_MAP };

enum doc_format {
	DOC_FMT_AUTO, /* first non-blank byte '{' or '[' => JSON, else YAML */
	DOC_FMT_JSON,
	DOC_FMT_YAML,
};

struct doc_pair;

struct doc_node {
	enum doc_type type;
	unsigned line, col; /* 1-based position where the node starts */
	union {
		bool b;
		long long i;
		double f;
		struct {
			char *s; /* NUL-terminated, never contains NUL */
			size_t len;
		} str;
		struct {
			struct doc_node **items;
			size_t n;
		} seq;
		struct {
			struct doc_pair *pairs; /* in document order */
			size_t n;
		} map;
	};
};

struct doc_pair {
	const char *key;    /* NUL-terminated key text */
	unsigned line, col; /* position of the key */
	struct doc_node *value;
};

/* One file's documents: a JSON text is one document, YAML may hold several. */
struct doc_stream {
	struct doc_node **docs;
	size_t n;
	void *arena; /* owns every node and string */
};

/*
 * Parses buf[0..len) (need not be NUL-terminated) into *out. Accepts any
 * bytes; on error returns -EINVAL (or -ENOMEM), fills eb with
 * "LINE:COL: message" (the caller prepends the file name), and leaves *out
 * empty. YAML documents that are empty (only comments, or a bare `---`) are
 * skipped. On success the caller frees *out with doc_stream_free().
 */
int doc_parse(const char *buf, size_t len, enum doc_format fmt, struct doc_stream *out,
	      struct errbuf *eb);

/* Frees everything the stream owns; accepts a zeroed or already freed stream. */
void doc_stream_free(struct doc_stream *s);

/* Returns the value for key in a DOC_MAP, or NULL (also when node is not a map). */
const struct doc_node *doc_map_get(const struct doc_node *map, const char *key);

/* "null", "boolean", "integer", "number", "string", "list", "object". */
const char *doc_type_name(enum doc_type t);

#endif
