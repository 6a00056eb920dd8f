/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of resolution (src/policy/resolve.c, mapstate.c) through the
 * agent model: Cilium's semantics as verdicts of the kernel's lookup on the
 * computed map states, the L7 decision, incremental regeneration, and the
 * trace of the paper's Star Wars policies.
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

#include "model/model.h"
#include "policy/trace.h"

struct h {
	struct model *m;
	struct errbuf eb;
	struct strbuf sb;
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
	strbuf_free(&h->sb);
	free(h);
	return 0;
}

/* Adds endpoint name (in "default" unless "ns/name") with labels "k=v,k=v" and one address. */
static void ep(struct h *h, const char *name, const char *labels, const char *ip,
	       const struct pol_named_port *ports, size_t nports)
{
	char buf[512], *save, *tok, full[256];
	const char *lv[16];
	const char *slash = strchr(name, '/');
	char ns[64] = "default";
	size_t n = 0;
	uint32_t a;

	if (slash)
		snprintf(ns, sizeof(ns), "%.*s", (int)(slash - name), name);
	snprintf(full, sizeof(full), slash ? "%s" : "default/%s", name);
	snprintf(buf, sizeof(buf), "%s", labels);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		lv[n++] = tok;
	assert_int_equal(inet_pton(AF_INET, ip, &a), 1);
	if (model_endpoint_add(h->m, 0, full, ns, lv, n, &a, 1, ports, nports, false, NULL, &h->eb))
		fail_msg("endpoint %s: %s", name, h->eb.msg);
}

static void load(struct h *h, const char *file, const char *text)
{
	struct pol_set set = { 0 };

	if (pol_parse_buf(file, text, strlen(text), &set, &h->eb))
		fail_msg("parse: %s", h->eb.msg);
	assert_int_equal(model_policies_load(h->m, &set), 0);
	pol_set_free(&set);
	assert_int_equal(model_regenerate(h->m, NULL, NULL), 0);
}

static uint32_t peer_id(struct h *h, const char *peer)
{
	struct pol_trace_peer p;
	char buf[INET_ADDRSTRLEN];

	if (model_peer(h->m, peer, &p, buf, &h->eb))
		fail_msg("peer %s: %s", peer, h->eb.msg);
	return p.identity;
}

/* The verdict endpoint `at` gives in direction dir for traffic with peer. */
static struct pol_verdict look(struct h *h, const char *at, enum pol_dir dir, const char *peer,
			       uint8_t proto, uint16_t port)
{
	const struct model_ep *e;
	struct pol_verdict v;
	char full[256];

	snprintf(full, sizeof(full), strchr(at, '/') ? "%s" : "default/%s", at);
	e = model_endpoint(h->m, full);
	assert_non_null(e);
	assert_non_null(pol_engine_endpoint_state(model_engine(h->m), e->id));
	pol_mapstate_lookup(pol_engine_endpoint_state(model_engine(h->m), e->id), dir,
			    peer_id(h, peer), proto, port, &v);
	return v;
}

static bool passes(struct h *h, const char *at, enum pol_dir dir, const char *peer, uint8_t proto,
		   uint16_t port)
{
	struct pol_verdict v = look(h, at, dir, peer, proto, port);

	return pol_verdict_passes(&v);
}

#define TCP  IPPROTO_TCP
#define UDP  IPPROTO_UDP
#define SCTP IPPROTO_SCTP
#define ICMP IPPROTO_ICMP
#define IN   POL_INGRESS
#define OUT  POL_EGRESS

static void starwars(struct h *h)
{
	static const struct pol_named_port http = { "http", 80, IPPROTO_TCP };

	ep(h, "deathstar", "org=empire,class=deathstar", "10.0.0.10", &http, 1);
	ep(h, "tiefighter", "org=empire,class=tiefighter", "10.0.0.11", NULL, 0);
	ep(h, "xwing", "org=alliance,class=xwing", "10.0.0.12", NULL, 0);
	assert_int_equal(model_regenerate(h->m, NULL, NULL), 0);
}

#define CNP(name, body)                                                                     \
	"apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: " name "}\n" \
	"spec:\n" body

static const char sw_l3[] =
	CNP("rule1", "  endpointSelector: {matchLabels: {org: empire, class: deathstar}}\n"
		     "  ingress:\n"
		     "  - fromEndpoints: [{matchLabels: {org: empire}}]\n"
		     "    toPorts: [{ports: [{port: '80', protocol: TCP}]}]\n");

static void test_engine_no_policy_allows_all(void **state)
{
	struct h *h = *state;
	struct pol_verdict v;

	starwars(h);
	v = look(h, "deathstar", IN, "xwing", TCP, 80);
	assert_int_equal(v.verdict, VELUM_VERDICT_ALLOW);
	assert_int_equal(v.rule_id, VELUM_RULE_DEFAULT_ALLOW);
	assert_true(passes(h, "deathstar", OUT, "world", UDP, 53));
	assert_true(passes(h, "xwing", IN, "host", ICMP, 8));
}

static void test_engine_l3_l4_ingress(void **state)
{
	struct h *h = *state;
	struct pol_verdict v;

	starwars(h);
	load(h, "sw.yaml", sw_l3);
	v = look(h, "deathstar", IN, "tiefighter", TCP, 80);
	assert_int_equal(v.verdict, VELUM_VERDICT_ALLOW);
	assert_true(v.rule_id >= VELUM_RULE_FIRST);
	assert_string_equal(pol_verdict_match_type(&v), "L3-L4");
	v = look(h, "deathstar", IN, "xwing", TCP, 80);
	assert_int_equal(v.verdict, VELUM_VERDICT_NONE);
	assert_int_equal(v.rule_id, VELUM_RULE_NONE);
	assert_false(passes(h, "deathstar", IN, "tiefighter", TCP, 81));
	assert_false(passes(h, "deathstar", IN, "tiefighter", UDP, 80));
	/* any L4 rule blocks ICMP */
	assert_false(passes(h, "deathstar", IN, "tiefighter", ICMP, 8));
	assert_false(passes(h, "deathstar", IN, "world", TCP, 80));
	/* egress is not enforced by an ingress-only rule */
	assert_true(passes(h, "deathstar", OUT, "xwing", TCP, 1234));
	/* other endpoints are not selected */
	assert_true(passes(h, "xwing", IN, "world", TCP, 22));
}

static void test_engine_l3_only_allows_all_ports_and_icmp(void **state)
{
	struct h *h = *state;
	struct pol_verdict v;

	starwars(h);
	load(h, "l3.yaml",
	     CNP("l3", "  endpointSelector: {matchLabels: {class: deathstar}}\n"
		       "  ingress: [{fromEndpoints: [{matchLabels: {class: tiefighter}}]}]\n"));
	v = look(h, "deathstar", IN, "tiefighter", ICMP, 8);
	assert_int_equal(v.verdict, VELUM_VERDICT_ALLOW);
	assert_string_equal(pol_verdict_match_type(&v), "L3-Only");
	assert_true(passes(h, "deathstar", IN, "tiefighter", UDP, 9999));
	assert_false(passes(h, "deathstar", IN, "xwing", ICMP, 8));
}

static void test_engine_deny_wins(void **state)
{
	struct h *h = *state;
	struct pol_verdict v;

	starwars(h);
	load(h, "d.yaml",
	     CNP("d", "  endpointSelector: {matchLabels: {class: deathstar}}\n"
		      "  ingress:\n"
		      "  - fromEntities: [cluster]\n"
		      "  - fromEndpoints: [{matchLabels: {class: tiefighter}}]\n"
		      "    toPorts: [{ports: [{port: '22', protocol: TCP}]}]\n"
		      "  ingressDeny:\n"
		      "  - fromEndpoints: [{matchLabels: {org: alliance}}]\n"
		      "  - toPorts: [{ports: [{port: '22', protocol: TCP}]}]\n"));
	assert_true(passes(h, "deathstar", IN, "tiefighter", TCP, 80));
	v = look(h, "deathstar", IN, "xwing", TCP, 80);
	assert_int_equal(v.verdict, VELUM_VERDICT_DENY);
	/* a wildcard-peer deny on 22 beats the specific allow of tiefighter on 22 */
	v = look(h, "deathstar", IN, "tiefighter", TCP, 22);
	assert_int_equal(v.verdict, VELUM_VERDICT_DENY);
	assert_string_equal(pol_verdict_match_type(&v), "L4-Only");
	/* world is not in the cluster entity */
	assert_false(passes(h, "deathstar", IN, "world", TCP, 80));
}

static void test_engine_deny_overlap_same_identity(void **state)
{
	struct h *h = *state;
	struct pol_verdict v;

	starwars(h);
	/* a narrow allow and a broad deny for the same peer: the deny must win */
	load(h, "o.yaml",
	     CNP("o", "  endpointSelector: {matchLabels: {class: deathstar}}\n"
		      "  ingress:\n"
		      "  - fromEndpoints: [{matchLabels: {class: xwing}}]\n"
		      "    toPorts: [{ports: [{port: '80', protocol: TCP}]}]\n"
		      "  ingressDeny:\n"
		      "  - fromEndpoints: [{matchLabels: {class: xwing}}]\n"
		      "    toPorts: [{ports: [{port: '64', endPort: 127, protocol: TCP}]}]\n"));
	v = look(h, "deathstar", IN, "xwing", TCP, 80);
	assert_int_equal(v.verdict, VELUM_VERDICT_DENY);
	assert_int_equal(v.port_prefix, 24); /* the key's own specificity, as the kernel ranks */
	assert_false(passes(h, "deathstar", IN, "xwing", TCP, 127));
	assert_false(passes(h, "deathstar", IN, "xwing", TCP, 128));
}

static void test_engine_port_ranges_and_protocols(void **state)
{
	struct h *h = *state;

	starwars(h);
	load(h, "r.yaml",
	     CNP("r", "  endpointSelector: {matchLabels: {class: deathstar}}\n"
		      "  ingress:\n"
		      "  - toPorts: [{ports: [{port: '8000', endPort: 8080, protocol: TCP},\n"
		      "                       {port: '53'}, {port: '0', protocol: SCTP}]}]\n"));
	assert_false(passes(h, "deathstar", IN, "xwing", TCP, 7999));
	assert_true(passes(h, "deathstar", IN, "xwing", TCP, 8000));
	assert_true(passes(h, "deathstar", IN, "xwing", TCP, 8031));
	assert_true(passes(h, "deathstar", IN, "world", TCP, 8080));
	assert_false(passes(h, "deathstar", IN, "xwing", TCP, 8081));
	assert_false(passes(h, "deathstar", IN, "xwing", UDP, 8000));
	/* ANY is TCP, UDP and SCTP, never ICMP */
	assert_true(passes(h, "deathstar", IN, "xwing", TCP, 53));
	assert_true(passes(h, "deathstar", IN, "xwing", UDP, 53));
	assert_true(passes(h, "deathstar", IN, "xwing", SCTP, 53));
	assert_false(passes(h, "deathstar", IN, "xwing", ICMP, 53));
	/* port 0: every port of the protocol */
	assert_true(passes(h, "deathstar", IN, "xwing", SCTP, 1));
	assert_true(passes(h, "deathstar", IN, "xwing", SCTP, 65535));
	assert_false(passes(h, "deathstar", IN, "xwing", UDP, 54));
}

static void test_engine_icmps(void **state)
{
	struct h *h = *state;

	starwars(h);
	load(h, "i.yaml",
	     CNP("i", "  endpointSelector: {matchLabels: {class: deathstar}}\n"
		      "  ingress:\n"
		      "  - fromEndpoints: [{matchLabels: {org: empire}}]\n"
		      "    icmps: [{fields: [{type: EchoRequest}]}]\n"));
	assert_true(passes(h, "deathstar", IN, "tiefighter", ICMP, 8));
	assert_false(passes(h, "deathstar", IN, "tiefighter", ICMP, 13));
	assert_false(passes(h, "deathstar", IN, "xwing", ICMP, 8));
	assert_false(passes(h, "deathstar", IN, "tiefighter", TCP, 8));
}

static void test_engine_named_ports(void **state)
{
	struct h *h = *state;

	starwars(h);
	load(h, "n.yaml",
	     CNP("n", "  endpointSelector: {matchLabels: {org: empire}}\n"
		      "  ingress: [{toPorts: [{ports: [{port: http}]}]}]\n"
		      "  egress: [{toPorts: [{ports: [{port: HTTP, protocol: TCP}]}]}]\n"));
	/* ingress: the destination's own port named http (deathstar: 80) */
	assert_true(passes(h, "deathstar", IN, "xwing", TCP, 80));
	assert_false(passes(h, "deathstar", IN, "xwing", TCP, 81));
	/* tiefighter has no port named http: nothing allowed */
	assert_false(passes(h, "tiefighter", IN, "xwing", TCP, 80));
	/* egress: the port named http on the peer */
	assert_true(passes(h, "tiefighter", OUT, "deathstar", TCP, 80));
	assert_false(passes(h, "tiefighter", OUT, "deathstar", TCP, 81));
}

static void test_engine_cidr_and_entities(void **state)
{
	struct h *h = *state;

	starwars(h);
	load(h, "c.yaml",
	     CNP("c", "  endpointSelector: {matchLabels: {class: xwing}}\n"
		      "  egress:\n"
		      "  - toCIDRSet: [{cidr: 192.0.2.0/24, except: [192.0.2.128/25]}]\n"
		      "  - toEntities: [host]\n"
		      "  - toCIDR: [198.51.100.7]\n"
		      "    toPorts: [{ports: [{port: '443', protocol: TCP}]}]\n"));
	assert_true(passes(h, "xwing", OUT, "192.0.2.5", TCP, 80));
	assert_false(passes(h, "xwing", OUT, "192.0.2.200", TCP, 80));
	assert_false(passes(h, "xwing", OUT, "203.0.113.1", TCP, 80));
	assert_true(passes(h, "xwing", OUT, "host", UDP, 53));
	assert_true(passes(h, "xwing", OUT, "198.51.100.7", TCP, 443));
	assert_false(passes(h, "xwing", OUT, "198.51.100.7", TCP, 80));
	/* CIDR rules never select endpoints */
	assert_false(passes(h, "xwing", OUT, "deathstar", TCP, 80));
	/* removing the policy releases the CIDR identities: addresses are world again */
	assert_int_equal(model_policy_delete(h->m, POL_KIND_CNP, "default", "c"), 0);
	assert_int_equal(model_regenerate(h->m, NULL, NULL), 0);
	assert_int_equal(peer_id(h, "192.0.2.5"), ID_WORLD);
	assert_true(passes(h, "xwing", OUT, "203.0.113.1", TCP, 80));
}

static void test_engine_world_entity(void **state)
{
	struct h *h = *state;

	starwars(h);
	load(h, "w.yaml",
	     CNP("w", "  endpointSelector: {matchLabels: {class: xwing}}\n"
		      "  egress: [{toEntities: [world]}]\n"
		      "---\n"
		      "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: w2}\n"
		      "spec:\n  endpointSelector: {matchLabels: {class: tiefighter}}\n"
		      "  egress: [{toCIDR: [10.99.0.0/16]}]\n"));
	assert_true(passes(h, "xwing", OUT, "world", TCP, 80));
	/* a CIDR identity is outside the cluster too: world selects it */
	assert_true(passes(h, "xwing", OUT, "10.99.1.1", TCP, 80));
	assert_false(passes(h, "xwing", OUT, "deathstar", TCP, 80));
	assert_false(passes(h, "xwing", OUT, "host", TCP, 80));
}

static void test_engine_default_deny_controls(void **state)
{
	struct h *h = *state;

	starwars(h);
	load(h, "dd.yaml",
	     CNP("dd",
		 "  endpointSelector: {matchLabels: {class: deathstar}}\n"
		 "  enableDefaultDeny: {ingress: false}\n"
		 "  ingress: [{fromEndpoints: [{matchLabels: {org: empire}}], toPorts: [{ports: [{port: '80'}]}]}]\n"
		 "---\n"
		 "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: deny-only}\n"
		 "spec:\n  endpointSelector: {matchLabels: {class: tiefighter}}\n"
		 "  ingressDeny: [{toPorts: [{ports: [{port: '80', protocol: TCP}]}]}]\n"
		 "---\n"
		 "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: empty}\n"
		 "spec:\n  endpointSelector: {matchLabels: {class: xwing}}\n"
		 "  egress: [{}]\n"));
	/* enableDefaultDeny false: a rule that does not restrict the rest */
	assert_true(passes(h, "deathstar", IN, "xwing", TCP, 22));
	/* a deny-only policy still turns on default deny for its direction */
	assert_false(passes(h, "tiefighter", IN, "xwing", TCP, 80));
	assert_false(passes(h, "tiefighter", IN, "xwing", TCP, 81));
	assert_false(passes(h, "tiefighter", IN, "xwing", ICMP, 8));
	/* `egress: [{}]` denies all egress, ingress stays open */
	assert_false(passes(h, "xwing", OUT, "world", TCP, 80));
	assert_true(passes(h, "xwing", IN, "world", TCP, 80));
}

static void test_engine_namespaces(void **state)
{
	struct h *h = *state;

	ep(h, "a/web", "app=web", "10.0.1.1", NULL, 0);
	ep(h, "a/client", "app=client", "10.0.1.2", NULL, 0);
	ep(h, "b/client", "app=client", "10.0.2.2", NULL, 0);
	load(h, "ns.yaml",
	     "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: p, namespace: a}\n"
	     "spec:\n  endpointSelector: {matchLabels: {app: web}}\n"
	     "  ingress: [{fromEndpoints: [{}]}]\n");
	assert_true(passes(h, "a/web", IN, "a/client", TCP, 80));
	assert_false(passes(h, "a/web", IN, "b/client", TCP, 80));
	assert_false(passes(h, "a/web", IN, "host", TCP, 80));
	/* the namespaced policy cannot select a pod of another namespace */
	load(h, "ns2.yaml",
	     "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: p, namespace: b}\n"
	     "spec:\n  endpointSelector: {matchLabels: {app: web}}\n"
	     "  ingress: [{}]\n");
	assert_true(passes(h, "a/web", IN, "a/client", TCP, 80));
	/* clusterwide {}: every pod of every namespace, never reserved identities */
	load(h, "cw.yaml",
	     "apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata: {name: cw}\n"
	     "spec:\n  endpointSelector: {matchLabels: {app: client}}\n"
	     "  ingress: [{fromEndpoints: [{}]}]\n");
	assert_true(passes(h, "b/client", IN, "a/web", TCP, 80));
	assert_false(passes(h, "b/client", IN, "world", TCP, 80));
	assert_false(passes(h, "b/client", IN, "host", TCP, 80));
}

static void test_engine_knp_namespace_selector(void **state)
{
	struct h *h = *state;

	ep(h, "db/pg", "app=pg", "10.0.3.1", NULL, 0);
	ep(h, "shop/api", "app=api", "10.0.3.2", NULL, 0);
	ep(h, "db/backup", "app=backup", "10.0.3.3", NULL, 0);
	load(h, "np.yaml",
	     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: pg, namespace: db}\n"
	     "spec:\n  podSelector: {matchLabels: {app: pg}}\n"
	     "  ingress:\n"
	     "  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: shop}}}]\n"
	     "    ports: [{port: 5432}]\n");
	assert_true(passes(h, "db/pg", IN, "shop/api", TCP, 5432));
	assert_false(passes(h, "db/pg", IN, "shop/api", UDP, 5432));
	assert_false(passes(h, "db/pg", IN, "db/backup", TCP, 5432));
}

static void test_engine_l7_decisions(void **state)
{
	struct h *h = *state;
	struct pol_http_request req = { SV("POST"), SV("/v1/request-landing"), SV(""), NULL, 0 };
	const struct pol_mapstate *ms;
	struct pol_l7_verdict l7;
	struct pol_verdict v;
	uint32_t tie, xw;

	starwars(h);
	load(h, "l7.yaml",
	     CNP("rule1", "  endpointSelector: {matchLabels: {org: empire, class: deathstar}}\n"
			  "  ingress:\n"
			  "  - fromEndpoints: [{matchLabels: {org: empire}}]\n"
			  "    toPorts:\n"
			  "    - ports: [{port: '80', protocol: TCP}]\n"
			  "      rules:\n"
			  "        http:\n"
			  "        - {method: POST, path: /v1/request-landing}\n"
			  "        - {method: GET, path: /v1}\n"));
	v = look(h, "deathstar", IN, "tiefighter", TCP, 80);
	assert_int_equal(v.verdict, VELUM_VERDICT_REDIRECT);
	ms = pol_engine_endpoint_state(model_engine(h->m),
				       model_endpoint(h->m, "default/deathstar")->id);
	tie = peer_id(h, "tiefighter");
	xw = peer_id(h, "xwing");
	pol_mapstate_l7_decide(ms, IN, tie, 80, &req, &l7);
	assert_true(l7.allowed);
	assert_int_equal(l7.http_index, 0);
	req.method = SV("PUT");
	req.path = SV("/v1/exhaust-port");
	pol_mapstate_l7_decide(ms, IN, tie, 80, &req, &l7);
	assert_false(l7.allowed);
	req.method = SV("GET");
	req.path = SV("/v1/");
	pol_mapstate_l7_decide(ms, IN, tie, 80, &req, &l7);
	assert_false(l7.allowed);
	assert_int_equal(l7.reason, POL_L7_NO_MATCH);
	/*
	 * No L7 rule covers this peer: the proxy does not filter it (the
	 * kernel already drops it: nothing allows it at L3/L4).
	 */
	req.path = SV("/v1");
	pol_mapstate_l7_decide(ms, IN, xw, 80, &req, &l7);
	assert_true(l7.allowed);
	assert_int_equal(l7.reason, POL_L7_NOT_FILTERED);
	v = look(h, "deathstar", IN, "xwing", TCP, 80);
	assert_false(pol_verdict_passes(&v));

	/* an L4-only rule covering the same peer and port makes L7 allow-all for that peer */
	load(h, "l4.yaml",
	     CNP("l4", "  endpointSelector: {matchLabels: {class: deathstar}}\n"
		       "  ingress:\n"
		       "  - fromEndpoints: [{matchLabels: {class: tiefighter}}]\n"
		       "    toPorts: [{ports: [{port: '80', protocol: TCP}]}]\n"));
	ms = pol_engine_endpoint_state(model_engine(h->m),
				       model_endpoint(h->m, "default/deathstar")->id);
	v = look(h, "deathstar", IN, "tiefighter", TCP, 80);
	assert_int_equal(v.verdict, VELUM_VERDICT_REDIRECT);
	req.method = SV("PUT");
	req.path = SV("/v1/exhaust-port");
	pol_mapstate_l7_decide(ms, IN, tie, 80, &req, &l7);
	assert_true(l7.allowed);
	assert_int_equal(l7.http_index, -1);
	/* ... which the lint points out, once */
	strbuf_reset(&h->sb);
	assert_int_equal(pol_engine_lint(model_engine(h->m), &h->sb), 1);
	assert_string_equal(
		strbuf_str(&h->sb),
		"CiliumNetworkPolicy default/rule1 spec.ingress[0]: its HTTP rules have "
		"no effect on ingress TCP/80 for peers also allowed by "
		"CiliumNetworkPolicy default/l4 spec.ingress[0] (an L3/L4 allow admits "
		"every request)\n");
	/* without the overlap there is nothing to say */
	assert_int_equal(model_policy_delete(h->m, POL_KIND_CNP, "default", "l4"), 0);
	assert_int_equal(model_regenerate(h->m, NULL, NULL), 0);
	strbuf_reset(&h->sb);
	assert_int_equal(pol_engine_lint(model_engine(h->m), &h->sb), 0);
}

static void test_engine_audit_policy(void **state)
{
	struct h *h = *state;
	struct pol_verdict v;

	starwars(h);
	load(h, "a.yaml",
	     "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\n"
	     "metadata: {name: a, annotations: {policy.velum.io/audit-mode: 'true'}}\n"
	     "spec:\n  endpointSelector: {matchLabels: {class: deathstar}}\n"
	     "  ingress: [{fromEndpoints: [{matchLabels: {org: empire}}]}]\n"
	     "  ingressDeny: [{fromEndpoints: [{matchLabels: {class: tiefighter}}], toPorts: [{ports: [{port: '22', protocol: TCP}]}]}]\n");
	/* would-be default deny: passes, flagged audit */
	v = look(h, "deathstar", IN, "xwing", TCP, 80);
	assert_true(pol_verdict_passes(&v));
	assert_int_equal(v.verdict, VELUM_VERDICT_ALLOW);
	assert_true(v.flags & VELUM_POLICY_F_AUDIT);
	/* a real allow is just an allow */
	v = look(h, "deathstar", IN, "tiefighter", TCP, 80);
	assert_int_equal(v.verdict, VELUM_VERDICT_ALLOW);
	assert_false(v.flags & VELUM_POLICY_F_AUDIT);
	/* an audited deny passes and says so */
	v = look(h, "deathstar", IN, "tiefighter", TCP, 22);
	assert_int_equal(v.verdict, VELUM_VERDICT_AUDIT);
	assert_true(pol_verdict_passes(&v));
}

static bool in_list(const uint32_t *v, size_t n, uint32_t x)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

static void test_engine_incremental(void **state)
{
	struct h *h = *state;
	const char *lv[] = { "org=empire", "class=tiefighter" };
	uint32_t *changed = NULL, ds, tf, xw, a;
	size_t n = 0;
	struct pol_set set = { 0 };

	starwars(h);
	ds = model_endpoint(h->m, "default/deathstar")->id;
	tf = model_endpoint(h->m, "default/tiefighter")->id;
	xw = model_endpoint(h->m, "default/xwing")->id;
	assert_int_equal(pol_parse_buf("sw.yaml", sw_l3, strlen(sw_l3), &set, &h->eb), 0);
	assert_int_equal(model_policies_load(h->m, &set), 0);
	pol_set_free(&set);
	assert_int_equal(model_regenerate(h->m, &changed, &n), 0);
	/* only the selected endpoint changes */
	assert_int_equal(n, 1);
	assert_int_equal(changed[0], ds);
	free(changed);
	/* nothing pending: nothing changes */
	assert_int_equal(model_regenerate(h->m, &changed, &n), 0);
	assert_int_equal(n, 0);
	free(changed);

	/*
	 * relabel xwing exactly like tiefighter: it joins tiefighter's identity, which
	 * deathstar's map already admits, so only xwing's own state is rewritten
	 */
	assert_int_equal(model_endpoint_relabel(h->m, "default/xwing", lv, 2, &h->eb), 0);
	assert_int_equal(model_regenerate(h->m, &changed, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(changed[0], xw);
	assert_false(in_list(changed, n, tf));
	free(changed);
	assert_true(passes(h, "deathstar", IN, "xwing", TCP, 80));
	/* same labels as tiefighter: same identity */
	assert_int_equal(peer_id(h, "xwing"), peer_id(h, "tiefighter"));

	/* a new endpoint with a new identity */
	assert_int_equal(inet_pton(AF_INET, "10.0.0.50", &a), 1);
	{
		const char *l2[] = { "org=empire", "class=bomber" };

		assert_int_equal(model_endpoint_add(h->m, 0, "default/bomber", "default", l2, 2, &a,
						    1, NULL, 0, false, NULL, &h->eb),
				 0);
	}
	assert_int_equal(model_regenerate(h->m, &changed, &n), 0);
	assert_int_equal(n, 2);
	assert_true(in_list(changed, n, ds));
	free(changed);
	assert_true(passes(h, "deathstar", IN, "bomber", TCP, 80));

	/* removing the policy restores default allow */
	assert_int_equal(model_policy_delete(h->m, POL_KIND_CNP, "default", "rule1"), 0);
	assert_int_equal(model_regenerate(h->m, &changed, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(changed[0], ds);
	free(changed);
	assert_true(passes(h, "deathstar", IN, "world", TCP, 81));
	assert_int_equal(model_policy_delete(h->m, POL_KIND_CNP, "default", "rule1"), -ENOENT);
}

/* A policy restored with its saved first rule id keeps its ids; a collision falls back. */
static void test_engine_rule_ids_restored(void **state)
{
	struct h *h = *state;
	struct pol_set set = { 0 };
	const char *b = CNP("b", "  endpointSelector: {}\n  ingress: [{}, {}]\n");
	const struct pol_policy *const *ps;
	uint32_t first;

	starwars(h);
	load(h, "a.yaml", CNP("a", "  endpointSelector: {}\n  ingress: [{}, {}, {}]\n"));
	load(h, "b.yaml", b);
	assert_int_equal(pol_engine_policies(model_engine(h->m), &ps), 2);
	first = ps[1]->first_rule_id;
	assert_int_equal(first, VELUM_RULE_FIRST + 3);
	/* a fresh model restoring only b */
	model__free(h->m);
	h->m = model__new();
	assert_non_null(h->m);
	assert_int_equal(pol_parse_buf("b.yaml", b, strlen(b), &set, &h->eb), 0);
	set.v[0]->first_rule_id = first;
	assert_int_equal(model_policies_load(h->m, &set), 0);
	pol_set_free(&set);
	assert_int_equal(pol_engine_policies(model_engine(h->m), &ps), 1);
	assert_int_equal(ps[0]->first_rule_id, first);
	assert_non_null(pol_engine_rule(model_engine(h->m), first + 1));
	/* a new policy is numbered after the restored ones */
	load(h, "c.yaml", CNP("c", "  endpointSelector: {}\n  ingress: [{}]\n"));
	assert_int_equal(pol_engine_policies(model_engine(h->m), &ps), 2);
	assert_int_equal(ps[1]->first_rule_id, first + 2);
	/* asking for taken ids gets fresh ones */
	assert_int_equal(pol_parse_buf("d.yaml", b, strlen(b), &set, &h->eb), 0);
	free(set.v[0]->name);
	set.v[0]->name = strdup("d");
	set.v[0]->first_rule_id = first;
	assert_int_equal(model_policies_load(h->m, &set), 0);
	pol_set_free(&set);
	assert_int_equal(pol_engine_policies(model_engine(h->m), &ps), 3);
	assert_int_equal(ps[2]->first_rule_id, first + 3);
}

/* regenerates after loading text as file; returns how many endpoints changed */
static size_t load_changed(struct h *h, const char *file, const char *text)
{
	struct pol_set set = { 0 };
	uint32_t *changed = NULL;
	size_t n = 0;

	if (pol_parse_buf(file, text, strlen(text), &set, &h->eb))
		fail_msg("parse: %s", h->eb.msg);
	assert_int_equal(model_policies_load(h->m, &set), 0);
	pol_set_free(&set);
	assert_int_equal(model_regenerate(h->m, &changed, &n), 0);
	free(changed);
	return n;
}

/* CiliumNetworkPolicy "l7" selecting the deathstar, with these ingress rules */
#define DS_INGRESS(rules) \
	CNP("l7", "  endpointSelector: {matchLabels: {class: deathstar}}\n  ingress:\n" rules)
#define FROM_EMPIRE "  - fromEndpoints: [{matchLabels: {org: empire}}]\n"
#define L7_PATH(path)                                                           \
	DS_INGRESS(FROM_EMPIRE "    toPorts:\n"                                 \
			       "    - ports: [{port: \"80\", protocol: TCP}]\n" \
			       "      rules: {http: [{method: GET, path: \"" path "\"}]}\n")

/*
 * A replacement of the same shape keeps the rule ids: its unchanged entries
 * compare equal and no endpoint's map changes (an import that changes only
 * HTTP rules, or the same file again, swaps nothing); a change of the
 * entries still changes the map; another shape gets fresh ids.
 */
static void test_engine_replace_keeps_rule_ids(void **state)
{
	struct h *h = *state;
	const struct pol_policy *const *ps;
	uint32_t first;

	starwars(h);
	assert_int_equal(load_changed(h, "l7.yaml", L7_PATH("/v1")), 1);
	assert_int_equal(pol_engine_policies(model_engine(h->m), &ps), 1);
	first = ps[0]->first_rule_id;
	/* only the HTTP rule changes: same ids, no map changes */
	assert_int_equal(load_changed(h, "l7.yaml", L7_PATH("/v2")), 0);
	assert_int_equal(pol_engine_policies(model_engine(h->m), &ps), 1);
	assert_int_equal(ps[0]->first_rule_id, first);
	assert_non_null(pol_engine_rule(model_engine(h->m), first));
	/* the same file again: nothing changes */
	assert_int_equal(load_changed(h, "l7.yaml", L7_PATH("/v2")), 0);
	/* another port: same ids, but the entries change */
	assert_int_equal(
		load_changed(h, "l7.yaml",
			     DS_INGRESS(FROM_EMPIRE "    toPorts: [{ports: [{port: \"81\"}]}]\n")),
		1);
	assert_int_equal(pol_engine_policies(model_engine(h->m), &ps), 1);
	assert_int_equal(ps[0]->first_rule_id, first);
	assert_true(passes(h, "deathstar", IN, "tiefighter", TCP, 81));
	assert_false(passes(h, "deathstar", IN, "tiefighter", TCP, 80));
	/* two peer rules instead of one: fresh ids, the old ones are gone */
	assert_int_equal(
		load_changed(h, "l7.yaml",
			     DS_INGRESS(FROM_EMPIRE
					"  - fromEndpoints: [{matchLabels: {org: alliance}}]\n")),
		1);
	assert_int_equal(pol_engine_policies(model_engine(h->m), &ps), 1);
	assert_true(ps[0]->first_rule_id > first);
	assert_null(pol_engine_rule(model_engine(h->m), first));
}

static void test_engine_endpoint_label_rules(void **state)
{
	struct h *h = *state;
	const char *bad1[] = { "k8s:io.kubernetes.pod.namespace=kube-system" };
	const char *bad2[] = { "reserved:host" };
	const char *bad3[] = { "app=bad value" };
	uint32_t a = htonl(0x0a000001);

	assert_int_equal(model_endpoint_add(h->m, 0, "default/x", "default", bad1, 1, &a, 1, NULL,
					    0, false, NULL, &h->eb),
			 -EINVAL);
	assert_non_null(strstr(h->eb.msg, "set by velum"));
	assert_int_equal(model_endpoint_add(h->m, 0, "default/x", "default", bad2, 1, &a, 1, NULL,
					    0, false, NULL, &h->eb),
			 -EINVAL);
	assert_int_equal(model_endpoint_add(h->m, 0, "default/x", "default", bad3, 1, &a, 1, NULL,
					    0, false, NULL, &h->eb),
			 -EINVAL);
	assert_int_equal(model_endpoint_add(h->m, 0, "default/x", "default", NULL, 0, &a, 1, NULL,
					    0, false, NULL, &h->eb),
			 0);
	assert_int_equal(model_endpoint_add(h->m, 0, "default/x", "default", NULL, 0, NULL, 0, NULL,
					    0, false, NULL, &h->eb),
			 -EEXIST);
	assert_int_equal(model_endpoint_add(h->m, 0, "default/y", "default", NULL, 0, &a, 1, NULL,
					    0, false, NULL, &h->eb),
			 -EEXIST);
	assert_string_equal(h->eb.msg, "address 10.0.0.1 already belongs to an endpoint");
}

static void test_engine_endpoint_dup_labels_ports(void **state)
{
	struct h *h = *state;
	const char *dup[] = { "app=a", "k8s:app=b" };
	struct pol_named_port bad[] = { { "HTTP!", 80, IPPROTO_TCP } };
	struct pol_named_port upper[] = { { "Http", 80, IPPROTO_TCP } };
	struct pol_named_port twice[] = { { "http", 80, IPPROTO_TCP },
					  { "http", 8080, IPPROTO_TCP } };
	struct pol_named_port good[] = { { "http", 80, IPPROTO_TCP },
					 { "metrics-2", 9090, IPPROTO_TCP } };
	uint32_t a = htonl(0x0a000001);

	assert_int_equal(model_endpoint_add(h->m, 0, "default/x", "default", dup, 2, &a, 1, NULL, 0,
					    false, NULL, &h->eb),
			 -EINVAL);
	assert_string_equal(h->eb.msg, "label 'k8s:app=b': key 'app' is given twice");
	assert_int_equal(model_endpoint_add(h->m, 0, "default/x", "default", NULL, 0, &a, 1, bad, 1,
					    false, NULL, &h->eb),
			 -EINVAL);
	assert_non_null(strstr(h->eb.msg, "port name 'HTTP!': expected 1-15 lower-case"));
	assert_int_equal(model_endpoint_add(h->m, 0, "default/x", "default", NULL, 0, &a, 1, upper,
					    1, false, NULL, &h->eb),
			 -EINVAL);
	assert_int_equal(model_endpoint_add(h->m, 0, "default/x", "default", NULL, 0, &a, 1, twice,
					    2, false, NULL, &h->eb),
			 -EINVAL);
	assert_string_equal(h->eb.msg, "port name 'http' is given twice (ports 80 and 8080)");
	assert_null(model_endpoint(h->m, "default/x"));
	assert_int_equal(model_endpoint_add(h->m, 0, "default/x", "default", dup, 1, &a, 1, good, 2,
					    false, NULL, &h->eb),
			 0);
	/* relabelling checks the same */
	assert_int_equal(model_endpoint_relabel(h->m, "default/x", dup, 2, &h->eb), -EINVAL);
	assert_string_equal(h->eb.msg, "label 'k8s:app=b': key 'app' is given twice");
}

static void test_trace_request_check(void **state)
{
	struct pol_http_field crlf = { SV("X-Id"), SV("1\r\nInjected: yes") };
	struct pol_http_field lf = { SV("X-Id"), SV("1\nb") };
	struct pol_http_field badname = { SV("X Id"), SV("1") };
	struct pol_http_field ok = { SV("X-Id"), SV("1, 2\t3") };
	struct pol_http_request r = { SV("GET"), SV("/"), SV(""), NULL, 0 };
	struct errbuf eb;

	(void)state;
	errbuf_clear(&eb);
	assert_int_equal(pol_trace_request_check(&r, &eb), 0);
	r.headers = &ok;
	r.nheaders = 1;
	assert_int_equal(pol_trace_request_check(&r, &eb), 0);
	r.headers = &crlf;
	assert_int_equal(pol_trace_request_check(&r, &eb), -EINVAL);
	assert_string_equal(eb.msg, "header 'X-Id': CR or LF in the value (byte 1)");
	r.headers = &lf;
	assert_int_equal(pol_trace_request_check(&r, &eb), -EINVAL);
	r.headers = &badname;
	assert_int_equal(pol_trace_request_check(&r, &eb), -EINVAL);
	assert_string_equal(eb.msg, "header 'X Id': the name is not a token");
	r.nheaders = 0;
	r.method = SV("");
	assert_int_equal(pol_trace_request_check(&r, &eb), -EINVAL);
	assert_string_equal(eb.msg, "the HTTP method is empty");
	r.method = SV("G T");
	assert_int_equal(pol_trace_request_check(&r, &eb), -EINVAL);
	r.method = SV("GET");
	r.path = SV("");
	assert_int_equal(pol_trace_request_check(&r, &eb), -EINVAL);
	assert_string_equal(eb.msg, "the HTTP path is empty");
	r.path = SV("/a b");
	assert_int_equal(pol_trace_request_check(&r, &eb), -EINVAL);
}

static void trace_text(struct h *h, const char *from, const char *to, uint16_t port,
		       const char *method, const char *path, struct pol_trace_result *r)
{
	struct pol_trace_query q = { .proto = IPPROTO_TCP, .dport = port };
	char b1[INET_ADDRSTRLEN], b2[INET_ADDRSTRLEN];

	assert_int_equal(model_peer(h->m, from, &q.src, b1, &h->eb), 0);
	assert_int_equal(model_peer(h->m, to, &q.dst, b2, &h->eb), 0);
	if (method) {
		q.http = true;
		q.req.method = sv_from(method);
		q.req.path = sv_from(path);
	}
	pol_trace_run(&q, r);
	strbuf_reset(&h->sb);
	pol_trace_format_text(model_engine(h->m), &q, r, &h->sb);
}

/* The paper's three policies, traced with the verdicts the paper reports. */
static void test_engine_trace_starwars(void **state)
{
	struct h *h = *state;
	struct pol_trace_result r;
	static const struct pol_named_port ftp = { "ftp", 21, IPPROTO_TCP };

	starwars(h);
	ep(h, "ftp-updated", "app=ftp-log,status=updated", "10.0.0.20", &ftp, 1);
	ep(h, "ftp-maintenance", "app=ftp-log,status=awaiting-maintenance", "10.0.0.21", &ftp, 1);
	load(h, "sw.yaml", sw_l3);
	load(h, "egress.json",
	     "[{\"endpointSelector\": {\"matchLabels\": {\"org\": \"empire\", \"class\": \"deathstar\"}},"
	     "  \"egress\": [{\"toEndpoints\": [{\"matchLabels\": {\"status\": \"updated\"}}]}]}]");

	/* policy 1: L3 ingress by label */
	trace_text(h, "tiefighter", "deathstar", 80, "POST", "/v1/request-landing", &r);
	assert_true(r.allowed);
	assert_non_null(strstr(strbuf_str(&h->sb), "Final verdict: ALLOWED"));
	assert_non_null(strstr(strbuf_str(&h->sb),
			       "verdict: allowed by CiliumNetworkPolicy default/rule1 "
			       "spec.ingress[0] (match L3-L4)"));
	trace_text(h, "xwing", "deathstar", 80, "POST", "/v1/request-landing", &r);
	assert_false(r.allowed);
	assert_int_equal(r.http_status, 0);
	assert_non_null(strstr(strbuf_str(&h->sb), "DENIED by default deny"));
	assert_non_null(strstr(strbuf_str(&h->sb), "Final verdict: DENIED"));
	/* before L7: the exhaust port is reachable by an empire ship */
	trace_text(h, "tiefighter", "deathstar", 80, "PUT", "/v1/exhaust-port", &r);
	assert_true(r.allowed);

	/* policy 2: L3 egress by label */
	trace_text(h, "deathstar", "ftp-updated", 21, NULL, NULL, &r);
	assert_true(r.allowed);
	assert_non_null(strstr(strbuf_str(&h->sb), "CiliumRules egress rules[0].egress[0]"));
	trace_text(h, "deathstar", "ftp-maintenance", 21, NULL, NULL, &r);
	assert_false(r.allowed);
	assert_false(r.egress.passes);
	/* the maintenance server itself is open to anyone */
	assert_true(r.ingress.passes);

	/* policy 3: L7 allow-list replaces policy 1 */
	load(h, "l7.yaml",
	     CNP("rule1",
		 "  endpointSelector: {matchLabels: {org: empire, class: deathstar}}\n"
		 "  ingress:\n"
		 "  - fromEndpoints: [{matchLabels: {org: empire}}]\n"
		 "    toPorts:\n"
		 "    - ports: [{port: '80', protocol: TCP}]\n"
		 "      rules: {http: [{method: POST, path: /v1/request-landing}, {method: GET, path: /v1}]}\n"));
	trace_text(h, "tiefighter", "deathstar", 80, "POST", "/v1/request-landing", &r);
	assert_true(r.allowed);
	assert_non_null(strstr(strbuf_str(&h->sb), "http[0] { method: POST path: "
						   "/v1/request-landing }"));
	trace_text(h, "tiefighter", "deathstar", 80, "GET", "/v1", &r);
	assert_true(r.allowed);
	trace_text(h, "tiefighter", "deathstar", 80, "PUT", "/v1/exhaust-port", &r);
	assert_false(r.allowed);
	assert_int_equal(r.http_status, 403);
	assert_non_null(strstr(strbuf_str(&h->sb), "403 Forbidden"));
	assert_non_null(strstr(strbuf_str(&h->sb),
			       "the request matches no HTTP rule of "
			       "CiliumNetworkPolicy default/rule1 spec.ingress[0]"));
	trace_text(h, "xwing", "deathstar", 80, "GET", "/v1", &r);
	assert_false(r.allowed);
	assert_int_equal(r.http_status, 0);

	/* the path is judged as the proxy normalizes and forwards it */
	trace_text(h, "tiefighter", "deathstar", 80, "POST", "//v1/x/%2E%2e;p/request-landing", &r);
	assert_true(r.allowed);
	assert_int_equal(r.norm, L7_NORM_OK);
	assert_non_null(strstr(strbuf_str(&h->sb), "normalized: /v1/request-landing"));
	trace_text(h, "tiefighter", "deathstar", 80, "PUT", "/v1/request-landing/../exhaust-port",
		   &r);
	assert_false(r.allowed);
	assert_int_equal(r.http_status, 403);
	trace_text(h, "tiefighter", "deathstar", 80, "POST", "/v1/x%2F..%2Frequest-landing", &r);
	assert_false(r.allowed);
	assert_int_equal(r.http_status, 307);
	assert_non_null(strstr(strbuf_str(&h->sb), "redirects the client (307) to "
						   "/v1/request-landing"));
	trace_text(h, "tiefighter", "deathstar", 80, "GET", "/v1%zz", &r);
	assert_false(r.allowed);
	assert_int_equal(r.http_status, 400);
	assert_non_null(strstr(strbuf_str(&h->sb), "400 Bad Request: malformed percent"));
}

/* The trace names what the proxy does about the allowing rule's headerMatches. */
static void test_engine_trace_header_actions(void **state)
{
	struct h *h = *state;
	struct pol_trace_result r;
	struct pol_http_field f[2] = { { SV("X-User"), SV("admin") }, { SV("X-Env"), SV("prod") } };
	struct pol_trace_query q = { .proto = IPPROTO_TCP, .dport = 80, .http = true };
	char b1[INET_ADDRSTRLEN], b2[INET_ADDRSTRLEN];
	const char *out;

	starwars(h);
	load(h, "hm.yaml",
	     CNP("rule1", "  endpointSelector: {matchLabels: {org: empire, class: deathstar}}\n"
			  "  ingress:\n"
			  "  - toPorts:\n"
			  "    - ports: [{port: '80', protocol: TCP}]\n"
			  "      rules:\n"
			  "        http:\n"
			  "        - method: GET\n"
			  "          headerMatches:\n"
			  "          - {name: X-User, value: anon, mismatch: REPLACE}\n"
			  "          - {name: X-Token, mismatch: LOG}\n"
			  "          - {name: X-Env, value: prod, mismatch: DELETE}\n"
			  "          - {name: X-Trace, value: '1', mismatch: ADD}\n"));
	assert_int_equal(model_peer(h->m, "tiefighter", &q.src, b1, &h->eb), 0);
	assert_int_equal(model_peer(h->m, "deathstar", &q.dst, b2, &h->eb), 0);
	q.req.method = SV("GET");
	q.req.path = SV("/v1");
	q.req.headers = f;
	q.req.nheaders = 2;
	pol_trace_run(&q, &r);
	strbuf_reset(&h->sb);
	pol_trace_format_text(model_engine(h->m), &q, &r, &h->sb);
	out = strbuf_str(&h->sb);
	assert_true(r.allowed);
	assert_non_null(strstr(out, "  L7 (HTTP): header X-User mismatch (REPLACE): the proxy "
				    "replaces every 'X-User' line by 'X-User: anon'\n"
				    "  L7 (HTTP): header X-Token mismatch (LOG): logged in the "
				    "access event\n"
				    "  L7 (HTTP): header X-Trace mismatch (ADD): the proxy adds "
				    "'X-Trace: 1'\n"));
	/* X-Env matches: nothing to do about it */
	assert_null(strstr(out, "X-Env mismatch"));
	strbuf_reset(&h->sb);
	pol_trace_format_json(model_engine(h->m), &q, &r, &h->sb);
	assert_non_null(strstr(strbuf_str(&h->sb),
			       "\"header_actions\":[{\"header\":\"X-User\",\"action\":\"REPLACE\","
			       "\"value\":\"anon\"},{\"header\":\"X-Token\",\"action\":\"LOG\","
			       "\"value\":null},{\"header\":\"X-Trace\",\"action\":\"ADD\","
			       "\"value\":\"1\"}]"));
}

/*
 * A container whose labels are not known yet has only reserved:init: the init
 * identity, never open (both directions enforced), only what policies
 * selecting init allow; once labelled it is an ordinary endpoint.
 */
static void test_engine_init_identity(void **state)
{
	struct h *h = *state;
	const char *known[] = { MODEL_LABEL_INIT, "app=newcomer" };
	const struct model_ep *e;

	starwars(h);
	ep(h, "newcomer", MODEL_LABEL_INIT, "10.0.0.13", NULL, 0);
	assert_int_equal(model_regenerate(h->m, NULL, NULL), 0);
	e = model_endpoint(h->m, "default/newcomer");
	assert_non_null(e);
	assert_int_equal(e->identity, ID_INIT);
	assert_false(passes(h, "newcomer", OUT, "deathstar", TCP, 80));
	assert_false(passes(h, "newcomer", OUT, "world", UDP, 53));
	assert_false(passes(h, "newcomer", IN, "host", ICMP, 8));
	/* the other side's policy is its own: the deathstar has none */
	assert_true(passes(h, "deathstar", IN, "newcomer", TCP, 80));

	load(h, "init.yaml",
	     "apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\n"
	     "metadata: {name: init}\nspec:\n"
	     "  endpointSelector: {matchLabels: {'reserved:init': ''}}\n"
	     "  egress:\n"
	     "  - toEndpoints: [{matchLabels: {org: empire}}]\n"
	     "    toPorts: [{ports: [{port: '80', protocol: TCP}]}]\n");
	assert_true(passes(h, "newcomer", OUT, "deathstar", TCP, 80));
	assert_false(passes(h, "newcomer", OUT, "xwing", TCP, 80));
	assert_false(passes(h, "newcomer", IN, "deathstar", TCP, 80));

	/* reserved:init next to a real label is dropped: the labels are known */
	if (model_endpoint_relabel(h->m, "default/newcomer", known, 2, &h->eb))
		fail_msg("relabel: %s", h->eb.msg);
	assert_int_equal(model_regenerate(h->m, NULL, NULL), 0);
	e = model_endpoint(h->m, "default/newcomer");
	assert_true(e->identity > ID_RESERVED_MAX);
	assert_null(pol_labels_find(&e->labels, POL_SOURCE_RESERVED, "init"));
	assert_true(passes(h, "newcomer", OUT, "xwing", TCP, 80));
	assert_true(passes(h, "newcomer", IN, "host", ICMP, 8));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_engine_no_policy_allows_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine_l3_l4_ingress, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine_l3_only_allows_all_ports_and_icmp,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine_deny_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine_deny_overlap_same_identity, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_engine_port_ranges_and_protocols, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_engine_icmps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine_named_ports, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine_cidr_and_entities, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine_world_entity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine_default_deny_controls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine_namespaces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine_knp_namespace_selector, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_engine_l7_decisions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine_audit_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine_incremental, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine_rule_ids_restored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine_replace_keeps_rule_ids, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_engine_endpoint_label_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine_endpoint_dup_labels_ports, setup,
						teardown),
		cmocka_unit_test(test_trace_request_check),
		cmocka_unit_test_setup_teardown(test_engine_trace_starwars, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine_trace_header_actions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine_init_identity, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
