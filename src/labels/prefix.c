/* SPDX-License-Identifier: Apache-2.0 */
/* IP prefix parsing, containment and subtraction. */
#include "labels/prefix.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/vec.h"

static void prefix_mask(struct pol_prefix *p)
{
	unsigned bytes = p->family == 4 ? 4 : 16, i;

	for (i = 0; i < bytes; i++) {
		unsigned bit = i * 8;

		if (bit >= p->len)
			p->addr[i] = 0;
		else if (bit + 8 > p->len)
			p->addr[i] &= (uint8_t)(0xff << (8 - (p->len - bit)));
	}
	for (i = bytes; i < 16; i++)
		p->addr[i] = 0;
}

int pol_prefix_parse(const char *s, bool allow_bare, struct pol_prefix *out, struct errbuf *eb)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long len;
	char *end;

	memset(out, 0, sizeof(*out));
	if (alen == 0 || alen >= sizeof(addr))
		return errbuf_set(eb, -EINVAL, "'%s' is not a CIDR prefix", s);
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, out->addr) == 1)
		out->family = 4;
	else if (inet_pton(AF_INET6, addr, out->addr) == 1)
		out->family = 6;
	else
		return errbuf_set(eb, -EINVAL, "'%s' is not a CIDR prefix", s);
	if (!slash) {
		if (!allow_bare)
			return errbuf_set(eb, -EINVAL,
					  "'%s' is not a CIDR prefix (missing /length)", s);
		out->len = out->family == 4 ? 32 : 128;
		return 0;
	}
	if (slash[1] < '0' || slash[1] > '9' || (slash[1] == '0' && slash[2]))
		return errbuf_set(eb, -EINVAL, "'%s' is not a CIDR prefix", s);
	errno = 0;
	len = strtoul(slash + 1, &end, 10);
	if (errno || *end || len > (out->family == 4 ? 32u : 128u))
		return errbuf_set(eb, -EINVAL, "'%s' is not a CIDR prefix (bad length)", s);
	out->len = (uint8_t)len;
	prefix_mask(out);
	return 0;
}

bool pol_prefix_contains(const struct pol_prefix *outer, const struct pol_prefix *inner)
{
	unsigned full, rem;

	if (outer->family != inner->family || outer->len > inner->len)
		return false;
	full = outer->len / 8;
	rem = outer->len % 8;
	if (memcmp(outer->addr, inner->addr, full))
		return false;
	if (rem && ((outer->addr[full] ^ inner->addr[full]) & (uint8_t)(0xff << (8 - rem))))
		return false;
	return true;
}

bool pol_prefix_eq(const struct pol_prefix *a, const struct pol_prefix *b)
{
	return a->family == b->family && a->len == b->len && !memcmp(a->addr, b->addr, 16);
}

char *pol_prefix_format(const struct pol_prefix *p, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN];

	if (!inet_ntop(p->family == 4 ? AF_INET : AF_INET6, p->addr, a, sizeof(a)))
		snprintf(a, sizeof(a), "?");
	snprintf(buf, size, "%s/%u", a, p->len);
	return buf;
}

struct pol_prefix pol_prefix_v4(uint32_t addr_be, uint8_t len)
{
	struct pol_prefix p = { .family = 4, .len = len };

	memcpy(p.addr, &addr_be, 4);
	prefix_mask(&p);
	return p;
}

static int push_prefix(struct pol_prefix **out, size_t *n, const struct pol_prefix *p)
{
	if (vec_room_pow2(*out, *n))
		return -ENOMEM;
	(*out)[(*n)++] = *p;
	return 0;
}

/*
 * Recursive halving: a prefix either is covered by an except (dropped), has
 * no except inside it (kept whole), or is split into its two halves. The
 * depth is bounded by the address width.
 */
static int subtract(const struct pol_prefix *p, const struct pol_prefix *ex, size_t nex,
		    struct pol_prefix **out, size_t *n)
{
	struct pol_prefix half;
	bool inside = false;
	unsigned maxlen = p->family == 4 ? 32 : 128;
	size_t i;
	int err;

	for (i = 0; i < nex; i++) {
		if (ex[i].family != p->family)
			continue;
		if (pol_prefix_contains(&ex[i], p))
			return 0;
		if (pol_prefix_contains(p, &ex[i]))
			inside = true;
	}
	if (!inside || p->len >= maxlen)
		return push_prefix(out, n, p);
	half = *p;
	half.len++;
	err = subtract(&half, ex, nex, out, n);
	if (err)
		return err;
	half.addr[p->len / 8] |= (uint8_t)(0x80 >> (p->len % 8));
	return subtract(&half, ex, nex, out, n);
}

int pol_prefix_subtract(const struct pol_prefix *base, const struct pol_prefix *excepts,
			size_t nexcepts, struct pol_prefix **out, size_t *n)
{
	return subtract(base, excepts, nexcepts, out, n);
}

struct pol_prefix pol_prefix_truncate(const struct pol_prefix *p, uint8_t len)
{
	struct pol_prefix q = *p;

	q.len = len < p->len ? len : p->len;
	prefix_mask(&q);
	return q;
}

/* ---- prefix trie ---------------------------------------------------------------------- */

struct pol_ptrie_node {
	uint32_t child[2]; /* node indices, 0: none (0 and 1 are roots, never children) */
	uint32_t first;	   /* first value link, 0: none */
};

struct pol_ptrie_link {
	uint32_t value;
	uint32_t next; /* link index, 0: end */
};

static int bit_at(const struct pol_prefix *p, unsigned i)
{
	return (p->addr[i / 8] >> (7 - i % 8)) & 1;
}

static int ptrie_init(struct pol_ptrie *t)
{
	if (t->nodes)
		return 0;
	/* two roots; link 0 is the "none" sentinel */
	if (vec_grow_((void **)&t->nodes, &t->cap, 2, sizeof(*t->nodes)) ||
	    vec_grow_((void **)&t->links, &t->lcap, 1, sizeof(*t->links)))
		return -ENOMEM;
	memset(t->nodes, 0, 2 * sizeof(*t->nodes));
	t->nnodes = 2;
	t->nlinks = 1;
	return 0;
}

/* A new zeroed node's index, or 0 (out of memory). */
static uint32_t node_new(struct pol_ptrie *t)
{
	uint32_t i = t->free_node;

	if (i) {
		t->free_node = t->nodes[i].child[0];
	} else {
		if (t->nnodes >= UINT32_MAX ||
		    vec_grow_((void **)&t->nodes, &t->cap, t->nnodes + 1, sizeof(*t->nodes)))
			return 0;
		i = (uint32_t)t->nnodes++;
	}
	memset(&t->nodes[i], 0, sizeof(t->nodes[i]));
	return i;
}

static void node_put(struct pol_ptrie *t, uint32_t i)
{
	t->nodes[i].child[0] = t->free_node;
	t->free_node = i;
}

static uint32_t link_new(struct pol_ptrie *t)
{
	uint32_t i = t->free_link;

	if (i) {
		t->free_link = t->links[i].next;
		return i;
	}
	if (t->nlinks >= UINT32_MAX ||
	    vec_grow_((void **)&t->links, &t->lcap, t->nlinks + 1, sizeof(*t->links)))
		return 0;
	return (uint32_t)t->nlinks++;
}

/*
 * Frees the nodes of path[1..depth] that hold nothing, bottom up (path[0]
 * is a root). path[k] is the node after k bits.
 */
static void prune(struct pol_ptrie *t, const struct pol_prefix *p, const uint32_t *path,
		  unsigned depth)
{
	unsigned k;

	for (k = depth; k > 0; k--) {
		struct pol_ptrie_node *n = &t->nodes[path[k]];

		if (n->first || n->child[0] || n->child[1])
			return;
		t->nodes[path[k - 1]].child[bit_at(p, k - 1)] = 0;
		node_put(t, path[k]);
	}
}

int pol_ptrie_add(struct pol_ptrie *t, const struct pol_prefix *p, uint32_t value)
{
	uint32_t path[129], l;
	unsigned k;

	if (ptrie_init(t))
		return -ENOMEM;
	path[0] = p->family == 6;
	for (k = 0; k < p->len; k++) {
		uint32_t c = t->nodes[path[k]].child[bit_at(p, k)];

		if (!c) {
			c = node_new(t);
			if (!c) {
				prune(t, p, path, k);
				return -ENOMEM;
			}
			/* node_new() may move the array: index again */
			t->nodes[path[k]].child[bit_at(p, k)] = c;
		}
		path[k + 1] = c;
	}
	l = link_new(t);
	if (!l) {
		prune(t, p, path, p->len);
		return -ENOMEM;
	}
	t->links[l].value = value;
	t->links[l].next = t->nodes[path[p->len]].first;
	t->nodes[path[p->len]].first = l;
	t->count++;
	return 0;
}

int pol_ptrie_remove(struct pol_ptrie *t, const struct pol_prefix *p, uint32_t value)
{
	uint32_t path[129], *at;
	unsigned k;

	if (!t->nodes)
		return -ENOENT;
	path[0] = p->family == 6;
	for (k = 0; k < p->len; k++) {
		path[k + 1] = t->nodes[path[k]].child[bit_at(p, k)];
		if (!path[k + 1])
			return -ENOENT;
	}
	for (at = &t->nodes[path[p->len]].first; *at; at = &t->links[*at].next) {
		uint32_t l = *at;

		if (t->links[l].value != value)
			continue;
		*at = t->links[l].next;
		t->links[l].next = t->free_link;
		t->free_link = l;
		t->count--;
		prune(t, p, path, p->len);
		return 0;
	}
	return -ENOENT;
}

int pol_ptrie_walk(const struct pol_ptrie *t, const struct pol_prefix *p,
		   int (*fn)(void *ctx, uint32_t value), void *ctx)
{
	/* depth-first: at most one pending sibling per level */
	uint32_t stack[2 * 129 + 2], n;
	size_t sp = 0;
	unsigned k;
	int err;

	if (!t->nodes)
		return 0;
	n = p->family == 6; /* the root; 0 means "none" only for children */
	for (k = 0; k < p->len; k++) {
		n = t->nodes[n].child[bit_at(p, k)];
		if (!n)
			return 0;
	}
	stack[sp++] = n;
	while (sp) {
		const struct pol_ptrie_node *x = &t->nodes[stack[--sp]];
		uint32_t l;

		for (l = x->first; l; l = t->links[l].next) {
			err = fn(ctx, t->links[l].value);
			if (err)
				return err;
		}
		if (x->child[1])
			stack[sp++] = x->child[1];
		if (x->child[0])
			stack[sp++] = x->child[0];
	}
	return 0;
}

void pol_ptrie_free(struct pol_ptrie *t)
{
	free(t->nodes);
	free(t->links);
	memset(t, 0, sizeof(*t));
}
