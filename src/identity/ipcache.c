/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ipcache: one hash table of exact prefixes plus, per family, a bitmap of the
 * prefix lengths in use; a lookup probes only those lengths, longest first.
 */
#include "identity/ipcache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "identity/identity.h"
#include "lib/hmap.h"

struct ic_node {
	struct hnode node;
	struct ipcache_entry e;
};

struct ipcache {
	struct hmap map;
	unsigned len_count[2][129]; /* [v4/v6][len] entries with that length */
};

static uint64_t prefix_hash(const struct pol_prefix *p)
{
	return hash_bytes(p, sizeof(*p), 0);
}

static struct ic_node *find(const struct ipcache *c, const struct pol_prefix *p)
{
	struct hnode *it;

	hmap_for_each_hash(&c->map, prefix_hash(p), it)
	{
		struct ic_node *n = container_of(it, struct ic_node, node);

		if (pol_prefix_eq(&n->e.prefix, p))
			return n;
	}
	return NULL;
}

struct ipcache *ipcache__new(void)
{
	return calloc(1, sizeof(struct ipcache));
}

void ipcache__free(struct ipcache *c)
{
	struct hnode *it, *nx;
	size_t b;

	if (!c)
		return;
	hmap_for_each_safe(&c->map, b, it, nx) free(container_of(it, struct ic_node, node));
	hmap_destroy(&c->map);
	free(c);
}

int ipcache_upsert(struct ipcache *c, const struct pol_prefix *p, uint32_t identity)
{
	struct ic_node *n = find(c, p);

	if (n) {
		n->e.identity = identity;
		return 0;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->e.prefix = *p;
	n->e.identity = identity;
	if (hmap_insert(&c->map, &n->node, prefix_hash(p))) {
		free(n);
		return -ENOMEM;
	}
	c->len_count[p->family == 6][p->len]++;
	return 0;
}

int ipcache_delete(struct ipcache *c, const struct pol_prefix *p)
{
	struct ic_node *n = find(c, p);

	if (!n)
		return -ENOENT;
	hmap_remove(&c->map, &n->node);
	c->len_count[p->family == 6][p->len]--;
	free(n);
	return 0;
}

uint32_t ipcache_lookup(const struct ipcache *c, int family, const uint8_t *addr,
			struct pol_prefix *matched)
{
	int v6 = family == 6, len;
	struct pol_prefix p;

	for (len = v6 ? 128 : 32; len >= 0; len--) {
		struct ic_node *n;
		unsigned i, full = (unsigned)len / 8, rem = (unsigned)len % 8;

		if (!c->len_count[v6][len])
			continue;
		memset(&p, 0, sizeof(p));
		p.family = v6 ? 6 : 4;
		p.len = (uint8_t)len;
		for (i = 0; i < full; i++)
			p.addr[i] = addr[i];
		if (rem)
			p.addr[full] = addr[full] & (uint8_t)(0xff << (8 - rem));
		n = find(c, &p);
		if (n) {
			if (matched)
				*matched = p;
			return n->e.identity;
		}
	}
	if (matched) {
		memset(matched, 0, sizeof(*matched));
		matched->family = v6 ? 6 : 4;
	}
	return ID_WORLD;
}

static int entry_cmp(const void *pa, const void *pb)
{
	const struct ipcache_entry *a = pa, *b = pb;
	int c = a->prefix.family - b->prefix.family;

	if (!c)
		c = memcmp(a->prefix.addr, b->prefix.addr, 16);
	return c ? c : a->prefix.len - b->prefix.len;
}

long ipcache_list(const struct ipcache *c, struct ipcache_entry **out)
{
	struct ipcache_entry *v = malloc((c->map.n ? c->map.n : 1) * sizeof(*v));
	struct hnode *it, *nx;
	size_t b, n = 0;

	if (!v)
		return -ENOMEM;
	hmap_for_each_safe(&c->map, b, it, nx) v[n++] = container_of(it, struct ic_node, node)->e;
	qsort(v, n, sizeof(*v), entry_cmp);
	*out = v;
	return (long)n;
}

size_t ipcache_count(const struct ipcache *c)
{
	return c->map.n;
}
