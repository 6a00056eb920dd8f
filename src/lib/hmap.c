/* SPDX-License-Identifier: Apache-2.0 */
/* Intrusive chained hash table. */
#include "lib/hmap.h"

#include <errno.h>
#include <stdlib.h>

static int hmap_grow(struct hmap *m)
{
	size_t nb = m->buckets ? (m->mask + 1) * 2 : 16, i;
	struct hnode **nbk = calloc(nb, sizeof(*nbk));

	if (!nbk)
		return -ENOMEM;
	for (i = 0; m->buckets && i <= m->mask; i++) {
		struct hnode *it = m->buckets[i], *nx;

		for (; it; it = nx) {
			nx = it->next;
			it->next = nbk[it->hash & (nb - 1)];
			nbk[it->hash & (nb - 1)] = it;
		}
	}
	free(m->buckets);
	m->buckets = nbk;
	m->mask = nb - 1;
	return 0;
}

int hmap_insert(struct hmap *m, struct hnode *node, uint64_t h)
{
	struct hnode **b;

	if ((!m->buckets || m->n >= m->mask + 1) && hmap_grow(m))
		return -ENOMEM;
	node->hash = h;
	b = &m->buckets[h & m->mask];
	node->next = *b;
	*b = node;
	m->n++;
	return 0;
}

void hmap_remove(struct hmap *m, struct hnode *node)
{
	struct hnode **pp = &m->buckets[node->hash & m->mask];

	while (*pp && *pp != node)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = node->next;
		m->n--;
	}
}

struct hnode *hmap_first_hash(const struct hmap *m, uint64_t h)
{
	struct hnode *it;

	if (!m->buckets)
		return NULL;
	for (it = m->buckets[h & m->mask]; it && it->hash != h; it = it->next)
		;
	return it;
}

struct hnode *hmap_next_hash(const struct hnode *node, uint64_t h)
{
	struct hnode *it;

	for (it = node->next; it && it->hash != h; it = it->next)
		;
	return it;
}

void hmap_destroy(struct hmap *m)
{
	free(m->buckets);
	m->buckets = NULL;
	m->mask = 0;
	m->n = 0;
}
