/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of flow records with an L7 part (src/monitor): Hubble's
 * compact lines for http-request and http-response (latencies in whole
 * milliseconds, as Hubble prints them), the JSON line and its read-back
 * (flow_json.c), and the L7 filters: --type, --http-status, --http-method,
 * --http-path (values accepted and refused, what each selects, OR within
 * a filter and AND across filters).
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

#include <cmocka.h>

#include "monitor/flow.h"
#include "monitor/flow_json.h"
#include "velum/events.h"
#include "velum/policy.h"

/* 2026-12-02T15:30:01.123Z */
#define T0 (1796225401123000000LL)

static const char *const client_labels[] = { "k8s:class=tiefighter", "k8s:org=empire" };
static const char *const server_labels[] = { "k8s:class=deathstar", "k8s:org=empire" };

/* An L7 flow: a request (resp false) or its response, the server's side first for a response. */
static void make_l7(struct mon_flow *f, bool resp, uint8_t verdict, const char *method,
		    const char *path, uint16_t code, uint64_t latency_ns, const char *rule,
		    const char *reason)
{
	struct mon_ident *c = mon_ident__new("default/tiefighter", 257, client_labels, 2);
	struct mon_ident *s = mon_ident__new("default/deathstar", 256, server_labels, 2);
	char url[256];

	assert_non_null(c);
	assert_non_null(s);
	memset(f, 0, sizeof(*f));
	f->time_ns = T0;
	f->type = MON_FLOW_L7;
	f->verdict = verdict;
	f->dir = VELUM_DIR_INGRESS;
	f->protocol = IPPROTO_TCP;
	f->src = resp ? s : c;
	f->dst = resp ? c : s;
	inet_pton(AF_INET, resp ? "10.0.0.1" : "10.0.0.2", &f->saddr);
	inet_pton(AF_INET, resp ? "10.0.0.2" : "10.0.0.1", &f->daddr);
	f->sport = resp ? 80 : 41234;
	f->dport = resp ? 41234 : 80;
	if (rule)
		f->rule = mon_rule__new(0, rule, "CiliumNetworkPolicy", "default", "rule1");
	snprintf(url, sizeof(url), "http://10.0.0.1%s", path);
	f->l7 = mon_l7__new(resp ? MON_L7_RESPONSE : MON_L7_REQUEST, method, "10.0.0.1", url,
			    reason);
	assert_non_null(f->l7);
	f->l7->http_major = 1;
	f->l7->http_minor = 1;
	f->l7->code = code;
	f->l7->latency_ns = latency_ns;
}

static void assert_compact(const struct mon_flow *f, const char *want)
{
	struct strbuf sb = STRBUF_INIT;

	mon_flow_format_compact(f, true, &sb);
	assert_string_equal(strbuf_str(&sb), want);
	strbuf_free(&sb);
}

#define RULE "CiliumNetworkPolicy default/rule1 spec.ingress[0]"

static void test_compact_request(void **state)
{
	struct mon_flow f;

	(void)state;
	make_l7(&f, false, VELUM_FLOW_DROPPED, "PUT", "/v1/exhaust-port", 0, 0, NULL,
		"no HTTP rule matched");
	assert_compact(&f, "Dec  2 15:30:01.123: default/tiefighter:41234 (ID:257) -> "
			   "default/deathstar:80 (ID:256) http-request DROPPED (HTTP/1.1 PUT "
			   "http://10.0.0.1/v1/exhaust-port) BY no HTTP rule matched");
	mon_flow_release(&f);
	make_l7(&f, false, VELUM_FLOW_FORWARDED, "GET", "/v1", 0, 0, RULE, "matched");
	assert_compact(&f, "Dec  2 15:30:01.123: default/tiefighter:41234 (ID:257) -> "
			   "default/deathstar:80 (ID:256) http-request FORWARDED (HTTP/1.1 GET "
			   "http://10.0.0.1/v1) BY " RULE);
	mon_flow_release(&f);
	make_l7(&f, false, MON_VERDICT_ERROR, "GET", "/x", 0, 0, NULL, "bad request: x");
	assert_compact(&f, "Dec  2 15:30:01.123: default/tiefighter:41234 (ID:257) -> "
			   "default/deathstar:80 (ID:256) http-request ERROR (HTTP/1.1 GET "
			   "http://10.0.0.1/x) BY bad request: x");
	mon_flow_release(&f);
}

static void test_compact_response(void **state)
{
	static const struct {
		uint64_t ns;
		const char *text;
	} lat[] = {
		{ 0, "0ms" },
		{ 999999, "0ms" },
		{ 1000000, "1ms" },
		{ 1999999, "1ms" },
		{ 999400000, "999ms" },
		{ 1500000000, "1500ms" },
		{ 61250000000, "61250ms" },
	};
	struct mon_flow f;
	char want[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(lat) / sizeof(lat[0]); i++) {
		make_l7(&f, true, VELUM_FLOW_FORWARDED, "GET", "/v1", 200, lat[i].ns, RULE,
			"matched");
		snprintf(want, sizeof(want),
			 "Dec  2 15:30:01.123: default/tiefighter:41234 (ID:257) <- "
			 "default/deathstar:80 (ID:256) http-response FORWARDED (HTTP/1.1 200 %s "
			 "(GET http://10.0.0.1/v1)) BY " RULE,
			 lat[i].text);
		assert_compact(&f, want);
		mon_flow_release(&f);
	}
}

/* The JSON line reads back into the same flow: same compact line, same JSON. */
static void test_json_roundtrip(void **state)
{
	struct strbuf a = STRBUF_INIT, b = STRBUF_INIT;
	struct mon_flow f, g;
	struct errbuf eb;
	int resp;

	(void)state;
	for (resp = 0; resp < 2; resp++) {
		make_l7(&f, resp, resp ? VELUM_FLOW_FORWARDED : VELUM_FLOW_DROPPED, "PUT",
			"/v1/exhaust-port?x=\"1\"", resp ? 403 : 0, resp ? 1234567 : 0,
			resp ? RULE : NULL, "no HTTP rule matched");
		mon_flow_format_json(&f, &a);
		assert_non_null(strstr(strbuf_str(&a), "\"type\":\"l7\""));
		assert_non_null(
			strstr(strbuf_str(&a),
			       resp ? "\"l7\":{\"type\":\"RESPONSE\",\"latency_ns\":1234567,"
				      "\"http\":{\"code\":403,\"method\":\"PUT\"" :
				      "\"l7\":{\"type\":\"REQUEST\",\"latency_ns\":0,"
				      "\"http\":{\"code\":0,\"method\":\"PUT\""));
		assert_non_null(strstr(strbuf_str(&a),
				       "\"protocol\":\"HTTP/1.1\",\"headers\":[{\"key\":\"host\","
				       "\"value\":\"10.0.0.1\"}]}}"));
		assert_non_null(strstr(strbuf_str(&a), "\"traffic_direction\":\"INGRESS\""));
		assert_non_null(
			strstr(strbuf_str(&a), resp ? "\"is_reply\":true" : "\"is_reply\":false"));
		errbuf_clear(&eb);
		assert_int_equal(mon_flow_from_json(a.p, a.len, &g, &eb), 0);
		assert_non_null(g.l7);
		mon_flow_format_json(&g, &b);
		assert_string_equal(strbuf_str(&a), strbuf_str(&b));
		strbuf_reset(&a);
		strbuf_reset(&b);
		mon_flow_format_compact(&f, true, &a);
		mon_flow_format_compact(&g, true, &b);
		assert_string_equal(strbuf_str(&a), strbuf_str(&b));
		strbuf_reset(&a);
		strbuf_reset(&b);
		mon_flow_release(&f);
		mon_flow_release(&g);
	}
	strbuf_free(&a);
	strbuf_free(&b);
}

static void test_json_bad_l7(void **state)
{
	static const char *const bad[] = {
		"{\"time\":\"2026-12-02T15:30:01Z\",\"type\":\"l7\",\"source\":{},\"destination\":{}}",
		"{\"time\":\"2026-12-02T15:30:01Z\",\"type\":\"l7\",\"source\":{},\"destination\":{},"
		"\"l7\":{\"type\":\"SAMPLE\",\"http\":{}}}",
		"{\"time\":\"2026-12-02T15:30:01Z\",\"type\":\"l7\",\"source\":{},\"destination\":{},"
		"\"l7\":{\"type\":\"REQUEST\",\"http\":{\"code\":1000,\"protocol\":\"HTTP/1.1\"}}}",
		"{\"time\":\"2026-12-02T15:30:01Z\",\"type\":\"l7\",\"source\":{},\"destination\":{},"
		"\"l7\":{\"type\":\"REQUEST\",\"http\":{\"protocol\":\"SPDY/3\"}}}",
	};
	struct mon_flow g;
	struct errbuf eb;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errbuf_clear(&eb);
		assert_int_equal(mon_flow_from_json(bad[i], strlen(bad[i]), &g, &eb), -EINVAL);
		assert_non_null(strstr(eb.msg, "l7"));
		assert_null(g.l7);
		assert_null(g.src);
	}
}

static int add(struct mon_filter *f, const char *key, const char *value)
{
	struct errbuf eb;

	errbuf_clear(&eb);
	return mon_filter_add(f, key, value, 0, &eb);
}

static void test_filter_values(void **state)
{
	static const char *const good_status[] = { "200", "404", "599", "100",
						   "4+",  "40+", "5+",	"404+" };
	static const char *const bad_status[] = {
		"",	"+",  "0",   "600+", "6+",  "7+", "99",
		"2000", "20", "abc", "4+x",  "4++", "-1", " 200"
	};
	static const char *const bad_method[] = { "", "G T", "G/T", "GET\r\n", "(", "{}" };
	static const char *const bad_type[] = { "", "L7", "l7:http", "drops" };
	struct mon_filter f = { 0 };
	struct errbuf eb;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good_status) / sizeof(good_status[0]); i++)
		assert_int_equal(add(&f, "http-status", good_status[i]), 0);
	for (i = 0; i < sizeof(bad_status) / sizeof(bad_status[0]); i++)
		assert_int_equal(add(&f, "http-status", bad_status[i]), -EINVAL);
	assert_int_equal(f.allow.nstatuses, sizeof(good_status) / sizeof(good_status[0]));
	assert_int_equal(f.allow.statuses[4].lo, 400);
	assert_int_equal(f.allow.statuses[4].hi, 499);
	assert_int_equal(f.allow.statuses[5].lo, 400);
	assert_int_equal(f.allow.statuses[5].hi, 409);
	assert_int_equal(f.allow.statuses[1].lo, 404);
	assert_int_equal(f.allow.statuses[1].hi, 404);
	assert_int_equal(add(&f, "http-method", "GET"), 0);
	assert_int_equal(add(&f, "http-method", "M-SEARCH"), 0);
	for (i = 0; i < sizeof(bad_method) / sizeof(bad_method[0]); i++)
		assert_int_equal(add(&f, "http-method", bad_method[i]), -EINVAL);
	assert_int_equal(f.allow.nmethods, 2);
	assert_int_equal(add(&f, "type", "l7"), 0);
	assert_int_equal(add(&f, "type", "drop"), 0);
	assert_int_equal(add(&f, "type", "policy-verdict"), 0);
	for (i = 0; i < sizeof(bad_type) / sizeof(bad_type[0]); i++)
		assert_int_equal(add(&f, "type", bad_type[i]), -EINVAL);
	assert_int_equal(add(&f, "verdict", "ERROR"), 0);
	assert_int_equal(add(&f, "http-path", "^/v1/.*$"), 0);
	/* a bad pattern names RE2's complaint and leaves the filter as it was */
	errbuf_clear(&eb);
	assert_int_equal(mon_filter_add(&f, "http-path", "(a", 0, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "missing )"));
	assert_int_equal(mon_filter_add(&f, "http-path", "(?=x)", 0, &eb), -EINVAL);
	assert_int_equal(f.allow.npaths, 1);
	assert_non_null(f.allow.path_set);
	mon_filter_free(&f);
}

/* How many of the flows the filter built from the key=value pairs lets through. */
static int selected(const struct mon_flow *flows, size_t n, ...)
{
	struct mon_filter f = { 0 };
	const char *k;
	va_list ap;
	size_t i;
	int cnt = 0;

	va_start(ap, n);
	while ((k = va_arg(ap, const char *))) {
		const char *v = va_arg(ap, const char *);

		assert_int_equal(add(&f, k, v), 0);
	}
	va_end(ap);
	for (i = 0; i < n; i++)
		cnt += mon_filter_match(&f, &flows[i]);
	mon_filter_free(&f);
	return cnt;
}

static void test_filter_match(void **state)
{
	struct mon_flow fl[6];
	size_t n = sizeof(fl) / sizeof(fl[0]), i;

	(void)state;
	make_l7(&fl[0], false, VELUM_FLOW_FORWARDED, "GET", "/v1", 0, 0, RULE, "matched");
	make_l7(&fl[1], true, VELUM_FLOW_FORWARDED, "GET", "/v1", 200, 1000000, RULE, "matched");
	make_l7(&fl[2], false, VELUM_FLOW_DROPPED, "PUT", "/v1/exhaust-port?force=1", 0, 0, NULL,
		"no HTTP rule matched");
	make_l7(&fl[3], true, VELUM_FLOW_DROPPED, "PUT", "/v1/exhaust-port?force=1", 403, 1000,
		NULL, "no HTTP rule matched");
	/* two kernel flows */
	make_l7(&fl[4], false, VELUM_FLOW_DROPPED, "GET", "/", 0, 0, NULL, "");
	mon_l7__free(fl[4].l7);
	fl[4].l7 = NULL;
	fl[4].type = VELUM_EVENT_DROP;
	fl[4].reason = 133;
	make_l7(&fl[5], false, VELUM_FLOW_REDIRECTED, "GET", "/", 0, 0, NULL, "");
	mon_l7__free(fl[5].l7);
	fl[5].l7 = NULL;
	fl[5].type = VELUM_EVENT_POLICY_VERDICT;

	assert_int_equal(selected(fl, n, NULL), 6);
	assert_int_equal(selected(fl, n, "type", "l7", NULL), 4);
	assert_int_equal(selected(fl, n, "type", "drop", NULL), 1);
	assert_int_equal(selected(fl, n, "type", "policy-verdict", NULL), 1);
	assert_int_equal(selected(fl, n, "type", "drop", "type", "policy-verdict", NULL), 2);
	assert_int_equal(selected(fl, n, "type", "l7", "verdict", "DROPPED", NULL), 2);
	assert_int_equal(selected(fl, n, "verdict", "DROPPED", NULL), 3);
	/* HTTP filters select only L7 flows; status only responses */
	assert_int_equal(selected(fl, n, "http-status", "200", NULL), 1);
	assert_int_equal(selected(fl, n, "http-status", "4+", NULL), 1);
	assert_int_equal(selected(fl, n, "http-status", "40+", NULL), 1);
	assert_int_equal(selected(fl, n, "http-status", "41+", NULL), 0);
	assert_int_equal(selected(fl, n, "http-status", "2+", "http-status", "403", NULL), 2);
	assert_int_equal(selected(fl, n, "http-method", "put", NULL), 2);
	assert_int_equal(selected(fl, n, "http-method", "GET", NULL), 2);
	assert_int_equal(selected(fl, n, "http-method", "GET", "http-method", "PUT", NULL), 4);
	assert_int_equal(selected(fl, n, "http-method", "DELETE", NULL), 0);
	/* the path: unanchored, without the query */
	assert_int_equal(selected(fl, n, "http-path", "exhaust", NULL), 2);
	assert_int_equal(selected(fl, n, "http-path", "^/v1$", NULL), 2);
	assert_int_equal(selected(fl, n, "http-path", "port$", NULL), 2);
	assert_int_equal(selected(fl, n, "http-path", "force", NULL), 0);
	assert_int_equal(selected(fl, n, "http-path", "^/v1$", "http-path", "exhaust", NULL), 4);
	assert_int_equal(selected(fl, n, "http-path", "(a|aa)+$", NULL), 0);
	/* AND across filters */
	assert_int_equal(selected(fl, n, "http-path", "/v1", "http-method", "GET", "http-status",
				  "200", NULL),
			 1);
	assert_int_equal(selected(fl, n, "http-method", "PUT", "http-status", "200", NULL), 0);
	assert_int_equal(selected(fl, n, "type", "l7", "from", "default/tiefighter", NULL), 2);
	assert_int_equal(selected(fl, n, "http-method", "PUT", "to", "tiefighter", NULL), 1);
	for (i = 0; i < n; i++)
		mon_flow_release(&fl[i]);
}

/*
 * A trace flow (the datapath's monitor-aggregated forwarded packets): the
 * SYN-ACK of tiefighter -> deathstar:80 seen entering the tiefighter, a
 * reply (its connection is the tiefighter's egress).
 */
static void make_trace(struct mon_flow *f, bool reply)
{
	struct mon_ident *c = mon_ident__new("default/tiefighter", 257, client_labels, 2);
	struct mon_ident *s = mon_ident__new("default/deathstar", 256, server_labels, 2);

	memset(f, 0, sizeof(*f));
	f->time_ns = T0;
	f->type = MON_FLOW_TRACE;
	f->verdict = VELUM_FLOW_FORWARDED;
	f->point = VELUM_TRACE_TO_ENDPOINT;
	f->is_reply = reply;
	f->dir = reply ? VELUM_DIR_EGRESS : VELUM_DIR_INGRESS;
	f->protocol = IPPROTO_TCP;
	f->tcp_flags = reply ? 0x12 : 0x02;
	f->ep_id = reply ? 7 : 9;
	f->src = reply ? s : c;
	f->dst = reply ? c : s;
	inet_pton(AF_INET, reply ? "10.0.0.1" : "10.0.0.2", &f->saddr);
	inet_pton(AF_INET, reply ? "10.0.0.2" : "10.0.0.1", &f->daddr);
	f->sport = reply ? 80 : 41234;
	f->dport = reply ? 41234 : 80;
	for (int i = 0; i < 16; i++)
		f->uuid[i] = (uint8_t)(0x10 + i);
}

static void test_trace(void **state)
{
	struct strbuf a = STRBUF_INIT, b = STRBUF_INIT;
	struct mon_filter flt = { 0 };
	struct mon_flow f, g;
	struct mon_ring ring;
	struct errbuf eb;

	(void)state;
	make_trace(&f, false);
	assert_compact(&f, "Dec  2 15:30:01.123: default/tiefighter:41234 (ID:257) -> "
			   "default/deathstar:80 (ID:256) to-endpoint FORWARDED (TCP Flags: SYN)");
	mon_flow_release(&f);
	/* a reply: printed the other way round, as Hubble does */
	make_trace(&f, true);
	assert_compact(&f, "Dec  2 15:30:01.123: default/tiefighter:41234 (ID:257) <- "
			   "default/deathstar:80 (ID:256) to-endpoint FORWARDED (TCP Flags: SYN, "
			   "ACK)");
	/* Hubble's flow JSON */
	mon_flow_format_hubble(&f, "node1", &a);
	assert_non_null(
		strstr(strbuf_str(&a), "\"uuid\":\"10111213-1415-1617-1819-1a1b1c1d1e1f\""));
	assert_non_null(strstr(strbuf_str(&a), "\"Type\":\"L3_L4\""));
	assert_non_null(strstr(strbuf_str(&a), "\"event_type\":{\"type\":4}"));
	assert_non_null(strstr(strbuf_str(&a), "\"trace_observation_point\":\"TO_ENDPOINT\""));
	assert_non_null(strstr(strbuf_str(&a), "\"is_reply\":true"));
	assert_non_null(strstr(strbuf_str(&a), "\"traffic_direction\":\"EGRESS\""));
	assert_non_null(strstr(strbuf_str(&a), "\"Summary\":\"TCP Flags: SYN, ACK\""));
	/* the endpoint (the tiefighter, receiving) is the destination */
	assert_non_null(strstr(strbuf_str(&a), "\"destination\":{\"ID\":7,"));
	assert_null(strstr(strbuf_str(&a), "_by\""));
	/* read back from jsonpb: the same compact line and JSON */
	errbuf_clear(&eb);
	assert_int_equal(mon_flow_from_json(a.p, a.len, &g, &eb), 0);
	assert_int_equal(g.type, MON_FLOW_TRACE);
	assert_int_equal(g.point, VELUM_TRACE_TO_ENDPOINT);
	assert_true(g.is_reply);
	assert_int_equal(g.ep_id, 7);
	mon_flow_format_hubble(&g, "node1", &b);
	assert_string_equal(strbuf_str(&a), strbuf_str(&b));
	mon_flow_release(&g);
	strbuf_reset(&a);
	strbuf_reset(&b);
	/* the agent's JSON and back */
	mon_flow_format_json(&f, &a);
	assert_non_null(strstr(strbuf_str(&a), "\"type\":\"trace\""));
	assert_non_null(strstr(strbuf_str(&a), "\"trace_observation_point\":\"TO_ENDPOINT\""));
	assert_non_null(strstr(strbuf_str(&a), "\"is_reply\":true"));
	assert_non_null(strstr(strbuf_str(&a), "\"policy\":null"));
	assert_int_equal(mon_flow_from_json(a.p, a.len, &g, &eb), 0);
	mon_flow_format_json(&g, &b);
	assert_string_equal(strbuf_str(&a), strbuf_str(&b));
	mon_flow_release(&g);
	strbuf_reset(&a);
	strbuf_reset(&b);
	/* filters: -t trace, --verdict FORWARDED, --tcp-flags */
	assert_int_equal(mon_filter_add(&flt, "type", "trace", 0, &eb), 0);
	assert_int_equal(mon_filter_add(&flt, "verdict", "FORWARDED", 0, &eb), 0);
	assert_int_equal(mon_filter_add(&flt, "tcp-flags", "syn,ack", 0, &eb), 0);
	assert_true(mon_filter_match(&flt, &f));
	f.tcp_flags = 0x02;
	assert_false(mon_filter_match(&flt, &f));
	f.type = VELUM_EVENT_POLICY_VERDICT;
	f.tcp_flags = 0x12;
	assert_false(mon_filter_match(&flt, &f));
	mon_filter_free(&flt);
	/* a dropped reply (a tracked packet the proxy had no socket for): also <- */
	f.type = VELUM_EVENT_DROP;
	f.verdict = VELUM_FLOW_DROPPED;
	f.reason = 178;
	f.tcp_flags = 0x12;
	f.point = 0;
	assert_compact(&f, "Dec  2 15:30:01.123: default/tiefighter:41234 (ID:257) <- "
			   "default/deathstar:80 (ID:256) Socket lookup failed DROPPED (TCP Flags: "
			   "SYN, ACK)");
	mon_flow_format_hubble(&f, "node1", &a);
	assert_non_null(strstr(strbuf_str(&a), "\"is_reply\":true"));
	assert_non_null(strstr(strbuf_str(&a), "\"destination\":{\"ID\":7,"));
	strbuf_reset(&a);
	/* the ring gives each flow its own uuid, version 4 */
	mon_ring_init(&ring, 4);
	memset(f.uuid, 0, sizeof(f.uuid));
	make_trace(&g, false);
	memset(g.uuid, 0, sizeof(g.uuid));
	assert_int_equal(mon_ring_push(&ring, &f), 0);
	assert_int_equal(mon_ring_push(&ring, &g), 0);
	assert_memory_not_equal(mon_ring_at(&ring, 0)->uuid, mon_ring_at(&ring, 1)->uuid, 16);
	assert_int_equal(mon_ring_at(&ring, 0)->uuid[6] >> 4, 4);
	mon_ring_free(&ring);
	strbuf_free(&a);
	strbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compact_request), cmocka_unit_test(test_compact_response),
		cmocka_unit_test(test_json_roundtrip),	cmocka_unit_test(test_json_bad_l7),
		cmocka_unit_test(test_filter_values),	cmocka_unit_test(test_filter_match),
		cmocka_unit_test(test_trace),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
