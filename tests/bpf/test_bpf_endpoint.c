// SPDX-License-Identifier: Apache-2.0
/*
 * BPF program tests: the production skeleton (build/gen/endpoint.skel.h)
 * loaded with private, unpinned maps; maps filled by hand; crafted packets
 * run through from_container / to_container with BPF_PROG_TEST_RUN. Each
 * table row states the expected tc action, drop reason, deciding rule and
 * match type, and the harness checks the counters and the events the row
 * produced. Policy entries are hand-built here (a deathstar-like endpoint)
 * until the policy engine resolves real policy files.
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
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "velum/conntrack.h"
#include "velum/drop.h"
#include "velum/endpoint.h"
#include "velum/events.h"
#include "velum/ipcache.h"
#include "velum/maps.h"
#include "velum/proxy.h"
#include "velum/policy.h"
#include "endpoint.skel.h"
#include "harness.h"

/* The endpoint under test sits on lo: BPF_PROG_TEST_RUN's default device. */
#define EP_IFINDEX 1
#define EP_ID	   10
#define EP_ID2	   20 /* a second, local endpoint (local delivery) */

#define ID_DEATHSTAR 300
#define ID_TIE	     301
#define ID_XWING     302
#define ID_FRIEND    303 /* L3-only allow */
#define ID_ANYPROTO  305 /* TCP+UDP+SCTP 5000 ("ANY") */
#define ID_FTP	     306 /* egress target */
#define ID_EP2	     307

#define IP_DEATHSTAR "10.200.0.10"
#define IP_TIE	     "10.200.0.21"
#define IP_XWING     "10.200.0.22"
#define IP_FRIEND    "10.200.0.23"
#define IP_ANYPROTO  "10.200.0.25"
#define IP_FTP	     "10.200.0.26"
#define IP_EP2	     "10.200.0.30"
#define IP_WORLD     "10.99.0.1" /* in no ipcache entry */
#define IP_HOST	     "10.200.0.1"
#define IP_OUTSIDE   "192.0.2.1"

enum { FROM, TO };

#define SYN BH_SYN
#define ACK BH_ACK
#define FIN BH_FIN
#define RST BH_RST

struct tcase {
	const char *name;
	int prog;
	struct bh_pkt p;
	int action;   /* TC_ACT_OK or TC_ACT_SHOT */
	int reason;   /* magnitude of enum velum_drop; 0 when passed */
	__u32 rule;   /* rule id in the policy verdict, if one is expected */
	int match;    /* enum velum_match in the policy verdict; -1: no verdict event */
	int fverdict; /* enum velum_flow_verdict of the verdict event */
	__u32 mark;   /* expected skb->mark after the run */
};

struct env {
	struct bpf_harness h;
};

/* The table row being run; still set in teardown only if a row failed. */
static const char *current_case;

/* Runs one packet; returns the tc action, fills *mark and the events. */
static int run(struct env *env, int prog, const struct bh_pkt *t, __u32 *mark)
{
	__u8 in[256], out[256];
	size_t n = bh_build(t, in), out_n;
	__u32 m = t->mark_in;
	int act = bh_run(&env->h, prog == FROM ? env->h.from_fd : env->h.to_fd, in, n, out, &out_n,
			 &m);

	/* no packet here goes to a local endpoint with an entry in velum_lxc: unchanged */
	assert_int_equal(out_n, n);
	assert_memory_equal(in, out, n);
	if (mark)
		*mark = m;
	return act;
}

static void put_policy(int map_fd, __u32 id, __u8 dir, __u8 proto, __u16 port, int port_bits,
		       __u8 verdict, __u8 flags, __u32 rule, __u16 proxy)
{
	struct velum_policy_key k = {
		.prefixlen = VELUM_POLICY_PREFIX_FIXED + port_bits,
		.identity = htonl(id),
		.egress = dir,
		.protocol = proto,
		.dport = htons(port),
	};
	struct velum_policy_value v = {
		.verdict = verdict,
		.flags = flags,
		.port_prefix = port_bits,
		.proxy_port = htons(proxy),
		.rule_id = rule,
	};

	assert_int_equal(bpf_map_update_elem(map_fd, &k, &v, BPF_NOEXIST), 0);
}

static int new_policy_map(void)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_NO_PREALLOC);
	int fd = bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "velum_pol_test",
				sizeof(struct velum_policy_key), sizeof(struct velum_policy_value),
				VELUM_POLICY_MAP_MAX, &o);

	assert_true(fd >= 0);
	return fd;
}

/* The deathstar's policy, as the engine would resolve it (hand-built). */
static int deathstar_policy(void)
{
	int fd = new_policy_map();
	const __u8 I = VELUM_DIR_INGRESS, E = VELUM_DIR_EGRESS;

	put_policy(fd, ID_TIE, I, IPPROTO_TCP, 80, 24, VELUM_VERDICT_ALLOW, 0, 100, 0);
	put_policy(fd, 0, I, IPPROTO_UDP, 53, 24, VELUM_VERDICT_ALLOW, 0, 101, 0);
	/* 8000-8007: one aligned block of 8 ports */
	put_policy(fd, 0, I, IPPROTO_TCP, 8000, 21, VELUM_VERDICT_ALLOW, 0, 102, 0);
	put_policy(fd, ID_XWING, I, 0, 0, 0, VELUM_VERDICT_DENY, 0, 103, 0);
	put_policy(fd, ID_FRIEND, I, 0, 0, 0, VELUM_VERDICT_ALLOW, 0, 104, 0);
	put_policy(fd, 0, I, IPPROTO_ICMP, 8, 24, VELUM_VERDICT_ALLOW, 0, 105, 0);
	put_policy(fd, ID_TIE, I, IPPROTO_TCP, 9090, 24, VELUM_VERDICT_REDIRECT, 0, 106, 15001);
	put_policy(fd, 0, I, IPPROTO_TCP, 22, 24, VELUM_VERDICT_AUDIT, 0, 107, 0);
	put_policy(fd, ID_ANYPROTO, I, IPPROTO_TCP, 5000, 24, VELUM_VERDICT_ALLOW, 0, 108, 0);
	put_policy(fd, ID_ANYPROTO, I, IPPROTO_UDP, 5000, 24, VELUM_VERDICT_ALLOW, 0, 108, 0);
	put_policy(fd, ID_ANYPROTO, I, IPPROTO_SCTP, 5000, 24, VELUM_VERDICT_ALLOW, 0, 108, 0);
	put_policy(fd, ID_EP2, I, IPPROTO_TCP, 0, 8, VELUM_VERDICT_ALLOW, 0, 109, 0);
	/* egress: only the FTP server, and the host's DNS */
	put_policy(fd, ID_FTP, E, IPPROTO_TCP, 21, 24, VELUM_VERDICT_ALLOW, 0, 110, 0);
	put_policy(fd, VELUM_ID_HOST, E, IPPROTO_UDP, 53, 24, VELUM_VERDICT_ALLOW, 0, 111, 0);
	put_policy(fd, ID_EP2, E, 0, 0, 0, VELUM_VERDICT_ALLOW, 0, 112, 0);
	/* egress L7 redirects (only TCP can be) */
	put_policy(fd, 0, E, IPPROTO_TCP, 8443, 24, VELUM_VERDICT_REDIRECT, 0, 113, 15002);
	put_policy(fd, 0, E, IPPROTO_UDP, 8443, 24, VELUM_VERDICT_REDIRECT, 0, 114, 15002);
	return fd;
}

static void set_policy(struct env *env, __u32 ep, int inner_fd)
{
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(env->h.skel->maps.velum_policy), &ep,
					     &inner_fd, BPF_ANY),
			 0);
}

static void put_ipcache(struct env *env, const char *ip, int plen, __u32 id, __u32 ep)
{
	struct velum_ipcache_key k = { .prefixlen = plen, .addr = bh_ip4(ip) };
	struct velum_ipcache_value v = { .identity = id,
					 .ep_id = ep,
					 .flags = ep ? VELUM_IPCACHE_F_LOCAL_EP : 0 };

	assert_int_equal(
		bpf_map_update_elem(bpf_map__fd(env->h.skel->maps.velum_ipcache), &k, &v, BPF_ANY),
		0);
}

static int setup(void **state)
{
	struct env *env;
	struct velum_endpoint_info ep = { .ep_id = EP_ID,
					  .identity = ID_DEATHSTAR,
					  .ifindex = EP_IFINDEX };
	struct velum_config cfg = { 0 };
	__u32 key = EP_IFINDEX, zero = 0;
	int fd, ep2;

	env = calloc(1, sizeof(*env));
	assert_non_null(env);
	*state = env; /* teardown frees it even if the harness skips or fails */
	bh_load(&env->h);

	ep.ipv4 = bh_ip4(IP_DEATHSTAR);
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(env->h.skel->maps.velum_endpoints), &key,
					     &ep, BPF_ANY),
			 0);
	cfg.pool_addr = bh_ip4("10.200.0.0");
	cfg.pool_mask = bh_ip4("255.255.0.0");
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(env->h.skel->maps.velum_config), &zero,
					     &cfg, BPF_ANY),
			 0);
	put_ipcache(env, IP_DEATHSTAR, 32, ID_DEATHSTAR, EP_ID);
	put_ipcache(env, IP_TIE, 32, ID_TIE, 0);
	put_ipcache(env, IP_XWING, 32, ID_XWING, 0);
	put_ipcache(env, IP_FRIEND, 32, ID_FRIEND, 0);
	put_ipcache(env, IP_ANYPROTO, 32, ID_ANYPROTO, 0);
	put_ipcache(env, IP_FTP, 32, ID_FTP, 0);
	put_ipcache(env, IP_HOST, 32, VELUM_ID_HOST, 0);
	put_ipcache(env, IP_EP2, 32, ID_EP2, EP_ID2);

	fd = deathstar_policy();
	set_policy(env, EP_ID, fd);
	close(fd);
	/* the second endpoint accepts TCP from the deathstar on port 80 only */
	ep2 = new_policy_map();
	put_policy(ep2, ID_DEATHSTAR, VELUM_DIR_INGRESS, IPPROTO_TCP, 80, 24, VELUM_VERDICT_ALLOW,
		   0, 200, 0);
	put_policy(ep2, 0, VELUM_DIR_EGRESS, 0, 0, 0, VELUM_VERDICT_ALLOW, 0,
		   VELUM_RULE_DEFAULT_ALLOW, 0);
	set_policy(env, EP_ID2, ep2);
	close(ep2);
	*state = env;
	return 0;
}

static int teardown(void **state)
{
	struct env *env = *state;

	if (current_case)
		print_message("failed table row: %s\n", current_case);
	if (!env)
		return 0;
	bh_unload(&env->h);
	free(env);
	return 0;
}

#define T(...)                       \
	{                            \
		.p = { __VA_ARGS__ } \
	}
#define TCP_(s, d, sp, dp, f) \
	.src = s, .dst = d, .proto = IPPROTO_TCP, .sport = sp, .dport = dp, .tcp_flags = f
#define UDP_(s, d, sp, dp)    .src = s, .dst = d, .proto = IPPROTO_UDP, .sport = sp, .dport = dp
#define ICMP_(s, d, type, id) .src = s, .dst = d, .proto = IPPROTO_ICMP, .sport = id, .dport = type
#define OK_(r, m, fv)	      .action = TC_ACT_OK, .rule = r, .match = m, .fverdict = fv
#define PASS_		      .action = TC_ACT_OK, .match = -1
#define DROP_(why, r, m) \
	.action = TC_ACT_SHOT, .reason = why, .rule = r, .match = m, .fverdict = VELUM_FLOW_DROPPED
#define FWD VELUM_FLOW_FORWARDED

/* Ordered: later rows rely on the conntrack entries earlier rows made. */
static const struct tcase cases[] = {
	/* allowed by an L3-L4 rule; its reply passes without policy */
	{ "tie -> :80 allowed",
	  TO,
	  { TCP_(IP_TIE, IP_DEATHSTAR, 40000, 80, SYN) },
	  OK_(100, VELUM_MATCH_L3_L4, FWD) },
	{ "tie -> :80 second packet: established, no event",
	  TO,
	  { TCP_(IP_TIE, IP_DEATHSTAR, 40000, 80, ACK) },
	  PASS_ },
	{ "reply to tie passes egress default deny",
	  FROM,
	  { TCP_(IP_DEATHSTAR, IP_TIE, 80, 40000, SYN | ACK) },
	  PASS_ },
	{ "new flow to tie: egress default deny",
	  FROM,
	  { TCP_(IP_DEATHSTAR, IP_TIE, 40001, 80, SYN) },
	  DROP_(133, VELUM_RULE_NONE, VELUM_MATCH_NONE) },
	/* deny rules */
	{ "xwing -> :80 denied by L3 deny",
	  TO,
	  { TCP_(IP_XWING, IP_DEATHSTAR, 40000, 80, SYN) },
	  DROP_(181, 103, VELUM_MATCH_L3_ONLY) },
	{ "xwing -> udp 53: deny beats L4-only allow",
	  TO,
	  { UDP_(IP_XWING, IP_DEATHSTAR, 5353, 53) },
	  DROP_(181, 103, VELUM_MATCH_L3_ONLY) },
	/* unknown source is world */
	{ "world -> :80 default deny",
	  TO,
	  { TCP_(IP_WORLD, IP_DEATHSTAR, 40000, 80, SYN) },
	  DROP_(133, VELUM_RULE_NONE, VELUM_MATCH_NONE) },
	{ "world -> udp 53 L4-only",
	  TO,
	  { UDP_(IP_WORLD, IP_DEATHSTAR, 5353, 53) },
	  OK_(101, VELUM_MATCH_L4_ONLY, FWD) },
	{ "world -> udp 54 default deny",
	  TO,
	  { UDP_(IP_WORLD, IP_DEATHSTAR, 5353, 54) },
	  DROP_(133, VELUM_RULE_NONE, VELUM_MATCH_NONE) },
	/* port range 8000-8007 edges */
	{ "range: 7999 denied",
	  TO,
	  { TCP_(IP_WORLD, IP_DEATHSTAR, 41000, 7999, SYN) },
	  DROP_(133, VELUM_RULE_NONE, VELUM_MATCH_NONE) },
	{ "range: 8000 allowed",
	  TO,
	  { TCP_(IP_WORLD, IP_DEATHSTAR, 41000, 8000, SYN) },
	  OK_(102, VELUM_MATCH_L4_ONLY, FWD) },
	{ "range: 8007 allowed",
	  TO,
	  { TCP_(IP_WORLD, IP_DEATHSTAR, 41000, 8007, SYN) },
	  OK_(102, VELUM_MATCH_L4_ONLY, FWD) },
	{ "range: 8008 denied",
	  TO,
	  { TCP_(IP_WORLD, IP_DEATHSTAR, 41000, 8008, SYN) },
	  DROP_(133, VELUM_RULE_NONE, VELUM_MATCH_NONE) },
	{ "range: udp 8000 denied",
	  TO,
	  { UDP_(IP_WORLD, IP_DEATHSTAR, 41000, 8000) },
	  DROP_(133, VELUM_RULE_NONE, VELUM_MATCH_NONE) },
	/* L3-only allow covers every protocol, ICMP included */
	{ "friend -> udp 1234 L3-only",
	  TO,
	  { UDP_(IP_FRIEND, IP_DEATHSTAR, 999, 1234) },
	  OK_(104, VELUM_MATCH_L3_ONLY, FWD) },
	/* same class: the longer port prefix (the any-peer type 8 entry) wins */
	{ "friend -> ping: icmp rule beats L3-only",
	  TO,
	  { ICMP_(IP_FRIEND, IP_DEATHSTAR, 8, 77) },
	  OK_(105, VELUM_MATCH_L4_ONLY, FWD) },
	{ "friend -> icmp timestamp L3-only",
	  TO,
	  { ICMP_(IP_FRIEND, IP_DEATHSTAR, 13, 77) },
	  OK_(104, VELUM_MATCH_L3_ONLY, FWD) },
	{ "ping reply to friend passes", FROM, { ICMP_(IP_DEATHSTAR, IP_FRIEND, 0, 77) }, PASS_ },
	{ "unsolicited echo reply to friend: egress deny",
	  FROM,
	  { ICMP_(IP_DEATHSTAR, IP_FRIEND, 0, 78) },
	  DROP_(133, VELUM_RULE_NONE, VELUM_MATCH_NONE) },
	/* queries pair with their own reply type and id only */
	{ "timestamp reply to friend passes",
	  FROM,
	  { ICMP_(IP_DEATHSTAR, IP_FRIEND, 14, 77) },
	  PASS_ },
	{ "timestamp request to friend is new, not a reply: egress deny",
	  FROM,
	  { ICMP_(IP_DEATHSTAR, IP_FRIEND, 13, 77) },
	  DROP_(133, VELUM_RULE_NONE, VELUM_MATCH_NONE) },
	{ "timestamp reply with another id: egress deny",
	  FROM,
	  { ICMP_(IP_DEATHSTAR, IP_FRIEND, 14, 79) },
	  DROP_(133, VELUM_RULE_NONE, VELUM_MATCH_NONE) },
	{ "address-mask reply for the timestamp's id: egress deny",
	  FROM,
	  { ICMP_(IP_DEATHSTAR, IP_FRIEND, 18, 77) },
	  DROP_(133, VELUM_RULE_NONE, VELUM_MATCH_NONE) },
	/* ICMP type rules */
	{ "world -> ping allowed by icmp type 8",
	  TO,
	  { ICMP_(IP_WORLD, IP_DEATHSTAR, 8, 5) },
	  OK_(105, VELUM_MATCH_L4_ONLY, FWD) },
	{ "world -> icmp timestamp denied",
	  TO,
	  { ICMP_(IP_WORLD, IP_DEATHSTAR, 13, 5) },
	  DROP_(133, VELUM_RULE_NONE, VELUM_MATCH_NONE) },
	/* "ANY" protocol = TCP, UDP and SCTP entries */
	{ "any: tcp 5000",
	  TO,
	  { TCP_(IP_ANYPROTO, IP_DEATHSTAR, 1000, 5000, SYN) },
	  OK_(108, VELUM_MATCH_L3_L4, FWD) },
	{ "any: udp 5000",
	  TO,
	  { UDP_(IP_ANYPROTO, IP_DEATHSTAR, 1000, 5000) },
	  OK_(108, VELUM_MATCH_L3_L4, FWD) },
	{ "any: sctp 5000",
	  TO,
	  { .src = IP_ANYPROTO,
	    .dst = IP_DEATHSTAR,
	    .proto = IPPROTO_SCTP,
	    .sport = 1000,
	    .dport = 5000 },
	  OK_(108, VELUM_MATCH_L3_L4, FWD) },
	{ "any: gre denied",
	  TO,
	  { .src = IP_ANYPROTO, .dst = IP_DEATHSTAR, .proto = 47 },
	  DROP_(133, VELUM_RULE_NONE, VELUM_MATCH_NONE) },
	/* redirect and audit */
	/* redirects: test_bpf_endpoint_redirect */
	{ "world -> :22 audited deny passes",
	  TO,
	  { TCP_(IP_WORLD, IP_DEATHSTAR, 40000, 22, SYN) },
	  OK_(107, VELUM_MATCH_L4_ONLY, VELUM_FLOW_AUDIT) },
	/* egress */
	{ "egress to ftp :21 allowed",
	  FROM,
	  { TCP_(IP_DEATHSTAR, IP_FTP, 50000, 21, SYN) },
	  OK_(110, VELUM_MATCH_L3_L4, FWD) },
	{ "egress to ftp :20 denied",
	  FROM,
	  { TCP_(IP_DEATHSTAR, IP_FTP, 50000, 20, SYN) },
	  DROP_(133, VELUM_RULE_NONE, VELUM_MATCH_NONE) },
	{ "ftp reply passes ingress",
	  TO,
	  { TCP_(IP_FTP, IP_DEATHSTAR, 21, 50000, SYN | ACK) },
	  PASS_ },
	{ "egress to host dns",
	  FROM,
	  { UDP_(IP_DEATHSTAR, IP_HOST, 3000, 53) },
	  OK_(111, VELUM_MATCH_L3_L4, FWD) },
	{ "egress out of the pool: unroutable",
	  FROM,
	  { TCP_(IP_DEATHSTAR, IP_OUTSIDE, 50000, 80, SYN) },
	  DROP_(151, 0, -1) },
	{ "spoofed source", FROM, { TCP_(IP_TIE, IP_FTP, 50000, 21, SYN) }, DROP_(132, 0, -1) },
	/* related ICMP errors */
	{ "icmp error about tie's flow passes",
	  FROM,
	  { .src = IP_DEATHSTAR,
	    .dst = IP_TIE,
	    .dport = 3,
	    .in_src = IP_TIE,
	    .in_dst = IP_DEATHSTAR,
	    .in_proto = IPPROTO_TCP,
	    .in_sport = 40000,
	    .in_dport = 80 },
	  PASS_ },
	{ "icmp error about ftp flow passes ingress",
	  TO,
	  { .src = IP_FTP,
	    .dst = IP_DEATHSTAR,
	    .dport = 3,
	    .in_src = IP_DEATHSTAR,
	    .in_dst = IP_FTP,
	    .in_proto = IPPROTO_TCP,
	    .in_sport = 50000,
	    .in_dport = 21 },
	  PASS_ },
	{ "unrelated icmp error: policy",
	  FROM,
	  { .src = IP_DEATHSTAR,
	    .dst = IP_TIE,
	    .dport = 3,
	    .in_src = IP_TIE,
	    .in_dst = IP_DEATHSTAR,
	    .in_proto = IPPROTO_UDP,
	    .in_sport = 1,
	    .in_dport = 2 },
	  DROP_(133, VELUM_RULE_NONE, VELUM_MATCH_NONE) },
	/* malformed */
	{ "ip ihl 4",
	  TO,
	  { TCP_(IP_TIE, IP_DEATHSTAR, 40000, 80, SYN), .mangle = BH_M_IHL4 },
	  DROP_(134, 0, -1) },
	{ "ip tot_len beyond frame",
	  TO,
	  { TCP_(IP_TIE, IP_DEATHSTAR, 40000, 80, SYN), .mangle = BH_M_TOTLEN_BIG },
	  DROP_(134, 0, -1) },
	{ "ip header longer than the datagram",
	  TO,
	  { TCP_(IP_TIE, IP_DEATHSTAR, 40000, 80, SYN), .mangle = BH_M_TRUNC_IP },
	  DROP_(134, 0, -1) },
	{ "tcp header truncated",
	  TO,
	  { TCP_(IP_TIE, IP_DEATHSTAR, 40000, 80, SYN), .mangle = BH_M_TRUNC_L4 },
	  DROP_(135, 0, -1) },
	{ "tcp doff 4",
	  TO,
	  { TCP_(IP_TIE, IP_DEATHSTAR, 40000, 80, SYN), .mangle = BH_M_TCP_DOFF },
	  DROP_(135, 0, -1) },
	{ "ipv6 unsupported", FROM, { .mangle = BH_M_IPV6 }, DROP_(139, 0, -1) },
	{ "arp passes", FROM, { .mangle = BH_M_ARP }, PASS_ },
	{ "arp passes towards", TO, { .mangle = BH_M_ARP }, PASS_ },
	/* fragments */
	{ "first fragment allowed",
	  TO,
	  { TCP_(IP_TIE, IP_DEATHSTAR, 42000, 80, SYN), .frag = 0x2000, .ip_id = 77 },
	  OK_(100, VELUM_MATCH_L3_L4, FWD) },
	{ "later fragment follows its first",
	  TO,
	  { TCP_(IP_TIE, IP_DEATHSTAR, 0, 0, 0), .frag = 0x0005, .ip_id = 77 },
	  PASS_ },
	{ "later fragment without a first",
	  TO,
	  { TCP_(IP_TIE, IP_DEATHSTAR, 0, 0, 0), .frag = 0x0005, .ip_id = 78 },
	  DROP_(175, 0, -1) },
	{ "first fragment of a denied flow",
	  TO,
	  { TCP_(IP_XWING, IP_DEATHSTAR, 42000, 80, SYN), .frag = 0x2000, .ip_id = 79 },
	  DROP_(181, 103, VELUM_MATCH_L3_ONLY) },
	{ "its later fragment denied too",
	  TO,
	  { TCP_(IP_XWING, IP_DEATHSTAR, 0, 0, 0), .frag = 0x0005, .ip_id = 79 },
	  DROP_(181, 103, VELUM_MATCH_L3_ONLY) },
	/* local delivery: the destination's ingress is decided at the source */
	{ "local: ep2 accepts :80",
	  FROM,
	  { TCP_(IP_DEATHSTAR, IP_EP2, 43000, 80, SYN) },
	  OK_(200, VELUM_MATCH_L3_L4, FWD) },
	{ "local: ep2 refuses :81 at the source",
	  FROM,
	  { TCP_(IP_DEATHSTAR, IP_EP2, 43000, 81, SYN) },
	  DROP_(133, VELUM_RULE_NONE, VELUM_MATCH_NONE) },
};

/* Forgets every rate-limit slot, so that each table row reports afresh. */
static void ratelim_clear(struct env *env)
{
	int fd = bpf_map__fd(env->h.skel->maps.velum_ratelim);
	struct velum_ct_key k;

	while (bpf_map_get_next_key(fd, NULL, &k) == 0)
		assert_int_equal(bpf_map_delete_elem(fd, &k), 0);
}

static void test_bpf_endpoint_table(void **state)
{
	struct env *env = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct tcase *c = &cases[i];
		int dir = c->prog == FROM ? VELUM_DIR_EGRESS : VELUM_DIR_INGRESS;
		const struct velum_event *pv, *drop;
		__u64 before, after;
		__u32 mark = 0;
		int act;

		/* the failing row's name: printed before its assertions (V=1 prints all) */
		if (getenv("V"))
			print_message("case %zu: %s\n", i, c->name);
		current_case = c->name;
		/* local-delivery drops are counted under the destination's ingress */
		if (c->p.dst && !strcmp(c->p.dst, IP_EP2) && c->reason)
			dir = VELUM_DIR_INGRESS;
		ratelim_clear(env);
		before = bh_metric(&env->h, dir, c->reason);
		act = run(env, c->prog, &c->p, &mark);
		after = bh_metric(&env->h, dir, c->reason);
		assert_int_equal(act, c->action);
		assert_int_equal(after - before, 1);
		assert_int_equal(mark, c->mark);
		pv = bh_event_last(&env->h, VELUM_EVENT_POLICY_VERDICT);
		drop = bh_event_last(&env->h, VELUM_EVENT_DROP);
		if (c->action == TC_ACT_SHOT) {
			assert_non_null(drop);
			assert_int_equal(drop->reason, c->reason);
			assert_int_equal(drop->verdict, VELUM_FLOW_DROPPED);
		} else {
			assert_null(drop);
		}
		if (c->match < 0) {
			assert_null(pv);
			continue;
		}
		assert_non_null(pv);
		assert_int_equal(pv->rule_id, c->rule);
		assert_int_equal(pv->match, c->match);
		assert_int_equal(pv->verdict, c->fverdict);
		assert_int_equal(pv->reason, c->reason);
		if (drop)
			assert_int_equal(drop->rule_id, c->rule);
		/* the destination's ingress, decided at the source, names the destination */
		if (c->p.dst && !strcmp(c->p.dst, IP_EP2)) {
			assert_int_equal(pv->ep_id, EP_ID2);
			assert_int_equal(pv->dir, VELUM_DIR_INGRESS);
			assert_int_equal(pv->peer_identity, ID_DEATHSTAR);
		}
	}
	current_case = NULL;
}

/*
 * L7 redirects fail closed where no proxy socket takes the packet
 * (BPF_PROG_TEST_RUN has no proxy; dp_redirect proves the real thing):
 * to_container cannot assign a socket at tc egress and drops; the proxy's
 * own packets (its mark) pass once and are tracked as the proxy's; the
 * server's replies to them are never host-routed; only TCP is redirected.
 */
static void test_bpf_endpoint_redirect(void **state)
{
	static const struct {
		const char *name;
		int prog;
		struct bh_pkt p;
		int action, reason;
		int pv_verdict; /* policy verdict event's verdict, 0: none */
		__u32 rule;
		__u8 reply; /* the drop event's flags */
	} rows[] = {
		{ "tie -> :9090 redirected at to_container: no socket here",
		  TO,
		  { TCP_(IP_TIE, IP_DEATHSTAR, 40002, 9090, SYN) },
		  TC_ACT_SHOT,
		  178,
		  VELUM_FLOW_REDIRECTED,
		  106 },
		{ "its next packet: still the proxy's, still dropped",
		  TO,
		  { TCP_(IP_TIE, IP_DEATHSTAR, 40002, 9090, ACK) },
		  TC_ACT_SHOT,
		  178,
		  0,
		  0 },
		{ "the proxy's upstream SYN (ingress mark): passes, not redirected",
		  TO,
		  { TCP_(IP_TIE, IP_DEATHSTAR, 40003, 9090, SYN),
		    .mark_in = VELUM_MARK_MAGIC_PROXY_INGRESS },
		  TC_ACT_OK,
		  0,
		  VELUM_FLOW_FORWARDED,
		  106 },
		{ "the proxy's next packet (egress mark): tracked, passes",
		  TO,
		  { TCP_(IP_TIE, IP_DEATHSTAR, 40003, 9090, ACK),
		    .mark_in = VELUM_MARK_MAGIC_PROXY_EGRESS },
		  TC_ACT_OK,
		  0,
		  0,
		  0 },
		{ "the client's packet of a flow the proxy's upstream opened: still the proxy's",
		  TO,
		  { TCP_(IP_TIE, IP_DEATHSTAR, 40003, 9090, ACK) },
		  TC_ACT_SHOT,
		  178,
		  0,
		  0 },
		{ "the server's reply to the proxy: for its socket, none here",
		  FROM,
		  { TCP_(IP_DEATHSTAR, IP_TIE, 9090, 40003, SYN | ACK) },
		  TC_ACT_SHOT,
		  178,
		  0,
		  0,
		  VELUM_EVENT_F_REPLY },
		{ "egress redirect, no listener",
		  FROM,
		  { TCP_(IP_DEATHSTAR, IP_FTP, 50010, 8443, SYN) },
		  TC_ACT_SHOT,
		  178,
		  VELUM_FLOW_REDIRECTED,
		  113 },
		{ "egress redirect of UDP: not supported",
		  FROM,
		  { UDP_(IP_DEATHSTAR, IP_FTP, 50010, 8443) },
		  TC_ACT_SHOT,
		  180,
		  VELUM_FLOW_REDIRECTED,
		  114 },
	};
	struct env *env = *state;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct velum_event *pv, *drop;
		__u32 mark = 0;
		int act;

		current_case = rows[i].name;
		ratelim_clear(env);
		act = run(env, rows[i].prog, &rows[i].p, &mark);
		assert_int_equal(act, rows[i].action);
		/* a packet that did not reach the proxy never carries the to-proxy mark */
		assert_int_equal(mark, rows[i].p.mark_in);
		pv = bh_event_last(&env->h, VELUM_EVENT_POLICY_VERDICT);
		drop = bh_event_last(&env->h, VELUM_EVENT_DROP);
		if (rows[i].reason) {
			assert_non_null(drop);
			assert_int_equal(drop->reason, rows[i].reason);
			assert_int_equal(drop->verdict, VELUM_FLOW_DROPPED);
			assert_int_equal(drop->flags, rows[i].reply);
			/* a reply's direction is its connection's: the server's ingress */
			if (rows[i].reply)
				assert_int_equal(drop->dir, VELUM_DIR_INGRESS);
			if (rows[i].rule)
				assert_int_equal(drop->rule_id, rows[i].rule);
		} else {
			assert_null(drop);
		}
		if (!rows[i].pv_verdict) {
			assert_null(pv);
			continue;
		}
		assert_non_null(pv);
		assert_int_equal(pv->verdict, rows[i].pv_verdict);
		assert_int_equal(pv->rule_id, rows[i].rule);
		assert_int_equal(pv->reason, 0); /* the policy allowed it */
	}
	current_case = NULL;
	assert_string_equal(velum_drop_name(178), "Socket lookup failed");
	assert_string_equal(velum_drop_name(179), "Socket assign failed");
	assert_string_equal(velum_drop_name(180), "Proxy redirection not supported for protocol");
}

/* Adds one entry to endpoint ep's current policy map (found through velum_policy). */
static void put_policy_into(struct env *env, __u32 ep, __u32 id, __u8 dir, __u8 proto, __u16 port,
			    int port_bits, __u8 verdict, __u8 flags, __u32 rule, __u16 proxy)
{
	__u32 inner_id;
	int fd;

	assert_int_equal(
		bpf_map_lookup_elem(bpf_map__fd(env->h.skel->maps.velum_policy), &ep, &inner_id),
		0);
	fd = bpf_map_get_fd_by_id(inner_id);
	assert_true(fd >= 0);
	put_policy(fd, id, dir, proto, port, port_bits, verdict, flags, rule, proxy);
	close(fd);
}

/*
 * Sources that are not endpoints: with the lo path ready
 * (VELUM_CONFIG_F_PROXY_LO), to_container sends an ingress-redirected flow
 * back into the host through lo (destination MAC lo's zeros, the to-proxy
 * mark with the port); proxy_lo assigns marked packets (none to find
 * here: dropped) and leaves everything else to the next program.
 */
static void test_bpf_endpoint_redirect_lo(void **state)
{
	struct env *env = *state;
	int cfg_fd = bpf_map__fd(env->h.skel->maps.velum_config);
	const __u8 zero_mac[6] = { 0 };
	struct bh_pkt p = { TCP_(IP_HOST, IP_DEATHSTAR, 40100, 9090, SYN) };
	struct velum_config cfg;
	__u8 in[256], out[256];
	__u32 zero = 0, mark = 0;
	size_t n = bh_build(&p, in);

	/* the host is identity host: give it the redirect the tie fighter has */
	put_policy_into(env, EP_ID, VELUM_ID_HOST, VELUM_DIR_INGRESS, IPPROTO_TCP, 9090, 24,
			VELUM_VERDICT_REDIRECT, 0, 120, 15001);
	assert_int_equal(bpf_map_lookup_elem(cfg_fd, &zero, &cfg), 0);
	cfg.flags |= VELUM_CONFIG_F_PROXY_LO;
	assert_int_equal(bpf_map_update_elem(cfg_fd, &zero, &cfg, BPF_EXIST), 0);
	ratelim_clear(env);
	assert_int_equal(bh_run(&env->h, env->h.to_fd, in, n, out, NULL, &mark), TC_ACT_REDIRECT);
	assert_memory_equal(out, zero_mac, 6);
	assert_memory_equal(out + 6, in + 6, n - 6);
	assert_int_equal(mark, VELUM_MARK_MAGIC_TO_PROXY | 15001u << 16);
	assert_int_equal(bh_event_last(&env->h, VELUM_EVENT_POLICY_VERDICT)->verdict,
			 VELUM_FLOW_REDIRECTED);
	assert_null(bh_event_last(&env->h, VELUM_EVENT_DROP));
	/* the redirected first packet's trace: to the proxy, by the endpoint's ingress */
	assert_non_null(bh_event_last(&env->h, VELUM_EVENT_TRACE));
	assert_int_equal(bh_event_last(&env->h, VELUM_EVENT_TRACE)->point, VELUM_TRACE_TO_PROXY);
	assert_int_equal(bh_event_last(&env->h, VELUM_EVENT_TRACE)->ep_id, EP_ID);
	assert_int_equal(bh_event_last(&env->h, VELUM_EVENT_TRACE)->proxy_port, htons(15001));

	/* proxy_lo: the marked packet finds no proxy socket in this namespace */
	assert_int_equal(bh_run(&env->h, env->h.lo_fd, out, n, in, NULL, &mark), TC_ACT_SHOT);
	assert_int_equal(bh_event_last(&env->h, VELUM_EVENT_DROP)->reason,
			 -VELUM_DROP_PROXY_LOOKUP);
	/* unmarked loopback traffic is not ours */
	mark = 0;
	assert_int_equal(bh_run(&env->h, env->h.lo_fd, out, n, in, NULL, &mark), TC_ACT_UNSPEC);
	assert_null(bh_event_last(&env->h, VELUM_EVENT_DROP));

	/* without the lo path: fail closed */
	cfg.flags &= ~VELUM_CONFIG_F_PROXY_LO;
	assert_int_equal(bpf_map_update_elem(cfg_fd, &zero, &cfg, BPF_EXIST), 0);
	p.sport = 40101;
	n = bh_build(&p, in);
	mark = 0;
	ratelim_clear(env);
	assert_int_equal(bh_run(&env->h, env->h.to_fd, in, n, out, NULL, &mark), TC_ACT_SHOT);
	assert_int_equal(mark, 0);
	assert_int_equal(bh_event_last(&env->h, VELUM_EVENT_DROP)->reason,
			 -VELUM_DROP_PROXY_LOOKUP);
}

/* Runs one crafted packet; asserts the action and the policy verdict event (rule, verdict). */
static void localhost_case(struct env *env, int prog, const struct bh_pkt *p, int action,
			   __u32 rule, int fverdict)
{
	const struct velum_event *pv;

	ratelim_clear(env);
	assert_int_equal(run(env, prog, p, NULL), action);
	pv = bh_event_last(&env->h, VELUM_EVENT_POLICY_VERDICT);
	if (fverdict < 0) {
		assert_null(pv);
		return;
	}
	assert_non_null(pv);
	assert_int_equal(pv->rule_id, rule);
	assert_int_equal(pv->verdict, fverdict);
}

/*
 * velumd --allow-localhost: policy (no flag) makes the host's flows meet the
 * endpoint's ingress policy like any peer's; always
 * (VELUM_CONFIG_F_ALLOW_LOCALHOST) lets the host's new flows in where only
 * the default deny would drop them, their replies pass by conntrack, a deny
 * rule on the host still drops, and other peers are not affected.
 */
static void test_bpf_endpoint_allow_localhost(void **state)
{
	struct env *env = *state;
	int cfg_fd = bpf_map__fd(env->h.skel->maps.velum_config);
	struct bh_pkt to7777 = { TCP_(IP_HOST, IP_DEATHSTAR, 44000, 7777, SYN) };
	struct bh_pkt reply = { TCP_(IP_DEATHSTAR, IP_HOST, 7777, 44001, SYN | ACK) };
	struct bh_pkt denied = { TCP_(IP_HOST, IP_DEATHSTAR, 44002, 7778, SYN) };
	struct bh_pkt world = { TCP_(IP_WORLD, IP_DEATHSTAR, 44003, 7777, SYN) };
	struct bh_pkt ping = { ICMP_(IP_HOST, IP_DEATHSTAR, 13, 77) };
	struct velum_config cfg;
	__u32 zero = 0;

	put_policy_into(env, EP_ID, VELUM_ID_HOST, VELUM_DIR_INGRESS, IPPROTO_TCP, 7778, 24,
			VELUM_VERDICT_DENY, 0, 121, 0);
	assert_int_equal(bpf_map_lookup_elem(cfg_fd, &zero, &cfg), 0);
	assert_false(cfg.flags & VELUM_CONFIG_F_ALLOW_LOCALHOST);

	/* policy: the host is a peer like any other */
	localhost_case(env, TO, &to7777, TC_ACT_SHOT, VELUM_RULE_NONE, VELUM_FLOW_DROPPED);
	localhost_case(env, TO, &ping, TC_ACT_SHOT, VELUM_RULE_NONE, VELUM_FLOW_DROPPED);

	/* always */
	cfg.flags |= VELUM_CONFIG_F_ALLOW_LOCALHOST;
	assert_int_equal(bpf_map_update_elem(cfg_fd, &zero, &cfg, BPF_EXIST), 0);
	to7777.sport = 44001;
	localhost_case(env, TO, &to7777, TC_ACT_OK, VELUM_RULE_ALLOW_LOCALHOST,
		       VELUM_FLOW_FORWARDED);
	assert_int_equal(bh_event_last(&env->h, VELUM_EVENT_POLICY_VERDICT)->match,
			 VELUM_MATCH_ALL);
	/* its reply passes the endpoint's egress default deny by conntrack: no verdict */
	localhost_case(env, FROM, &reply, TC_ACT_OK, 0, -1);
	localhost_case(env, TO, &ping, TC_ACT_OK, VELUM_RULE_ALLOW_LOCALHOST, VELUM_FLOW_FORWARDED);
	/* a deny rule on the host wins; a rule's allow keeps its rule */
	localhost_case(env, TO, &denied, TC_ACT_SHOT, 121, VELUM_FLOW_DROPPED);
	/* other peers: unchanged */
	localhost_case(env, TO, &world, TC_ACT_SHOT, VELUM_RULE_NONE, VELUM_FLOW_DROPPED);
	/* the endpoint's own egress towards the host is its egress policy's */
	reply.sport = 44010;
	reply.dport = 7000;
	reply.tcp_flags = SYN;
	localhost_case(env, FROM, &reply, TC_ACT_SHOT, VELUM_RULE_NONE, VELUM_FLOW_DROPPED);

	cfg.flags &= ~VELUM_CONFIG_F_ALLOW_LOCALHOST;
	assert_int_equal(bpf_map_update_elem(cfg_fd, &zero, &cfg, BPF_EXIST), 0);
	to7777.sport = 44004;
	localhost_case(env, TO, &to7777, TC_ACT_SHOT, VELUM_RULE_NONE, VELUM_FLOW_DROPPED);
}

/*
 * Verifier budget: the instructions the verifier processed to accept each
 * program (bpf_prog_info.verified_insns), against a fixed budget well under
 * the kernel's 1,000,000 limit. A change that makes a program much harder
 * to verify shows here before it reaches the limit on some kernel.
 */
#define VERIFIED_INSNS_BUDGET_FROM 60000
#define VERIFIED_INSNS_BUDGET_TO   30000
#define VERIFIED_INSNS_BUDGET_LO   10000

static void test_bpf_endpoint_verified_insns(void **state)
{
	struct env *env = *state;
	const struct {
		const char *name;
		int fd;
		__u32 budget;
	} progs[] = {
		{ "from_container", env->h.from_fd, VERIFIED_INSNS_BUDGET_FROM },
		{ "to_container", env->h.to_fd, VERIFIED_INSNS_BUDGET_TO },
		{ "proxy_lo", env->h.lo_fd, VERIFIED_INSNS_BUDGET_LO },
	};

	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		struct bpf_prog_info info = { 0 };
		__u32 len = sizeof(info);

		assert_int_equal(bpf_obj_get_info_by_fd(progs[i].fd, &info, &len), 0);
		print_message("%s: %u instructions, %u verified (budget %u)\n", progs[i].name,
			      info.xlated_prog_len / 8, info.verified_insns, progs[i].budget);
		assert_true(info.verified_insns > 0);
		assert_true(info.verified_insns <= progs[i].budget);
	}
}

/* Drop events are rate-limited per flow; counters are not. */
static void test_bpf_endpoint_drop_ratelimit(void **state)
{
	struct env *env = *state;
	struct bh_pkt p = { TCP_(IP_WORLD, IP_DEATHSTAR, 45000, 80, SYN) };
	__u64 before = bh_metric(&env->h, VELUM_DIR_INGRESS, 133);

	assert_int_equal(run(env, TO, &p, NULL), TC_ACT_SHOT);
	assert_non_null(bh_event_last(&env->h, VELUM_EVENT_DROP));
	assert_int_equal(run(env, TO, &p, NULL), TC_ACT_SHOT);
	assert_int_equal(env->h.nev, 0);
	p.sport++;
	assert_int_equal(run(env, TO, &p, NULL), TC_ACT_SHOT);
	assert_non_null(bh_event_last(&env->h, VELUM_EVENT_DROP));
	assert_int_equal(bh_metric(&env->h, VELUM_DIR_INGRESS, 133) - before, 3);
}

/* The conntrack key of a TCP flow s:sp -> d:dp for direction dir. */
static struct velum_ct_key tcp_ct_key(const char *s, const char *d, __u16 sp, __u16 dp, __u8 dir)
{
	return (struct velum_ct_key){ .saddr = bh_ip4(s),
				      .daddr = bh_ip4(d),
				      .sport = htons(sp),
				      .dport = htons(dp),
				      .protocol = IPPROTO_TCP,
				      .dir = dir };
}

static __u8 ct_state(struct env *env, const char *s, const char *d, __u16 sp, __u16 dp, __u8 dir)
{
	struct velum_ct_key k = tcp_ct_key(s, d, sp, dp, dir);
	struct velum_ct_entry e;

	if (bpf_map_lookup_elem(bpf_map__fd(env->h.skel->maps.velum_ct), &k, &e))
		return 0xff;
	return e.state;
}

/* TCP states through to close; a SYN after close is a new flow. */
static void test_bpf_endpoint_tcp_states(void **state)
{
	struct env *env = *state;
	const __u8 I = VELUM_DIR_INGRESS;
	struct bh_pkt in = { TCP_(IP_TIE, IP_DEATHSTAR, 46000, 80, SYN) };
	struct bh_pkt out = { TCP_(IP_DEATHSTAR, IP_TIE, 80, 46000, SYN | ACK) };

	assert_int_equal(run(env, TO, &in, NULL), TC_ACT_OK);
	assert_non_null(bh_event_last(&env->h, VELUM_EVENT_POLICY_VERDICT));
	assert_int_equal(ct_state(env, IP_TIE, IP_DEATHSTAR, 46000, 80, I), VELUM_CT_NEW);
	assert_int_equal(run(env, FROM, &out, NULL), TC_ACT_OK);
	assert_int_equal(ct_state(env, IP_TIE, IP_DEATHSTAR, 46000, 80, I), VELUM_CT_ESTABLISHED);
	in.tcp_flags = FIN | ACK;
	assert_int_equal(run(env, TO, &in, NULL), TC_ACT_OK);
	assert_int_equal(ct_state(env, IP_TIE, IP_DEATHSTAR, 46000, 80, I), VELUM_CT_CLOSING);
	out.tcp_flags = FIN | ACK;
	assert_int_equal(run(env, FROM, &out, NULL), TC_ACT_OK);
	assert_int_equal(ct_state(env, IP_TIE, IP_DEATHSTAR, 46000, 80, I), VELUM_CT_CLOSED);
	/* last ACK still passes as part of the closed connection */
	in.tcp_flags = ACK;
	assert_int_equal(run(env, TO, &in, NULL), TC_ACT_OK);
	assert_null(bh_event_last(&env->h, VELUM_EVENT_POLICY_VERDICT));
	/* a new SYN on the same tuple is a new flow: policy again */
	in.tcp_flags = SYN;
	assert_int_equal(run(env, TO, &in, NULL), TC_ACT_OK);
	assert_non_null(bh_event_last(&env->h, VELUM_EVENT_POLICY_VERDICT));
	assert_int_equal(ct_state(env, IP_TIE, IP_DEATHSTAR, 46000, 80, I), VELUM_CT_NEW);
	/* RST closes at once */
	out.tcp_flags = RST;
	assert_int_equal(run(env, FROM, &out, NULL), TC_ACT_OK);
	assert_int_equal(ct_state(env, IP_TIE, IP_DEATHSTAR, 46000, 80, I), VELUM_CT_CLOSED);
	/*
	 * Only one side's FIN seen (as for a flow the L7 proxy ended: its FIN
	 * to the client never passes here): a new SYN on the tuple is still a
	 * new flow, decided by the policy again, not the old one's entry.
	 */
	in.tcp_flags = SYN;
	assert_int_equal(run(env, TO, &in, NULL), TC_ACT_OK);
	out.tcp_flags = SYN | ACK;
	assert_int_equal(run(env, FROM, &out, NULL), TC_ACT_OK);
	in.tcp_flags = FIN | ACK;
	assert_int_equal(run(env, TO, &in, NULL), TC_ACT_OK);
	assert_int_equal(ct_state(env, IP_TIE, IP_DEATHSTAR, 46000, 80, I), VELUM_CT_CLOSING);
	in.tcp_flags = SYN;
	assert_int_equal(run(env, TO, &in, NULL), TC_ACT_OK);
	assert_non_null(bh_event_last(&env->h, VELUM_EVENT_POLICY_VERDICT));
	assert_int_equal(ct_state(env, IP_TIE, IP_DEATHSTAR, 46000, 80, I), VELUM_CT_NEW);
}

/* An expired entry is no entry: the reply of an expired flow meets the policy. */
static void test_bpf_endpoint_ct_expiry(void **state)
{
	struct env *env = *state;
	struct bh_pkt in = { TCP_(IP_TIE, IP_DEATHSTAR, 47000, 80, SYN) };
	struct bh_pkt out = { TCP_(IP_DEATHSTAR, IP_TIE, 80, 47000, SYN | ACK) };
	struct velum_ct_key k = { .saddr = bh_ip4(IP_TIE),
				  .daddr = bh_ip4(IP_DEATHSTAR),
				  .sport = htons(47000),
				  .dport = htons(80),
				  .protocol = IPPROTO_TCP,
				  .dir = VELUM_DIR_INGRESS };
	int ct = bpf_map__fd(env->h.skel->maps.velum_ct);
	struct velum_ct_entry e;

	assert_int_equal(run(env, TO, &in, NULL), TC_ACT_OK);
	assert_int_equal(bpf_map_lookup_elem(ct, &k, &e), 0);
	e.expires_ns = 1;
	assert_int_equal(bpf_map_update_elem(ct, &k, &e, BPF_EXIST), 0);
	assert_int_equal(run(env, FROM, &out, NULL), TC_ACT_SHOT);
}

/* Swapping the policy map changes verdicts for new flows at once. */
static void test_bpf_endpoint_policy_swap(void **state)
{
	struct env *env = *state;
	struct bh_pkt p = { TCP_(IP_WORLD, IP_DEATHSTAR, 48000, 80, SYN) };
	int fd;

	assert_int_equal(run(env, TO, &p, NULL), TC_ACT_SHOT);
	fd = new_policy_map();
	put_policy(fd, 0, VELUM_DIR_INGRESS, 0, 0, 0, VELUM_VERDICT_ALLOW, 0,
		   VELUM_RULE_DEFAULT_ALLOW, 0);
	set_policy(env, EP_ID, fd);
	close(fd);
	p.sport++;
	assert_int_equal(run(env, TO, &p, NULL), TC_ACT_OK);
	assert_int_equal(bh_event_last(&env->h, VELUM_EVENT_POLICY_VERDICT)->rule_id,
			 VELUM_RULE_DEFAULT_ALLOW);
	assert_int_equal(bh_event_last(&env->h, VELUM_EVENT_POLICY_VERDICT)->match,
			 VELUM_MATCH_ALL);
	/* restore */
	fd = deathstar_policy();
	set_policy(env, EP_ID, fd);
	close(fd);
}

/* Runs one packet that may be rewritten; returns the tc action, the frame in out. */
static int run_frame(struct env *env, const struct bh_pkt *t, int ttl, __u8 *in, __u8 *out,
		     size_t *n)
{
	size_t out_n;
	int act;

	*n = bh_build(t, in);
	if (ttl >= 0) {
		in[ETH_HLEN + 8] = ttl;
		memset(in + ETH_HLEN + 10, 0, 2);
		memcpy(in + ETH_HLEN + 10, &(__u16){ bh_csum(in + ETH_HLEN, 20) }, 2);
	}
	act = bh_run(&env->h, env->h.from_fd, in, *n, out, &out_n, NULL);
	assert_int_equal(out_n, *n);
	return act;
}

static void ct_forget(struct env *env, const char *s, const char *d, __u16 sp, __u16 dp, __u8 dir)
{
	struct velum_ct_key k = tcp_ct_key(s, d, sp, dp, dir);

	assert_int_equal(bpf_map_delete_elem(bpf_map__fd(env->h.skel->maps.velum_ct), &k), 0);
}

/*
 * BPF host routing: a packet between two local endpoints leaves
 * from_container rewritten as the host's forwarding would (destination and
 * source MAC, TTL - 1, IP checksum) and redirected to the destination's
 * namespace, after the destination's ingress was enforced here, for new
 * and tracked packets alike. Packets that must see the host stack (TTL
 * running out, the L7 proxy, legacy routing) pass unchanged.
 */
static void test_bpf_endpoint_host_routing(void **state)
{
	static const __u8 eth[12] = { 0x02, 0xee, 0, 0, 0, 0x30, 0x02, 0xaa, 0, 0, 0, 0x30 };
	struct env *env = *state;
	struct velum_lxc_value lxc = { .ep_id = EP_ID2, .identity = ID_EP2, .ifindex = 4242 };
	struct bh_pkt p = { TCP_(IP_DEATHSTAR, IP_EP2, 41000, 80, SYN) };
	struct velum_config cfg;
	__be32 addr = bh_ip4(IP_EP2);
	__u32 zero = 0;
	int lxc_fd = bpf_map__fd(env->h.skel->maps.velum_lxc), fd;
	int cfg_fd = bpf_map__fd(env->h.skel->maps.velum_config);
	__u8 in[256], out[256];
	size_t n;

	memcpy(lxc.eth, eth, sizeof(eth));
	assert_int_equal(bpf_map_update_elem(lxc_fd, &addr, &lxc, BPF_ANY), 0);

	__u64 fwd_in = bh_metric(&env->h, VELUM_DIR_INGRESS, 0),
	      fwd_out = bh_metric(&env->h, VELUM_DIR_EGRESS, 0);

	/* a new flow, allowed by both sides: rewritten and redirected */
	assert_int_equal(run_frame(env, &p, -1, in, out, &n), TC_ACT_REDIRECT);
	/* counted as forwarded by both policies (no to_container will see it) */
	assert_int_equal(bh_metric(&env->h, VELUM_DIR_EGRESS, 0), fwd_out + 1);
	assert_int_equal(bh_metric(&env->h, VELUM_DIR_INGRESS, 0), fwd_in + 1);
	assert_memory_equal(out, eth, 12);
	assert_int_equal(out[ETH_HLEN + 8], 63);
	assert_int_equal(bh_csum(out + ETH_HLEN, 20), 0); /* a valid header sums to 0xffff */
	assert_memory_equal(out + 12, in + 12, ETH_HLEN + 8 - 12);
	assert_memory_equal(out + ETH_HLEN + 9, in + ETH_HLEN + 9, 1);
	assert_memory_equal(out + ETH_HLEN + 12, in + ETH_HLEN + 12, n - ETH_HLEN - 12);
	/*
	 * two verdicts: the source's egress (rule 112), then the destination's
	 * ingress; then two traces: from the source, to the destination
	 */
	assert_int_equal(env->h.nev, 4);
	assert_int_equal(env->h.ev[0].rule_id, 112);
	assert_int_equal(env->h.ev[1].rule_id, 200);
	assert_int_equal(env->h.ev[2].type, VELUM_EVENT_TRACE);
	assert_int_equal(env->h.ev[2].point, VELUM_TRACE_FROM_ENDPOINT);
	assert_int_equal(env->h.ev[2].ep_id, EP_ID);
	assert_int_equal(env->h.ev[2].dir, VELUM_DIR_EGRESS);
	assert_int_equal(env->h.ev[3].type, VELUM_EVENT_TRACE);
	assert_int_equal(env->h.ev[3].point, VELUM_TRACE_TO_ENDPOINT);
	assert_int_equal(env->h.ev[3].ep_id, EP_ID2);
	assert_int_equal(env->h.ev[3].dir, VELUM_DIR_INGRESS);
	assert_int_equal(env->h.ev[3].peer_identity, ID_DEATHSTAR);
	assert_int_equal(ct_state(env, IP_DEATHSTAR, IP_EP2, 41000, 80, VELUM_DIR_INGRESS),
			 VELUM_CT_NEW);

	/* tracked: redirected without a policy lookup */
	p.tcp_flags = ACK;
	assert_int_equal(run_frame(env, &p, -1, in, out, &n), TC_ACT_REDIRECT);
	assert_int_equal(env->h.nev, 0);
	/* the reply (host-routed the other way in real life): traced by both entries */
	{
		struct bh_pkt r = { TCP_(IP_EP2, IP_DEATHSTAR, 80, 41000, SYN | ACK) };
		__u8 rin[256];
		size_t rn = bh_build(&r, rin);

		assert_int_equal(bh_run(&env->h, env->h.to_fd, rin, rn, NULL, NULL, NULL),
				 TC_ACT_OK);
		assert_int_equal(env->h.nev, 1);
		assert_int_equal(env->h.ev[0].point, VELUM_TRACE_TO_ENDPOINT);
		assert_int_equal(env->h.ev[0].flags, VELUM_EVENT_F_REPLY);
		assert_int_equal(env->h.ev[0].dir, VELUM_DIR_EGRESS);
		assert_int_equal(env->h.ev[0].ep_id, EP_ID);
		assert_int_equal(env->h.ev[0].peer_identity, ID_EP2);
	}

	/*
	 * The destination's ingress is enforced here: with its entry gone the
	 * tracked packet meets its policy (which now denies everything).
	 */
	fd = new_policy_map();
	set_policy(env, EP_ID2, fd);
	close(fd);
	ct_forget(env, IP_DEATHSTAR, IP_EP2, 41000, 80, VELUM_DIR_INGRESS);
	assert_int_equal(run_frame(env, &p, -1, in, out, &n), TC_ACT_SHOT);
	assert_int_equal(bh_event_last(&env->h, VELUM_EVENT_DROP)->reason, -VELUM_DROP_POLICY);
	assert_int_equal(bh_event_last(&env->h, VELUM_EVENT_DROP)->dir, VELUM_DIR_INGRESS);
	assert_memory_equal(out, in, n);

	/* a new flow the destination denies never leaves */
	p.sport = 41001;
	p.tcp_flags = SYN;
	assert_int_equal(run_frame(env, &p, -1, in, out, &n), TC_ACT_SHOT);

	/* the second endpoint's policy again (port 80 from the deathstar) */
	fd = new_policy_map();
	put_policy(fd, ID_DEATHSTAR, VELUM_DIR_INGRESS, IPPROTO_TCP, 80, 24, VELUM_VERDICT_ALLOW, 0,
		   200, 0);
	put_policy(fd, ID_DEATHSTAR, VELUM_DIR_INGRESS, IPPROTO_TCP, 8080, 24,
		   VELUM_VERDICT_REDIRECT, 0, 201, 15002);
	put_policy(fd, 0, VELUM_DIR_EGRESS, 0, 0, 0, VELUM_VERDICT_ALLOW, 0,
		   VELUM_RULE_DEFAULT_ALLOW, 0);
	set_policy(env, EP_ID2, fd);
	close(fd);
	p.sport = 41002;
	assert_int_equal(run_frame(env, &p, -1, in, out, &n), TC_ACT_REDIRECT);

	/* the last hop of a TTL: the host stack answers (Time Exceeded) */
	p.sport = 41003;
	assert_int_equal(run_frame(env, &p, 1, in, out, &n), TC_ACT_OK);
	assert_memory_equal(out, in, n);

	/* to the L7 proxy: never host-routed; no proxy socket here, so dropped */
	p = (struct bh_pkt){ TCP_(IP_DEATHSTAR, IP_EP2, 41004, 8080, SYN) };
	assert_int_equal(run_frame(env, &p, -1, in, out, &n), TC_ACT_SHOT);
	assert_int_equal(bh_event_last(&env->h, VELUM_EVENT_DROP)->reason,
			 -VELUM_DROP_PROXY_LOOKUP);
	assert_memory_equal(out, in, n);

	/* legacy routing: unchanged, the destination's to_container decides */
	assert_int_equal(bpf_map_lookup_elem(cfg_fd, &zero, &cfg), 0);
	cfg.flags |= VELUM_CONFIG_F_LEGACY_ROUTING;
	assert_int_equal(bpf_map_update_elem(cfg_fd, &zero, &cfg, BPF_EXIST), 0);
	p = (struct bh_pkt){ TCP_(IP_DEATHSTAR, IP_EP2, 41005, 80, SYN) };
	assert_int_equal(run_frame(env, &p, -1, in, out, &n), TC_ACT_OK);
	assert_memory_equal(out, in, n);
	p.tcp_flags = ACK;
	assert_int_equal(run_frame(env, &p, -1, in, out, &n), TC_ACT_OK);
	cfg.flags &= ~VELUM_CONFIG_F_LEGACY_ROUTING;
	assert_int_equal(bpf_map_update_elem(cfg_fd, &zero, &cfg, BPF_EXIST), 0);

	/* without its entry the destination is reached through the host stack */
	assert_int_equal(bpf_map_delete_elem(lxc_fd, &addr), 0);
	p.sport = 41006;
	p.tcp_flags = SYN;
	assert_int_equal(run_frame(env, &p, -1, in, out, &n), TC_ACT_OK);
	assert_memory_equal(out, in, n);
}

/* One packet of a trace table: the trace events it must give, in order. */
struct trace_row {
	const char *name;
	int prog;
	struct bh_pkt p;
	int n; /* trace events */
	struct {
		__u8 point, flags, dir;
		__u32 peer;
	} ev[2];
};

#define TR_TO(peer)                                                 \
	{                                                           \
		VELUM_TRACE_TO_ENDPOINT, 0, VELUM_DIR_INGRESS, peer \
	}
#define TR_FROM_R(peer)                                                                 \
	{                                                                               \
		VELUM_TRACE_FROM_ENDPOINT, VELUM_EVENT_F_REPLY, VELUM_DIR_INGRESS, peer \
	}
#define TR_FROM(peer)                                                \
	{                                                            \
		VELUM_TRACE_FROM_ENDPOINT, 0, VELUM_DIR_EGRESS, peer \
	}
#define TR_TO_R(peer)                                                                \
	{                                                                            \
		VELUM_TRACE_TO_ENDPOINT, VELUM_EVENT_F_REPLY, VELUM_DIR_EGRESS, peer \
	}

/*
 * Trace events (monitor aggregation "medium"): per conntrack entry, the
 * packet that opened it and each that changed its TCP progress (first
 * reply, FIN each way, RST), for other protocols the first packet each
 * way; replies marked. Ordered: rows continue the flows of earlier rows.
 */
static const struct trace_row trace_rows[] = {
	{ "tcp: syn", TO, { TCP_(IP_TIE, IP_DEATHSTAR, 48000, 80, SYN) }, 1, { TR_TO(ID_TIE) } },
	{ "tcp: syn retransmitted", TO, { TCP_(IP_TIE, IP_DEATHSTAR, 48000, 80, SYN) }, 0 },
	{ "tcp: syn-ack",
	  FROM,
	  { TCP_(IP_DEATHSTAR, IP_TIE, 80, 48000, SYN | ACK) },
	  1,
	  { TR_FROM_R(ID_TIE) } },
	{ "tcp: ack", TO, { TCP_(IP_TIE, IP_DEATHSTAR, 48000, 80, ACK) }, 0 },
	{ "tcp: data", TO, { TCP_(IP_TIE, IP_DEATHSTAR, 48000, 80, ACK | 0x08) }, 0 },
	{ "tcp: data back", FROM, { TCP_(IP_DEATHSTAR, IP_TIE, 80, 48000, ACK | 0x08) }, 0 },
	{ "tcp: fin",
	  TO,
	  { TCP_(IP_TIE, IP_DEATHSTAR, 48000, 80, FIN | ACK) },
	  1,
	  { TR_TO(ID_TIE) } },
	{ "tcp: fin retransmitted", TO, { TCP_(IP_TIE, IP_DEATHSTAR, 48000, 80, FIN | ACK) }, 0 },
	{ "tcp: fin back",
	  FROM,
	  { TCP_(IP_DEATHSTAR, IP_TIE, 80, 48000, FIN | ACK) },
	  1,
	  { TR_FROM_R(ID_TIE) } },
	{ "tcp: last ack", TO, { TCP_(IP_TIE, IP_DEATHSTAR, 48000, 80, ACK) }, 0 },
	{ "tcp: another syn",
	  TO,
	  { TCP_(IP_TIE, IP_DEATHSTAR, 48001, 80, SYN) },
	  1,
	  { TR_TO(ID_TIE) } },
	{ "tcp: rst back",
	  FROM,
	  { TCP_(IP_DEATHSTAR, IP_TIE, 80, 48001, RST | ACK) },
	  1,
	  { TR_FROM_R(ID_TIE) } },
	{ "tcp: rst again", TO, { TCP_(IP_TIE, IP_DEATHSTAR, 48001, 80, RST) }, 0 },
	{ "egress syn",
	  FROM,
	  { TCP_(IP_DEATHSTAR, IP_FTP, 48002, 21, SYN) },
	  1,
	  { TR_FROM(ID_FTP) } },
	{ "egress syn-ack",
	  TO,
	  { TCP_(IP_FTP, IP_DEATHSTAR, 21, 48002, SYN | ACK) },
	  1,
	  { TR_TO_R(ID_FTP) } },
	{ "egress ack", FROM, { TCP_(IP_DEATHSTAR, IP_FTP, 48002, 21, ACK) }, 0 },
	{ "udp: first",
	  TO,
	  { UDP_(IP_WORLD, IP_DEATHSTAR, 48003, 53) },
	  1,
	  { TR_TO(VELUM_ID_WORLD) } },
	{ "udp: second", TO, { UDP_(IP_WORLD, IP_DEATHSTAR, 48003, 53) }, 0 },
	{ "udp: first back",
	  FROM,
	  { UDP_(IP_DEATHSTAR, IP_WORLD, 53, 48003) },
	  1,
	  { TR_FROM_R(VELUM_ID_WORLD) } },
	{ "udp: second back", FROM, { UDP_(IP_DEATHSTAR, IP_WORLD, 53, 48003) }, 0 },
	{ "icmp: echo",
	  TO,
	  { ICMP_(IP_WORLD, IP_DEATHSTAR, 8, 48) },
	  1,
	  { TR_TO(VELUM_ID_WORLD) } },
	{ "icmp: echo reply",
	  FROM,
	  { ICMP_(IP_DEATHSTAR, IP_WORLD, 0, 48) },
	  1,
	  { TR_FROM_R(VELUM_ID_WORLD) } },
	{ "icmp: echo again", TO, { ICMP_(IP_WORLD, IP_DEATHSTAR, 8, 48) }, 0 },
	{ "denied: no trace", TO, { TCP_(IP_XWING, IP_DEATHSTAR, 48004, 80, SYN) }, 0 },
};

static void test_bpf_endpoint_trace(void **state)
{
	struct env *env = *state;
	int cfg_fd = bpf_map__fd(env->h.skel->maps.velum_config);
	struct bh_pkt p = { TCP_(IP_TIE, IP_DEATHSTAR, 48100, 80, SYN) };
	struct velum_config cfg;
	__u32 zero = 0;

	for (size_t i = 0; i < sizeof(trace_rows) / sizeof(trace_rows[0]); i++) {
		const struct trace_row *r = &trace_rows[i];
		int k = 0;

		current_case = r->name;
		ratelim_clear(env);
		run(env, r->prog, &r->p, NULL);
		for (int j = 0; j < env->h.nev; j++) {
			const struct velum_event *e = &env->h.ev[j];

			if (e->type != VELUM_EVENT_TRACE)
				continue;
			assert_true(k < r->n);
			assert_int_equal(e->point, r->ev[k].point);
			assert_int_equal(e->flags, r->ev[k].flags);
			assert_int_equal(e->dir, r->ev[k].dir);
			assert_int_equal(e->peer_identity, r->ev[k].peer);
			assert_int_equal(e->ep_id, EP_ID);
			assert_int_equal(e->ep_identity, ID_DEATHSTAR);
			assert_int_equal(e->verdict, VELUM_FLOW_FORWARDED);
			assert_int_equal(e->tcp_flags, r->p.tcp_flags);
			k++;
		}
		assert_int_equal(k, r->n);
	}
	current_case = NULL;

	/* velumd --trace-events off: the policy verdict, no trace */
	assert_int_equal(bpf_map_lookup_elem(cfg_fd, &zero, &cfg), 0);
	cfg.flags |= VELUM_CONFIG_F_NO_TRACE;
	assert_int_equal(bpf_map_update_elem(cfg_fd, &zero, &cfg, BPF_EXIST), 0);
	assert_int_equal(run(env, TO, &p, NULL), TC_ACT_OK);
	assert_non_null(bh_event_last(&env->h, VELUM_EVENT_POLICY_VERDICT));
	assert_null(bh_event_last(&env->h, VELUM_EVENT_TRACE));
	cfg.flags &= ~VELUM_CONFIG_F_NO_TRACE;
	assert_int_equal(bpf_map_update_elem(cfg_fd, &zero, &cfg, BPF_EXIST), 0);
}

/* No policy map, then no endpoint: fail closed with a reason. */
static void test_bpf_endpoint_missing_state(void **state)
{
	struct env *env = *state;
	struct bh_pkt p = { TCP_(IP_TIE, IP_DEATHSTAR, 49000, 80, SYN) };
	__u32 ep = EP_ID, key = EP_IFINDEX;
	int fd;

	assert_int_equal(bpf_map_delete_elem(bpf_map__fd(env->h.skel->maps.velum_policy), &ep), 0);
	assert_int_equal(run(env, TO, &p, NULL), TC_ACT_SHOT);
	assert_int_equal(bh_event_last(&env->h, VELUM_EVENT_DROP)->reason, 203);
	fd = deathstar_policy();
	set_policy(env, EP_ID, fd);
	close(fd);
	assert_int_equal(bpf_map_delete_elem(bpf_map__fd(env->h.skel->maps.velum_endpoints), &key),
			 0);
	p.sport++;
	assert_int_equal(run(env, TO, &p, NULL), TC_ACT_SHOT);
	assert_int_equal(bh_event_last(&env->h, VELUM_EVENT_DROP)->reason, 250);
}

/* Per-packet cost, reported (not asserted): the benchmark records it. */
static void test_bpf_endpoint_cost(void **state)
{
	struct env *env = *state;
	struct bh_pkt p = { TCP_(IP_TIE, IP_DEATHSTAR, 40000, 80, ACK) };
	__u8 in[256];
	size_t n = bh_build(&p, in);
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = n, .repeat = 100000);

	assert_int_equal(bpf_prog_test_run_opts(env->h.to_fd, &o), 0);
	assert_int_equal(o.retval, TC_ACT_OK);
	print_message("to_container established: %u ns/packet\n", o.duration);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bpf_endpoint_verified_insns),
		cmocka_unit_test(test_bpf_endpoint_table),
		cmocka_unit_test(test_bpf_endpoint_redirect),
		cmocka_unit_test(test_bpf_endpoint_redirect_lo),
		cmocka_unit_test(test_bpf_endpoint_allow_localhost),
		cmocka_unit_test(test_bpf_endpoint_drop_ratelimit),
		cmocka_unit_test(test_bpf_endpoint_tcp_states),
		cmocka_unit_test(test_bpf_endpoint_trace),
		cmocka_unit_test(test_bpf_endpoint_ct_expiry),
		cmocka_unit_test(test_bpf_endpoint_policy_swap),
		cmocka_unit_test(test_bpf_endpoint_cost),
		cmocka_unit_test(test_bpf_endpoint_host_routing),
		cmocka_unit_test(test_bpf_endpoint_missing_state),
	};

	libbpf_set_print(NULL);
	return cmocka_run_group_tests(tests, setup, teardown);
}
