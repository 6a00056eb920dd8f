/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the identity allocator and the ipcache (src/identity):
 * Cilium's reserved numbers, allocation from 256, sharing and reference
 * counts, reuse, restore, the node-local CIDR scope, and longest-prefix
 * lookups with world as the default.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "identity/identity.h"
#include "identity/ipcache.h"

static void set(struct pol_labels *ls, const char *key, const char *value)
{
	assert_int_equal(pol_labels_set(ls, "k8s", key, value), 0);
}

static void test_identity_reserved(void **state)
{
	struct id_alloc *a = id_alloc__new();
	struct pol_labels host = { 0 };
	const struct id_entry *e;
	uint32_t id;

	(void)state;
	assert_non_null(a);
	e = id_alloc_get(a, ID_WORLD);
	assert_non_null(e);
	assert_true(e->reserved);
	assert_string_equal(e->labels.v[0].source, "reserved");
	assert_string_equal(e->labels.v[0].key, "world");
	assert_string_equal(id_reserved_name(ID_HOST), "host");
	assert_string_equal(id_reserved_name(ID_INGRESS), "ingress");
	assert_string_equal(id_reserved_name(ID_WORLD_IPV6), "world-ipv6");
	assert_null(id_reserved_name(ID_FIRST_ALLOC));
	/* the label set of a reserved identity maps to it */
	assert_int_equal(pol_labels_set(&host, "reserved", "host", ""), 0);
	assert_int_equal(id_alloc_acquire(a, &host, &id, NULL), 0);
	assert_int_equal(id, ID_HOST);
	/* reserved identities are never freed */
	assert_int_equal(id_alloc_release(a, ID_HOST, NULL), 0);
	assert_int_equal(id_alloc_release(a, ID_HOST, NULL), 0);
	assert_non_null(id_alloc_get(a, ID_HOST));
	pol_labels_free(&host);
	id_alloc__free(a);
}

static void test_identity_allocation_and_sharing(void **state)
{
	struct id_alloc *a = id_alloc__new();
	struct pol_labels l1 = { 0 }, l2 = { 0 }, l1b = { 0 };
	uint32_t i1, i2, i3;
	bool created, freed;

	(void)state;
	set(&l1, "app", "web");
	set(&l2, "app", "db");
	set(&l1b, "app", "web");
	/* a label the security filter drops does not split identities */
	set(&l1b, "pod-template-hash", "abc123");
	assert_int_equal(id_alloc_acquire(a, &l1, &i1, &created), 0);
	assert_true(created);
	assert_int_equal(i1, ID_FIRST_ALLOC);
	assert_int_equal(id_alloc_acquire(a, &l2, &i2, &created), 0);
	assert_int_equal(i2, ID_FIRST_ALLOC + 1);
	assert_int_equal(id_alloc_acquire(a, &l1b, &i3, &created), 0);
	assert_false(created);
	assert_int_equal(i3, i1);
	assert_int_equal(id_alloc_get(a, i1)->refs, 2);
	assert_int_equal(id_alloc_get(a, i1)->labels.n, 1);
	assert_int_equal(id_alloc_release(a, i1, &freed), 0);
	assert_false(freed);
	assert_int_equal(id_alloc_release(a, i1, &freed), 0);
	assert_true(freed);
	assert_null(id_alloc_get(a, i1));
	assert_int_equal(id_alloc_release(a, i1, NULL), -ENOENT);
	/* numbers advance and are reused only after the range wraps */
	assert_int_equal(id_alloc_acquire(a, &l1, &i1, &created), 0);
	assert_int_equal(i1, ID_FIRST_ALLOC + 2);
	pol_labels_free(&l1);
	pol_labels_free(&l2);
	pol_labels_free(&l1b);
	id_alloc__free(a);
}

static void test_identity_restore_and_cidr(void **state)
{
	struct id_alloc *a = id_alloc__new();
	struct pol_labels l1 = { 0 }, l2 = { 0 };
	struct pol_prefix p;
	const struct id_entry **all;
	uint32_t id, c1, c2;
	long n;

	(void)state;
	set(&l1, "app", "web");
	set(&l2, "app", "db");
	assert_int_equal(id_alloc_restore(a, 300, &l1), 0);
	assert_int_equal(id_alloc_restore(a, 300, &l2), -EEXIST);
	assert_int_equal(id_alloc_restore(a, 301, &l1), -EEXIST);
	assert_int_equal(id_alloc_restore(a, 5, &l2), -EINVAL);
	assert_int_equal(id_alloc_acquire(a, &l1, &id, NULL), 0);
	assert_int_equal(id, 300);
	assert_int_equal(pol_prefix_parse("10.0.0.0/8", false, &p, NULL), 0);
	assert_int_equal(id_alloc_acquire_cidr(a, &p, &c1, NULL), 0);
	assert_int_equal(c1, ID_LOCAL_SCOPE + 1);
	assert_true(id_alloc_get(a, c1)->has_cidr);
	assert_non_null(pol_labels_find(&id_alloc_get(a, c1)->labels, "reserved", "world"));
	assert_non_null(pol_labels_find(&id_alloc_get(a, c1)->labels, "cidr", "10.0.0.0/8"));
	assert_int_equal(id_alloc_acquire_cidr(a, &p, &c2, NULL), 0);
	assert_int_equal(c2, c1);
	n = id_alloc_list(a, &all);
	assert_int_equal(n, ID_RESERVED_MAX + 2);
	assert_int_equal(all[0]->id, ID_HOST);
	assert_int_equal(all[n - 1]->id, c1);
	free(all);
	pol_labels_free(&l1);
	pol_labels_free(&l2);
	id_alloc__free(a);
}

static uint32_t lookup(struct ipcache *c, const char *ip, char *matched)
{
	struct pol_prefix m;
	uint8_t a[4];
	uint32_t id;

	assert_int_equal(inet_pton(AF_INET, ip, a), 1);
	id = ipcache_lookup(c, 4, a, &m);
	if (matched)
		pol_prefix_format(&m, matched, 64);
	return id;
}

static void test_ipcache_longest_prefix(void **state)
{
	struct ipcache *c = ipcache__new();
	struct pol_prefix p8, p16, h;
	struct ipcache_entry *list;
	char m[64];

	(void)state;
	assert_int_equal(pol_prefix_parse("10.0.0.0/8", false, &p8, NULL), 0);
	assert_int_equal(pol_prefix_parse("10.1.0.0/16", false, &p16, NULL), 0);
	assert_int_equal(pol_prefix_parse("10.1.2.3", true, &h, NULL), 0);
	assert_int_equal(ipcache_upsert(c, &p8, 1000), 0);
	assert_int_equal(ipcache_upsert(c, &p16, 1001), 0);
	assert_int_equal(ipcache_upsert(c, &h, 256), 0);
	assert_int_equal(lookup(c, "10.1.2.3", m), 256);
	assert_string_equal(m, "10.1.2.3/32");
	assert_int_equal(lookup(c, "10.1.9.9", m), 1001);
	assert_string_equal(m, "10.1.0.0/16");
	assert_int_equal(lookup(c, "10.200.0.1", NULL), 1000);
	assert_int_equal(lookup(c, "192.0.2.1", m), ID_WORLD);
	assert_string_equal(m, "0.0.0.0/0");
	assert_int_equal(ipcache_upsert(c, &p16, 1002), 0);
	assert_int_equal(lookup(c, "10.1.9.9", NULL), 1002);
	assert_int_equal(ipcache_count(c), 3);
	assert_int_equal(ipcache_delete(c, &p16), 0);
	assert_int_equal(ipcache_delete(c, &p16), -ENOENT);
	assert_int_equal(lookup(c, "10.1.9.9", NULL), 1000);
	assert_int_equal(ipcache_list(c, &list), 2);
	assert_int_equal(list[0].prefix.len, 8);
	assert_int_equal(list[1].identity, 256);
	free(list);
	ipcache__free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity_reserved),
		cmocka_unit_test(test_identity_allocation_and_sharing),
		cmocka_unit_test(test_identity_restore_and_cidr),
		cmocka_unit_test(test_ipcache_longest_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
