/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the policy decoder (src/policy/parse.c): every accepted
 * form (CNP, CCNP, NetworkPolicy, raw rules, lists, multi-document YAML),
 * Cilium's normalisation (label sources, namespace scoping, default deny,
 * entities, CIDR except), and every validation error with its
 * "file:line: path: message" text. Also labels, selectors and prefixes.
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

#include "lib/proto.h"
#include "lib/strbuf.h"
#include "policy/parse.h"
#include "velum/drop.h"

struct tstate {
	struct pol_set set;
	struct errbuf eb;
	struct strbuf sb;
};

static int setup(void **state)
{
	struct tstate *st = calloc(1, sizeof(*st));

	*state = st;
	return st ? 0 : -1;
}

static int teardown(void **state)
{
	struct tstate *st = *state;

	pol_set_free(&st->set);
	strbuf_free(&st->sb);
	free(st);
	return 0;
}

static int parse(struct tstate *st, const char *name, const char *text)
{
	errbuf_clear(&st->eb);
	return pol_parse_buf(name, text, strlen(text), &st->set, &st->eb);
}

static const char *sel_text(struct tstate *st, const struct pol_selector *s)
{
	strbuf_reset(&st->sb);
	pol_selector_format(s, &st->sb);
	return strbuf_str(&st->sb);
}

static const char sw_l3[] =
	"apiVersion: \"cilium.io/v2\"\n"
	"kind: CiliumNetworkPolicy\n"
	"metadata:\n"
	"  name: \"rule1\"\n"
	"description: \"L3-L4 policy to restrict deathstar access to empire ships only\"\n"
	"spec:\n"
	"  endpointSelector:\n"
	"    matchLabels:\n"
	"      org: empire\n"
	"      class: deathstar\n"
	"  ingress:\n"
	"  - fromEndpoints:\n"
	"    - matchLabels:\n"
	"        org: empire\n"
	"    toPorts:\n"
	"    - ports:\n"
	"      - port: \"80\"\n"
	"        protocol: TCP\n";

static void test_parse_cnp_starwars(void **state)
{
	struct tstate *st = *state;
	const struct pol_policy *p;
	const struct pol_rule *r;
	const struct pol_peer_rule *e;

	assert_int_equal(parse(st, "sw.yaml", sw_l3), 0);
	assert_int_equal(st->set.n, 1);
	p = st->set.v[0];
	assert_int_equal(p->kind, POL_KIND_CNP);
	assert_string_equal(p->name, "rule1");
	assert_string_equal(p->namespace, "default");
	assert_false(p->specs);
	assert_int_equal(p->nrules, 1);
	r = &p->rules[0];
	assert_ptr_equal(r->policy, p);
	/* keys without a source are any:, and the policy's namespace is ANDed in */
	assert_string_equal(sel_text(st, &r->subject),
			    "any:class=deathstar, k8s:io.kubernetes.pod.namespace=default, "
			    "any:org=empire");
	assert_true(r->default_deny[POL_INGRESS]);
	assert_false(r->default_deny[POL_EGRESS]);
	assert_int_equal(r->nentries[POL_INGRESS], 1);
	assert_int_equal(r->nentries[POL_EGRESS], 0);
	e = &r->entries[POL_INGRESS][0];
	assert_ptr_equal(e->rule, r);
	assert_int_equal(e->line, 12);
	assert_int_equal(e->peer_kind, POL_PEER_SELECTORS);
	assert_string_equal(e->peer_field, "fromEndpoints");
	assert_int_equal(e->nsels, 1);
	assert_string_equal(sel_text(st, &e->sels[0]),
			    "k8s:io.kubernetes.pod.namespace=default, any:org=empire");
	assert_int_equal(e->nto_ports, 1);
	assert_int_equal(e->to_ports[0].nports, 1);
	assert_int_equal(e->to_ports[0].ports[0].proto, IPPROTO_TCP);
	assert_int_equal(e->to_ports[0].ports[0].lo, 80);
	assert_int_equal(e->to_ports[0].ports[0].hi, 80);
	assert_int_equal(e->to_ports[0].nhttp, 0);
}

static void test_parse_cnp_l7_and_specs(void **state)
{
	struct tstate *st = *state;
	const struct pol_port_rule *pr;
	const char *text =
		"apiVersion: cilium.io/v2\n"
		"kind: CiliumNetworkPolicy\n"
		"metadata: {name: l7, namespace: prod}\n"
		"specs:\n"
		"- endpointSelector: {matchLabels: {app: api}}\n"
		"  ingress:\n"
		"  - toPorts:\n"
		"    - ports: [{port: '80', protocol: TCP}, {port: '8000', endPort: 8080, protocol: TCP}]\n"
		"      rules:\n"
		"        http:\n"
		"        - method: GET\n"
		"          path: /v1/.*\n"
		"          headers: ['X-Token: abc', 'X-Present']\n"
		"        - {method: POST, host: 'api\\.example\\.com', headerMatches: [{name: X-Env, value: prod}]}\n"
		"- endpointSelector: {}\n"
		"  egressDeny:\n"
		"  - toEntities: [world]\n";

	assert_int_equal(parse(st, "l7.yaml", text), 0);
	assert_int_equal(st->set.n, 1);
	assert_true(st->set.v[0]->specs);
	assert_int_equal(st->set.v[0]->nrules, 2);
	assert_string_equal(st->set.v[0]->namespace, "prod");
	/* an entry with ports and no L3 field selects every peer */
	assert_int_equal(st->set.v[0]->rules[0].entries[POL_INGRESS][0].peer_kind, POL_PEER_ALL);
	pr = &st->set.v[0]->rules[0].entries[POL_INGRESS][0].to_ports[0];
	assert_int_equal(pr->nports, 2);
	assert_int_equal(pr->ports[1].lo, 8000);
	assert_int_equal(pr->ports[1].hi, 8080);
	assert_int_equal(pr->nhttp, 2);
	assert_string_equal(pr->http[0].method, "GET");
	assert_string_equal(pr->http[0].path, "/v1/.*");
	assert_null(pr->http[0].host);
	assert_int_equal(pr->http[0].nheaders, 2);
	assert_string_equal(pr->http[0].headers[0].name, "X-Token");
	assert_string_equal(pr->http[0].headers[0].value, "abc");
	assert_null(pr->http[0].headers[1].value);
	assert_string_equal(pr->http[1].headers[0].name, "X-Env");
	assert_string_equal(pr->http[1].headers[0].value, "prod");
	/* second spec: {} selects every pod of the namespace; deny-only egress enforces */
	assert_string_equal(sel_text(st, &st->set.v[0]->rules[1].subject),
			    "k8s:io.kubernetes.pod.namespace=prod");
	assert_true(st->set.v[0]->rules[1].default_deny[POL_EGRESS]);
	assert_true(st->set.v[0]->rules[1].entries[POL_EGRESS][0].deny);
	assert_int_equal(st->set.v[0]->rules[1].entries[POL_EGRESS][0].nsels, 3);
}

static void test_parse_ccnp_scoping(void **state)
{
	struct tstate *st = *state;
	const struct pol_rule *r;
	const char *text =
		"{\"apiVersion\": \"cilium.io/v2\", \"kind\": \"CiliumClusterwideNetworkPolicy\","
		" \"metadata\": {\"name\": \"cw\"},"
		" \"spec\": {\"endpointSelector\": {},"
		"  \"ingress\": [{\"fromEndpoints\": [{}, {\"matchLabels\": {\"k8s:io.kubernetes.pod.namespace\": \"kube-system\"}},"
		"     {\"matchLabels\": {\"reserved:host\": \"\"}}]}]}}";

	assert_int_equal(parse(st, "cw.json", text), 0);
	assert_int_equal(st->set.v[0]->kind, POL_KIND_CCNP);
	assert_null(st->set.v[0]->namespace);
	r = &st->set.v[0]->rules[0];
	assert_string_equal(sel_text(st, &r->subject), "{}");
	/* clusterwide peers without a namespace: pods of any namespace, never reserved */
	assert_string_equal(sel_text(st, &r->entries[0][0].sels[0]),
			    "k8s:io.kubernetes.pod.namespace");
	assert_string_equal(sel_text(st, &r->entries[0][0].sels[1]),
			    "k8s:io.kubernetes.pod.namespace=kube-system");
	assert_string_equal(sel_text(st, &r->entries[0][0].sels[2]), "reserved:host");
}

static void test_parse_raw_rules(void **state)
{
	struct tstate *st = *state;
	const struct pol_rule *r;
	const char *text =
		"[{\"endpointSelector\": {\"matchLabels\": {\"id\": \"app1\"}},"
		"  \"labels\": [{\"key\": \"name\", \"value\": \"r1\", \"source\": \"unspec\"}],"
		"  \"ingress\": [{\"fromEndpoints\": [{\"matchLabels\": {\"id\": \"app2\"}}],"
		"                 \"toPorts\": [{\"ports\": [{\"port\": \"80\"}]}]}]},"
		" {\"endpointSelector\": {\"matchExpressions\": [{\"key\": \"k8s:tier\", \"operator\": \"NotIn\", \"values\": [\"b\", \"a\"]}]},"
		"  \"egress\": [{\"toCIDRSet\": [{\"cidr\": \"10.0.0.0/8\", \"except\": [\"10.96.0.0/12\"]}]}]}]";

	assert_int_equal(parse(st, "/tmp/My Rules.json", text), 0);
	/* the rule with a name label is its own policy; the other is named after the file */
	assert_int_equal(st->set.n, 2);
	assert_int_equal(st->set.v[0]->kind, POL_KIND_RULES);
	assert_string_equal(st->set.v[0]->name, "my-rules");
	assert_null(st->set.v[0]->namespace);
	assert_int_equal(st->set.v[0]->nrules, 1);
	assert_int_equal(st->set.v[1]->kind, POL_KIND_RULES);
	assert_string_equal(st->set.v[1]->name, "r1");
	assert_int_equal(st->set.v[1]->nrules, 1);
	r = &st->set.v[1]->rules[0];
	assert_ptr_equal(r->policy, st->set.v[1]);
	assert_ptr_equal(r->entries[0][0].rule, r);
	/* a rule keeps its place in the file: references say rules[0] */
	assert_int_equal(r->index, 0);
	/* raw rules are not namespaced */
	assert_string_equal(sel_text(st, &r->subject), "any:id=app1");
	assert_string_equal(sel_text(st, &r->entries[0][0].sels[0]), "any:id=app2");
	/* omitted protocol in Cilium rules is ANY */
	assert_int_equal(r->entries[0][0].to_ports[0].ports[0].proto, POL_PROTO_ANY);
	assert_non_null(pol_labels_find(&r->labels, "unspec", "name"));
	r = &st->set.v[0]->rules[0];
	assert_int_equal(r->index, 1);
	assert_ptr_equal(r->policy, st->set.v[0]);
	assert_string_equal(sel_text(st, &r->subject), "k8s:tier notin (a,b)");
	/* 10.0.0.0/8 minus 10.96.0.0/12: four prefixes */
	assert_int_equal(r->entries[POL_EGRESS][0].nsels, 4);
	assert_string_equal(sel_text(st, &r->entries[POL_EGRESS][0].sels[0]), "cidr:10.0.0.0/10");
	assert_string_equal(sel_text(st, &r->entries[POL_EGRESS][0].sels[1]), "cidr:10.64.0.0/11");
	assert_string_equal(sel_text(st, &r->entries[POL_EGRESS][0].sels[2]), "cidr:10.112.0.0/12");
	assert_string_equal(sel_text(st, &r->entries[POL_EGRESS][0].sels[3]), "cidr:10.128.0.0/9");
}

static void test_parse_knp(void **state)
{
	struct tstate *st = *state;
	const struct pol_rule *r;
	const struct pol_peer_rule *e;
	const char *text = "apiVersion: networking.k8s.io/v1\n"
			   "kind: NetworkPolicy\n"
			   "metadata: {name: np, namespace: shop}\n"
			   "spec:\n"
			   "  podSelector: {matchLabels: {app: db}}\n"
			   "  ingress:\n"
			   "  - from:\n"
			   "    - podSelector: {matchLabels: {app: api}}\n"
			   "    - namespaceSelector: {matchLabels: {team: ops}}\n"
			   "    - namespaceSelector: {}\n"
			   "      podSelector: {matchLabels: {role: backup}}\n"
			   "    - ipBlock: {cidr: 192.0.2.0/24, except: [192.0.2.128/25]}\n"
			   "    ports:\n"
			   "    - port: 5432\n"
			   "    - {protocol: UDP, port: metrics}\n"
			   "    - {port: 9000, endPort: 9010}\n"
			   "  - {}\n";

	assert_int_equal(parse(st, "np.yaml", text), 0);
	r = &st->set.v[0]->rules[0];
	assert_int_equal(st->set.v[0]->kind, POL_KIND_KNP);
	assert_string_equal(sel_text(st, &r->subject),
			    "k8s:app=db, k8s:io.kubernetes.pod.namespace=shop");
	/* policyTypes defaults to Ingress only (no egress section) */
	assert_true(r->default_deny[POL_INGRESS]);
	assert_false(r->default_deny[POL_EGRESS]);
	e = &r->entries[POL_INGRESS][0];
	assert_int_equal(e->nsels, 4);
	assert_string_equal(sel_text(st, &e->sels[0]),
			    "k8s:app=api, k8s:io.kubernetes.pod.namespace=shop");
	assert_string_equal(sel_text(st, &e->sels[1]),
			    "k8s:io.cilium.k8s.namespace.labels.team=ops, "
			    "k8s:io.kubernetes.pod.namespace");
	assert_string_equal(sel_text(st, &e->sels[2]),
			    "k8s:io.kubernetes.pod.namespace, k8s:role=backup");
	assert_string_equal(sel_text(st, &e->sels[3]), "cidr:192.0.2.0/25");
	assert_int_equal(e->to_ports[0].nports, 3);
	/* NetworkPolicy's default protocol is TCP; ports may be named */
	assert_int_equal(e->to_ports[0].ports[0].proto, IPPROTO_TCP);
	assert_int_equal(e->to_ports[0].ports[0].lo, 5432);
	assert_string_equal(e->to_ports[0].ports[1].name, "metrics");
	assert_int_equal(e->to_ports[0].ports[1].proto, IPPROTO_UDP);
	assert_int_equal(e->to_ports[0].ports[2].hi, 9010);
	/* an empty NetworkPolicy rule allows every peer on every port */
	e = &r->entries[POL_INGRESS][1];
	assert_int_equal(e->peer_kind, POL_PEER_ALL);
	assert_int_equal(e->nto_ports, 0);
}

static void test_parse_knp_policy_types(void **state)
{
	struct tstate *st = *state;
	const char *text = "apiVersion: networking.k8s.io/v1\n"
			   "kind: NetworkPolicy\n"
			   "metadata: {name: deny-egress}\n"
			   "spec:\n"
			   "  podSelector: {}\n"
			   "  policyTypes: [Egress]\n"
			   "  ingress: [{}]\n";

	assert_int_equal(parse(st, "np.yaml", text), 0);
	/* ingress rules of a type not listed are ignored; Egress without rules denies all */
	assert_false(st->set.v[0]->rules[0].default_deny[POL_INGRESS]);
	assert_int_equal(st->set.v[0]->rules[0].nentries[POL_INGRESS], 0);
	assert_true(st->set.v[0]->rules[0].default_deny[POL_EGRESS]);
	assert_int_equal(st->set.v[0]->rules[0].nentries[POL_EGRESS], 0);
}

static void test_parse_multi_object_forms(void **state)
{
	struct tstate *st = *state;
	const char *multi = "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\n"
			    "metadata: {name: a}\nspec: {endpointSelector: {}, ingress: [{}]}\n"
			    "---\n"
			    "# a comment-only document is skipped\n"
			    "---\n"
			    "apiVersion: v1\nkind: List\nitems:\n"
			    "- apiVersion: cilium.io/v2\n  kind: CiliumNetworkPolicy\n"
			    "  metadata: {name: b}\n  spec: {endpointSelector: {}, egress: [{}]}\n";
	const char *arr =
		"[{\"apiVersion\": \"cilium.io/v2\", \"kind\": \"CiliumNetworkPolicy\","
		"  \"metadata\": {\"name\": \"c\"}, \"spec\": {\"endpointSelector\": {}}},"
		" {\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": \"NetworkPolicy\","
		"  \"metadata\": {\"name\": \"d\"}, \"spec\": {\"podSelector\": {}}}]";

	assert_int_equal(parse(st, "multi.yaml", multi), 0);
	assert_int_equal(st->set.n, 2);
	assert_string_equal(st->set.v[0]->name, "a");
	assert_string_equal(st->set.v[1]->name, "b");
	/* `ingress: [{}]` enforces default deny and allows nothing */
	assert_true(st->set.v[0]->rules[0].default_deny[POL_INGRESS]);
	assert_int_equal(st->set.v[0]->rules[0].entries[POL_INGRESS][0].peer_kind, POL_PEER_NONE);
	assert_int_equal(parse(st, "arr.json", arr), 0);
	assert_int_equal(st->set.n, 4);
	assert_int_equal(st->set.v[3]->kind, POL_KIND_KNP);
}

static void test_parse_peer_forms(void **state)
{
	struct tstate *st = *state;
	const struct pol_rule *r;
	const char *text =
		"apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\n"
		"metadata: {name: p}\n"
		"spec:\n"
		"  endpointSelector: {}\n"
		"  enableDefaultDeny: {ingress: false}\n"
		"  ingress:\n"
		"  - fromEndpoints: []\n"
		"    toPorts: [{ports: [{port: '80'}]}]\n"
		"  - fromEndpoints: [{}]\n"
		"  - fromEntities: [cluster]\n"
		"  - fromEntities: [none]\n"
		"  - fromEntities: [all]\n"
		"  - fromCIDR: [192.0.2.1, 198.51.100.0/24]\n"
		"  - icmps: [{fields: [{type: 8}, {type: EchoReply}, {family: IPv6, type: EchoRequest}]}]\n";

	assert_int_equal(parse(st, "p.yaml", text), 0);
	r = &st->set.v[0]->rules[0];
	assert_false(r->default_deny[POL_INGRESS]);
	assert_int_equal(r->nentries[POL_INGRESS], 7);
	/* [] selects nothing, even with ports */
	assert_int_equal(r->entries[0][0].peer_kind, POL_PEER_NONE);
	/* [{}] in a namespaced policy: every pod of the namespace */
	assert_string_equal(sel_text(st, &r->entries[0][1].sels[0]),
			    "k8s:io.kubernetes.pod.namespace=default");
	/* cluster: seven reserved identities and the local cluster's pods */
	assert_int_equal(r->entries[0][2].nsels, 8);
	assert_string_equal(sel_text(st, &r->entries[0][2].sels[7]),
			    "k8s:io.cilium.k8s.policy.cluster=default");
	assert_int_equal(r->entries[0][3].peer_kind, POL_PEER_NONE);
	assert_string_equal(sel_text(st, &r->entries[0][4].sels[0]), "{}");
	/* a bare address is a host prefix */
	assert_string_equal(sel_text(st, &r->entries[0][5].sels[0]), "cidr:192.0.2.1/32");
	assert_int_equal(r->entries[0][6].peer_kind, POL_PEER_ALL);
	assert_int_equal(r->entries[0][6].nicmps, 3);
	assert_int_equal(r->entries[0][6].icmps[1].type, 0);
	assert_int_equal(r->entries[0][6].icmps[2].family, 6);
	assert_int_equal(r->entries[0][6].icmps[2].type, 128);
}

static void test_parse_endpoint_selector_namespace_ignored(void **state)
{
	struct tstate *st = *state;
	const char *text =
		"apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\n"
		"metadata: {name: p, namespace: a}\n"
		"spec:\n"
		"  endpointSelector: {matchLabels: {k8s:io.kubernetes.pod.namespace: b}}\n"
		"  ingress: [{}]\n";

	assert_int_equal(parse(st, "p.yaml", text), 0);
	assert_string_equal(sel_text(st, &st->set.v[0]->rules[0].subject),
			    "k8s:io.kubernetes.pod.namespace=a");
	assert_non_null(st->set.v[0]->warnings);
	assert_non_null(strstr(st->set.v[0]->warnings, "p.yaml:5: spec.endpointSelector: a "
						       "namespace in the endpointSelector"));
}

struct err_case {
	const char *name;
	const char *text;
	const char *want; /* exact message */
};

#define CNP_HEAD \
	"apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: x}\nspec:\n  endpointSelector: {}\n"

static const struct err_case err_cases[] = {
	{ "port.yaml", CNP_HEAD "  ingress:\n  - toPorts:\n    - ports:\n      - port: '70000'\n",
	  "port.yaml:9: spec.ingress[0].toPorts[0].ports[0].port: 70000 is not a port" },
	{ "port.yaml", CNP_HEAD "  ingress:\n  - toPorts: [{ports: [{port: 65536}]}]\n",
	  "port.yaml:7: spec.ingress[0].toPorts[0].ports[0].port: 65536 is not a port" },
	{ "port.yaml", CNP_HEAD "  ingress:\n  - toPorts: [{ports: [{protocol: TCP}]}]\n",
	  "port.yaml:7: spec.ingress[0].toPorts[0].ports[0]: port must be specified" },
	{ "port.yaml", CNP_HEAD "  ingress:\n  - toPorts: [{ports: [{port: '8_x'}]}]\n",
	  "port.yaml:7: spec.ingress[0].toPorts[0].ports[0].port: '8_x' is not a port number or "
	  "port name" },
	{ "unknown.yaml", CNP_HEAD "  ingress:\n  - fromEndpoint: []\n",
	  "unknown.yaml:7: spec.ingress[0].fromEndpoint: unknown field (expected one of: "
	  "fromEndpoints, fromCIDR, fromCIDRSet, fromEntities, toPorts, icmps)" },
	{ "type.yaml", CNP_HEAD "  ingress:\n  - fromEndpoints: {}\n",
	  "type.yaml:7: spec.ingress[0].fromEndpoints: expected a list, got object" },
	{ "type.yaml", CNP_HEAD "  enableDefaultDeny: {ingress: 'yes'}\n",
	  "type.yaml:6: spec.enableDefaultDeny.ingress: expected a boolean, got string" },
	{ "type.yaml", CNP_HEAD "  ingress:\n  - fromEndpoints: [{matchLabels: {version: 1}}]\n",
	  "type.yaml:7: spec.ingress[0].fromEndpoints[0].matchLabels.version: expected a string, "
	  "got integer" },
	{ "l7.yaml",
	  CNP_HEAD "  ingress:\n  - toPorts:\n    - ports: [{port: '53', protocol: UDP}]\n"
		   "      rules: {http: [{method: GET}]}\n",
	  "l7.yaml:9: spec.ingress[0].toPorts[0].rules: L7 rules can only apply to TCP (not UDP); "
	  "ports[0] is UDP" },
	{ "l7.yaml",
	  CNP_HEAD "  ingress:\n  - toPorts:\n    - ports: [{port: '80'}]\n"
		   "      rules: {http: [{method: GET}]}\n",
	  "l7.yaml:9: spec.ingress[0].toPorts[0].rules: L7 rules can only apply to TCP (not ANY); "
	  "ports[0] is ANY" },
	{ "l7.yaml",
	  CNP_HEAD "  ingress:\n  - toPorts:\n    - ports: [{port: '0', protocol: TCP}]\n"
		   "      rules: {http: [{method: GET}]}\n",
	  "l7.yaml:9: spec.ingress[0].toPorts[0].rules: L7 rules can not be used when a port is 0" },
	{ "re.yaml",
	  CNP_HEAD "  ingress:\n  - toPorts:\n    - ports: [{port: '80', protocol: TCP}]\n"
		   "      rules: {http: [{path: '/v1/(a'}]}\n",
	  "re.yaml:9: spec.ingress[0].toPorts[0].rules.http[0].path: invalid regular expression "
	  "'/v1/(a': missing ): /v1/(a" },
	{ "re.yaml",
	  CNP_HEAD "  ingress:\n  - toPorts:\n    - ports: [{port: '80', protocol: TCP}]\n"
		   "      rules: {http: [{path: '/(?!admin).*'}]}\n",
	  "re.yaml:9: spec.ingress[0].toPorts[0].rules.http[0].path: invalid regular expression "
	  "'/(?!admin).*': invalid perl operator: (?!" },
	{ "combo.yaml",
	  CNP_HEAD "  ingress:\n  - fromEndpoints: [{}]\n    fromCIDR: [10.0.0.0/8]\n",
	  "combo.yaml:8: spec.ingress[0]: combining fromEndpoints and fromCIDR is not supported" },
	{ "except.yaml",
	  CNP_HEAD "  egress:\n  - toCIDRSet: [{cidr: 10.0.0.0/16, except: [10.1.0.0/24]}]\n",
	  "except.yaml:7: spec.egress[0].toCIDRSet[0].except[0]: allow CIDR prefix 10.0.0.0/16 "
	  "does not contain exclude CIDR prefix 10.1.0.0/24" },
	{ "icmp.yaml",
	  CNP_HEAD
	  "  ingress:\n  - toPorts: [{ports: [{port: '80'}]}]\n    icmps: [{fields: [{type: 8}]}]\n",
	  "icmp.yaml:8: spec.ingress[0]: the icmps block may only be present without toPorts; "
	  "define a separate rule to use toPorts" },
	{ "entity.yaml", CNP_HEAD "  egress:\n  - toEntities: [internet]\n",
	  "entity.yaml:7: spec.egress[0].toEntities[0]: unsupported entity 'internet' (all, world, "
	  "cluster, host, remote-node, init, health, unmanaged, kube-apiserver, ingress, none)" },
	{ "op.yaml",
	  CNP_HEAD
	  "  ingress:\n  - fromEndpoints: [{matchExpressions: [{key: a, operator: Equals, values: [b]}]}]\n",
	  "op.yaml:7: spec.ingress[0].fromEndpoints[0].matchExpressions[0].operator: 'Equals' is "
	  "not an operator (In, NotIn, Exists, DoesNotExist)" },
	{ "op.yaml",
	  CNP_HEAD
	  "  ingress:\n  - fromEndpoints: [{matchExpressions: [{key: a, operator: In}]}]\n",
	  "op.yaml:7: spec.ingress[0].fromEndpoints[0].matchExpressions[0]: values must be "
	  "non-empty for operator In" },
	{ "range.yaml",
	  CNP_HEAD "  ingress:\n  - toPorts: [{ports: [{port: '80', endPort: 79}]}]\n",
	  "range.yaml:7: spec.ingress[0].toPorts[0].ports[0].endPort: endPort 79 is below port 80" },
	{ "range.yaml",
	  CNP_HEAD "  ingress:\n  - toPorts: [{ports: [{port: http, endPort: 90}]}]\n",
	  "range.yaml:7: spec.ingress[0].toPorts[0].ports[0].endPort: endPort needs a numeric port" },
	{ "fqdn.yaml", CNP_HEAD "  egress:\n  - toFQDNs: [{matchName: example.com}]\n",
	  "fqdn.yaml:7: spec.egress[0].toFQDNs: not supported by velum: FQDN rules need the DNS "
	  "proxy" },
	{ "deny.yaml",
	  CNP_HEAD
	  "  ingressDeny:\n  - toPorts: [{ports: [{port: '80', protocol: TCP}], rules: {http: [{}]}}]\n",
	  "deny.yaml:7: spec.ingressDeny[0].toPorts[0].rules: unknown field (expected one of: "
	  "ports)" },
	{ "api.yaml",
	  "apiVersion: cilium.io/v1\nkind: CiliumNetworkPolicy\nmetadata: {name: x}\nspec: {endpointSelector: {}}\n",
	  "api.yaml:1: apiVersion: 'cilium.io/v1' is not the apiVersion of CiliumNetworkPolicy "
	  "(cilium.io/v2)" },
	{ "kind.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
	  "kind.yaml:2: kind: 'ConfigMap' is not a policy kind (CiliumNetworkPolicy, "
	  "CiliumClusterwideNetworkPolicy, NetworkPolicy, List) or Namespace" },
	{ "name.yaml",
	  "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {namespace: a}\nspec: {endpointSelector: {}}\n",
	  "name.yaml:3: metadata: name is required" },
	{ "name.yaml",
	  "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: Bad_Name}\nspec: {endpointSelector: {}}\n",
	  "name.yaml:3: metadata.name: 'Bad_Name' is not a valid name (lower-case letters, digits, "
	  "'-' and '.')" },
	{ "sel.yaml",
	  "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: x}\nspec:\n  ingress: [{}]\n",
	  "sel.yaml:5: spec: endpointSelector is required" },
	{ "dup.yaml",
	  "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: x}\nspec: {endpointSelector: {}}\n"
	  "---\n"
	  "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: x}\nspec: {endpointSelector: {}}\n",
	  "dup.yaml:6: CiliumNetworkPolicy x is defined twice (also at line 1)" },
	{ "ccnp.yaml",
	  "apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata: {name: x, namespace: a}\nspec: {endpointSelector: {}}\n",
	  "ccnp.yaml:3: metadata.namespace: a CiliumClusterwideNetworkPolicy is not namespaced" },
	{ "syntax.json", "{\"apiVersion\": \"cilium.io/v2\",}", NULL },
	{ "empty.yaml", "# nothing\n", "empty.yaml: no policy in file" },
	{ "proto.yaml",
	  CNP_HEAD "  ingress:\n  - toPorts: [{ports: [{port: '80', protocol: ICMP}]}]\n",
	  "proto.yaml:7: spec.ingress[0].toPorts[0].ports[0].protocol: protocol ICMP is not allowed "
	  "in ports; use icmps" },
	{ "label.yaml", CNP_HEAD "  ingress:\n  - fromEndpoints: [{matchLabels: {'foo:bar': x}}]\n",
	  "label.yaml:7: spec.ingress[0].fromEndpoints[0].matchLabels.foo:bar: 'foo' is not a label "
	  "source (in key 'foo:bar')" },
	{ "kind.yaml", "apiVersion: cilium.io/v2\nkind: [a, b]\nmetadata: {name: x}\n",
	  "kind.yaml:2: kind: expected a string, got list" },
	{ "big.yaml",
	  CNP_HEAD "  ingress:\n  - toPorts: [{ports: [{port: 99999999999999999999999}]}]\n",
	  "big.yaml:7: spec.ingress[0].toPorts[0].ports[0].port: expected a port (string or "
	  "integer), got a number beyond the 64-bit integer range" },
	{ "big.yaml", CNP_HEAD "  enableDefaultDeny: {ingress: 18446744073709551616}\n",
	  "big.yaml:6: spec.enableDefaultDeny.ingress: expected a boolean, got a number beyond the "
	  "64-bit integer range" },
	/* a long value is quoted shortened: the reason after it survives */
	{ "long.yaml",
	  CNP_HEAD
	  "  ingress:\n  - toPorts: [{ports: [{port: "
	  "'99999999999999999999999999999999999999999999999999999999999999999999999999999999"
	  "99999999999999999999999999999999999999999999999999999999999999999999999999999999"
	  "99999999999999999999999999999999999999999999999999999999999999999999999999999999"
	  "99999999999999999999999999999999999999999999999999999999999999999999999999999999"
	  "99999999999999999999999999999999999999999999999999999999999999999999999999999999"
	  "99999999999999999999999999999999999999999999999999999999999999999999999999999999"
	  "99999999999999999999999999999999999999999999999999999999999999999999999999999999"
	  "99999999999999999999999999999999999999999999999999999999999999999999999999999999"
	  "99999999999999999999999999999999999999999999999999999999999999999999999999999999"
	  "99999999999999999999999999999999999999999999999999999999999999999999999999999999"
	  "99999999999999999999999999999999999999999999999999999999999999999999999999999999"
	  "99999999999999999999999999999999999999999999999999999999999999999999999999999999"
	  "99999999999999999999999999999999999999999999999999999999999999999999999999999999"
	  "9999999999999999999999999999999999999999999999999999999999999999999999999999999'}]}]\n",
	  "long.yaml:7: spec.ingress[0].toPorts[0].ports[0].port: "
	  "'9999999999999999999999999999999999999999999999999999999999999999...' is not a port "
	  "number or port name" },
	{ "label.yaml", CNP_HEAD "  ingress:\n  - fromEndpoints: [{matchLabels: {app: 'a b'}}]\n",
	  "label.yaml:7: spec.ingress[0].fromEndpoints[0].matchLabels.app: 'a b' is not a valid "
	  "label value" },
};

/* Raw rules that all carry a name: policies by name only, none after the file. */
static void test_parse_raw_rules_named(void **state)
{
	struct tstate *st = *state;
	const char *text =
		"[{\"endpointSelector\": {}, \"labels\": [{\"key\": \"name\", \"value\": \"web\"}],"
		"  \"ingress\": [{}]},"
		" {\"endpointSelector\": {}, \"labels\": [{\"key\": \"name\", \"value\": \"db\"}],"
		"  \"egress\": [{}]},"
		" {\"endpointSelector\": {}, \"labels\": [{\"key\": \"name\", \"value\": \"web\"}],"
		"  \"egress\": [{}]}]";

	assert_int_equal(parse(st, "rules.json", text), 0);
	assert_int_equal(st->set.n, 2);
	assert_string_equal(st->set.v[0]->name, "web");
	assert_int_equal(st->set.v[0]->nrules, 2);
	assert_int_equal(st->set.v[0]->rules[0].index, 0);
	assert_int_equal(st->set.v[0]->rules[1].index, 2);
	assert_string_equal(st->set.v[1]->name, "db");
	assert_int_equal(st->set.v[1]->nrules, 1);
	assert_int_equal(st->set.v[1]->rules[0].index, 1);
	pol_set_free(&st->set);
	/* a name that cannot name a policy is an error at its rule */
	assert_int_equal(parse(st, "bad.json",
			       "[{\"endpointSelector\": {}, \"labels\": [{\"key\": \"name\", "
			       "\"value\": \"a b\"}], \"ingress\": [{}]}]"),
			 -EINVAL);
	assert_non_null(strstr(st->eb.msg, "is not a policy name"));
	assert_int_equal(st->set.n, 0);
}

static void test_parse_errors(void **state)
{
	struct tstate *st = *state;
	size_t i;

	for (i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
		const struct err_case *c = &err_cases[i];
		int err = parse(st, c->name, c->text);

		if (err != -EINVAL || (c->want && strcmp(st->eb.msg, c->want)))
			fail_msg("case %zu (%s): err %d\n  got:  %s\n  want: %s", i, c->name, err,
				 st->eb.msg, c->want ? c->want : "(any)");
		/* a file with an error adds nothing */
		assert_int_equal(st->set.n, 0);
		if (!c->want)
			assert_non_null(strstr(st->eb.msg, c->name));
	}
}

static void test_parse_too_many_ports(void **state)
{
	struct tstate *st = *state;
	struct strbuf t = STRBUF_INIT;
	int i;

	strbuf_puts(&t, CNP_HEAD "  ingress:\n  - toPorts:\n    - ports:\n");
	for (i = 0; i < 41; i++)
		strbuf_printf(&t, "      - {port: '%d'}\n", 1000 + i);
	assert_int_equal(parse(st, "ports.yaml", strbuf_str(&t)), -EINVAL);
	assert_string_equal(st->eb.msg,
			    "ports.yaml:9: spec.ingress[0].toPorts[0].ports: too many ports, the "
			    "max is 40");
	strbuf_free(&t);
}

static void test_parse_error_leaves_set_unchanged(void **state)
{
	struct tstate *st = *state;
	const char *bad = "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\n"
			  "metadata: {name: good}\nspec: {endpointSelector: {}}\n---\n" CNP_HEAD
			  "  ingress: [{toPorts: [{ports: [{port: '99999'}]}]}]\n";

	assert_int_equal(parse(st, "ok.yaml", sw_l3), 0);
	assert_int_equal(st->set.n, 1);
	assert_int_equal(parse(st, "bad.yaml", bad), -EINVAL);
	assert_int_equal(st->set.n, 1);
	assert_string_equal(st->set.v[0]->name, "rule1");
}

/* Namespace objects (v1) among policies: name and labels out beside them; errors file:line:field. */
static void test_parse_namespace(void **state)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
		{ "apiVersion: v2\nkind: Namespace\nmetadata: {name: x}\n",
		  "ns.yaml:1: apiVersion: 'v2' is not the apiVersion of Namespace (v1)" },
		{ "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: X_y\n",
		  "ns.yaml:4: metadata.name: 'X_y' is not a valid namespace name (1-63 lower-case "
		  "letters, digits and '-', starting and ending with a letter or digit)" },
		{ "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n  labels:\n    team: 7\n",
		  "ns.yaml:6: metadata.labels.team: expected a string, got integer" },
		{ "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n  labels:\n"
		  "    kubernetes.io/metadata.name: y\n",
		  "ns.yaml:6: metadata.labels.kubernetes.io/metadata.name: must be the namespace's "
		  "name 'x' (Kubernetes sets it)" },
		{ "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n  labels: {'a b': c}\n",
		  NULL },
		{ "apiVersion: v1\nkind: Namespace\nmetadata: {name: x, namespace: y}\n",
		  "ns.yaml:3: metadata.namespace: unknown field (expected one of: name, labels)" },
		{ "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\napiVersion: v1\n"
		  "kind: Namespace\nmetadata: {name: x}\n",
		  "ns.yaml:7: metadata.name: namespace 'x' is given twice in this file (line 1)" },
		/* an error in a policy of the file drops its namespaces too */
		{ "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\n" CNP_HEAD
		  "  bogus: 1\n",
		  NULL },
	};
	struct tstate *st = *state;
	const char *good = "apiVersion: v1\nkind: List\nitems:\n"
			   "- apiVersion: v1\n  kind: Namespace\n  metadata:\n    name: shop\n"
			   "    labels: {team: payments, kubernetes.io/metadata.name: shop}\n"
			   "  status: {phase: Active}\n"
			   "- apiVersion: networking.k8s.io/v1\n  kind: NetworkPolicy\n"
			   "  metadata: {name: p, namespace: shop}\n  spec: {podSelector: {}}\n";
	const struct pol_label *l;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(st, "ns.yaml", bad[i].text) != -EINVAL ||
		    (bad[i].want && strcmp(st->eb.msg, bad[i].want)))
			fail_msg("case %zu: got %s\n want %s", i, st->eb.msg,
				 bad[i].want ? bad[i].want : "(any)");
		assert_int_equal(st->set.nns, 0);
		assert_int_equal(st->set.n, 0);
	}
	assert_int_equal(parse(st, "ns.yaml", good), 0);
	assert_int_equal(st->set.n, 1);
	assert_int_equal(st->set.nns, 1);
	assert_string_equal(st->set.nss[0].name, "shop");
	assert_int_equal(st->set.nss[0].line, 4);
	/* the name label is the name's: not kept */
	assert_int_equal(st->set.nss[0].labels.n, 1);
	l = pol_labels_find(&st->set.nss[0].labels, POL_SOURCE_K8S, "team");
	assert_non_null(l);
	assert_string_equal(l->value, "payments");
	/* a file of namespaces only, and the same name in another file */
	assert_int_equal(
		parse(st, "only.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n"),
		0);
	assert_int_equal(st->set.nns, 2);
	assert_int_equal(st->set.n, 1);
}

static void test_parse_audit_annotation(void **state)
{
	struct tstate *st = *state;
	const char *text =
		"apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\n"
		"metadata:\n  name: a\n  annotations: {policy.velum.io/audit-mode: 'true'}\n"
		"spec: {endpointSelector: {}, ingress: [{}]}\n";

	assert_int_equal(parse(st, "a.yaml", text), 0);
	assert_true(st->set.v[0]->audit);
}

/*
 * Every prefix of a few policies, placed so that it ends exactly at a
 * PROT_NONE page: the decoder must parse or fail cleanly, never read past
 * the end.
 */
static void test_parse_guard_page(void **state)
{
	struct tstate *st = *state;
	const char *inputs[] = {
		sw_l3, "[{\"endpointSelector\": {}, \"ingress\": [{\"toPorts\": [{\"ports\": "
		       "[{\"port\": \"80\", \"protocol\": \"TCP\"}], \"rules\": {\"http\": "
		       "[{\"path\": \"/v1/.*\"}]}}]}]}]"
	};
	long pg = sysconf(_SC_PAGESIZE);
	size_t i, len;
	char *map = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);

	assert_true(map != MAP_FAILED);
	assert_int_equal(mprotect(map + pg, (size_t)pg, PROT_NONE), 0);
	for (i = 0; i < 2; i++) {
		const char *name = i ? "g.json" : "g.yaml";
		size_t full = strlen(inputs[i]);

		for (len = 0; len <= full; len++) {
			char *at = map + pg - len;
			int err;

			memcpy(at, inputs[i], len);
			errbuf_clear(&st->eb);
			err = pol_parse_buf(name, at, len, &st->set, &st->eb);
			assert_true(err == 0 || err == -EINVAL);
			if (err)
				assert_non_null(strstr(st->eb.msg, name));
			pol_set_free(&st->set);
		}
	}
	munmap(map, (size_t)pg * 2);
}

/* ---- labels, selectors, prefixes -------------------------------------------------- */

static void test_labels_parse_and_sort(void **state)
{
	struct tstate *st = *state;
	struct pol_labels ls = { 0 };
	struct pol_label l;

	assert_int_equal(pol_label_parse("k8s:app=web", "k8s", &l, &st->eb), 0);
	assert_string_equal(l.source, "k8s");
	assert_string_equal(l.key, "app");
	assert_string_equal(l.value, "web");
	pol_label_free(&l);
	assert_int_equal(pol_label_parse("tier", "k8s", &l, &st->eb), 0);
	assert_string_equal(l.value, "");
	pol_label_free(&l);
	assert_int_equal(pol_label_parse("$host", "k8s", &l, &st->eb), 0);
	assert_string_equal(l.source, "reserved");
	assert_string_equal(l.key, "host");
	pol_label_free(&l);
	assert_int_equal(pol_label_parse("bogus:app=x", "k8s", &l, &st->eb), -EINVAL);
	assert_string_equal(st->eb.msg, "'bogus' is not a label source (in 'bogus:app=x')");
	assert_int_equal(pol_label_parse("k8s:-app=x", "k8s", &l, &st->eb), -EINVAL);

	assert_int_equal(pol_labels_set(&ls, "k8s", "b", "1"), 0);
	assert_int_equal(pol_labels_set(&ls, "k8s", "a", "2"), 0);
	assert_int_equal(pol_labels_set(&ls, "container", "a", "3"), 0);
	assert_int_equal(pol_labels_set(&ls, "k8s", "a", "4"), 0);
	assert_int_equal(ls.n, 3);
	pol_labels_format(&ls, ",", &st->sb);
	assert_string_equal(strbuf_str(&st->sb), "container:a=3,k8s:a=4,k8s:b=1");
	pol_labels_free(&ls);
}

static void test_labels_security_filter(void **state)
{
	struct tstate *st = *state;
	struct pol_labels all = { 0 }, sec = { 0 };

	pol_labels_set(&all, "k8s", "app", "web");
	pol_labels_set(&all, "k8s", "pod-template-hash", "abc");
	pol_labels_set(&all, "k8s", "io.kubernetes.pod.namespace", "default");
	pol_labels_set(&all, "k8s", "io.kubernetes.container.name", "x");
	pol_labels_set(&all, "k8s", "app.kubernetes.io/name", "web");
	pol_labels_set(&all, "k8s", "statefulset.kubernetes.io/pod-name", "web-0");
	assert_int_equal(pol_labels_security(&sec, &all), 0);
	pol_labels_format(&sec, ",", &st->sb);
	assert_string_equal(strbuf_str(&st->sb), "k8s:app=web,k8s:app.kubernetes.io/name=web,"
						 "k8s:io.kubernetes.pod.namespace=default");
	pol_labels_free(&all);
	pol_labels_free(&sec);
}

static void test_selector_match(void **state)
{
	struct tstate *st = *state;
	struct pol_selector s = { 0 };
	struct pol_labels ls = { 0 };
	struct pol_sel_target t = { &ls, NULL };
	const char *v1[] = { "empire" }, *v2[] = { "a", "b" };

	assert_int_equal(pol_selector_add(&s, POL_SEL_IN, "org", v1, 1, &st->eb), 0);
	assert_int_equal(pol_selector_add(&s, POL_SEL_NOT_IN, "k8s:tier", v2, 2, &st->eb), 0);
	assert_int_equal(pol_selector_add(&s, POL_SEL_DOES_NOT_EXIST, "debug", NULL, 0, &st->eb),
			 0);
	pol_selector_canonicalize(&s);
	assert_string_equal(sel_text(st, &s), "!any:debug, any:org=empire, k8s:tier notin (a,b)");
	/* "any" source matches a key from any source */
	pol_labels_set(&ls, "container", "org", "empire");
	assert_true(pol_selector_match(&s, &t));
	pol_labels_set(&ls, "k8s", "tier", "c");
	assert_true(pol_selector_match(&s, &t));
	pol_labels_set(&ls, "k8s", "tier", "a");
	assert_false(pol_selector_match(&s, &t));
	pol_labels_set(&ls, "k8s", "tier", "c");
	pol_labels_set(&ls, "unspec", "debug", "");
	assert_false(pol_selector_match(&s, &t));
	pol_labels_free(&ls);
	pol_labels_set(&ls, "k8s", "org", "alliance");
	assert_false(pol_selector_match(&s, &t));
	pol_labels_free(&ls);
	pol_selector_free(&s);
}

static void test_selector_cidr(void **state)
{
	struct tstate *st = *state;
	struct pol_selector s = { 0 }, all = { 0 };
	struct pol_prefix p8, p16, other, zero;
	struct pol_labels world = { 0 }, none = { 0 };
	struct pol_sel_target t = { &none, &p16 };

	assert_int_equal(pol_prefix_parse("10.0.0.0/8", false, &p8, &st->eb), 0);
	assert_int_equal(pol_prefix_parse("10.1.2.3/16", false, &p16, &st->eb), 0);
	assert_int_equal(pol_prefix_parse("192.0.2.0/24", false, &other, &st->eb), 0);
	assert_int_equal(pol_prefix_parse("0.0.0.0/0", false, &zero, &st->eb), 0);
	assert_int_equal(p16.addr[2], 0); /* host bits cleared */
	pol_selector_add_cidr(&s, &p8);
	assert_true(pol_selector_match(&s, &t));
	t.cidr = &other;
	assert_false(pol_selector_match(&s, &t));
	/* 0.0.0.0/0 also selects the world identity */
	pol_selector_add_cidr(&all, &zero);
	pol_labels_set(&world, "reserved", "world", "");
	t.labels = &world;
	t.cidr = NULL;
	assert_true(pol_selector_match(&all, &t));
	assert_false(pol_selector_match(&s, &t));
	assert_int_equal(pol_prefix_parse("10.0.0.0", false, &p8, &st->eb), -EINVAL);
	assert_int_equal(pol_prefix_parse("10.0.0.0/33", false, &p8, &st->eb), -EINVAL);
	assert_int_equal(pol_prefix_parse("10.0.0.0/08", false, &p8, &st->eb), -EINVAL);
	assert_int_equal(pol_prefix_parse("2001:db8::/32", false, &p8, &st->eb), 0);
	assert_int_equal(p8.family, 6);
	pol_labels_free(&world);
	pol_selector_free(&s);
	pol_selector_free(&all);
}

/*
 * A standalone list of HTTP rules (velum-proxy --rules): both forms, the
 * same matching as in a policy, and the same file:line: path errors;
 * a failed parse hands back nothing.
 */
static void test_parse_http_rules(void **state)
{
	static const struct {
		const char *name, *text, *want;
	} bad[] = {
		{ "r.yaml", "- method: GET\n- path: 7\n",
		  "r.yaml:2: http[1].path: expected a string, got integer" },
		{ "r.yaml", "- {method: GET, verb: PUT}\n",
		  "r.yaml:1: http[0].verb: unknown field (expected one of: method, path, host, "
		  "headers, headerMatches)" },
		{ "r.json", "{\"http\": [{\"headerMatches\": [{\"value\": \"x\"}]}]}",
		  "r.json:1: http[0].headerMatches[0]: name is required" },
		{ "r.yaml", "dns: []\n", "r.yaml:1: dns: unknown field (expected one of: http)" },
		{ "r.yaml", "{}\n", "r.yaml:1: http is required" },
		{ "r.yaml", "GET\n",
		  "r.yaml:1: expected a list of HTTP rules (the rules.http of a policy), got string" },
		{ "r.yaml", "- {method: GET}\n---\n- {method: PUT}\n",
		  "r.yaml:3: one list of HTTP rules per file" },
		{ "r.yaml", "", "r.yaml: no HTTP rules in file" },
	};
	struct tstate *st = *state;
	struct pol_http_field hdr = { SV("X-Has-Force"), SV("True") };
	struct pol_http_request req = { SV("POST"), SV("/v1/request-landing"), SV("ds"), &hdr, 1 };
	struct pol_http_rules r = { (void *)1, 7 };
	struct pol_http_matcher *m;
	size_t idx;
	const char *yaml = "- method: POST\n  path: /v1/request-landing\n"
			   "  headers: ['X-Has-Force: True']\n- method: GET\n";
	size_t i;

	assert_int_equal(pol_parse_http_rules_buf("r.yaml", yaml, strlen(yaml), &r, &st->eb), 0);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.v[0].method, "POST");
	assert_int_equal(r.v[0].line, 1);
	assert_int_equal(r.v[1].line, 4);
	m = pol_http_matcher__new(r.v, r.n, &st->eb);
	assert_non_null(m);
	assert_int_equal(pol_http_matcher_match(m, &req, &idx), 1);
	assert_int_equal(idx, 0);
	req.path = SV("/v1/request-landingX");
	assert_int_equal(pol_http_matcher_match(m, &req, &idx), 0);
	pol_http_matcher__put(m);
	pol_http_rules_free(&r);
	assert_null(r.v);

	assert_int_equal(pol_parse_http_rules_buf("r.json", "{\"http\": []}", 12, &r, &st->eb), 0);
	assert_int_equal(r.n, 0);
	pol_http_rules_free(&r);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r.v = (void *)1;
		r.n = 7;
		errbuf_clear(&st->eb);
		assert_int_equal(pol_parse_http_rules_buf(bad[i].name, bad[i].text,
							  strlen(bad[i].text), &r, &st->eb),
				 -EINVAL);
		assert_string_equal(st->eb.msg, bad[i].want);
		assert_null(r.v);
		assert_int_equal(r.n, 0);
	}
	/* the regex engine words its own message; the place is ours */
	assert_int_equal(pol_parse_http_rules_buf("r.yaml", "- path: '/v1/(x'\n", 17, &r, &st->eb),
			 -EINVAL);
	assert_memory_equal(st->eb.msg, "r.yaml:1: http[0].path: ", 24);
	assert_null(r.v);
	assert_int_equal(pol_parse_http_rules_file("/nonexistent/r.yaml", &r, &st->eb), -ENOENT);
	assert_non_null(strstr(st->eb.msg, "/nonexistent/r.yaml"));
}

/* Protocol names: one spelling both ways, any case in, Cilium's case out. */
static void test_proto_names(void **state)
{
	static const uint8_t all[] = { PROTO_ANY,    IPPROTO_TCP,  IPPROTO_UDP,
				       IPPROTO_SCTP, IPPROTO_ICMP, IPPROTO_ICMPV6 };
	uint8_t p = 99;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(all); i++) {
		assert_int_equal(proto_parse(proto_name(all[i]), &p), 0);
		assert_int_equal(p, all[i]);
	}
	assert_string_equal(proto_name(IPPROTO_ICMPV6), "ICMPv6");
	assert_int_equal(proto_parse("sctp", &p), 0);
	assert_int_equal(p, IPPROTO_SCTP);
	assert_null(proto_name(IPPROTO_GRE));
	assert_int_equal(proto_parse("GRE", &p), -EINVAL);
	assert_int_equal(proto_parse(NULL, &p), -EINVAL);
	assert_true(proto_has_ports(IPPROTO_UDP));
	assert_false(proto_has_ports(IPPROTO_ICMP));
	assert_false(proto_has_ports(PROTO_ANY));
	assert_string_equal(pol_proto_name(IPPROTO_GRE), "?");
}

/* Drop reasons Cilium has read as Cilium prints them (pkg/monitor/api/drop.go). */
static void test_drop_reason_texts(void **state)
{
	static const struct {
		unsigned int reason;
		const char *text;
	} cilium[] = {
		{ 132, "Invalid source ip" },
		{ 133, "Policy denied" },
		{ 134, "Invalid packet" },
		{ 135, "CT: Truncated or invalid header" },
		{ 139, "Unsupported L3 protocol" },
		{ 141, "Error writing to packet" },
		{ 151, "Stale or unroutable IP" },
		{ 155, "CT: Map insertion failed" },
		{ 175, "First logical datagram fragment not found" },
		{ 178, "Socket lookup failed" },
		{ 179, "Socket assign failed" },
		{ 180, "Proxy redirection not supported for protocol" },
		{ 181, "Policy denied by denylist" },
		{ 203, "Endpoint policy program not available" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cilium) / sizeof(cilium[0]); i++)
		assert_string_equal(velum_drop_name(cilium[i].reason), cilium[i].text);
	assert_string_equal(velum_drop_name(250), "Unknown endpoint");
	assert_string_equal(velum_drop_name(157), "Unknown drop reason");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_parse_cnp_starwars, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_cnp_l7_and_specs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_ccnp_scoping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_raw_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_raw_rules_named, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_knp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_knp_policy_types, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_multi_object_forms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_peer_forms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_endpoint_selector_namespace_ignored,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_too_many_ports, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_namespace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_error_leaves_set_unchanged, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_parse_audit_annotation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_guard_page, setup, teardown),
		cmocka_unit_test_setup_teardown(test_labels_parse_and_sort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_labels_security_filter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_selector_match, setup, teardown),
		cmocka_unit_test_setup_teardown(test_selector_cidr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_http_rules, setup, teardown),
		cmocka_unit_test(test_proto_names),
		cmocka_unit_test(test_drop_reason_texts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
