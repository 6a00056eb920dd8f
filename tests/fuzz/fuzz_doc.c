/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the document readers: each input goes through
 * doc_parse() as AUTO, JSON and YAML. Besides the sanitizers it checks the
 * contract on every result: success gives a well-formed tree (positions
 * 1-based, strings NUL-terminated with the right length, unique keys),
 * failure gives an empty stream and a "LINE:COL: message" error.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/doc.h"

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_doc: broken invariant: %s\n", what);
		abort();
	}
}

/* Walks the tree; aliases may share nodes, so the walk is bounded by the node budget. */
static void walk(const struct doc_node *n, size_t depth, size_t *seen)
{
	size_t i, j;

	check(n != NULL, "node");
	check(depth <= DOC_MAX_DEPTH + 1, "depth");
	check(++*seen <= DOC_MAX_NODES, "node budget");
	check(n->line >= 1 && n->col >= 1, "1-based position");
	switch (n->type) {
	case DOC_NULL:
	case DOC_BOOL:
	case DOC_INT:
	case DOC_FLOAT:
		break;
	case DOC_STR:
		check(n->str.s != NULL && strlen(n->str.s) == n->str.len, "string length");
		break;
	case DOC_SEQ:
		check(n->seq.n == 0 || n->seq.items != NULL, "seq items");
		for (i = 0; i < n->seq.n; i++)
			walk(n->seq.items[i], depth + 1, seen);
		break;
	case DOC_MAP:
		check(n->map.n == 0 || n->map.pairs != NULL, "map pairs");
		for (i = 0; i < n->map.n; i++) {
			check(n->map.pairs[i].key != NULL, "key");
			check(n->map.pairs[i].line >= 1 && n->map.pairs[i].col >= 1,
			      "key position");
			/* Quadratic, but maps in fuzz inputs are small. */
			for (j = 0; j < i && j < 256; j++)
				check(strcmp(n->map.pairs[i].key, n->map.pairs[j].key) != 0,
				      "unique keys");
			walk(n->map.pairs[i].value, depth + 1, seen);
		}
		break;
	default:
		check(0, "node type");
	}
}

static void run(const uint8_t *data, size_t size, enum doc_format fmt)
{
	struct doc_stream s;
	struct errbuf eb;
	unsigned line, col;
	size_t i, seen = 0;
	int err, n = 0;

	err = doc_parse((const char *)data, size, fmt, &s, &eb);
	if (err) {
		check(err == -EINVAL || err == -ENOMEM, "errno");
		check(s.docs == NULL && s.n == 0 && s.arena == NULL, "empty on error");
		check(sscanf(eb.msg, "%u:%u: %n", &line, &col, &n) == 2 && n > 0 && eb.msg[n],
		      "error message form");
		check(line >= 1 && col >= 1, "1-based error position");
		return;
	}
	check(eb.msg[0] == '\0', "no message on success");
	check(fmt != DOC_FMT_JSON || s.n == 1, "one JSON document");
	for (i = 0; i < s.n; i++)
		walk(s.docs[i], 1, &seen);
	doc_stream_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run(data, size, DOC_FMT_AUTO);
	run(data, size, DOC_FMT_JSON);
	run(data, size, DOC_FMT_YAML);
	return 0;
}
