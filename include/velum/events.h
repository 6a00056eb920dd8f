/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Flow events: records the programs write to the ring buffer velum_events
 * and user space decodes (dp_events_poll()). Two kinds:
 *  - DROP: every dropped packet, rate-limited to one per flow and direction
 *    per VELUM_EVENT_INTERVAL_NS, with the reason and the deciding rule;
 *  - POLICY_VERDICT: the first packet of every flow, allowed or denied,
 *    with the rule id and the match type (denied flows are rate-limited
 *    like drops, since every retransmission is again a first packet);
 *  - TRACE: a forwarded packet, aggregated as Cilium's monitor aggregation
 *    "medium" does: per conntrack entry, the packet that opened it and each
 *    packet that changed its TCP progress (first reply: SYN-ACK; FIN each
 *    way; RST), for other protocols the first packet each way. Each at
 *    the point the packet was seen (struct velum_event.point).
 */
#pragma once

#include <linux/types.h>

enum velum_event_type {
	VELUM_EVENT_DROP = 1,
	VELUM_EVENT_POLICY_VERDICT = 2,
	/* 3 is user space's (L7 access events of the proxy) */
	VELUM_EVENT_TRACE = 4,
};

/*
 * Where a TRACE event saw its packet (Hubble's TraceObservationPoint
 * numbers): leaving an endpoint, entering one, or handed to the L7 proxy's
 * socket.
 */
enum velum_trace_point {
	VELUM_TRACE_NONE = 0, /* DROP and POLICY_VERDICT */
	VELUM_TRACE_TO_PROXY = 1,
	VELUM_TRACE_FROM_ENDPOINT = 5,
	VELUM_TRACE_TO_ENDPOINT = 101,
};

/* struct velum_event.flags */
#define VELUM_EVENT_F_REPLY 0x01 /* the packet is a reply of its flow (conntrack said so) */

/* What happened to the packet (Hubble's verdict names). */
enum velum_flow_verdict {
	VELUM_FLOW_FORWARDED = 1,
	VELUM_FLOW_DROPPED = 2,
	VELUM_FLOW_AUDIT = 3,
	VELUM_FLOW_REDIRECTED = 4,
};

/*
 * Which kind of policy entry decided (Cilium's match types): L3 = a
 * specific peer identity, L4 = a protocol and port (or port block), PROTO =
 * a protocol with any port, ALL = identity 0 with any protocol.
 */
enum velum_match {
	VELUM_MATCH_NONE = 0, /* no entry: default deny */
	VELUM_MATCH_L3_L4 = 1,
	VELUM_MATCH_L3_PROTO = 2,
	VELUM_MATCH_L3_ONLY = 3,
	VELUM_MATCH_L4_ONLY = 4,
	VELUM_MATCH_PROTO_ONLY = 5,
	VELUM_MATCH_ALL = 6,
};

/* Cilium's name of a match type ("L3-L4", ...), for user space. */
static inline const char *velum_match_name(unsigned int match)
{
	switch (match) {
	case VELUM_MATCH_NONE:
		return "none";
	case VELUM_MATCH_L3_L4:
		return "L3-L4";
	case VELUM_MATCH_L3_PROTO:
		return "L3-Proto";
	case VELUM_MATCH_L3_ONLY:
		return "L3-Only";
	case VELUM_MATCH_L4_ONLY:
		return "L4-Only";
	case VELUM_MATCH_PROTO_ONLY:
		return "Proto-Only";
	case VELUM_MATCH_ALL:
		return "all";
	}
	return "unknown";
}

/* Minimum distance between two events of one flow and direction. */
#define VELUM_EVENT_INTERVAL_NS 1000000000ULL

/* Capacity of velum_events in bytes (a power of two, page multiple). */
#define VELUM_EVENTS_SIZE (1U << 20)

/*
 * One record. The endpoint is the one whose policy decided (on local
 * delivery the destination's ingress is decided in the source's program,
 * so ifindex may be the source's veth). Addresses and ports are the
 * packet's; for ICMP, sport is the echo id and dport the type (network
 * order, as in the policy key).
 */
struct velum_event {
	__u64 ts_ns;  /* bpf_ktime_get_ns() */
	__u8 type;    /* enum velum_event_type */
	__u8 dir;     /* VELUM_DIR_* of ep_id's policy */
	__u8 verdict; /* enum velum_flow_verdict */
	__u8 match;   /* enum velum_match (POLICY_VERDICT; DROP by policy) */
	__u16 reason; /* magnitude of enum velum_drop, 0 if none */
	__u8 protocol;
	__u8 tcp_flags; /* TCP: FIN 0x01 SYN 0x02 RST 0x04 PSH 0x08 ACK 0x10 */
	__u32 ep_id;
	__u32 ep_identity;
	__u32 peer_identity;
	__u32 rule_id; /* VELUM_RULE_NONE for a default deny */
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__be16 proxy_port;
	__u8 point; /* enum velum_trace_point (TRACE) */
	__u8 flags; /* VELUM_EVENT_F_* */
	__u32 ifindex;
	__u32 len; /* packet length (skb->len) */
};
_Static_assert(sizeof(struct velum_event) == 56, "ABI");
