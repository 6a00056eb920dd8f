/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Differential test of "the trace and the kernel cannot disagree": random
 * policies go through the real decoder and engine (the agent model); the
 * endpoint's resolved map state is loaded into the production programs'
 * policy map, and packets from and to every kind of peer (endpoints in and
 * out of the namespace, a CIDR identity, world, host) on ports around every
 * rule edge run through BPF_PROG_TEST_RUN. For each packet the kernel's
 * verdict (pass or drop, drop reason, deciding rule from its event) must be
 * exactly pol_mapstate_lookup()'s. Local deliveries from another endpoint
 * (its egress, the deathstar's ingress and BPF host routing, all in one
 * program run) must pass exactly when both endpoints' map states do. The generator is seeded, so a failure
 * names a reproducible policy; VELUM_DIFF_SEED and VELUM_DIFF_ROUNDS
 * override the defaults.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lib/strbuf.h"
#include "model/model.h"
#include "velum/drop.h"
#include "velum/endpoint.h"
#include "velum/events.h"
#include "velum/ipcache.h"
#include "velum/maps.h"
#include "velum/policy.h"
#include "endpoint.skel.h"
#include "harness.h"

#define EP_IFINDEX 1 /* BPF_PROG_TEST_RUN's default device: lo */
#define IP_DS	   "10.200.0.10"
#define IP_HOST	   "10.200.0.1"

/* Peers as the packets see them: address and where the identity comes from. */
static const char *const peer_ips[] = {
	"10.200.0.11",	/* tiefighter: org=empire, default namespace */
	"10.200.0.12",	/* xwing: org=alliance */
	"10.200.0.13",	/* ops/db: another namespace */
	"10.200.7.9",	/* no endpoint: a CIDR rule's identity, or world */
	"10.200.7.200", /* inside 10.200.7.0/24 but in its except */
	"10.200.9.9",	/* no endpoint, no CIDR: world */
	IP_HOST,	/* the host */
	"192.0.2.50",	/* outside the pool (ingress only: egress there is unroutable) */
};

struct probe {
	uint8_t proto;
	uint16_t port; /* ICMP: type */
};

static const struct probe probes[] = {
	{ IPPROTO_TCP, 80 },   { IPPROTO_TCP, 79 },   { IPPROTO_TCP, 81 },   { IPPROTO_TCP, 7999 },
	{ IPPROTO_TCP, 8000 }, { IPPROTO_TCP, 8031 }, { IPPROTO_TCP, 8080 }, { IPPROTO_TCP, 8081 },
	{ IPPROTO_TCP, 53 },   { IPPROTO_UDP, 53 },   { IPPROTO_SCTP, 53 },  { IPPROTO_UDP, 9999 },
	{ IPPROTO_SCTP, 1 },   { IPPROTO_TCP, 22 },   { IPPROTO_TCP, 5432 }, { IPPROTO_ICMP, 8 },
	{ IPPROTO_ICMP, 13 },
};

struct env {
	struct bpf_harness h;
	struct model *m;
	unsigned seed;
	uint16_t sport;
};

/* A frame starting a new flow: TCP SYN, UDP, SCTP, ICMP echo request (type in port). */
static size_t frame(uint8_t *buf, const char *src, const char *dst, uint8_t proto, uint16_t sport,
		    uint16_t port)
{
	struct bh_pkt p = { .src = src,
			    .dst = dst,
			    .proto = proto,
			    .sport = sport,
			    .dport = port,
			    .tcp_flags = BH_SYN };

	return bh_build(&p, buf);
}

static const char *const ep_labels[][3] = {
	{ "org=empire", "class=deathstar", NULL },
	{ "org=empire", "class=tiefighter", NULL },
	{ "org=alliance", "class=xwing", NULL },
	{ "app=db", "org=empire", NULL },
};

static int setup(void **state)
{
	static const struct pol_named_port http = { "http", 80, IPPROTO_TCP };
	static const char *const names[] = { "default/deathstar", "default/tiefighter",
					     "default/xwing", "ops/db" };
	static const char *const ips[] = { IP_DS, "10.200.0.11", "10.200.0.12", "10.200.0.13" };
	struct velum_endpoint_info ep = { .ep_id = 1, .ifindex = EP_IFINDEX };
	struct velum_config cfg = { 0 };
	__u32 key = EP_IFINDEX, zero = 0;
	const char *s = getenv("VELUM_DIFF_SEED");
	struct env *env;
	struct errbuf eb;
	int i;

	if (geteuid() != 0) {
		print_message("not root: BPF tests skipped\n");
		skip();
	}
	env = calloc(1, sizeof(*env));
	assert_non_null(env);
	env->seed = s ? (unsigned)strtoul(s, NULL, 0) : 20261124u;
	env->m = model__new();
	assert_non_null(env->m);
	for (i = 0; i < 4; i++) {
		__be32 a = bh_ip4(ips[i]);
		const char *slash = strchr(names[i], '/');
		char ns[16];

		snprintf(ns, sizeof(ns), "%.*s", (int)(slash - names[i]), names[i]);
		if (model_endpoint_add(env->m, (uint32_t)i + 1, names[i], ns, ep_labels[i], 2, &a,
				       1, i == 0 ? &http : NULL, i == 0 ? 1 : 0, false, NULL, &eb))
			fail_msg("endpoint %s: %s", names[i], eb.msg);
	}
	/* the host's address is host to both the model and the kernel */
	{
		struct pol_prefix hp = pol_prefix_v4(bh_ip4(IP_HOST), 32);

		assert_int_equal(ipcache_upsert(model_ipcache(env->m), &hp, ID_HOST), 0);
	}
	bh_load(&env->h);
	ep.identity = model_endpoint(env->m, "default/deathstar")->identity;
	ep.ipv4 = bh_ip4(IP_DS);
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(env->h.skel->maps.velum_endpoints), &key,
					     &ep, BPF_ANY),
			 0);
	cfg.pool_addr = bh_ip4("10.200.0.0");
	cfg.pool_mask = bh_ip4("255.255.0.0");
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(env->h.skel->maps.velum_config), &zero,
					     &cfg, BPF_ANY),
			 0);
	env->sport = 1024;
	*state = env;
	return 0;
}

static int teardown(void **state)
{
	struct env *env = *state;

	if (!env)
		return 0;
	bh_unload(&env->h);
	model__free(env->m);
	free(env);
	return 0;
}

static unsigned rnd(struct env *env, unsigned n)
{
	env->seed = env->seed * 1103515245u + 12345u;
	return (env->seed >> 16) % n;
}

/* One random ingress/egress entry (allow or deny) in YAML flow style. */
static void gen_entry(struct env *env, bool ingress, bool deny, struct strbuf *sb)
{
	static const char *const peers_in[] = {
		"fromEndpoints: [{matchLabels: {org: empire}}]",
		"fromEndpoints: [{matchLabels: {class: xwing}}]",
		"fromEndpoints: [{}]",
		"fromEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: ops}}]",
		"fromEndpoints: [{matchExpressions: [{key: org, operator: NotIn, values: [empire]}]}]",
		"fromEntities: [world]",
		"fromEntities: [cluster]",
		"fromEntities: [host]",
		"fromEntities: [all]",
		"fromCIDR: [10.200.7.0/24]",
		"fromCIDRSet: [{cidr: 10.200.7.0/24, except: [10.200.7.128/25]}]",
		"fromCIDR: [192.0.2.0/24]",
		"", /* no peer: every peer (with ports) */
	};
	static const char *const ports[] = {
		"",
		"toPorts: [{ports: [{port: '80', protocol: TCP}]}]",
		"toPorts: [{ports: [{port: '8000', endPort: 8080, protocol: TCP}]}]",
		"toPorts: [{ports: [{port: '53'}]}]",
		"toPorts: [{ports: [{port: '0', protocol: UDP}]}]",
		"toPorts: [{ports: [{port: http}]}]",
		"toPorts: [{ports: [{port: '22', protocol: TCP}, {port: '5432', protocol: TCP}]}]",
		"icmps: [{fields: [{type: 8}]}]",
		"icmps: [{fields: [{type: 13}, {type: EchoRequest}]}]",
	};
	const char *peer = peers_in[rnd(env, sizeof(peers_in) / sizeof(peers_in[0]))];
	const char *port = ports[rnd(env, sizeof(ports) / sizeof(ports[0]))];
	char p[160];

	/* an entry with neither peer nor ports selects nothing: keep some of those too */
	snprintf(p, sizeof(p), "%s", peer);
	if (!ingress) {
		/* the egress forms of the same peers */
		char *f = strstr(p, "from");

		if (f) {
			memmove(f + 2, f + 4, strlen(f + 4) + 1);
			f[0] = 't';
			f[1] = 'o';
		}
	}
	(void)deny;
	strbuf_printf(sb, "  - {%s%s%s}\n", p, p[0] && port[0] ? ", " : "", port);
}

static void gen_policy(struct env *env, int idx, struct strbuf *sb)
{
	static const char *const sections[] = { "ingress", "ingressDeny", "egress", "egressDeny" };
	int k, e, n;

	strbuf_printf(
		sb,
		"apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\n"
		"metadata: {name: p%d%s}\n"
		"spec:\n  endpointSelector: {matchLabels: {class: deathstar}}\n",
		idx, rnd(env, 6) == 0 ? ", annotations: {policy.velum.io/audit-mode: 'true'}" : "");
	if (rnd(env, 5) == 0)
		strbuf_printf(sb, "  enableDefaultDeny: {ingress: %s, egress: %s}\n",
			      rnd(env, 2) ? "true" : "false", rnd(env, 2) ? "true" : "false");
	for (k = 0; k < 4; k++) {
		n = (int)rnd(env, k & 1 ? 2 : 4);
		if (!n)
			continue;
		strbuf_printf(sb, "  %s:\n", sections[k]);
		for (e = 0; e < n; e++)
			gen_entry(env, k < 2, k & 1, sb);
	}
	strbuf_puts(sb, "---\n");
}

/* Empties a hash map (conntrack, rate limits) so every packet is a new, reported flow. */
static void map_clear(int fd, size_t key_size)
{
	uint8_t k[64];

	assert_true(key_size <= sizeof(k));
	while (bpf_map_get_next_key(fd, NULL, k) == 0)
		assert_int_equal(bpf_map_delete_elem(fd, k), 0);
}

/* Loads endpoint name's map state into a new policy map for ep_id and swaps it in. */
static const struct pol_mapstate *install_policy(struct env *env, const char *name, __u32 ep)
{
	const struct model_ep *e = model_endpoint(env->m, name);
	const struct pol_mapstate *ms = pol_engine_endpoint_state(model_engine(env->m), e->id);
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_NO_PREALLOC);
	int fd;
	size_t k;

	assert_non_null(ms);
	fd = bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "velum_pol_diff",
			    sizeof(struct velum_policy_key), sizeof(struct velum_policy_value),
			    VELUM_POLICY_MAP_MAX, &o);
	assert_true(fd >= 0);
	for (k = 0; k < ms->n; k++) {
		/* the datapath's invariant: an entry is exactly as specific as its key */
		assert_int_equal(ms->entries[k].val.port_prefix,
				 ms->entries[k].key.prefixlen - VELUM_POLICY_PREFIX_FIXED);
		assert_int_equal(bpf_map_update_elem(fd, &ms->entries[k].key, &ms->entries[k].val,
						     BPF_NOEXIST),
				 0);
	}
	assert_int_equal(
		bpf_map_update_elem(bpf_map__fd(env->h.skel->maps.velum_policy), &ep, &fd, BPF_ANY),
		0);
	close(fd);
	return ms;
}

/*
 * Loads the deathstar's map state (endpoint 1) and the tiefighter's
 * (endpoint 2, the source of local deliveries), and the model's ipcache.
 */
static const struct pol_mapstate *install(struct env *env)
{
	const struct pol_mapstate *ms = install_policy(env, "default/deathstar", 1);
	struct velum_lxc_value lxc = { .ep_id = 1, .ifindex = EP_IFINDEX };
	struct ipcache_entry *ic;
	__be32 ds = bh_ip4(IP_DS);
	long nic, i;

	install_policy(env, "default/tiefighter", 2);
	/* BPF host routing's target: the deathstar */
	lxc.identity = model_endpoint(env->m, "default/deathstar")->identity;
	assert_int_equal(
		bpf_map_update_elem(bpf_map__fd(env->h.skel->maps.velum_lxc), &ds, &lxc, BPF_ANY),
		0);
	/* the kernel's ipcache: exactly the model's (CIDR identities come and go) */
	map_clear(bpf_map__fd(env->h.skel->maps.velum_ipcache),
		  bpf_map__key_size(env->h.skel->maps.velum_ipcache));
	nic = ipcache_list(model_ipcache(env->m), &ic);
	assert_true(nic >= 0);
	for (i = 0; i < nic; i++) {
		struct velum_ipcache_key key = { .prefixlen = ic[i].prefix.len };
		struct velum_ipcache_value val = { .identity = ic[i].identity };

		memcpy(&key.addr, ic[i].prefix.addr, 4);
		if (ic[i].prefix.len == 32 &&
		    !memcmp(ic[i].prefix.addr, &(__be32){ bh_ip4(IP_DS) }, 4)) {
			val.ep_id = 1;
			val.flags = VELUM_IPCACHE_F_LOCAL_EP;
		}
		assert_int_equal(bpf_map_update_elem(bpf_map__fd(env->h.skel->maps.velum_ipcache),
						     &key, &val, BPF_ANY),
				 0);
	}
	free(ic);
	return ms;
}

/* Runs one new-flow packet through prog; returns the tc action and collects events. */
/* One packet, both ways of judging it; returns the number of disagreements (0 or 1). */
static int check_one(struct env *env, const struct pol_mapstate *ms, enum pol_dir dir,
		     const char *peer_ip, const struct probe *pr, const char *policy)
{
	uint8_t buf[256];
	__be32 peer = bh_ip4(peer_ip);
	uint32_t peer_id = ipcache_lookup(model_ipcache(env->m), 4, (const uint8_t *)&peer, NULL);
	const struct velum_event *pv, *drop;
	struct pol_verdict v;
	size_t n;
	int act, prog;
	bool kpass, upass;
	uint32_t krule;

	pol_mapstate_lookup(ms, dir, peer_id, pr->proto, pr->port, &v);
	env->sport = env->sport == 65535 ? 1024 : env->sport + 1;
	if (dir == POL_INGRESS) {
		n = frame(buf, peer_ip, IP_DS, pr->proto, env->sport, pr->port);
		prog = bpf_program__fd(env->h.skel->progs.to_container);
	} else {
		n = frame(buf, IP_DS, peer_ip, pr->proto, env->sport, pr->port);
		prog = bpf_program__fd(env->h.skel->progs.from_container);
	}
	/*
	 * Policy, not conntrack, is under test: forget earlier flows (a query ICMP
	 * type would otherwise pass as the "reply" of the other direction's) and
	 * rate-limit slots, so this packet is new and reported.
	 */
	map_clear(bpf_map__fd(env->h.skel->maps.velum_ct),
		  bpf_map__key_size(env->h.skel->maps.velum_ct));
	map_clear(bpf_map__fd(env->h.skel->maps.velum_ratelim),
		  bpf_map__key_size(env->h.skel->maps.velum_ratelim));
	act = bh_run(&env->h, prog, buf, n, NULL, NULL, NULL);
	kpass = act == TC_ACT_OK;
	upass = pol_verdict_passes(&v);
	pv = bh_event_first(&env->h, VELUM_EVENT_POLICY_VERDICT);
	drop = bh_event_first(&env->h, VELUM_EVENT_DROP);
	krule = pv ? pv->rule_id : drop ? drop->rule_id : 0xffffffffu;
	if (kpass == upass && krule == v.rule_id &&
	    (kpass ||
	     (drop && drop->reason == (v.verdict == VELUM_VERDICT_DENY ? -VELUM_DROP_POLICY_DENY :
									 -VELUM_DROP_POLICY))))
		return 0;
	print_error("disagreement: %s peer %s (identity %u) proto %u port %u: kernel %s rule %u "
		    "(reason %u), engine %s rule %u (%s)\npolicy:\n%s\n",
		    pol_dir_name(dir), peer_ip, peer_id, pr->proto, pr->port,
		    kpass ? "pass" : "drop", krule, drop ? drop->reason : 0,
		    upass ? "pass" : "drop", v.rule_id, pol_verdict_name(v.verdict), policy);
	return 1;
}

/* The endpoint on EP_IFINDEX, as the programs find it. */
static void ifindex_endpoint(struct env *env, const char *name, __u32 ep_id, const char *ip)
{
	struct velum_endpoint_info ep = { .ep_id = ep_id, .ifindex = EP_IFINDEX };
	__u32 key = EP_IFINDEX;

	ep.identity = model_endpoint(env->m, name)->identity;
	ep.ipv4 = bh_ip4(ip);
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(env->h.skel->maps.velum_endpoints), &key,
					     &ep, BPF_ANY),
			 0);
}

/*
 * Local delivery, tiefighter -> deathstar, all in the tiefighter's
 * from_container: its egress, then the deathstar's ingress, then BPF host
 * routing. The kernel must pass exactly when both map states do, say the
 * deathstar ingress's rule and reason, and hand a passed packet to the
 * deathstar (TC_ACT_REDIRECT), the flow's next packet too (tracked, with no
 * new verdict). Returns the number of disagreements (0 or 1).
 */
static int check_local(struct env *env, const struct pol_mapstate *ms, const struct probe *pr,
		       const char *policy)
{
	const struct model_ep *tie = model_endpoint(env->m, "default/tiefighter");
	const struct model_ep *ds = model_endpoint(env->m, "default/deathstar");
	const struct pol_mapstate *tms = pol_engine_endpoint_state(model_engine(env->m), tie->id);
	int prog = bpf_program__fd(env->h.skel->progs.from_container);
	const struct velum_event *pv = NULL, *drop;
	struct pol_verdict ve, vi;
	uint8_t buf[256];
	size_t n;
	int act, act2 = TC_ACT_REDIRECT, i, nev2 = 0;
	bool kpass, upass;
	uint32_t krule;

	pol_mapstate_lookup(tms, POL_EGRESS, ds->identity, pr->proto, pr->port, &ve);
	pol_mapstate_lookup(ms, POL_INGRESS, tie->identity, pr->proto, pr->port, &vi);
	env->sport = env->sport == 65535 ? 1024 : env->sport + 1;
	n = frame(buf, "10.200.0.11", IP_DS, pr->proto, env->sport, pr->port);
	map_clear(bpf_map__fd(env->h.skel->maps.velum_ct),
		  bpf_map__key_size(env->h.skel->maps.velum_ct));
	map_clear(bpf_map__fd(env->h.skel->maps.velum_ratelim),
		  bpf_map__key_size(env->h.skel->maps.velum_ratelim));
	ifindex_endpoint(env, "default/tiefighter", 2, "10.200.0.11");
	act = bh_run(&env->h, prog, buf, n, NULL, NULL, NULL);
	/* the deathstar's ingress verdict is the last one */
	for (i = 0; i < env->h.nev; i++)
		if (env->h.ev[i].type == VELUM_EVENT_POLICY_VERDICT)
			pv = &env->h.ev[i];
	drop = bh_event_first(&env->h, VELUM_EVENT_DROP);
	if (act == TC_ACT_REDIRECT) {
		act2 = bh_run(&env->h, prog, buf, n, NULL, NULL, NULL);
		nev2 = env->h.nev;
	}
	ifindex_endpoint(env, "default/deathstar", 1, IP_DS);

	kpass = act == TC_ACT_REDIRECT;
	upass = pol_verdict_passes(&ve) && pol_verdict_passes(&vi);
	krule = drop ? drop->rule_id : pv ? pv->rule_id : 0xffffffffu;
	if (pol_verdict_passes(&ve) && kpass == upass && krule == vi.rule_id &&
	    (kpass ? act2 == TC_ACT_REDIRECT && nev2 == 0 :
		     act == TC_ACT_SHOT && drop &&
			     drop->reason == (vi.verdict == VELUM_VERDICT_DENY ?
						      -VELUM_DROP_POLICY_DENY :
						      -VELUM_DROP_POLICY)))
		return 0;
	print_error("disagreement: local delivery tiefighter -> deathstar proto %u port %u: kernel "
		    "action %d rule %u (reason %u), tracked packet action %d with %d events; "
		    "engine egress %s, ingress %s rule %u (%s)\npolicy:\n%s\n",
		    pr->proto, pr->port, act, krule, drop ? drop->reason : 0, act2, nev2,
		    pol_verdict_passes(&ve) ? "pass" : "drop", upass ? "pass" : "drop", vi.rule_id,
		    pol_verdict_name(vi.verdict), policy);
	return 1;
}

static void test_bpf_differential_random_policies(void **state)
{
	struct env *env = *state;
	const char *r = getenv("VELUM_DIFF_ROUNDS");
	int rounds = r ? atoi(r) : 60, round, bad = 0;
	size_t checked = 0;

	for (round = 0; round < rounds && !bad; round++) {
		struct strbuf text = STRBUF_INIT;
		const struct pol_policy *const *ps;
		const struct pol_mapstate *ms;
		struct pol_set set = { 0 };
		struct errbuf eb;
		size_t i, j, np;
		int k, npol = 1 + (int)rnd(env, 3);

		/* a fresh policy set each round */
		np = pol_engine_policies(model_engine(env->m), &ps);
		while (np--) {
			const struct pol_policy *p = ps[np];

			assert_int_equal(
				model_policy_delete(env->m, p->kind, p->namespace, p->name), 0);
			np = pol_engine_policies(model_engine(env->m), &ps);
		}
		for (k = 0; k < npol; k++)
			gen_policy(env, k, &text);
		if (pol_parse_buf("diff.yaml", text.p, text.len, &set, &eb))
			fail_msg("generated policy does not parse: %s\n%s", eb.msg, text.p);
		assert_int_equal(model_policies_load(env->m, &set), 0);
		pol_set_free(&set);
		assert_int_equal(model_regenerate(env->m, NULL, NULL), 0);
		ms = install(env);
		for (i = 0; i < sizeof(peer_ips) / sizeof(peer_ips[0]); i++) {
			for (j = 0; j < sizeof(probes) / sizeof(probes[0]); j++) {
				bad += check_one(env, ms, POL_INGRESS, peer_ips[i], &probes[j],
						 text.p);
				/* outside the pool, egress is unroutable whatever the policy */
				if (strncmp(peer_ips[i], "10.200.", 7))
					continue;
				bad += check_one(env, ms, POL_EGRESS, peer_ips[i], &probes[j],
						 text.p);
				checked++;
			}
			checked += sizeof(probes) / sizeof(probes[0]);
		}
		for (j = 0; j < sizeof(probes) / sizeof(probes[0]); j++)
			bad += check_local(env, ms, &probes[j], text.p);
		checked += sizeof(probes) / sizeof(probes[0]);
		strbuf_free(&text);
	}
	print_message("differential: %d policy sets, %zu packets, %d disagreements\n", round,
		      checked, bad);
	assert_int_equal(bad, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bpf_differential_random_policies, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
