/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The format-independent half of the document tree: doc_parse() picks a
 * reader (sniffing the format for DOC_FMT_AUTO) and owns the stream's
 * lifecycle; the arena, hash table, position cursor and number conversion
 * here are shared by doc_json.c and doc_yaml.c through doc_internal.h.
 */
#include "policy/doc.h"

#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "policy/doc_internal.h"

#define ARENA_ALIGN	8
#define ARENA_FIRST	4096
#define ARENA_MAX_CHUNK (1u << 20)
#define UTF8_BOM	"\xef\xbb\xbf"
#define HTAB_MIN_CAP	16

_Static_assert(alignof(struct doc_node) <= ARENA_ALIGN, "arena alignment");
_Static_assert(alignof(struct doc_pair) <= ARENA_ALIGN, "arena alignment");

struct arena_chunk {
	struct arena_chunk *next;
	size_t size; /* bytes including this header */
};

struct doc_arena {
	struct arena_chunk *chunks;
	char *cur, *end; /* free space of the current chunk */
	char *last;	 /* the latest allocation from [cur, end), for doc_arena_shrink() */
	size_t next_size;
};

static size_t align_up(size_t n)
{
	return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
}

#define CHUNK_HDR align_up(sizeof(struct arena_chunk))

struct doc_arena *doc_arena__new(void)
{
	struct arena_chunk *c;
	struct doc_arena *a;

	c = malloc(ARENA_FIRST);
	if (!c)
		return NULL;
	c->next = NULL;
	c->size = ARENA_FIRST;
	a = (struct doc_arena *)((char *)c + CHUNK_HDR);
	a->chunks = c;
	a->cur = (char *)a + align_up(sizeof(*a));
	a->end = (char *)c + ARENA_FIRST;
	a->last = NULL;
	a->next_size = ARENA_FIRST * 4;
	return a;
}

void doc_arena__free(struct doc_arena *a)
{
	struct arena_chunk *c, *next;

	if (!a)
		return;
	/* The arena lives in the last chunk of the list: read the head first. */
	for (c = a->chunks; c; c = next) {
		next = c->next;
		free(c);
	}
}

void *doc_arena_alloc(struct doc_arena *a, size_t n)
{
	struct arena_chunk *c;
	size_t size;
	char *p;

	if (n > SIZE_MAX / 4)
		return NULL;
	n = align_up(n);
	if (n > (size_t)(a->end - a->cur)) {
		/*
		 * A big request gets a chunk of its own behind the current
		 * one, so the free space of the current chunk is not wasted.
		 */
		if (n > a->next_size / 4) {
			size = CHUNK_HDR + n;
			c = malloc(size);
			if (!c)
				return NULL;
			c->size = size;
			c->next = a->chunks;
			a->chunks = c;
			return (char *)c + CHUNK_HDR;
		}
		size = a->next_size;
		c = malloc(size);
		if (!c)
			return NULL;
		c->size = size;
		c->next = a->chunks;
		a->chunks = c;
		a->cur = (char *)c + CHUNK_HDR;
		a->end = (char *)c + size;
		if (a->next_size < ARENA_MAX_CHUNK)
			a->next_size *= 2;
	}
	p = a->cur;
	a->cur += n;
	a->last = p;
	return p;
}

void *doc_arena_zalloc(struct doc_arena *a, size_t n)
{
	void *p = doc_arena_alloc(a, n);

	if (p)
		memset(p, 0, n);
	return p;
}

void doc_arena_shrink(struct doc_arena *a, void *p, size_t old, size_t new)
{
	if (p && p == a->last && (char *)p + align_up(old) == a->cur && new <= old)
		a->cur = (char *)p + align_up(new);
}

char *doc_arena_strndup(struct doc_arena *a, const char *s, size_t n)
{
	char *p;

	if (n == SIZE_MAX)
		return NULL;
	p = doc_arena_alloc(a, n + 1);
	if (!p)
		return NULL;
	if (n)
		memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/*
 * FNV-1a over the bytes, then the scope, then a full avalanche: FNV's
 * multiply only carries upwards, and the table indexes with the low bits.
 */
static uint64_t htab_hash(size_t scope, const char *key, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 0x100000001b3ull;
	}
	h ^= (uint64_t)scope * 0x9e3779b97f4a7c15ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

static bool htab_match(const struct doc_htab_ent *e, uint64_t hash, size_t scope, const char *key,
		       size_t len)
{
	return e->hash == hash && e->scope == scope && e->len == len &&
	       (len == 0 || memcmp(e->key, key, len) == 0);
}

/* Linear probing over a power-of-two table; an empty slot has key NULL. */
static struct doc_htab_ent *htab_slot(struct doc_htab_ent *v, size_t cap, uint64_t hash,
				      size_t scope, const char *key, size_t len)
{
	size_t i = hash & (cap - 1);

	while (v[i].key && !htab_match(&v[i], hash, scope, key, len))
		i = (i + 1) & (cap - 1);
	return &v[i];
}

static int htab_grow(struct doc_htab *h)
{
	size_t ncap = h->cap ? h->cap * 2 : HTAB_MIN_CAP, i;
	struct doc_htab_ent *nv, *e;

	if (ncap > SIZE_MAX / 2 / sizeof(*nv))
		return -ENOMEM;
	nv = calloc(ncap, sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	for (i = 0; i < h->cap; i++) {
		e = &h->v[i];
		if (e->key)
			*htab_slot(nv, ncap, e->hash, e->scope, e->key, e->len) = *e;
	}
	free(h->v);
	h->v = nv;
	h->cap = ncap;
	return 0;
}

struct doc_htab_ent *doc_htab_upsert(struct doc_htab *h, size_t scope, const char *key, size_t len,
				     bool *found)
{
	uint64_t hash = htab_hash(scope, key, len);
	struct doc_htab_ent *e;

	/* Keep the load at most 1/2 so probes stay short. */
	if ((h->n + 1) * 2 > h->cap && htab_grow(h))
		return NULL;
	e = htab_slot(h->v, h->cap, hash, scope, key, len);
	*found = e->key != NULL;
	if (!*found) {
		/* An empty key still needs a non-NULL pointer to mark the slot used. */
		e->key = key ? key : "";
		e->len = len;
		e->scope = scope;
		e->hash = hash;
		e->val = NULL;
		h->n++;
	}
	return e;
}

struct doc_htab_ent *doc_htab_find(const struct doc_htab *h, size_t scope, const char *key,
				   size_t len)
{
	struct doc_htab_ent *e;

	if (!h->cap)
		return NULL;
	e = htab_slot(h->v, h->cap, htab_hash(scope, key, len), scope, key, len);
	return e->key ? e : NULL;
}

void doc_htab_clear(struct doc_htab *h)
{
	if (h->n)
		memset(h->v, 0, h->cap * sizeof(*h->v));
	h->n = 0;
}

void doc_htab_free(struct doc_htab *h)
{
	free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}

int doc_key_dup(struct doc_htab *h, size_t scope, const struct doc_pair *pairs, size_t n,
		const char *key, size_t len)
{
	struct doc_htab_ent *e;
	bool found;
	size_t i;

	if (n < DOC_KEYS_SCAN) {
		for (i = 0; i < n; i++)
			if (strcmp(pairs[i].key, key) == 0)
				return 1;
		return 0;
	}
	if (n == DOC_KEYS_SCAN) {
		/* The map outgrows scanning: its keys so far, all distinct, move to h. */
		for (i = 0; i < n; i++)
			if (!doc_htab_upsert(h, scope, pairs[i].key, strlen(pairs[i].key), &found))
				return -ENOMEM;
	}
	e = doc_htab_upsert(h, scope, key, len, &found);
	if (!e)
		return -ENOMEM;
	return found;
}

void doc_pos_init(struct doc_pos *ps, const char *buf, size_t len)
{
	ps->buf = buf;
	ps->len = len;
	ps->off = 0;
	ps->line = 1;
	ps->col = 1;
}

static unsigned clamp_uint(size_t v)
{
	return v > UINT_MAX ? UINT_MAX : (unsigned)v;
}

void doc_pos_at(struct doc_pos *ps, size_t off, unsigned *line, unsigned *col)
{
	const unsigned char *p;
	size_t i;

	if (off < ps->off)
		doc_pos_init(ps, ps->buf, ps->len);
	p = (const unsigned char *)ps->buf;
	for (i = ps->off; i < off; i++) {
		if (p[i] == '\n') {
			ps->line++;
			ps->col = 1;
		} else if (p[i] == '\r') {
			/* In a CR LF pair only the LF ends the line. */
			if (i + 1 < ps->len && p[i + 1] == '\n') {
				ps->col++;
				continue;
			}
			ps->line++;
			ps->col = 1;
		} else if ((p[i] & 0xc0) != 0x80) {
			/* Continuation bytes belong to the character before them. */
			ps->col++;
		}
	}
	ps->off = off;
	*line = clamp_uint(ps->line);
	*col = clamp_uint(ps->col);
}

/*
 * strtod() follows LC_NUMERIC; the readers need '.' whatever the program
 * set, so they convert under a private "C" locale created once.
 */
static locale_t c_locale(void)
{
	static locale_t loc;
	locale_t l, expected = (locale_t)0;

	l = __atomic_load_n(&loc, __ATOMIC_ACQUIRE);
	if (l)
		return l;
	l = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	if (!l)
		return (locale_t)0;
	if (!__atomic_compare_exchange_n(&loc, &expected, l, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		freelocale(l);
		l = expected;
	}
	return l;
}

int doc_strtod(const char *s, size_t n, double *out)
{
	char small[64], *tmp = small, *end;
	locale_t loc = c_locale();
	double d;
	int err = 0;

	if (!loc)
		return -ENOMEM;
	if (n >= sizeof(small)) {
		tmp = malloc(n + 1);
		if (!tmp)
			return -ENOMEM;
	}
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	errno = 0;
	d = strtod_l(tmp, &end, loc);
	if (isinf(d) && errno == ERANGE)
		err = -ERANGE;
	if (tmp != small)
		free(tmp);
	*out = d;
	return err;
}

struct doc_node *doc_node__new(struct doc_arena *a, enum doc_type t, unsigned line, unsigned col)
{
	struct doc_node *n = doc_arena_zalloc(a, sizeof(*n));

	if (!n)
		return NULL;
	n->type = t;
	n->line = line;
	n->col = col;
	return n;
}

int doc_node_fill(struct doc_arena *a, struct doc_node *node, const struct doc_pair *children,
		  size_t nchildren)
{
	size_t i;

	if (!nchildren)
		return 0;
	if (node->type == DOC_MAP) {
		if (nchildren > SIZE_MAX / sizeof(*node->map.pairs))
			return -ENOMEM;
		node->map.pairs = doc_arena_alloc(a, nchildren * sizeof(*node->map.pairs));
		if (!node->map.pairs)
			return -ENOMEM;
		memcpy(node->map.pairs, children, nchildren * sizeof(*children));
		node->map.n = nchildren;
		return 0;
	}
	if (nchildren > SIZE_MAX / sizeof(*node->seq.items))
		return -ENOMEM;
	node->seq.items = doc_arena_alloc(a, nchildren * sizeof(*node->seq.items));
	if (!node->seq.items)
		return -ENOMEM;
	for (i = 0; i < nchildren; i++)
		node->seq.items[i] = children[i].value;
	node->seq.n = nchildren;
	return 0;
}

/* JSON if the first byte that is not YAML/JSON white space opens a collection. */
static enum doc_format sniff(const char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		switch (buf[i]) {
		case ' ':
		case '\t':
		case '\r':
		case '\n':
			continue;
		case '{':
		case '[':
			return DOC_FMT_JSON;
		default:
			return DOC_FMT_YAML;
		}
	}
	return DOC_FMT_YAML;
}

int doc_parse(const char *buf, size_t len, enum doc_format fmt, struct doc_stream *out,
	      struct errbuf *eb)
{
	int err;

	memset(out, 0, sizeof(*out));
	errbuf_clear(eb);
	if (!buf && len)
		return errbuf_set(eb, -EINVAL, "1:1: no input buffer");
	if (!buf)
		buf = "";
	/* Positions start after a UTF-8 byte order mark: it is not text. */
	if (len >= 3 && memcmp(buf, UTF8_BOM, 3) == 0) {
		buf += 3;
		len -= 3;
	}
	if (fmt == DOC_FMT_AUTO)
		fmt = sniff(buf, len);
	if (fmt != DOC_FMT_JSON && fmt != DOC_FMT_YAML)
		return errbuf_set(eb, -EINVAL, "1:1: unknown document format %d", (int)fmt);

	out->arena = doc_arena__new();
	if (!out->arena) {
		errbuf_set(eb, -ENOMEM, "1:1: out of memory");
		return -ENOMEM;
	}
	if (fmt == DOC_FMT_JSON)
		err = doc_parse_json(buf, len, out, eb);
	else
		err = doc_parse_yaml(buf, len, out, eb);
	if (err) {
		if (err == -ENOMEM && errbuf_empty(eb))
			errbuf_set(eb, -ENOMEM, "1:1: out of memory");
		doc_stream_free(out);
		return err;
	}
	return 0;
}

void doc_stream_free(struct doc_stream *s)
{
	if (!s)
		return;
	doc_arena__free(s->arena);
	memset(s, 0, sizeof(*s));
}

const struct doc_node *doc_map_get(const struct doc_node *map, const char *key)
{
	size_t i;

	if (!map || map->type != DOC_MAP || !key)
		return NULL;
	for (i = 0; i < map->map.n; i++)
		if (strcmp(map->map.pairs[i].key, key) == 0)
			return map->map.pairs[i].value;
	return NULL;
}

const char *doc_type_name(enum doc_type t)
{
	switch (t) {
	case DOC_NULL:
		return "null";
	case DOC_BOOL:
		return "boolean";
	case DOC_INT:
		return "integer";
	case DOC_FLOAT:
		return "number";
	case DOC_STR:
		return "string";
	case DOC_SEQ:
		return "list";
	case DOC_MAP:
		return "object";
	}
	return "unknown";
}
