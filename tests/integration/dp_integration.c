// SPDX-License-Identifier: Apache-2.0
/*
 * Datapath integration tests on real namespaces and traffic: the Star Wars
 * L3/L4 verdicts in both directions with TCP, UDP and ICMP, replies, drops
 * at the source, policy removal, persistence across a closed handle, 1,000
 * policy swaps under traffic without a single forbidden packet, and a
 * teardown that leaves nothing behind.
 *
 * Everything this run makes carries its PID: pin folder
 * /sys/fs/bpf/velum-test-<pid>, links vt<pid><ep>, namespaces
 * vt<pid>-<ep>; tests/integration/datapath.sh removes them even if this
 * program dies. The Star Wars policies are the real files of
 * examples/starwars/policies (the deathstar accepts TCP 80 from org=empire;
 * it may send only to status=updated FTP servers), resolved by the policy
 * engine (src/model/model.h over src/policy/resolve.h) into the map entries
 * the datapath swaps in; the deny-rule and storm tests use hand-built
 * entries.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "datapath/dp.h"
#include "model/model.h"
#include "policy/parse.h"
#include "policy/resolve.h"
#include "dp_net.h"
#include "velum/conntrack.h"
#include "velum/drop.h"
#include "velum/endpoint.h"
#include "velum/ipcache.h"

enum { EP_DS = 1, EP_TIE = 2, EP_XWING = 3, EP_FTP = 4, EP_SRV = 5, EP_CLI = 6, EP_N = 7 };

/* placeholder identities; the Star Wars endpoints get theirs from the engine */
#define ID_DS	 1001
#define ID_TIE	 1002
#define ID_XWING 1003
#define ID_FTP	 1004
#define ID_SRV	 1005
#define ID_CLI	 1006

#define STARWARS_DIR "examples/starwars/policies"

#define TIMEOUT_OK   2000 /* ms: allowed traffic must answer within this */
#define TIMEOUT_DROP 300  /* ms: denied traffic is given this long to leak */

struct env {
	struct dp *dp;
	char pin_dir[128], ifprefix[16], nsprefix[32], pool[32];
	struct dp_endpoint ep[EP_N];
	int nsfd[EP_N];
	struct velum_event ev[4096];
	int nev;
	struct model *model; /* the Star Wars endpoints and policies */
	__u32 id[EP_N];	     /* identities the engine gave the endpoints */
};

static struct env *g_env;

static int ns_open(struct env *env, int ep)
{
	if (env->nsfd[ep] <= 0) {
		env->nsfd[ep] = open(env->ep[ep].netns, O_RDONLY | O_CLOEXEC);
		assert_true(env->nsfd[ep] >= 0);
	}
	return env->nsfd[ep];
}

static void add_ep(struct env *env, int ep, __u32 identity)
{
	struct dp_endpoint_opts o = { .ep_id = ep, .identity = identity };
	struct errbuf eb = { "" };
	int err = dp_endpoint_add(env->dp, &o, &env->ep[ep], &eb);

	if (err)
		print_error("endpoint %d: %s\n", ep, eb.msg);
	assert_int_equal(err, 0);
}

/* Probe from endpoint `from` (0: the host) to endpoint `to`. */
static int probe(struct env *env, int from, int to, int proto, unsigned short port, int timeout)
{
	struct net_probe p = { proto, env->ep[to].ipv4, port, timeout };

	return net_run_in(from ? ns_open(env, from) : -1, net_probe_fn, &p);
}

static void expect_pass(struct env *env, int from, int to, int proto, unsigned short port)
{
	int r = probe(env, from, to, proto, port, TIMEOUT_OK);

	if (r)
		print_error("%d -> %d proto %d port %u: %s, expected to pass\n", from, to, proto,
			    port, strerror(-r));
	assert_int_equal(r, 0);
}

static void expect_drop(struct env *env, int from, int to, int proto, unsigned short port)
{
	int r = probe(env, from, to, proto, port, TIMEOUT_DROP);

	if (r != -ETIMEDOUT)
		print_error("%d -> %d proto %d port %u: %s, expected a silent drop\n", from, to,
			    proto, port, r ? strerror(-r) : "passed");
	assert_int_equal(r, -ETIMEDOUT);
}

static int collect(void *ctx, const struct velum_event *ev)
{
	struct env *env = ctx;

	if (env->nev < (int)(sizeof(env->ev) / sizeof(env->ev[0])))
		env->ev[env->nev++] = *ev;
	return 0;
}

static void drain_events(struct env *env)
{
	while (dp_events_poll(env->dp, 0, collect, env) > 0)
		;
}

static const struct velum_event *find_ev(struct env *env, __u8 type, __u32 ep, __u8 dir, __u32 peer,
					 __u16 reason)
{
	for (int i = 0; i < env->nev; i++) {
		const struct velum_event *e = &env->ev[i];

		if (e->type == type && e->ep_id == ep && e->dir == dir &&
		    e->peer_identity == peer && e->reason == reason)
			return e;
	}
	return NULL;
}

static void put(struct velum_policy_key *k, struct velum_policy_value *v, __u32 id, __u8 dir,
		__u8 proto, __u16 port, int bits, __u8 verdict, __u32 rule)
{
	memset(k, 0, sizeof(*k));
	memset(v, 0, sizeof(*v));
	k->prefixlen = VELUM_POLICY_PREFIX_FIXED + bits;
	k->identity = htonl(id);
	k->egress = dir;
	k->protocol = proto;
	k->dport = htons(port);
	v->verdict = verdict;
	v->port_prefix = bits;
	v->rule_id = rule;
}

static void apply(struct env *env, int ep, struct velum_policy_key *k, struct velum_policy_value *v,
		  size_t n)
{
	struct errbuf eb = { "" };
	int err = dp_policy_apply(env->dp, ep, k, v, n, &eb);

	if (err)
		print_error("policy %d: %s\n", ep, eb.msg);
	assert_int_equal(err, 0);
}

/* Pushes endpoint ep's resolved map state into the datapath. */
static void sync_ep(struct env *env, int ep)
{
	const struct pol_mapstate *ms = pol_engine_endpoint_state(model_engine(env->model), ep);
	struct velum_policy_key *k;
	struct velum_policy_value *v;

	assert_non_null(ms);
	k = calloc(ms->n + 1, sizeof(*k));
	v = calloc(ms->n + 1, sizeof(*v));
	assert_true(k && v);
	for (size_t i = 0; i < ms->n; i++) {
		k[i] = ms->entries[i].key;
		v[i] = ms->entries[i].val;
	}
	apply(env, ep, k, v, ms->n);
	free(k);
	free(v);
}

static void regenerate_and_sync(struct env *env)
{
	assert_int_equal(model_regenerate(env->model, NULL, NULL), 0);
	for (int ep = EP_DS; ep <= EP_FTP; ep++)
		sync_ep(env, ep);
}

/* Loads the paper's L3/L4 policies (ingress by label, egress to updated FTP). */
static void deathstar_policy(struct env *env)
{
	static const char *const files[] = { STARWARS_DIR "/l3-ingress.yaml",
					     STARWARS_DIR "/l3-egress.json" };
	struct pol_set set = { 0 };
	struct errbuf eb = { "" };

	for (size_t i = 0; i < 2; i++) {
		int err = pol_parse_file(files[i], &set, &eb);

		if (err)
			print_error("%s\n", eb.msg);
		assert_int_equal(err, 0);
	}
	assert_int_equal(model_policies_load(env->model, &set), 0);
	pol_set_free(&set);
	regenerate_and_sync(env);
}

/* Deletes the Star Wars policies: every endpoint falls back to default allow. */
static void deathstar_policy_delete(struct env *env)
{
	const struct pol_policy *const *ps;
	size_t n = pol_engine_policies(model_engine(env->model), &ps);

	while (n > 0) {
		const struct pol_policy *p = ps[0];

		assert_int_equal(model_policy_delete(env->model, p->kind, p->namespace, p->name),
				 0);
		n = pol_engine_policies(model_engine(env->model), &ps);
	}
	regenerate_and_sync(env);
}

/* The Star Wars endpoints in the engine, with the addresses the datapath gave them. */
static void add_model_endpoints(struct env *env)
{
	static const char *const ds[] = { "k8s:org=empire", "k8s:class=deathstar" };
	static const char *const tie[] = { "k8s:org=empire", "k8s:class=tiefighter" };
	static const char *const xw[] = { "k8s:org=alliance", "k8s:class=xwing" };
	static const char *const ftp[] = { "k8s:app=ftp-log", "k8s:status=updated" };
	static const struct {
		int ep;
		const char *name;
		const char *const *labels;
	} eps[] = {
		{ EP_DS, "default/deathstar", ds },
		{ EP_TIE, "default/tiefighter", tie },
		{ EP_XWING, "default/xwing", xw },
		{ EP_FTP, "default/ftp-updated", ftp },
	};
	struct errbuf eb = { "" };

	env->model = model__new();
	assert_non_null(env->model);
	for (size_t i = 0; i < 4; i++) {
		const struct model_ep *a;
		__u32 ip = env->ep[eps[i].ep].ipv4;
		int err = model_endpoint_add(env->model, eps[i].ep, eps[i].name, "default",
					     eps[i].labels, 2, &ip, 1, NULL, 0, false, &a, &eb);

		if (err)
			print_error("model %s: %s\n", eps[i].name, eb.msg);
		assert_int_equal(err, 0);
		env->id[eps[i].ep] = a->identity;
		assert_int_equal(dp_endpoint_set_identity(env->dp, eps[i].ep, a->identity), 0);
	}
}

static void default_allow(struct env *env, int ep)
{
	struct velum_policy_key k[2];
	struct velum_policy_value v[2];

	apply(env, ep, k, v, dp_policy_default_allow(k, v));
}

static int setup(void **state)
{
	struct dp_opts o = { 0 };
	struct errbuf eb = { "" };
	struct env *env;
	int pid = getpid();

	if (geteuid() != 0) {
		print_message("not root: datapath integration tests skipped\n");
		skip();
	}
	env = calloc(1, sizeof(*env));
	assert_non_null(env);
	snprintf(env->pin_dir, sizeof(env->pin_dir), "/sys/fs/bpf/velum-test-%d", pid);
	snprintf(env->ifprefix, sizeof(env->ifprefix), "vt%d", pid % 10000000);
	snprintf(env->nsprefix, sizeof(env->nsprefix), "vt%d-", pid);
	/* a per-run pool, so that concurrent runs never share host routes */
	snprintf(env->pool, sizeof(env->pool), "10.%d.0.0/16", 100 + pid % 100);
	o.pin_dir = env->pin_dir;
	o.ifname_prefix = env->ifprefix;
	o.netns_prefix = env->nsprefix;
	o.pool = env->pool;
	env->dp = dp__open(&o, &eb);
	if (!env->dp)
		print_error("dp__open: %s\n", eb.msg);
	assert_non_null(env->dp);
	add_ep(env, EP_DS, ID_DS);
	add_ep(env, EP_TIE, ID_TIE);
	add_ep(env, EP_XWING, ID_XWING);
	add_ep(env, EP_FTP, ID_FTP);
	add_model_endpoints(env);
	g_env = env;
	*state = env;
	return 0;
}

static int teardown(void **state)
{
	struct env *env = *state;
	struct errbuf eb = { "" };

	if (!env)
		return 0;
	for (int i = 0; i < EP_N; i++)
		if (env->nsfd[i] > 0)
			close(env->nsfd[i]);
	if (env->dp) {
		if (dp_destroy_all(env->dp, &eb))
			print_error("destroy: %s\n", eb.msg);
		dp__close(env->dp);
	}
	model__free(env->model);
	free(env);
	return 0;
}

static void serve(struct env *env, struct net_server *s, int ep, const unsigned short *ports, int n)
{
	memset(s, 0, sizeof(*s));
	s->netns_fd = ns_open(env, ep);
	memcpy(s->ports, ports, n * sizeof(*ports));
	s->nports = n;
	assert_int_equal(net_server_start(s), 0);
}

/* Every L3/L4 verdict of the Star Wars policy on real packets, both directions. */
static void test_dp_starwars_l3l4(void **state)
{
	struct env *env = *state;
	static const unsigned short ds_ports[] = { 80, 8080 }, tie_ports[] = { 80 },
				    ftp_ports[] = { 21 };
	struct net_server ds, tie, ftp;
	int ds80;

	serve(env, &ds, EP_DS, ds_ports, 2);
	serve(env, &tie, EP_TIE, tie_ports, 1);
	serve(env, &ftp, EP_FTP, ftp_ports, 1);

	/* no policy: everything passes */
	expect_pass(env, EP_XWING, EP_DS, IPPROTO_TCP, 80);
	expect_pass(env, EP_DS, EP_TIE, IPPROTO_TCP, 80);
	expect_pass(env, EP_XWING, EP_DS, IPPROTO_ICMP, 0);

	deathstar_policy(env);
	drain_events(env);
	env->nev = 0;
	{
		/* the programs' view of the policy is exactly the engine's map state */
		const struct pol_mapstate *ms =
			pol_engine_endpoint_state(model_engine(env->model), EP_DS);
		struct velum_policy_key *k;
		struct velum_policy_value *v;
		struct dp_ipcache_entry *ic;
		size_t n, nic, found = 0;

		assert_int_equal(dp_policy_read(env->dp, EP_DS, &k, &v, &n), 0);
		assert_int_equal(n, ms->n);
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < ms->n; j++)
				if (!memcmp(&k[i], &ms->entries[j].key, sizeof(k[i])) &&
				    !memcmp(&v[i], &ms->entries[j].val, sizeof(v[i])))
					found++;
		assert_int_equal(found, n);
		free(k);
		free(v);
		assert_int_equal(dp_ipcache_list(env->dp, &ic, &nic), 0);
		found = 0;
		for (size_t i = 0; i < nic; i++)
			if (ic[i].key.addr == env->ep[EP_DS].ipv4 && ic[i].key.prefixlen == 32 &&
			    ic[i].val.identity == env->id[EP_DS] && ic[i].val.ep_id == EP_DS)
				found++;
		assert_int_equal(found, 1);
		free(ic);
	}

	/* ingress: empire ships on TCP 80, and the replies come back */
	expect_pass(env, EP_TIE, EP_DS, IPPROTO_TCP, 80);
	ds80 = net_server_tcp(&ds, 80);
	/* alliance ships never reach the deathstar: dropped at their own veth */
	expect_drop(env, EP_XWING, EP_DS, IPPROTO_TCP, 80);
	assert_int_equal(net_server_tcp(&ds, 80), ds80);
	/* other ports, protocols, ICMP: default deny once an L4 rule applies */
	expect_drop(env, EP_TIE, EP_DS, IPPROTO_TCP, 8080);
	expect_drop(env, EP_TIE, EP_DS, IPPROTO_UDP, 80);
	expect_drop(env, EP_TIE, EP_DS, IPPROTO_ICMP, 0);
	/* the host is not org=empire */
	expect_drop(env, 0, EP_DS, IPPROTO_TCP, 80);
	assert_int_equal(net_server_tcp(&ds, 80), ds80);
	assert_int_equal(net_server_tcp(&ds, 8080), 0);
	assert_int_equal(net_server_udp(&ds, 80), 0);

	/* egress: only the status=updated FTP server (any port: an L3 rule) */
	expect_pass(env, EP_DS, EP_FTP, IPPROTO_TCP, 21);
	expect_pass(env, EP_DS, EP_FTP, IPPROTO_ICMP, 0);
	expect_drop(env, EP_DS, EP_TIE, IPPROTO_TCP, 80);
	expect_drop(env, EP_DS, EP_XWING, IPPROTO_ICMP, 0);
	/* a flow denied at the source's egress never reaches the destination */
	assert_int_equal(net_server_tcp(&tie, 80), 1);

	/* endpoints without policy are untouched; fragments follow their first */
	{
		struct net_probe big = { IPPROTO_UDP, env->ep[EP_TIE].ipv4, 80, TIMEOUT_OK, 6000 };

		assert_int_equal(net_run_in(ns_open(env, EP_XWING), net_probe_fn, &big), 0);
	}
	expect_pass(env, EP_XWING, EP_TIE, IPPROTO_TCP, 80);
	expect_pass(env, EP_XWING, EP_TIE, IPPROTO_UDP, 80);
	expect_pass(env, EP_XWING, EP_TIE, IPPROTO_ICMP, 0);
	expect_pass(env, EP_XWING, EP_FTP, IPPROTO_TCP, 21);
	expect_pass(env, 0, EP_TIE, IPPROTO_TCP, 80);

	/* the events name endpoint, direction, peer, reason and rule */
	drain_events(env);
	{
		const struct velum_event *e = find_ev(env, VELUM_EVENT_POLICY_VERDICT, EP_DS,
						      VELUM_DIR_INGRESS, env->id[EP_TIE], 0);

		assert_non_null(e);
		assert_true(e->rule_id >= VELUM_RULE_FIRST);
		assert_int_equal(e->match, VELUM_MATCH_L3_L4);
		assert_int_equal(e->verdict, VELUM_FLOW_FORWARDED);
		e = find_ev(env, VELUM_EVENT_DROP, EP_DS, VELUM_DIR_INGRESS, env->id[EP_XWING],
			    -VELUM_DROP_POLICY);
		assert_non_null(e);
		assert_int_equal(e->rule_id, VELUM_RULE_NONE);
	}
	assert_non_null(find_ev(env, VELUM_EVENT_DROP, EP_DS, VELUM_DIR_EGRESS, env->id[EP_TIE],
				-VELUM_DROP_POLICY));
	assert_non_null(find_ev(env, VELUM_EVENT_DROP, EP_DS, VELUM_DIR_INGRESS, VELUM_ID_HOST,
				-VELUM_DROP_POLICY));

	/* removing the policy restores default allow */
	deathstar_policy_delete(env);
	expect_pass(env, EP_XWING, EP_DS, IPPROTO_TCP, 80);
	expect_pass(env, EP_DS, EP_TIE, IPPROTO_TCP, 80);
	expect_pass(env, EP_TIE, EP_DS, IPPROTO_ICMP, 0);
	expect_pass(env, EP_TIE, EP_DS, IPPROTO_UDP, 80);

	net_server_stop(&ds);
	net_server_stop(&tie);
	net_server_stop(&ftp);
}

/* Packets the kernel sent out of a host-side veth (towards its endpoint). */
static unsigned long long tx_packets(const char *ifname)
{
	char path[128];
	unsigned long long n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/tx_packets", ifname);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%llu", &n), 1);
	fclose(f);
	return n;
}

/*
 * BPF host routing (the default) and legacy routing enforce the same
 * verdicts; with BPF host routing the packets between two endpoints never
 * cross the host stack: the destination's host-side veth transmits none of
 * them (the source's from_container hands them to the namespace directly),
 * while with legacy routing every one of them goes out of it.
 */
static void test_dp_host_routing(void **state)
{
	struct env *env = *state;
	static const unsigned short ports[] = { 80 };
	const char *ds_if = env->ep[EP_DS].host_ifname;
	struct net_server ds;
	unsigned long long tx[2];
	int accepts;

	serve(env, &ds, EP_DS, ports, 1);
	deathstar_policy(env);
	for (int legacy = 0; legacy < 2; legacy++) {
		assert_int_equal(dp_routing_set(env->dp, legacy), 0);
		assert_int_equal(dp_routing_legacy(env->dp), legacy);
		accepts = net_server_tcp(&ds, 80);
		tx[legacy] = tx_packets(ds_if);
		for (int i = 0; i < 20; i++)
			expect_pass(env, EP_TIE, EP_DS, IPPROTO_TCP, 80);
		tx[legacy] = tx_packets(ds_if) - tx[legacy];
		assert_int_equal(net_server_tcp(&ds, 80), accepts + 20);
		expect_drop(env, EP_XWING, EP_DS, IPPROTO_TCP, 80);
		expect_drop(env, EP_TIE, EP_DS, IPPROTO_UDP, 80);
		expect_drop(env, EP_TIE, EP_DS, IPPROTO_TCP, 8080);
		expect_drop(env, 0, EP_DS, IPPROTO_TCP, 80);
		assert_int_equal(net_server_tcp(&ds, 80), accepts + 20);
		assert_int_equal(net_server_udp(&ds, 80), 0);
	}
	print_message("packets out of the deathstar's host veth for 20 connections: %llu with "
		      "BPF host routing, %llu with legacy routing\n",
		      tx[0], tx[1]);
	/* each connection sends at least SYN, data, FIN and ACKs to the server */
	assert_true(tx[1] >= 20 * 4);
	assert_true(tx[0] <= 4); /* at most neighbour resolution from the host */
	assert_int_equal(dp_routing_set(env->dp, false), 0);
	deathstar_policy_delete(env);
	net_server_stop(&ds);
}

/* A deny rule on real traffic: deny wins over an L4-only allow. */
static void test_dp_deny_rule(void **state)
{
	struct env *env = *state;
	static const unsigned short ports[] = { 80 };
	struct velum_policy_key k[2];
	struct velum_policy_value v[2];
	struct net_server s;

	serve(env, &s, EP_DS, ports, 1);
	put(&k[0], &v[0], 0, VELUM_DIR_INGRESS, IPPROTO_TCP, 80, 24, VELUM_VERDICT_ALLOW, 300);
	put(&k[1], &v[1], env->id[EP_XWING], VELUM_DIR_INGRESS, 0, 0, 0, VELUM_VERDICT_DENY, 301);
	apply(env, EP_DS, k, v, 2);
	drain_events(env);
	env->nev = 0;
	expect_pass(env, EP_TIE, EP_DS, IPPROTO_TCP, 80);
	expect_drop(env, EP_XWING, EP_DS, IPPROTO_TCP, 80);
	drain_events(env);
	assert_non_null(find_ev(env, VELUM_EVENT_DROP, EP_DS, VELUM_DIR_INGRESS, env->id[EP_XWING],
				-VELUM_DROP_POLICY_DENY));
	default_allow(env, EP_DS);
	net_server_stop(&s);
}

/*
 * A swap in two steps (dp_policy_build, dp_policy_publish): a built map is
 * read by nothing until published (traffic still sees the old policy), live
 * once published; a discarded one never is.
 */
static void test_dp_build_publish(void **state)
{
	struct env *env = *state;
	static const unsigned short ports[] = { 80 };
	struct velum_policy_key k[1];
	struct velum_policy_value v[1];
	struct dp_policy_built b, c;
	struct errbuf eb = { "" };
	struct net_server s;

	serve(env, &s, EP_DS, ports, 1);
	put(&k[0], &v[0], env->id[EP_XWING], VELUM_DIR_INGRESS, 0, 0, 0, VELUM_VERDICT_DENY, 310);
	assert_int_equal(dp_policy_build(env->dp, EP_DS, k, v, 1, &b, &eb), 0);
	assert_true(b.fd >= 0 && b.map_id > 0);
	assert_int_equal(dp_policy_live(env->dp, EP_DS, b.map_id), 0);
	expect_pass(env, EP_XWING, EP_DS, IPPROTO_TCP, 80);
	assert_int_equal(dp_policy_publish(env->dp, &b, &eb), 0);
	assert_int_equal(b.fd, -1);
	assert_int_equal(dp_policy_live(env->dp, EP_DS, b.map_id), 1);
	expect_drop(env, EP_XWING, EP_DS, IPPROTO_TCP, 80);
	/* built and discarded: the published one stays */
	assert_int_equal(dp_policy_build(env->dp, EP_DS, k, v, 1, &c, &eb), 0);
	dp_policy_built_discard(&c);
	assert_int_equal(c.fd, -1);
	assert_int_equal(dp_policy_live(env->dp, EP_DS, b.map_id), 1);
	/* a bad entry builds nothing */
	v[0].verdict = 99;
	assert_true(dp_policy_build(env->dp, EP_DS, k, v, 1, &c, &eb) < 0);
	assert_int_equal(c.fd, -1);
	default_allow(env, EP_DS);
	net_server_stop(&s);
}

/* Enforcement outlives the handle; a new handle takes the pinned state over. */
static void test_dp_persistence(void **state)
{
	struct env *env = *state;
	static const unsigned short ports[] = { 80 };
	struct dp_opts o = { 0 };
	struct errbuf eb = { "" };
	struct net_server s;

	serve(env, &s, EP_DS, ports, 1);
	deathstar_policy(env);
	dp__close(env->dp);
	env->dp = NULL;
	/* no process holds anything: the pins and the tc filters keep policing */
	expect_drop(env, EP_XWING, EP_DS, IPPROTO_TCP, 80);
	expect_pass(env, EP_TIE, EP_DS, IPPROTO_TCP, 80);

	o.pin_dir = env->pin_dir;
	o.ifname_prefix = env->ifprefix;
	o.netns_prefix = env->nsprefix;
	env->dp = dp__open(&o, &eb);
	if (!env->dp)
		print_error("reopen: %s\n", eb.msg);
	assert_non_null(env->dp);
	/* the reopened handle sees the endpoints and can change their policy */
	assert_int_equal(dp_endpoint_list(env->dp, NULL, 0), 4);
	expect_drop(env, EP_XWING, EP_DS, IPPROTO_TCP, 80);
	default_allow(env, EP_DS);
	expect_pass(env, EP_XWING, EP_DS, IPPROTO_TCP, 80);

	/* a reload replaces the programs on every endpoint without losing state */
	dp__close(env->dp);
	o.reload = true;
	env->dp = dp__open(&o, &eb);
	assert_non_null(env->dp);
	deathstar_policy(env);
	expect_drop(env, EP_XWING, EP_DS, IPPROTO_TCP, 80);
	expect_pass(env, EP_TIE, EP_DS, IPPROTO_TCP, 80);
	default_allow(env, EP_DS);
	net_server_stop(&s);
}

struct storm_traffic {
	int nsfd;
	in_addr_t dst;
	atomic_bool stop;
	atomic_long sent;
	pthread_t thr;
};

/* New UDP flows (fresh source ports) to 5001, 5002 and 5003, as fast as possible. */
static long storm_send(void *p)
{
	struct storm_traffic *t = p;
	static const unsigned short ports[] = { 5001, 5002, 5003 };

	while (!t->stop) {
		for (int i = 0; i < 3; i++) {
			struct sockaddr_in a = { .sin_family = AF_INET,
						 .sin_port = htons(ports[i]),
						 .sin_addr.s_addr = t->dst };
			int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

			if (fd < 0)
				continue;
			if (sendto(fd, "x", 1, 0, (void *)&a, sizeof(a)) == 1)
				t->sent++;
			close(fd);
		}
	}
	return 0;
}

static void *storm_thread(void *p)
{
	struct storm_traffic *t = p;

	net_run_in(t->nsfd, storm_send, t);
	return NULL;
}

/*
 * 1,000 policy swaps with traffic flowing. Policy A allows UDP 5001, policy
 * B UDP 5002; both allow UDP 5003 from anyone but deny the client entirely
 * (deny wins), so a half-written map (the allow without the deny) would let
 * 5003 through. Not one datagram may reach 5003.
 */
static void test_dp_update_storm(void **state)
{
	struct env *env = *state;
	static const unsigned short ports[] = { 5001, 5002, 5003 };
	struct velum_policy_key ka[4], kb[4];
	struct velum_policy_value va[4], vb[4];
	struct storm_traffic t = { 0 };
	struct net_server s;
	struct errbuf eb = { "" };
	int i, a, b, c;

	add_ep(env, EP_SRV, ID_SRV);
	add_ep(env, EP_CLI, ID_CLI);
	serve(env, &s, EP_SRV, ports, 3);
	put(&ka[0], &va[0], 0, VELUM_DIR_INGRESS, IPPROTO_UDP, 5003, 24, VELUM_VERDICT_ALLOW, 400);
	put(&ka[1], &va[1], ID_CLI, VELUM_DIR_INGRESS, 0, 0, 0, VELUM_VERDICT_DENY, 401);
	put(&ka[2], &va[2], 0, VELUM_DIR_INGRESS, IPPROTO_UDP, 5001, 24, VELUM_VERDICT_ALLOW, 402);
	put(&ka[3], &va[3], 0, VELUM_DIR_EGRESS, 0, 0, 0, VELUM_VERDICT_ALLOW, 1);
	memcpy(kb, ka, sizeof(ka));
	memcpy(vb, va, sizeof(va));
	/* B: the client's deny stays; its allowed port moves to 5002 */
	put(&kb[2], &vb[2], 0, VELUM_DIR_INGRESS, IPPROTO_UDP, 5002, 24, VELUM_VERDICT_ALLOW, 403);
	/* identity changes reach the endpoint map and the ipcache */
	assert_int_equal(dp_endpoint_set_identity(env->dp, EP_CLI, ID_CLI), 0);
	apply(env, EP_SRV, ka, va, 4);

	t.nsfd = ns_open(env, EP_CLI);
	t.dst = env->ep[EP_SRV].ipv4;
	pthread_create(&t.thr, NULL, storm_thread, &t);
	for (i = 0; i < 1000; i++) {
		int err = i % 2 ? dp_policy_apply(env->dp, EP_SRV, ka, va, 4, &eb) :
				  dp_policy_apply(env->dp, EP_SRV, kb, vb, 4, &eb);

		if (err)
			print_error("swap %d: %s\n", i, eb.msg);
		assert_int_equal(err, 0);
	}
	t.stop = true;
	pthread_join(t.thr, NULL);
	usleep(100000);
	a = net_server_udp(&s, 5001);
	b = net_server_udp(&s, 5002);
	c = net_server_udp(&s, 5003);
	print_message("storm: 1000 swaps, %ld datagrams sent, received 5001=%d 5002=%d "
		      "5003=%d (forbidden)\n",
		      (long)t.sent, a, b, c);
	/* the client is denied everything by both policies */
	assert_int_equal(a + b + c, 0);
	assert_true(t.sent > 1000);
	net_server_stop(&s);
}

/*
 * The same storm with a client both policies partly allow: 5003 is allowed
 * to nobody, 5001 by A, 5002 by B. Datagrams must reach 5001 and 5002 (the
 * traffic really flowed across swaps) and never 5003.
 */
static void test_dp_update_storm_allowed(void **state)
{
	struct env *env = *state;
	static const unsigned short ports[] = { 5001, 5002, 5003 };
	struct velum_policy_key ka[3], kb[3];
	struct velum_policy_value va[3], vb[3];
	struct storm_traffic t = { 0 };
	struct net_server s;
	struct errbuf eb = { "" };
	int i, a, b, c;

	serve(env, &s, EP_SRV, ports, 3);
	/* both: the peer identity may use UDP 5003 ... but a deny of 5003 for it wins */
	put(&ka[0], &va[0], ID_CLI, VELUM_DIR_INGRESS, IPPROTO_UDP, 5003, 24, VELUM_VERDICT_DENY,
	    500);
	put(&ka[1], &va[1], 0, VELUM_DIR_INGRESS, IPPROTO_UDP, 5003, 24, VELUM_VERDICT_ALLOW, 501);
	put(&ka[2], &va[2], ID_CLI, VELUM_DIR_INGRESS, IPPROTO_UDP, 5001, 24, VELUM_VERDICT_ALLOW,
	    502);
	memcpy(kb, ka, sizeof(ka));
	memcpy(vb, va, sizeof(va));
	put(&kb[2], &vb[2], ID_CLI, VELUM_DIR_INGRESS, IPPROTO_UDP, 5002, 24, VELUM_VERDICT_ALLOW,
	    503);
	apply(env, EP_SRV, ka, va, 3);
	t.nsfd = ns_open(env, EP_CLI);
	t.dst = env->ep[EP_SRV].ipv4;
	pthread_create(&t.thr, NULL, storm_thread, &t);
	for (i = 0; i < 1000; i++) {
		int err = i % 2 ? dp_policy_apply(env->dp, EP_SRV, ka, va, 3, &eb) :
				  dp_policy_apply(env->dp, EP_SRV, kb, vb, 3, &eb);

		assert_int_equal(err, 0);
		/* let some traffic through each revision */
		if (i % 50 == 0)
			usleep(2000);
	}
	t.stop = true;
	pthread_join(t.thr, NULL);
	usleep(100000);
	a = net_server_udp(&s, 5001);
	b = net_server_udp(&s, 5002);
	c = net_server_udp(&s, 5003);
	print_message("storm: 1000 swaps, %ld datagrams sent, received 5001=%d 5002=%d "
		      "5003=%d (forbidden)\n",
		      (long)t.sent, a, b, c);
	assert_int_equal(c, 0);
	assert_true(a > 0);
	assert_true(b > 0);
	net_server_stop(&s);
	assert_int_equal(dp_endpoint_remove(env->dp, EP_SRV, &eb), 0);
	assert_int_equal(dp_endpoint_remove(env->dp, EP_CLI, &eb), 0);
}

/* An existing namespace (as a CNI runtime makes it) is adopted, and left in place on removal. */
static void test_dp_adopt_netns(void **state)
{
	struct env *env = *state;
	struct dp_endpoint_opts o = { .ep_id = 40, .identity = 4040, .ifname = "net1" };
	struct dp_endpoint ep;
	struct errbuf eb = { "" };
	char name[64], path[128], cmd[160];
	struct stat st;
	struct net_probe p = { IPPROTO_ICMP, 0, 0, TIMEOUT_OK };
	int fd;

	snprintf(name, sizeof(name), "%sadopt", env->nsprefix);
	snprintf(path, sizeof(path), "/run/netns/%s", name);
	snprintf(cmd, sizeof(cmd), "ip netns add %s", name);
	assert_int_equal(system(cmd), 0);
	o.netns_path = path;
	assert_int_equal(dp_endpoint_add(env->dp, &o, &ep, &eb), 0);
	assert_string_equal(ep.netns, "");
	/* reachable from another endpoint: routes, neighbour and programs are in place */
	p.dst = ep.ipv4;
	assert_int_equal(net_run_in(ns_open(env, EP_TIE), net_probe_fn, &p), 0);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	p.dst = env->ep[EP_TIE].ipv4;
	assert_int_equal(net_run_in(fd, net_probe_fn, &p), 0);
	close(fd);
	assert_int_equal(dp_endpoint_remove(env->dp, 40, &eb), 0);
	assert_int_equal(stat(path, &st), 0);
	snprintf(cmd, sizeof(cmd), "ip netns del %s", name);
	assert_int_equal(system(cmd), 0);
}

/*
 * An endpoint created with its first policy has exactly that policy from the
 * start (no default-allow window); an empty one denies everything.
 */
static void test_dp_initial_policy(void **state)
{
	struct env *env = *state;
	struct velum_policy_key k0 = { 0 }, *rk = NULL;
	struct velum_policy_value v0 = { 0 }, *rv = NULL;
	struct dp_endpoint_opts o = { .ep_id = 41, .identity = 4141, .keys = &k0, .vals = &v0 };
	struct net_probe p = { IPPROTO_ICMP, 0, 0, TIMEOUT_OK };
	struct dp_endpoint ep;
	struct errbuf eb = { "" };
	size_t n = 99;

	/* deny all: an empty initial policy */
	o.npolicy = 0;
	assert_int_equal(dp_endpoint_add(env->dp, &o, &ep, &eb), 0);
	assert_int_equal(dp_policy_read(env->dp, 41, &rk, &rv, &n), 0);
	assert_int_equal(n, 0);
	free(rk);
	free(rv);
	p.dst = ep.ipv4;
	assert_true(net_run_in(ns_open(env, EP_TIE), net_probe_fn, &p) != 0);
	assert_int_equal(dp_endpoint_remove(env->dp, 41, &eb), 0);

	/* one entry: ingress ICMP from anyone, nothing else */
	k0.prefixlen = VELUM_POLICY_PREFIX_FULL;
	k0.egress = VELUM_DIR_INGRESS;
	k0.protocol = IPPROTO_ICMP;
	k0.dport = htons(8);
	v0.verdict = VELUM_VERDICT_ALLOW;
	v0.port_prefix = 24;
	v0.rule_id = 4242;
	o.npolicy = 1;
	assert_int_equal(dp_endpoint_add(env->dp, &o, &ep, &eb), 0);
	assert_int_equal(dp_policy_read(env->dp, 41, &rk, &rv, &n), 0);
	assert_int_equal(n, 1);
	assert_memory_equal(&rk[0], &k0, sizeof(k0));
	assert_int_equal(rv[0].rule_id, 4242);
	free(rk);
	free(rv);
	p.dst = ep.ipv4;
	assert_int_equal(net_run_in(ns_open(env, EP_TIE), net_probe_fn, &p), 0);
	assert_int_equal(dp_endpoint_remove(env->dp, 41, &eb), 0);
}

/* Expired conntrack entries are collected; live ones stay. */
static void test_dp_ct_gc(void **state)
{
	struct env *env = *state;
	char path[256];
	struct velum_ct_key k;
	struct velum_ct_entry e;
	int fd, live, n;

	/*
	 * Closed connections of the earlier tests expire after
	 * VELUM_CT_LIFETIME_CLOSE seconds, which a loaded machine can reach
	 * before this test: collect them first, so the count below is ours.
	 */
	assert_true(dp_ct_gc(env->dp) >= 0);
	expect_pass(env, EP_XWING, EP_TIE, IPPROTO_ICMP, 0);
	live = dp_ct_count(env->dp);
	assert_true(live > 0);
	snprintf(path, sizeof(path), "%s/velum_ct", env->pin_dir);
	fd = bpf_obj_get(path);
	assert_true(fd >= 0);
	assert_int_equal(bpf_map_get_next_key(fd, NULL, &k), 0);
	assert_int_equal(bpf_map_lookup_elem(fd, &k, &e), 0);
	e.expires_ns = 1;
	assert_int_equal(bpf_map_update_elem(fd, &k, &e, BPF_EXIST), 0);
	/* at least the one made to expire; every collected entry leaves the count */
	n = dp_ct_gc(env->dp);
	assert_true(n >= 1);
	assert_int_equal(dp_ct_count(env->dp), live - n);
	assert_int_equal(bpf_map_lookup_elem(fd, &k, &e), -ENOENT);
	close(fd);
}

static bool link_exists(const char *name)
{
	return if_nametoindex(name) != 0;
}

/* Removing endpoints and the datapath leaves no link, namespace, pin or map. */
static void test_dp_teardown(void **state)
{
	struct env *env = *state;
	struct errbuf eb = { "" };
	struct dp_endpoint eps[EP_N];
	char links[EP_N][16], ns[EP_N][64];
	struct stat st;
	int n, i;

	n = dp_endpoint_list(env->dp, eps, EP_N);
	assert_true(n > 0);
	for (i = 0; i < n; i++) {
		snprintf(links[i], sizeof(links[i]), "%s", eps[i].host_ifname);
		snprintf(ns[i], sizeof(ns[i]), "%s", eps[i].netns);
		assert_true(link_exists(links[i]));
	}
	for (i = 0; i < EP_N; i++)
		if (env->nsfd[i] > 0) {
			close(env->nsfd[i]);
			env->nsfd[i] = 0;
		}
	assert_int_equal(dp_destroy_all(env->dp, &eb), 0);
	for (i = 0; i < n; i++) {
		if (link_exists(links[i]) || (ns[i][0] && stat(ns[i], &st) == 0))
			print_error("left behind: %s %s\n", links[i], ns[i]);
		assert_false(link_exists(links[i]));
		assert_true(!ns[i][0] || stat(ns[i], &st) != 0);
	}
	assert_int_not_equal(stat(env->pin_dir, &st), 0);
	dp__close(env->dp);
	env->dp = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dp_starwars_l3l4),
		cmocka_unit_test(test_dp_host_routing),
		cmocka_unit_test(test_dp_deny_rule),
		cmocka_unit_test(test_dp_build_publish),
		cmocka_unit_test(test_dp_persistence),
		cmocka_unit_test(test_dp_update_storm),
		cmocka_unit_test(test_dp_update_storm_allowed),
		cmocka_unit_test(test_dp_adopt_netns),
		cmocka_unit_test(test_dp_initial_policy),
		cmocka_unit_test(test_dp_ct_gc),
		cmocka_unit_test(test_dp_teardown),
	};

	/* libbpf reports an existing clsact qdisc as a kernel error: not one */
	libbpf_set_print(NULL);
	return cmocka_run_group_tests(tests, setup, teardown);
}
