/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the model at scale (issue 14, point 2): CIDR selection
 * through the prefix index (nested prefixes added in every order select
 * what the old scan of every identity did), 60,000 prefixes loaded and
 * deleted policy by policy, and requests of 200,000 labels, each within a
 * CPU-time bound the quadratic code missed by minutes. The bounds are for
 * the sanitized build on a loaded 2-core machine, ten times what it takes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "lib/strbuf.h"
#include "model/model.h"
#include "policy/trace.h"

struct h {
	struct model *m;
	struct errbuf eb;
};

static int setup(void **state)
{
	struct h *h = calloc(1, sizeof(*h));

	if (!h)
		return -1;
	h->m = model__new();
	*state = h;
	return h->m ? 0 : -1;
}

static int teardown(void **state)
{
	struct h *h = *state;

	model__free(h->m);
	free(h);
	return 0;
}

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void load(struct h *h, const char *text, size_t len)
{
	struct pol_set set = { 0 };

	if (pol_parse_buf("t.yaml", text, len, &set, &h->eb))
		fail_msg("parse: %s", h->eb.msg);
	assert_int_equal(model_policies_load(h->m, &set), 0);
	pol_set_free(&set);
	assert_int_equal(model_regenerate(h->m, NULL, NULL), 0);
}

static void ep(struct h *h, const char *name, const char *label, const char *ip)
{
	char full[64];
	uint32_t a;

	snprintf(full, sizeof(full), "default/%s", name);
	assert_int_equal(inet_pton(AF_INET, ip, &a), 1);
	if (model_endpoint_add(h->m, 0, full, "default", &label, 1, &a, 1, NULL, 0, false, NULL,
			       &h->eb))
		fail_msg("endpoint %s: %s", name, h->eb.msg);
}

/* Does endpoint `at` allow egress TCP/80 to address ip (its ipcache identity)? */
static bool egress_ok(struct h *h, const char *at, const char *ip)
{
	struct pol_trace_peer p;
	struct pol_verdict v;
	char buf[INET_ADDRSTRLEN], full[64];
	const struct model_ep *e;

	snprintf(full, sizeof(full), "default/%s", at);
	e = model_endpoint(h->m, full);
	assert_non_null(e);
	if (model_peer(h->m, ip, &p, buf, &h->eb))
		fail_msg("peer %s: %s", ip, h->eb.msg);
	pol_mapstate_lookup(pol_engine_endpoint_state(model_engine(h->m), e->id), POL_EGRESS,
			    p.identity, IPPROTO_TCP, 80, &v);
	return v.verdict == VELUM_VERDICT_ALLOW;
}

static void cnp(struct strbuf *sb, const char *name, const char *app, const char *cidrs)
{
	strbuf_printf(sb,
		      "---\n{apiVersion: cilium.io/v2, kind: CiliumNetworkPolicy, metadata: {name: "
		      "%s}, spec: {endpointSelector: {matchLabels: {app: %s}}, egress: [{toCIDR: "
		      "[%s]}]}}\n",
		      name, app, cidrs);
}

static void load_cnp(struct h *h, const char *name, const char *app, const char *cidrs)
{
	struct strbuf sb = STRBUF_INIT;

	cnp(&sb, name, app, cidrs);
	assert_false(sb.oom);
	load(h, strbuf_str(&sb), sb.len);
	strbuf_free(&sb);
}

/*
 * Nested prefixes, added before and after the selectors that contain them:
 * a selector sees the CIDR identities within its prefix whichever came first.
 */
static void test_scale_cidr_nested(void **state)
{
	struct h *h = *state;

	ep(h, "a", "app=a", "192.168.0.1");
	ep(h, "c", "app=c", "192.168.0.3");
	load_cnp(h, "wide", "a", "10.0.0.0/8, 10.1.0.0/16, 10.1.2.3/32");
	assert_true(egress_ok(h, "a", "10.1.2.3"));
	assert_true(egress_ok(h, "a", "10.9.9.9"));
	assert_false(egress_ok(h, "a", "11.0.0.1"));
	/* a /24 interned after the /32 and /16 identities exist */
	load_cnp(h, "mid", "c", "10.1.2.0/24");
	assert_true(egress_ok(h, "c", "10.1.2.3"));
	assert_true(egress_ok(h, "c", "10.1.2.200"));
	assert_false(egress_ok(h, "c", "10.1.3.1"));
	assert_false(egress_ok(h, "c", "10.2.0.1"));
	/* a new /32 inside: the /8, /16 and /24 selectors take its identity */
	load_cnp(h, "late", "a", "10.1.2.4/32");
	assert_true(egress_ok(h, "c", "10.1.2.4"));
	assert_true(egress_ok(h, "a", "10.1.2.4"));
	/* the /32 of "wide" goes with it; "mid" still covers the address */
	assert_int_equal(model_policy_delete(h->m, POL_KIND_CNP, "default", "wide"), 0);
	assert_int_equal(model_regenerate(h->m, NULL, NULL), 0);
	assert_true(egress_ok(h, "c", "10.1.2.3"));
	assert_false(egress_ok(h, "a", "10.1.2.3"));
	assert_true(egress_ok(h, "a", "10.1.2.4"));
	/* the ipcache: the two endpoints, 10.1.2.0/24 and 10.1.2.4/32 */
	assert_int_equal(ipcache_count(model_ipcache(h->m)), 4);
}

/* 60,000 prefixes (60 policies of 1,000, the benchmark's shape): load, then delete one by one. */
static void test_scale_cidr_linear(void **state)
{
	struct h *h = *state;
	struct strbuf sb = STRBUF_INIT, cs = STRBUF_INIT;
	double t0 = cpu_s(), t;
	unsigned p, i;
	char name[16];

	for (p = 0; p < 60; p++) {
		strbuf_reset(&cs);
		for (i = p * 1000; i < p * 1000 + 1000; i++)
			strbuf_printf(&cs, "%s10.%u.%u.%u/32", i % 1000 ? ", " : "", i >> 16,
				      (i >> 8) & 255, i & 255);
		snprintf(name, sizeof(name), "c%u", p);
		cnp(&sb, name, name, strbuf_str(&cs));
	}
	assert_false(sb.oom || cs.oom);
	load(h, strbuf_str(&sb), sb.len);
	assert_int_equal(ipcache_count(model_ipcache(h->m)), 60000);
	for (p = 0; p < 60; p++) {
		snprintf(name, sizeof(name), "c%u", p);
		assert_int_equal(model_policy_delete(h->m, POL_KIND_CNP, "default", name), 0);
	}
	assert_int_equal(model_regenerate(h->m, NULL, NULL), 0);
	assert_int_equal(ipcache_count(model_ipcache(h->m)), 0);
	t = cpu_s() - t0;
	print_message("60,000 prefixes loaded and deleted in %.2f s of CPU\n", t);
	if (t > 30)
		fail_msg("60,000 prefixes took %.1f s of CPU (not linear)", t);
	strbuf_free(&sb);
	strbuf_free(&cs);
}

/* 20,000 policies of one prefix each, deleted one by one (was a sweep of all per delete). */
static void test_scale_delete_many(void **state)
{
	struct h *h = *state;
	struct strbuf sb = STRBUF_INIT;
	char name[16], cidr[32];
	double t0 = cpu_s(), t;
	unsigned i;

	for (i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "d%u", i);
		snprintf(cidr, sizeof(cidr), "10.%u.%u.%u/32", i >> 16, (i >> 8) & 255, i & 255);
		cnp(&sb, name, "x", cidr);
	}
	assert_false(sb.oom);
	load(h, strbuf_str(&sb), sb.len);
	for (i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "d%u", i);
		assert_int_equal(model_policy_delete(h->m, POL_KIND_CNP, "default", name), 0);
	}
	assert_int_equal(ipcache_count(model_ipcache(h->m)), 0);
	t = cpu_s() - t0;
	print_message("20,000 policies loaded and deleted in %.2f s of CPU\n", t);
	if (t > 30)
		fail_msg("20,000 policies took %.1f s of CPU (not linear)", t);
	strbuf_free(&sb);
}

/* An endpoint of 200,000 labels (in descending order) and a selector of 200,000. */
static void test_scale_labels(void **state)
{
	struct h *h = *state;
	const unsigned n = 200000;
	const char **lv = calloc(n, sizeof(*lv));
	char *buf = malloc((size_t)n * 16);
	struct strbuf sb = STRBUF_INIT;
	const struct model_ep *e;
	double t0 = cpu_s(), t;
	unsigned i;

	assert_non_null(lv);
	assert_non_null(buf);
	for (i = 0; i < n; i++) {
		snprintf(buf + (size_t)i * 16, 16, "k%06u=v", n - i);
		lv[i] = buf + (size_t)i * 16;
	}
	if (model_endpoint_add(h->m, 0, "default/big", "default", lv, n, NULL, 0, NULL, 0, false,
			       &e, &h->eb))
		fail_msg("endpoint: %s", h->eb.msg);
	assert_int_equal(e->labels.n, n + 3);
	/* a key given twice among them is refused, naming the later one */
	snprintf(buf + (size_t)(n - 1) * 16, 16, "k%06u=w", n / 2);
	assert_int_equal(model_endpoint_add(h->m, 0, "default/big2", "default", lv, n, NULL, 0,
					    NULL, 0, false, NULL, &h->eb),
			 -EINVAL);
	assert_non_null(strstr(h->eb.msg, "is given twice"));
	assert_non_null(strstr(h->eb.msg, "k100000=w"));

	strbuf_puts(&sb, "{\"apiVersion\": \"cilium.io/v2\", \"kind\": \"CiliumNetworkPolicy\", "
			 "\"metadata\": {\"name\": \"big\"}, \"spec\": {\"endpointSelector\": "
			 "{\"matchLabels\": {");
	for (i = 0; i < n; i++)
		strbuf_printf(&sb, "%s\"k%06u\": \"v\"", i ? ", " : "", n - i);
	strbuf_puts(&sb, "}}, \"ingress\": [{}]}}");
	assert_false(sb.oom);
	load(h, strbuf_str(&sb), sb.len);
	t = cpu_s() - t0;
	print_message("200,000 labels (endpoint, selector) in %.2f s of CPU\n", t);
	if (t > 30)
		fail_msg("200,000 labels took %.1f s of CPU (not amortised)", t);
	strbuf_free(&sb);
	free(buf);
	free(lv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_scale_cidr_nested, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scale_cidr_linear, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scale_delete_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scale_labels, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
