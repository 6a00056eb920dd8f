/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of hubble observe's filter semantics (src/monitor/filter.c)
 * and Hubble's flow JSON (flow.c, flow_json.c): a flag repeated is OR,
 * different flags AND, "either side" flags (--pod, --ip, -l, --port,
 * --namespace) all on the source or all on the destination, --not as a
 * deny set; the values refused; the jsonpb line's fields where Cilium's jq
 * recipes look for them, and its read-back into the same flow.
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
#include <jansson.h>

#include "identity/peer.h"
#include "monitor/flow.h"
#include "monitor/flow_json.h"
#include "monitor/hubble_metrics.h"
#include "velum/events.h"
#include "velum/policy.h"

/* 2026-12-02T15:30:01.123Z */
#define T0 (1796225401123000000LL)

static const char *const xwing_labels[] = { "k8s:class=xwing", "k8s:org=alliance" };
static const char *const tie_labels[] = { "k8s:class=tiefighter", "k8s:org=empire" };
static const char *const ds_labels[] = { "k8s:class=deathstar", "k8s:org=empire" };
static const char *const world_labels[] = { "reserved:world" };

enum { XWING, TIE, DS, WORLD };

static struct mon_ident *ident(int who)
{
	struct mon_ident *id =
		who == XWING ? mon_ident__new("default/xwing", 258, xwing_labels, 2) :
		who == TIE   ? mon_ident__new("default/tiefighter", 257, tie_labels, 2) :
		who == DS    ? mon_ident__new("empire/deathstar", 256, ds_labels, 2) :
			       mon_ident__new(NULL, 2, world_labels, 1);

	assert_non_null(id);
	return id;
}

static const char *const addrs[] = { "10.0.0.3", "10.0.0.2", "10.0.1.1", "192.0.2.7" };

/* A kernel flow from one peer to another. */
static void make(struct mon_flow *f, int from, int to, uint16_t sport, uint16_t dport, uint8_t type,
		 uint8_t verdict, uint8_t dir, uint8_t flags, uint16_t reason)
{
	memset(f, 0, sizeof(*f));
	f->time_ns = T0;
	f->type = type;
	f->verdict = verdict;
	f->dir = dir;
	f->protocol = IPPROTO_TCP;
	f->tcp_flags = flags;
	f->reason = reason;
	f->src = ident(from);
	f->dst = ident(to);
	inet_pton(AF_INET, addrs[from], &f->saddr);
	inet_pton(AF_INET, addrs[to], &f->daddr);
	f->sport = sport;
	f->dport = dport;
	f->ep_id = 7;
	f->match = verdict == VELUM_FLOW_FORWARDED ? VELUM_MATCH_L3_L4 : VELUM_MATCH_NONE;
	/* forwarded without a rule: no policy applies */
	if (verdict == VELUM_FLOW_FORWARDED)
		f->rule_id = VELUM_RULE_DEFAULT_ALLOW;
}

#define NFL 5
static struct mon_flow fl[NFL];

static int setup(void **state)
{
	(void)state;
	/* 0: xwing -> deathstar:80 dropped (policy), ingress */
	make(&fl[0], XWING, DS, 41000, 80, VELUM_EVENT_DROP, VELUM_FLOW_DROPPED, VELUM_DIR_INGRESS,
	     0x02, 133);
	/* 1: tiefighter -> deathstar:80 forwarded, ingress */
	make(&fl[1], TIE, DS, 42000, 80, VELUM_EVENT_POLICY_VERDICT, VELUM_FLOW_FORWARDED,
	     VELUM_DIR_INGRESS, 0x02, 0);
	fl[1].rule_id = 1000;
	fl[1].rule = mon_rule__new(1000, "CiliumNetworkPolicy empire/rule1 spec.ingress[0]",
				   "CiliumNetworkPolicy", "empire", "rule1");
	/* 2: deathstar -> world:443 egress, denied by a deny rule */
	make(&fl[2], DS, WORLD, 43000, 443, VELUM_EVENT_DROP, VELUM_FLOW_DROPPED, VELUM_DIR_EGRESS,
	     0x02, 181);
	fl[2].rule_id = 1001;
	fl[2].rule = mon_rule__new(1001, "CiliumNetworkPolicy empire/no-world spec.egressDeny[0]",
				   "CiliumNetworkPolicy", "empire", "no-world");
	/* 3: xwing -> tiefighter:8080 forwarded, SYN+ACK, egress */
	make(&fl[3], XWING, TIE, 80, 8080, VELUM_EVENT_POLICY_VERDICT, VELUM_FLOW_FORWARDED,
	     VELUM_DIR_EGRESS, 0x12, 0);
	/* 4: tiefighter -> xwing:80 */
	make(&fl[4], TIE, XWING, 44000, 80, VELUM_EVENT_POLICY_VERDICT, VELUM_FLOW_FORWARDED,
	     VELUM_DIR_INGRESS, 0x02, 0);
	return 0;
}

static int teardown(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NFL; i++)
		mon_flow_release(&fl[i]);
	return 0;
}

static int add(struct mon_filter *f, const char *key, const char *value)
{
	struct errbuf eb;

	errbuf_clear(&eb);
	return mon_filter_add(f, key, value, T0, &eb);
}

/* The indexes of the flows the filter from the key, value pairs selects, as "0,3". */
static const char *sel(const char *k, ...)
{
	static char out[64];
	struct mon_filter f = { 0 };
	va_list ap;
	size_t i, n = 0;

	va_start(ap, k);
	for (; k; k = va_arg(ap, const char *))
		assert_int_equal(add(&f, k, va_arg(ap, const char *)), 0);
	va_end(ap);
	out[0] = '\0';
	for (i = 0; i < NFL; i++)
		if (mon_filter_match(&f, &fl[i]))
			n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%zu", n ? "," : "", i);
	mon_filter_free(&f);
	return out;
}

static void test_hubble_filter_sides(void **state)
{
	(void)state;
	assert_string_equal(sel(NULL), "0,1,2,3,4");
	/* pods: a prefix of "ns/name", namespace default when none given */
	assert_string_equal(sel("from-pod", "xwing", NULL), "0,3");
	assert_string_equal(sel("from-pod", "default/x", NULL), "0,3");
	assert_string_equal(sel("to-pod", "empire/", NULL), "0,1");
	assert_string_equal(sel("to-pod", "deathstar", NULL), "");
	assert_string_equal(sel("pod", "xwing", NULL), "0,3,4");
	/* repeated: OR; different flags: AND */
	assert_string_equal(sel("from-pod", "xwing", "from-pod", "tiefighter", NULL), "0,1,3,4");
	assert_string_equal(sel("from-pod", "xwing", "to-port", "80", NULL), "0");
	/* either-side flags match all on one side: --pod xwing --port 80 is xwing:80 */
	assert_string_equal(sel("pod", "xwing", "port", "80", NULL), "3,4");
	assert_string_equal(sel("namespace", "empire", NULL), "0,1,2");
	assert_string_equal(sel("from-namespace", "empire", NULL), "2");
	assert_string_equal(sel("ip", "10.0.0.0/24", NULL), "0,1,3,4");
	assert_string_equal(sel("to-ip", "10.0.1.1", NULL), "0,1");
	assert_string_equal(sel("from-ip", "10.0.0.0/8", "to-ip", "192.0.2.0/24", NULL), "2");
	assert_string_equal(sel("from-identity", "258", NULL), "0,3");
	assert_string_equal(sel("to-identity", "world", NULL), "2");
	assert_string_equal(sel("identity", "reserved:world", NULL), "2");
	assert_string_equal(sel("from-label", "org=empire", NULL), "1,2,4");
	assert_string_equal(sel("to-label", "k8s:class=deathstar", NULL), "0,1");
	assert_string_equal(sel("label", "class=xwing", NULL), "0,3,4");
	assert_string_equal(sel("from-port", "80", NULL), "3");
	assert_string_equal(sel("port", "80", NULL), "0,1,3,4");
	/* label selectors as Hubble's -l takes them (Kubernetes' syntax) */
	assert_string_equal(sel("from-label", "org=empire,class=tiefighter", NULL), "1,4");
	assert_string_equal(sel("from-label", "k8s:org==empire, class=tiefighter", NULL), "1,4");
	assert_string_equal(sel("from-label", "org in (alliance, empire)", NULL), "0,1,2,3,4");
	assert_string_equal(sel("from-label", "org notin (empire)", NULL), "0,3");
	assert_string_equal(sel("from-label", "org!=empire", NULL), "0,3");
	assert_string_equal(sel("to-label", "!org", NULL), "2");
	assert_string_equal(sel("to-label", "reserved:world", NULL), "2");
	assert_string_equal(sel("from-label", "class,org in (empire)", NULL), "1,2,4");
	/* velum's --from/--to take any peer form */
	assert_string_equal(sel("from", "xwing", "from", "ID:257", NULL), "0,1,3,4");
	assert_string_equal(sel("from", "default/xwing", NULL), "0,3");
	assert_string_equal(sel("from", "10.0.0.0/30", NULL), "0,1,3,4");
	assert_string_equal(sel("from", "k8s:org=empire", NULL), "1,2,4");
	/* digits are an endpoint id, which only the agent can turn into a name */
	assert_string_equal(sel("from", "258", NULL), "");
	assert_string_equal(sel("to", "world", NULL), "2");
}

static void test_hubble_filter_fields(void **state)
{
	(void)state;
	assert_string_equal(sel("verdict", "DROPPED", NULL), "0,2");
	assert_string_equal(sel("type", "drop", NULL), "0,2");
	assert_string_equal(sel("type", "trace", NULL), "");
	assert_string_equal(sel("protocol", "tcp", NULL), "0,1,2,3,4");
	assert_string_equal(sel("protocol", "UDP", NULL), "");
	assert_string_equal(sel("protocol", "http", NULL), "");
	assert_string_equal(sel("traffic-direction", "egress", NULL), "2,3");
	assert_string_equal(sel("traffic-direction", "INGRESS", NULL), "0,1,4");
	assert_string_equal(sel("tcp-flags", "syn", NULL), "0,1,2,3,4");
	assert_string_equal(sel("tcp-flags", "syn,ack", NULL), "3");
	assert_string_equal(sel("tcp-flags", "fin", "tcp-flags", "ack", NULL), "3");
	assert_string_equal(sel("drop-reason-desc", "POLICY_DENIED", NULL), "0");
	assert_string_equal(sel("drop-reason-desc", "policy_deny", NULL), "2");
	assert_string_equal(sel("since", "2026-12-02T15:30:01Z", NULL), "0,1,2,3,4");
	assert_string_equal(sel("until", "2026-12-02T15:30:01Z", NULL), "");
	assert_string_equal(sel("since", "1s", "until", "0s", NULL), "0,1,2,3,4");
}

static void test_hubble_filter_not(void **state)
{
	(void)state;
	assert_string_equal(sel("not-verdict", "DROPPED", NULL), "1,3,4");
	assert_string_equal(sel("not-from-pod", "xwing", NULL), "1,2,4");
	/* the deny set is one conjunction: not (from xwing and to port 80) */
	assert_string_equal(sel("not-from-pod", "xwing", "not-to-port", "80", NULL), "1,2,3,4");
	assert_string_equal(sel("to-port", "80", "not-from-pod", "xwing", NULL), "1,4");
	assert_string_equal(sel("not-pod", "xwing", NULL), "1,2");
}

static void test_hubble_filter_refused(void **state)
{
	static const char *const bad[][2] = {
		{ "ip", "10.0.0.0/33" },
		{ "ip", "10.0.0" },
		{ "from-ip", "xwing" },
		{ "to-ip", "10.0.0.1/" },
		{ "ip", "" },
		{ "identity", "xwing" },
		{ "identity", "-1" },
		{ "identity", "99999999999" },
		{ "pod", "" },
		{ "pod", "a/b/c" },
		{ "namespace", "a/b" },
		{ "port", "65536" },
		{ "to-port", "http" },
		{ "protocol", "bogus" },
		{ "type", "capture" },
		{ "traffic-direction", "both" },
		{ "tcp-flags", "syn,bogus" },
		{ "tcp-flags", "" },
		{ "drop-reason-desc", "X" },
		{ "label", "org in (a" },
		{ "label", "org inn (a)" },
		{ "label", "," },
		{ "from-label", "a=b,,c" },
		{ "label", "=x" },
		{ "until", "tomorrow" },
		{ "not-since", "5m" },
		{ "workload", "x" },
	};
	struct mon_filter f = { 0 };
	struct errbuf eb;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errbuf_clear(&eb);
		if (mon_filter_add(&f, bad[i][0], bad[i][1], T0, &eb) != -EINVAL)
			fail_msg("%s=%s was accepted", bad[i][0], bad[i][1]);
		assert_true(eb.msg[0] != '\0');
	}
	assert_false(f.allow.used);
	assert_false(f.deny.used);
	mon_filter_free(&f);
}

/* jq's .flow.PATH as a string (numbers and booleans printed), or NULL. */
static const char *get(json_t *j, const char *path)
{
	static char buf[256];
	char tmp[256], *tok, *save;

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (tok = strtok_r(tmp, ".", &save); tok && j; tok = strtok_r(NULL, ".", &save)) {
		if (json_is_array(j))
			j = json_array_get(j, strtoul(tok, NULL, 10));
		else
			j = json_object_get(j, tok);
	}
	if (json_is_string(j))
		return json_string_value(j);
	if (json_is_integer(j)) {
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(j));
		return buf;
	}
	if (json_is_boolean(j))
		return json_is_true(j) ? "true" : "false";
	return NULL;
}

static void test_hubble_json(void **state)
{
	struct strbuf sb = STRBUF_INIT, a = STRBUF_INIT, b = STRBUF_INIT;
	struct mon_flow g;
	struct errbuf eb;
	json_error_t je;
	json_t *j;
	size_t i;

	(void)state;
	mon_flow_format_hubble(&fl[0], "node1", &sb);
	j = json_loads(strbuf_str(&sb), 0, &je);
	assert_non_null(j);
	assert_string_equal(get(j, "node_name"), "node1");
	assert_string_equal(get(j, "time"), "2026-12-02T15:30:01.123000000Z");
	assert_string_equal(get(j, "flow.time"), "2026-12-02T15:30:01.123000000Z");
	assert_string_equal(get(j, "flow.verdict"), "DROPPED");
	assert_string_equal(get(j, "flow.drop_reason"), "133");
	assert_string_equal(get(j, "flow.drop_reason_desc"), "POLICY_DENIED");
	assert_string_equal(get(j, "flow.IP.source"), "10.0.0.3");
	assert_string_equal(get(j, "flow.IP.destination"), "10.0.1.1");
	assert_string_equal(get(j, "flow.IP.ipVersion"), "IPv4");
	assert_string_equal(get(j, "flow.l4.TCP.source_port"), "41000");
	assert_string_equal(get(j, "flow.l4.TCP.destination_port"), "80");
	assert_string_equal(get(j, "flow.l4.TCP.flags.SYN"), "true");
	assert_string_equal(get(j, "flow.source.identity"), "258");
	assert_string_equal(get(j, "flow.source.namespace"), "default");
	assert_string_equal(get(j, "flow.source.pod_name"), "xwing");
	assert_string_equal(get(j, "flow.source.labels.0"), "k8s:class=xwing");
	assert_null(get(j, "flow.source.ID"));
	assert_string_equal(get(j, "flow.destination.ID"), "7");
	assert_string_equal(get(j, "flow.destination.namespace"), "empire");
	assert_string_equal(get(j, "flow.traffic_direction"), "INGRESS");
	assert_string_equal(get(j, "flow.event_type.type"), "1");
	assert_string_equal(get(j, "flow.Type"), "L3_L4");
	assert_string_equal(get(j, "flow.Summary"), "TCP Flags: SYN");
	assert_string_equal(get(j, "flow.is_reply"), "false");
	json_decref(j);

	/* the rule in Hubble's Policy, by direction and verdict */
	strbuf_reset(&sb);
	mon_flow_format_hubble(&fl[2], "node1", &sb);
	j = json_loads(strbuf_str(&sb), 0, &je);
	assert_non_null(j);
	assert_string_equal(get(j, "flow.egress_denied_by.0.name"), "no-world");
	assert_string_equal(get(j, "flow.egress_denied_by.0.namespace"), "empire");
	assert_string_equal(get(j, "flow.egress_denied_by.0.kind"), "CiliumNetworkPolicy");
	assert_null(get(j, "flow.ingress_denied_by"));
	assert_string_equal(get(j, "flow.destination.identity"), "2");
	assert_null(get(j, "flow.destination.pod_name"));
	json_decref(j);
	strbuf_reset(&sb);
	mon_flow_format_hubble(&fl[1], "node1", &sb);
	j = json_loads(strbuf_str(&sb), 0, &je);
	assert_string_equal(get(j, "flow.ingress_allowed_by.0.name"), "rule1");
	assert_string_equal(get(j, "flow.policy_match_type"), "2"); /* Cilium's L3-L4 */
	json_decref(j);

	/* read back: the same flow, as the compact line and the agent's JSON show */
	for (i = 0; i < NFL; i++) {
		strbuf_reset(&sb);
		strbuf_reset(&a);
		strbuf_reset(&b);
		mon_flow_format_hubble(&fl[i], "node1", &sb);
		errbuf_clear(&eb);
		assert_int_equal(mon_flow_from_json(sb.p, sb.len, &g, &eb), 0);
		mon_flow_format_compact(&fl[i], true, &a);
		mon_flow_format_compact(&g, true, &b);
		assert_string_equal(strbuf_str(&a), strbuf_str(&b));
		strbuf_reset(&a);
		strbuf_reset(&b);
		mon_flow_format_json(&fl[i], &a);
		mon_flow_format_json(&g, &b);
		assert_string_equal(strbuf_str(&a), strbuf_str(&b));
		mon_flow_release(&g);
	}
	/* broken lines are refused with the field named */
	errbuf_clear(&eb);
	assert_int_equal(mon_flow_from_json("{\"flow\":{}}", 11, &g, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "flow.time"));
	strbuf_free(&sb);
	strbuf_free(&a);
	strbuf_free(&b);
}

/* The peer forms trace and observe share (identity/peer.h). */
static void test_hubble_peer_forms(void **state)
{
	static const struct {
		const char *spec;
		int kind;
		uint32_t num;
		const char *name;
	} good[] = {
		{ "host", ID_PEER_IDENTITY, 1, NULL },
		{ "world", ID_PEER_IDENTITY, 2, NULL },
		{ "reserved:health", ID_PEER_IDENTITY, 4, NULL },
		{ "ID:258", ID_PEER_IDENTITY, 258, NULL },
		{ "identity:16777217", ID_PEER_IDENTITY, 16777217, NULL },
		{ "3", ID_PEER_EPID, 3, NULL },
		{ "10.0.0.1", ID_PEER_ADDR, 32, NULL },
		{ "10.0.0.0/8", ID_PEER_ADDR, 8, NULL },
		{ "k8s:org=empire", ID_PEER_LABEL, 0, NULL },
		{ "org=empire", ID_PEER_LABEL, 0, NULL },
		{ "xwing", ID_PEER_NAME, 0, "default/xwing" },
		{ "rebels/probe", ID_PEER_NAME, 0, "rebels/probe" },
		{ "web.1", ID_PEER_NAME, 0, "default/web.1" },
	};
	static const char *const bad[] = { "",		"ID:",	       "ID:x",	 "ID:-1",
					   "0",		"99999999999", "10.0.0", "10.0.0.1/33",
					   "10.0.0.1/", "1.2.3.4.5",   "a/b/c",	 "/x",
					   "ns/" };
	struct id_peer p;
	struct errbuf eb;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		errbuf_clear(&eb);
		if (id_peer_parse(good[i].spec, &p, &eb))
			fail_msg("'%s' refused: %s", good[i].spec, eb.msg);
		assert_int_equal(p.kind, good[i].kind);
		if (good[i].kind == ID_PEER_ADDR)
			assert_int_equal(p.plen, good[i].num);
		else if (good[i].kind != ID_PEER_LABEL && good[i].kind != ID_PEER_NAME)
			assert_int_equal(p.num, good[i].num);
		if (good[i].name)
			assert_string_equal(p.name, good[i].name);
	}
	assert_true(id_peer_parse("host", &p, &eb) == 0 && p.word);
	assert_true(id_peer_parse("reserved:host", &p, &eb) == 0 && !p.word);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errbuf_clear(&eb);
		if (id_peer_parse(bad[i], &p, &eb) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
		assert_true(eb.msg[0] != '\0');
	}
}

/* Hubble's metric families from the fixture flows, and the rule hits. */
static void test_hubble_metrics(void **state)
{
	struct mon_hubble_metrics m = { 0 };
	struct strbuf sb = STRBUF_INIT;
	struct mon_hm_rule h;
	size_t i;

	(void)state;
	for (i = 0; i < NFL; i++)
		mon_hubble_observe(&m, &fl[i]);
	mon_hubble_format(&m, &sb);
	assert_non_null(strstr(strbuf_str(&sb),
			       "hubble_flows_processed_total{protocol=\"TCP\","
			       "type=\"Drop\",subtype=\"\",verdict=\"DROPPED\"} 2\n"));
	assert_non_null(strstr(strbuf_str(&sb), "hubble_flows_processed_total{protocol=\"TCP\","
						"type=\"PolicyVerdict\",subtype=\"\","
						"verdict=\"FORWARDED\"} 3\n"));
	assert_non_null(strstr(strbuf_str(&sb),
			       "hubble_drop_total{reason=\"POLICY_DENIED\",protocol=\"TCP\"} 1\n"));
	assert_non_null(strstr(strbuf_str(&sb),
			       "hubble_drop_total{reason=\"POLICY_DENY\",protocol=\"TCP\"} 1\n"));
	assert_non_null(strstr(strbuf_str(&sb),
			       "hubble_policy_verdicts_total{direction=\"ingress\","
			       "match=\"l3-l4\",action=\"forwarded\"} 2\n"));
	assert_non_null(strstr(strbuf_str(&sb), "hubble_policy_verdicts_total{direction=\"egress\","
						"match=\"l3-l4\",action=\"forwarded\"} 1\n"));
	/* SYN alone on forwarded flows, SYN-ACK for SYN and ACK */
	assert_non_null(strstr(strbuf_str(&sb),
			       "hubble_tcp_flags_total{flag=\"SYN\",family=\"IPv4\"} 2\n"));
	assert_non_null(strstr(strbuf_str(&sb),
			       "hubble_tcp_flags_total{flag=\"SYN-ACK\",family=\"IPv4\"} 1\n"));
	assert_non_null(
		strstr(strbuf_str(&sb), "# TYPE hubble_http_request_duration_seconds histogram"));
	h = mon_hubble_rule_hits(&m, 1000);
	assert_int_equal(h.allowed, 1);
	assert_int_equal(h.denied, 0);
	h = mon_hubble_rule_hits(&m, 1001); /* a drop event, not a verdict: not counted */
	assert_int_equal(h.allowed + h.denied, 0);
	h = mon_hubble_rule_hits(&m, 99999);
	assert_int_equal(h.allowed + h.denied, 0);
	strbuf_free(&sb);
	mon_hubble_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hubble_filter_sides),
		cmocka_unit_test(test_hubble_filter_fields),
		cmocka_unit_test(test_hubble_filter_not),
		cmocka_unit_test(test_hubble_filter_refused),
		cmocka_unit_test(test_hubble_json),
		cmocka_unit_test(test_hubble_peer_forms),
		cmocka_unit_test(test_hubble_metrics),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
