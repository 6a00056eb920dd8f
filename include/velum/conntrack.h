/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Connection tracking (map velum_ct, LRU hash), shared by the programs and
 * user space (which lists and garbage-collects it).
 *
 * One entry per (flow, enforcing direction): a flow from endpoint A to
 * endpoint B on this node has an EGRESS entry (A's egress policy allowed it)
 * and an INGRESS entry (B's ingress policy allowed it). A packet is
 * ESTABLISHED if its own tuple has an entry for the direction being
 * enforced, a REPLY if its reversed tuple has an entry for the opposite
 * direction, RELATED (ICMP errors) if the tuple quoted inside the ICMP error
 * has an entry for the opposite direction. Only NEW packets see the policy.
 */
#pragma once

#include <linux/types.h>

/* Default capacity of velum_ct. */
#define VELUM_CT_MAX 131072

/*
 * Key: exact match. Ports are the L4 ports. For ICMP queries with a reply
 * (echo 8/0, timestamp 13/14, information 15/16, address mask 17/18, class
 * 0..3) the query is {sport = id, dport = class << 8} and the reply
 * {sport = class << 8, dport = id}, so only the reply of the same class
 * and id reverses into the query's entry (echo: {id, 0} / {0, id}). Any
 * other ICMP type is {sport = 0xff00 | type, dport = 0}: repeats in one
 * direction are one flow, and nothing is ever its reply. ICMP errors are
 * matched by the packet they quote (RELATED), never tracked themselves.
 */
struct velum_ct_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 protocol; /* IPPROTO_* */
	__u8 dir;      /* VELUM_DIR_* of the enforcing endpoint */
	__u16 pad;
};
_Static_assert(sizeof(struct velum_ct_key) == 16, "ABI");

/* TCP progress, set by the programs. */
#define VELUM_CT_F_SEEN_REPLY 0x01 /* a reply passed (any protocol): established */
#define VELUM_CT_F_TX_FIN     0x02 /* FIN from the initiator */
#define VELUM_CT_F_RX_FIN     0x04 /* FIN from the responder */
#define VELUM_CT_F_RST	      0x08 /* RST either way */
/*
 * Set when the entry is made: the flow's initiator is the L7 proxy's
 * upstream socket (the packet carried its mark). Replies of such a flow,
 * and of any flow with a proxy_port, belong to the proxy's socket in the
 * host namespace: they are socket-assigned to it, never host-routed.
 */
#define VELUM_CT_F_PROXY 0x10

/* Derived state (struct velum_ct_entry.state). */
enum velum_ct_state {
	VELUM_CT_NEW = 0,	  /* no reply yet (TCP: SYN sent) */
	VELUM_CT_ESTABLISHED = 1, /* reply seen */
	VELUM_CT_CLOSING = 2,	  /* TCP, FIN one way */
	VELUM_CT_CLOSED = 3,	  /* TCP, RST or FIN both ways: a new SYN starts a new flow */
};

/* Lifetimes after the last packet (seconds). */
#define VELUM_CT_LIFETIME_SYN	 60
#define VELUM_CT_LIFETIME_TCP	 21600
#define VELUM_CT_LIFETIME_CLOSE	 10
#define VELUM_CT_LIFETIME_NONTCP 60

/*
 * Value. expires_ns is on the CLOCK_MONOTONIC clock at tick resolution
 * (bpf_ktime_get_coarse_ns());
 * an entry past it is dead: the programs treat it as absent and user space
 * collects it (dp_ct_gc()).
 */
struct velum_ct_entry {
	__u64 expires_ns;
	__u32 peer_identity; /* the remote identity the policy saw */
	__u32 rule_id;	     /* the rule that allowed the flow */
	__be16 proxy_port;   /* REDIRECT: the L7 proxy port, else 0 */
	__u8 flags;	     /* VELUM_CT_F_* */
	__u8 state;	     /* enum velum_ct_state */
	__u8 verdict;	     /* enum velum_verdict that created the entry */
	__u8 pad0[3];
};
_Static_assert(sizeof(struct velum_ct_entry) == 24, "ABI");
