/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Flow events to the ring buffer (include/velum/events.h), the per-flow rate
 * limit for events of packets that are not tracked (drops, denied first
 * packets), and the counters.
 */
#pragma once

#include "maps.h"
#include "parse.h"

/* Minimum time between two events of one flow, direction and reason. */
const volatile __u64 event_interval_ns = VELUM_EVENT_INTERVAL_NS;

/* What decided about a packet, for counters and events. */
struct verdict {
	__u32 ep_id; /* 0 before the endpoint is known */
	__u32 ep_identity;
	__u32 peer_identity;
	__u32 rule_id;
	__u8 dir;	   /* VELUM_DIR_* of ep_id's policy */
	__u8 match;	   /* enum velum_match */
	__u8 flow_verdict; /* enum velum_flow_verdict */
	__u8 by_policy;	   /* a policy lookup decided: report a policy verdict */
	__be16 proxy_port; /* hand the packet to the proxy listening there */
	__u8 from_proxy;   /* sent by the proxy (its mark): never redirected again */
	__u8 proxy_reply;  /* a reply to the proxy's socket (its flow's entry says so) */
	/*
	 * Non-zero: the packet opened or changed a conntrack entry of the
	 * source endpoint's egress (trace_from: it leaves that endpoint) or of
	 * the destination's ingress (trace_to: it enters that endpoint, or the
	 * proxy's socket); a trace event is due if it passes.
	 */
	__u8 trace_from;
	__u8 trace_to;
};

static __always_inline void metrics_add(__u8 dir, __u32 code, __u32 len)
{
	__u32 idx = (dir ? VELUM_METRICS_PER_DIR : 0) + (code & 0xff);
	struct velum_metrics_value *m = bpf_map_lookup_elem(&velum_metrics, &idx);

	/* per-CPU: plain adds are exact */
	if (m) {
		m->packets++;
		m->bytes += len;
	}
}

/*
 * True if an event for this flow, direction and reason may go out now
 * (and records it). Packets that did not parse share one slot per
 * interface and reason.
 */
static __always_inline bool event_ratelimit_ok(struct __sk_buff *skb, const struct pkt *p, __u8 dir,
					       __u16 reason)
{
	struct velum_ct_key k = {};
	__u64 now = bpf_ktime_get_coarse_ns();
	__u64 *last;

	if (p->parsed) {
		k.saddr = p->saddr;
		k.daddr = p->daddr;
		k.sport = p->sport;
		k.dport = p->dport;
		k.protocol = p->protocol;
	} else {
		k.daddr = skb->ifindex;
	}
	k.dir = dir;
	k.pad = reason;
	if (event_interval_ns) {
		last = bpf_map_lookup_elem(&velum_ratelim, &k);
		if (last && now - *last < event_interval_ns)
			return false;
	}
	bpf_map_update_elem(&velum_ratelim, &k, &now, BPF_ANY);
	return true;
}

/* One event (type VELUM_EVENT_*) about p as v decided it; point and flags as in struct velum_event. */
static __always_inline void __event_emit(struct __sk_buff *skb, const struct pkt *p,
					 const struct verdict *v, __u8 type, __u16 reason,
					 __u8 point, __u8 flags)
{
	struct velum_event *e = bpf_ringbuf_reserve(&velum_events, sizeof(*e), 0);

	if (!e)
		return;
	e->ts_ns = bpf_ktime_get_ns();
	e->type = type;
	e->dir = v->dir;
	e->verdict = v->flow_verdict;
	e->match = v->match;
	e->reason = reason;
	e->protocol = p->protocol;
	e->tcp_flags = p->tcp_flags;
	e->ep_id = v->ep_id;
	e->ep_identity = v->ep_identity;
	e->peer_identity = v->peer_identity;
	e->rule_id = v->rule_id;
	e->saddr = p->saddr;
	e->daddr = p->daddr;
	e->sport = p->sport;
	e->dport = p->dport;
	if (p->protocol == IPPROTO_ICMP) {
		/* the type, and the query id (0 for types without one) */
		bool reply;
		int cls = icmp_query_class((__u8)bpf_ntohs(p->policy_dport), &reply);

		e->dport = p->policy_dport;
		e->sport = cls < 0 ? 0 : reply ? p->dport : p->sport;
	}
	e->proxy_port = v->proxy_port;
	e->point = point;
	e->flags = flags;
	e->ifindex = skb->ifindex;
	e->len = p->len;
	bpf_ringbuf_submit(e, 0);
}

/* A policy verdict event, or a drop of a first packet: never a reply. */
static __always_inline void event_emit(struct __sk_buff *skb, const struct pkt *p,
				       const struct verdict *v, __u8 type, __u16 reason)
{
	__event_emit(skb, p, v, type, reason, VELUM_TRACE_NONE, 0);
}
