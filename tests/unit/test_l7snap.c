/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the owned L7 snapshot (src/policy/l7snap.c): built from a
 * real engine, it decides as the map states do and keeps working after the
 * engine changed or is gone; it survives serialization unchanged; the
 * deserializer rejects every truncation and forged field with an error
 * (also reading input that ends at a PROT_NONE guard page); publication
 * keeps an acquired snapshot alive.
 */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "policy/l7snap.h"
#include "policy/parse.h"

#define DS    1u /* endpoint numbers */
#define TF    2u
#define ID_DS 1000u /* identities */
#define ID_TF 1001u
#define ID_XW 1002u

static const char policy[] =
	"[{\"endpointSelector\": {\"matchLabels\": {\"class\": \"deathstar\"}},\n"
	"  \"ingress\": [{\"fromEndpoints\": [{\"matchLabels\": {\"org\": \"empire\"}}],\n"
	"    \"toPorts\": [{\"ports\": [{\"port\": \"80\", \"protocol\": \"TCP\"}],\n"
	"      \"rules\": {\"http\": [{\"method\": \"POST\", \"path\": \"/v1/request-landing\"},\n"
	"                           {\"method\": \"GET\", \"path\": \"/v1\", \"headers\": [\"X-Ok\"]}]}}]}]},\n"
	" {\"endpointSelector\": {\"matchLabels\": {\"class\": \"tiefighter\"}},\n"
	"  \"egress\": [{\"toEndpoints\": [{\"matchLabels\": {\"class\": \"deathstar\"}}],\n"
	"    \"toPorts\": [{\"ports\": [{\"port\": \"80\", \"protocol\": \"TCP\"}],\n"
	"      \"rules\": {\"http\": [{\"path\": \"/v1/.*\"}]}}]},\n"
	"   {\"toEndpoints\": [{\"matchLabels\": {\"class\": \"deathstar\"}}],\n"
	"    \"toPorts\": [{\"ports\": [{\"port\": \"81\", \"protocol\": \"TCP\"}]}]}]}]\n";

struct tstate {
	struct pol_engine *e;
	struct pol_l7_snapshot *snap;
};

static int add_identity(struct pol_engine *e, uint32_t id, const char *org, const char *cls)
{
	struct pol_labels ls = { 0 };
	int err = pol_labels_set(&ls, "k8s", "org", org);

	if (!err)
		err = pol_labels_set(&ls, "k8s", "class", cls);
	if (!err)
		err = pol_engine_identity_add(e, id, &ls, NULL);
	pol_labels_free(&ls);
	return err;
}

static int setup(void **state)
{
	struct tstate *st = calloc(1, sizeof(*st));
	struct pol_set set = { 0 };
	struct errbuf eb;
	uint32_t eps[] = { DS, TF, 77 };
	size_t i;

	if (!st)
		return -1;
	*state = st;
	st->e = pol_engine__new();
	assert_non_null(st->e);
	assert_int_equal(add_identity(st->e, ID_DS, "empire", "deathstar"), 0);
	assert_int_equal(add_identity(st->e, ID_TF, "empire", "tiefighter"), 0);
	assert_int_equal(add_identity(st->e, ID_XW, "alliance", "xwing"), 0);
	assert_int_equal(pol_engine_endpoint_set(st->e, DS, ID_DS, NULL, 0, false), 0);
	assert_int_equal(pol_engine_endpoint_set(st->e, TF, ID_TF, NULL, 0, false), 0);
	if (pol_parse_buf("sw.json", policy, strlen(policy), &set, &eb))
		fail_msg("%s", eb.msg);
	for (i = 0; i < set.n; i++) {
		assert_int_equal(pol_engine_policy_upsert(st->e, set.v[i]), 0);
		set.v[i] = NULL;
	}
	pol_set_free(&set);
	assert_int_equal(pol_engine_regenerate(st->e, NULL, NULL), 0);
	st->snap = pol_engine_l7_snapshot(st->e, eps, 3, 42);
	assert_non_null(st->snap);
	return 0;
}

static int teardown(void **state)
{
	struct tstate *st = *state;

	pol_l7_snapshot__put(st->snap);
	pol_engine__free(st->e);
	free(st);
	return 0;
}

struct probe {
	uint32_t ep;
	enum pol_dir dir;
	uint32_t peer;
	uint16_t port;
	const char *method, *path;
	bool hdr;
	bool allowed;
	enum pol_l7_reason reason;
	int http_index;
};

static const struct probe probes[] = {
	{ DS, POL_INGRESS, ID_TF, 80, "POST", "/v1/request-landing", false, true, POL_L7_MATCHED,
	  0 },
	{ DS, POL_INGRESS, ID_TF, 80, "GET", "/v1", true, true, POL_L7_MATCHED, 1 },
	{ DS, POL_INGRESS, ID_TF, 80, "GET", "/v1", false, false, POL_L7_NO_MATCH, -1 },
	{ DS, POL_INGRESS, ID_TF, 80, "PUT", "/v1/exhaust-port", true, false, POL_L7_NO_MATCH, -1 },
	{ DS, POL_INGRESS, ID_XW, 80, "GET", "/v1", true, true, POL_L7_NOT_FILTERED, -1 },
	{ DS, POL_INGRESS, ID_TF, 81, "GET", "/v1", true, true, POL_L7_NOT_FILTERED, -1 },
	{ DS, POL_EGRESS, ID_TF, 80, "GET", "/v1", true, true, POL_L7_NOT_FILTERED, -1 },
	{ TF, POL_EGRESS, ID_DS, 80, "PUT", "/v1/exhaust-port", false, true, POL_L7_MATCHED, 0 },
	{ TF, POL_EGRESS, ID_DS, 80, "GET", "/v2", false, false, POL_L7_NO_MATCH, -1 },
	{ TF, POL_EGRESS, ID_DS, 81, "GET", "/v2", false, true, POL_L7_MATCHED, -1 },
	{ 77, POL_INGRESS, ID_TF, 80, "GET", "/", false, true, POL_L7_NOT_FILTERED, -1 },
};

static void request(const struct probe *p, struct pol_http_request *req, struct pol_http_field *hf)
{
	*hf = (struct pol_http_field){ SV("x-ok"), SV("1") };
	*req = (struct pol_http_request){ sv_from(p->method), sv_from(p->path), SV("deathstar"), hf,
					  p->hdr ? 1 : 0 };
}

/* Every probe against s; with e, also against the engine's map states (the same answer). */
static void check_probes(const struct pol_l7_snapshot *s, const struct pol_engine *e)
{
	size_t i;

	for (i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		const struct probe *p = &probes[i];
		struct pol_http_request req;
		struct pol_http_field hf;
		struct pol_l7_verdict v, w;

		request(p, &req, &hf);
		pol_l7_snapshot_decide(s, p->ep, p->dir, p->peer, p->port, &req, &v);
		if (v.allowed != p->allowed || v.reason != p->reason ||
		    v.http_index != p->http_index)
			fail_msg("probe %zu: allowed %d reason %s index %d", i, v.allowed,
				 pol_l7_reason_name(v.reason), v.http_index);
		if (v.reason == POL_L7_MATCHED)
			assert_non_null(pol_l7_snapshot_rule_name(s, v.rule_id));
		if (!e || !pol_engine_endpoint_state(e, p->ep))
			continue;
		pol_mapstate_l7_decide(pol_engine_endpoint_state(e, p->ep), p->dir, p->peer,
				       p->port, &req, &w);
		assert_memory_equal(&v, &w, sizeof(v));
	}
}

static void test_l7snap_decides_as_the_engine(void **state)
{
	struct tstate *st = *state;
	struct pol_http_request req;
	struct pol_http_field hf;
	struct pol_l7_verdict v;
	const char *name;

	assert_int_equal(pol_l7_snapshot_revision(st->snap), 42);
	assert_int_equal(pol_l7_snapshot_endpoints(st->snap), 2); /* 77 is unknown */
	check_probes(st->snap, st->e);
	request(&probes[0], &req, &hf);
	pol_l7_snapshot_decide(st->snap, DS, POL_INGRESS, ID_TF, 80, &req, &v);
	name = pol_l7_snapshot_rule_name(st->snap, v.rule_id);
	assert_non_null(name);
	assert_non_null(strstr(name, "ingress[0]"));
}

/* The snapshot owns its data: the engine may drop every policy, or be freed. */
static void test_l7snap_outlives_the_engine(void **state)
{
	struct tstate *st = *state;

	assert_int_equal(pol_engine_policy_delete(st->e, POL_KIND_RULES, NULL, "sw"), 0);
	assert_int_equal(pol_engine_regenerate(st->e, NULL, NULL), 0);
	check_probes(st->snap, NULL);
	pol_engine__free(st->e);
	st->e = NULL;
	check_probes(st->snap, NULL);
}

static void test_l7snap_roundtrip(void **state)
{
	struct tstate *st = *state;
	struct strbuf a = STRBUF_INIT, b = STRBUF_INIT;
	struct pol_l7_snapshot *copy;
	struct errbuf eb;

	assert_int_equal(pol_l7_snapshot_serialize(st->snap, &a), 0);
	copy = pol_l7_snapshot_deserialize(a.p, a.len, &eb);
	if (!copy)
		fail_msg("%s", eb.msg);
	assert_int_equal(pol_l7_snapshot_revision(copy), 42);
	check_probes(copy, NULL);
	{
		struct pol_http_request req;
		struct pol_http_field hf;
		struct pol_l7_verdict v;

		request(&probes[0], &req, &hf);
		pol_l7_snapshot_decide(copy, DS, POL_INGRESS, ID_TF, 80, &req, &v);
		assert_string_equal(pol_l7_snapshot_rule_name(copy, v.rule_id),
				    pol_l7_snapshot_rule_name(st->snap, v.rule_id));
	}
	assert_int_equal(pol_l7_snapshot_serialize(copy, &b), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.p, b.p, a.len);
	pol_l7_snapshot__put(copy);
	strbuf_free(&a);
	strbuf_free(&b);
}

static struct pol_l7_snapshot *deser_guarded(const char *bytes, size_t n, struct errbuf *eb)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t span = (n + (size_t)pg - 1) / (size_t)pg * (size_t)pg + (size_t)pg;
	char *map = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct pol_l7_snapshot *s;

	assert_true(map != MAP_FAILED);
	assert_int_equal(mprotect(map + span - pg, (size_t)pg, PROT_NONE), 0);
	memcpy(map + span - pg - n, bytes, n);
	s = pol_l7_snapshot_deserialize(map + span - pg - n, n, eb);
	munmap(map, span);
	return s;
}

static void expect_reject(const char *bytes, size_t n, const char *reason)
{
	struct errbuf eb;
	struct pol_l7_snapshot *s;

	errbuf_clear(&eb);
	s = deser_guarded(bytes, n, &eb);
	if (s)
		fail_msg("accepted (%zu bytes), want '%s'", n, reason);
	assert_int_equal(errno, EINVAL);
	if (!strstr(eb.msg, "L7 snapshot: offset ") || !strstr(eb.msg, reason))
		fail_msg("'%s' lacks '%s'", eb.msg, reason);
}

static void test_l7snap_rejects_malformed(void **state)
{
	struct tstate *st = *state;
	struct strbuf a = STRBUF_INIT;
	struct pol_l7_snapshot *s;
	struct errbuf eb;
	char *m;
	size_t i, off;

	assert_int_equal(pol_l7_snapshot_serialize(st->snap, &a), 0);
	/* every truncation, each read ending at a guard page */
	for (i = 0; i < a.len; i++)
		expect_reject(a.p, i, "");
	m = malloc(a.len + 1);
	assert_non_null(m);
	memcpy(m, a.p, a.len);
	m[a.len] = 0;
	expect_reject(m, a.len + 1, "trailing bytes");
	m[0] ^= 1;
	expect_reject(m, a.len, "bad magic");
	m[0] ^= 1;
	m[4] = 2;
	expect_reject(m, a.len, "unknown version");
	m[4] = 1;
	/* a forged count cannot allocate beyond the input */
	memset(m + 16, 0xff, 4);
	expect_reject(m, a.len, "matcher count beyond the input");
	memcpy(m, a.p, a.len);
	/* a regular expression that RE2 refuses: the first rule's method "POST" -> "(?=T" */
	off = (size_t)((char *)memmem(a.p, a.len, "POST", 4) - a.p);
	memcpy(m + off, "(?=T", 4);
	expect_reject(m, a.len, "invalid regular expression '(?=T'");
	memcpy(m, a.p, a.len);
	m[off] = '\0';
	expect_reject(m, a.len, "NUL in string");
	memcpy(m, a.p, a.len);
	/* single-byte corruption anywhere: an error or a valid snapshot, never a crash */
	for (i = 0; i < a.len; i++) {
		unsigned v;

		for (v = 0; v < 256; v += 51) {
			m[i] = (char)(a.p[i] ^ (char)(v | 1));
			s = deser_guarded(m, a.len, &eb);
			pol_l7_snapshot__put(s);
		}
		m[i] = a.p[i];
	}
	free(m);
	strbuf_free(&a);
}

/* Forged item fields, in a hand-built snapshot with one endpoint and one item. */
static void test_l7snap_rejects_bad_items(void **state)
{
	uint8_t b[64];
	size_t n = 0;
	struct errbuf eb;
	struct pol_l7_snapshot *s;

	(void)state;
#define U32(v)                                \
	do {                                  \
		uint32_t x_ = (v);            \
		b[n++] = (uint8_t)x_;         \
		b[n++] = (uint8_t)(x_ >> 8);  \
		b[n++] = (uint8_t)(x_ >> 16); \
		b[n++] = (uint8_t)(x_ >> 24); \
	} while (0)
	U32(0x53374c56u);
	U32(1);
	U32(9);
	U32(0); /* revision */
	U32(0); /* matchers */
	U32(1); /* endpoints */
	U32(0); /* names */
	U32(5); /* endpoint id */
	U32(1); /* items */
	b[n++] = POL_INGRESS;
	b[n++] = IPPROTO_TCP;
	b[n++] = 0; /* any_peer */
	b[n++] = 0;
	b[n++] = 80;
	b[n++] = 0;
	b[n++] = 80;
	b[n++] = 0;
	U32(300);	  /* rule id */
	U32(0xffffffffu); /* any request */
	U32(2);		  /* peers */
	U32(7);
	U32(9);
#undef U32
	s = pol_l7_snapshot_deserialize(b, n, &eb);
	if (!s)
		fail_msg("%s", eb.msg);
	{
		struct pol_http_request req = { SV("GET"), SV("/"), SV(""), NULL, 0 };
		struct pol_l7_verdict v;

		pol_l7_snapshot_decide(s, 5, POL_INGRESS, 9, 80, &req, &v);
		assert_true(v.allowed);
		assert_int_equal(v.reason, POL_L7_MATCHED);
		assert_int_equal(v.rule_id, 300);
		pol_l7_snapshot__put(s);
	}
	b[36] = 2;
	expect_reject((char *)b, n, "direction");
	b[36] = POL_INGRESS;
	b[37] = 1;
	expect_reject((char *)b, n, "protocol");
	b[37] = IPPROTO_TCP;
	b[38] = 1;
	expect_reject((char *)b, n, "any peer");
	b[38] = 0;
	b[39] = 1;
	expect_reject((char *)b, n, "padding");
	b[39] = 0;
	b[40] = 81;
	expect_reject((char *)b, n, "reversed");
	b[40] = 80;
	b[48] = 0;
	expect_reject((char *)b, n, "matcher index");
	b[48] = 0xff;
	b[60] = 6;
	expect_reject((char *)b, n, "ascending");
}

static void test_l7snap_publish(void **state)
{
	struct tstate *st = *state;
	struct pol_l7_slot slot = POL_L7_SLOT_INIT;
	struct pol_l7_snapshot *held, *next;
	uint32_t eps[] = { DS };

	assert_null(pol_l7_slot_acquire(&slot));
	pol_l7_slot_publish(&slot, pol_l7_snapshot__get(st->snap));
	held = pol_l7_slot_acquire(&slot);
	assert_ptr_equal(held, st->snap);
	next = pol_engine_l7_snapshot(st->e, eps, 1, 43);
	assert_non_null(next);
	pol_l7_slot_publish(&slot, next);
	/* the reader's reference keeps the old rule set whole */
	check_probes(held, st->e);
	pol_l7_snapshot__put(held);
	held = pol_l7_slot_acquire(&slot);
	assert_int_equal(pol_l7_snapshot_revision(held), 43);
	pol_l7_snapshot__put(held);
	pol_l7_slot_publish(&slot, NULL);
	assert_null(pol_l7_slot_acquire(&slot));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_l7snap_decides_as_the_engine, setup, teardown),
		cmocka_unit_test_setup_teardown(test_l7snap_outlives_the_engine, setup, teardown),
		cmocka_unit_test_setup_teardown(test_l7snap_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_l7snap_rejects_malformed, setup, teardown),
		cmocka_unit_test(test_l7snap_rejects_bad_items),
		cmocka_unit_test_setup_teardown(test_l7snap_publish, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
