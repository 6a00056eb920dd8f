/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The identity allocator: two hash indexes (by number, by label-set hash)
 * over reference-counted entries; numbers are found by a cursor that wraps
 * within each scope's range.
 */
#include "identity/identity.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hmap.h"
#include "velum/ipcache.h"

/*
 * The datapath knows two reserved identities by number (ipcache misses are
 * world, the node's own addresses host); they must be the allocator's, which
 * are Cilium's.
 */
_Static_assert(ID_HOST == VELUM_ID_HOST, "reserved:host differs from include/velum/ipcache.h");
_Static_assert(ID_WORLD == VELUM_ID_WORLD, "reserved:world differs from include/velum/ipcache.h");
_Static_assert(ID_HOST == 1 && ID_WORLD == 2 && ID_UNMANAGED == 3 && ID_HEALTH == 4 &&
		       ID_INIT == 5 && ID_REMOTE_NODE == 6 && ID_KUBE_APISERVER == 7 &&
		       ID_INGRESS == 8 && ID_WORLD_IPV4 == 9 && ID_WORLD_IPV6 == 10 &&
		       ID_FIRST_ALLOC == 256,
	       "reserved identities are Cilium's numbers");

struct id_node {
	struct id_entry e;
	struct hnode by_id, by_labels;
};

struct id_alloc {
	struct hmap by_id, by_labels;
	uint32_t next_global, next_local;
};

static const char *const reserved_names[ID_RESERVED_MAX + 1] = {
	[ID_HOST] = "host",
	[ID_WORLD] = "world",
	[ID_UNMANAGED] = "unmanaged",
	[ID_HEALTH] = "health",
	[ID_INIT] = "init",
	[ID_REMOTE_NODE] = "remote-node",
	[ID_KUBE_APISERVER] = "kube-apiserver",
	[ID_INGRESS] = "ingress",
	[ID_WORLD_IPV4] = "world-ipv4",
	[ID_WORLD_IPV6] = "world-ipv6",
};

const char *id_reserved_name(uint32_t id)
{
	return id >= 1 && id <= ID_RESERVED_MAX ? reserved_names[id] : NULL;
}

static struct id_node *find_id(const struct id_alloc *a, uint32_t id)
{
	struct hnode *it;

	hmap_for_each_hash(&a->by_id, hash_mix64(id), it)
	{
		struct id_node *n = container_of(it, struct id_node, by_id);

		if (n->e.id == id)
			return n;
	}
	return NULL;
}

static struct id_node *find_labels(const struct id_alloc *a, const struct pol_labels *ls,
				   uint64_t h)
{
	struct hnode *it;

	hmap_for_each_hash(&a->by_labels, h, it)
	{
		struct id_node *n = container_of(it, struct id_node, by_labels);

		if (!pol_labels_cmp(&n->e.labels, ls))
			return n;
	}
	return NULL;
}

static void node_free(struct id_node *n)
{
	pol_labels_free(&n->e.labels);
	free(n);
}

/* Links a filled node into both indexes. Takes n (freed on failure). */
static int link_node(struct id_alloc *a, struct id_node *n)
{
	if (hmap_insert(&a->by_id, &n->by_id, hash_mix64(n->e.id))) {
		node_free(n);
		return -ENOMEM;
	}
	if (hmap_insert(&a->by_labels, &n->by_labels, pol_labels_hash(&n->e.labels))) {
		hmap_remove(&a->by_id, &n->by_id);
		node_free(n);
		return -ENOMEM;
	}
	return 0;
}

struct id_alloc *id_alloc__new(void)
{
	struct id_alloc *a = calloc(1, sizeof(*a));
	uint32_t id;

	if (!a)
		return NULL;
	a->next_global = ID_FIRST_ALLOC;
	a->next_local = ID_LOCAL_SCOPE + 1;
	for (id = 1; id <= ID_RESERVED_MAX; id++) {
		struct id_node *n = calloc(1, sizeof(*n));

		if (!n ||
		    pol_labels_set(&n->e.labels, POL_SOURCE_RESERVED, reserved_names[id], "")) {
			if (n)
				node_free(n);
			goto err_free;
		}
		n->e.id = id;
		n->e.reserved = true;
		n->e.refs = 1;
		if (link_node(a, n))
			goto err_free;
	}
	return a;

err_free:
	id_alloc__free(a);
	errno = ENOMEM;
	return NULL;
}

void id_alloc__free(struct id_alloc *a)
{
	struct hnode *it, *nx;
	size_t b;

	if (!a)
		return;
	hmap_for_each_safe(&a->by_id, b, it, nx) node_free(container_of(it, struct id_node, by_id));
	hmap_destroy(&a->by_id);
	hmap_destroy(&a->by_labels);
	free(a);
}

static int next_free(struct id_alloc *a, bool local, uint32_t *out)
{
	uint32_t first = local ? ID_LOCAL_SCOPE + 1 : ID_FIRST_ALLOC;
	uint32_t last = local ? ID_LOCAL_LAST : ID_LAST_GLOBAL;
	uint32_t *cur = local ? &a->next_local : &a->next_global;
	uint64_t tries, span = (uint64_t)last - first + 1;

	for (tries = 0; tries < span; tries++) {
		uint32_t id = *cur;

		*cur = id == last ? first : id + 1;
		if (!find_id(a, id)) {
			*out = id;
			return 0;
		}
	}
	return -ENOSPC;
}

static int acquire(struct id_alloc *a, struct pol_labels *owned, const struct pol_prefix *cidr,
		   uint32_t *id, bool *created)
{
	uint64_t h = pol_labels_hash(owned);
	struct id_node *n = find_labels(a, owned, h);
	int err;

	if (created)
		*created = false;
	if (n) {
		pol_labels_free(owned);
		if (!n->e.reserved)
			n->e.refs++;
		*id = n->e.id;
		return 0;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		pol_labels_free(owned);
		return -ENOMEM;
	}
	n->e.labels = *owned;
	memset(owned, 0, sizeof(*owned));
	err = next_free(a, cidr != NULL, &n->e.id);
	if (err) {
		node_free(n);
		return err;
	}
	if (cidr) {
		n->e.has_cidr = true;
		n->e.cidr = *cidr;
	}
	n->e.refs = 1;
	err = link_node(a, n);
	if (err)
		return err;
	*id = n->e.id;
	if (created)
		*created = true;
	return 0;
}

int id_alloc_acquire(struct id_alloc *a, const struct pol_labels *labels, uint32_t *id,
		     bool *created)
{
	struct pol_labels sec = { 0 };
	int err = pol_labels_security(&sec, labels);

	return err ? err : acquire(a, &sec, NULL, id, created);
}

int id_alloc_acquire_cidr(struct id_alloc *a, const struct pol_prefix *p, uint32_t *id,
			  bool *created)
{
	struct pol_labels ls = { 0 };
	char buf[64];
	int err;

	pol_prefix_format(p, buf, sizeof(buf));
	err = pol_labels_set(&ls, POL_SOURCE_CIDR, buf, "");
	if (!err)
		err = pol_labels_set(&ls, POL_SOURCE_RESERVED, "world", "");
	if (err) {
		pol_labels_free(&ls);
		return err;
	}
	return acquire(a, &ls, p, id, created);
}

int id_alloc_restore(struct id_alloc *a, uint32_t id, const struct pol_labels *labels)
{
	struct id_node *n;
	int err;

	if (id < ID_FIRST_ALLOC || (id > ID_LAST_GLOBAL && id < ID_LOCAL_SCOPE) ||
	    id > ID_LOCAL_LAST)
		return -EINVAL;
	if (find_id(a, id) || find_labels(a, labels, pol_labels_hash(labels)))
		return -EEXIST;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	err = pol_labels_copy(&n->e.labels, labels);
	if (err) {
		free(n);
		return err;
	}
	n->e.id = id;
	n->e.refs = 1;
	return link_node(a, n);
}

int id_alloc_release(struct id_alloc *a, uint32_t id, bool *freed)
{
	struct id_node *n = find_id(a, id);

	if (freed)
		*freed = false;
	if (!n)
		return -ENOENT;
	if (n->e.reserved)
		return 0;
	if (--n->e.refs)
		return 0;
	hmap_remove(&a->by_id, &n->by_id);
	hmap_remove(&a->by_labels, &n->by_labels);
	node_free(n);
	if (freed)
		*freed = true;
	return 0;
}

const struct id_entry *id_alloc_get(const struct id_alloc *a, uint32_t id)
{
	struct id_node *n = find_id(a, id);

	return n ? &n->e : NULL;
}

static int entry_cmp(const void *pa, const void *pb)
{
	const struct id_entry *a = *(const struct id_entry *const *)pa;
	const struct id_entry *b = *(const struct id_entry *const *)pb;

	return (a->id > b->id) - (a->id < b->id);
}

long id_alloc_list(const struct id_alloc *a, const struct id_entry ***out)
{
	const struct id_entry **v = malloc((a->by_id.n ? a->by_id.n : 1) * sizeof(*v));
	struct hnode *it, *nx;
	size_t b, n = 0;

	if (!v)
		return -ENOMEM;
	hmap_for_each_safe(&a->by_id, b, it, nx) v[n++] =
		&container_of(it, struct id_node, by_id)->e;
	qsort(v, n, sizeof(*v), entry_cmp);
	*out = v;
	return (long)n;
}

size_t id_alloc_count(const struct id_alloc *a)
{
	return a->by_id.n;
}
