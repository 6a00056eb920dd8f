/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Enforcement of one endpoint's policy in one direction (conntrack, then
 * policy for new flows, then the record of the new flow), and the single
 * place where a packet's fate becomes a tc action, a counter and events.
 */
#pragma once

#include <linux/pkt_cls.h>

#include "conntrack.h"
#include "events.h"
#include "ipcache.h"
#include "policy.h"
#include "proxy.h"

static __always_inline void verdict_init(struct verdict *v, __u8 dir, __u32 ep_id,
					 __u32 ep_identity, __u32 peer)
{
	v->ep_id = ep_id;
	v->ep_identity = ep_identity;
	v->peer_identity = peer;
	v->dir = dir;
	v->by_policy = 0;
	v->match = VELUM_MATCH_NONE;
	v->rule_id = VELUM_RULE_NONE;
	v->flow_verdict = VELUM_FLOW_FORWARDED;
	v->proxy_port = 0;
	v->proxy_reply = 0;
	v->trace_from = 0;
	v->trace_to = 0;
}

/*
 * Conntrack for ep's policy in dir. Returns true if the packet is tracked
 * (established, reply, related): it passes without a policy lookup, and v
 * carries the flow's proxy redirect if any (none for the proxy's own
 * packets), or that it is a reply for the proxy's socket, and whether a
 * trace event is due (the packet changed its entry).
 */
static __always_inline bool enforce_tracked(const struct pkt *p, __u8 dir, struct verdict *v)
{
	__be16 proxy_port = 0;
	bool proxy_reply = false;
	__u8 changed = 0;

	if (ct_lookup(p, dir, &proxy_port, &proxy_reply, &changed) == CT_NEW)
		return false;
	v->dir = dir;
	v->proxy_reply = proxy_reply;
	/* dir is a constant where this is inlined: one store */
	if (dir == VELUM_DIR_EGRESS)
		v->trace_from = changed;
	else
		v->trace_to = changed;
	if (proxy_port && !v->from_proxy) {
		v->proxy_port = proxy_port;
		v->flow_verdict = VELUM_FLOW_REDIRECTED;
	}
	return true;
}

/*
 * Decides a NEW flow for endpoint v->ep_id's policy in v->dir against
 * v->peer_identity (v set by verdict_init()): policy lookup; if it passes,
 * the flow is tracked and reported once (policy verdict). Returns 0 to pass
 * or a negative enum velum_drop; v says what decided either way.
 * Cold path: a subprogram, so that the per-packet code stays small.
 */
static __noinline int enforce_new(struct __sk_buff *skb, const struct pkt *p, struct verdict *v)
{
	struct policy_result r;
	__u8 dir = v->dir;
	__u32 peer = v->peer_identity;
	__be16 flow_proxy = 0;
	int ret;

	ret = policy_lookup(v->ep_id, dir, peer, p->protocol, p->policy_dport, &r);
	if (ret < 0)
		return ret;
	v->by_policy = 1;
	v->match = r.match;
	v->rule_id = r.rule_id;
	switch (r.verdict) {
	case VELUM_VERDICT_ALLOW:
		if (r.flags & VELUM_POLICY_F_AUDIT)
			v->flow_verdict = VELUM_FLOW_AUDIT; /* audited default deny */
		break;
	case VELUM_VERDICT_REDIRECT:
		/*
		 * The flow is the proxy's whichever leg opened the entry: the
		 * upstream leg shares the client leg's 4-tuple, and when the
		 * upstream's SYN opens the entry anew (an RST between the proxy
		 * and the server closed the old one) the client leg's next
		 * packets must still reach the proxy, not the server.
		 */
		flow_proxy = r.proxy_port;
		/* the proxy's own upstream packets have been through it: they pass */
		if (v->from_proxy)
			break;
		v->flow_verdict = VELUM_FLOW_REDIRECTED;
		v->proxy_port = r.proxy_port;
		break;
	case VELUM_VERDICT_AUDIT:
		v->flow_verdict = VELUM_FLOW_AUDIT;
		break;
	case VELUM_VERDICT_DENY:
		v->flow_verdict = VELUM_FLOW_DROPPED;
		return VELUM_DROP_POLICY_DENY;
	default:
		v->flow_verdict = VELUM_FLOW_DROPPED;
		return VELUM_DROP_POLICY;
	}

	if (!p->icmp_error) {
		ret = ct_create(p, dir, peer, r.rule_id, r.verdict, flow_proxy,
				v->from_proxy ? VELUM_CT_F_PROXY : 0);
		if (ret < 0) {
			v->flow_verdict = VELUM_FLOW_DROPPED;
			return ret;
		}
		event_emit(skb, p, v, VELUM_EVENT_POLICY_VERDICT, 0);
		if (dir == VELUM_DIR_EGRESS)
			v->trace_from = 1;
		else
			v->trace_to = 1;
	} else if (event_ratelimit_ok(skb, p, dir, 0)) {
		/* untracked ICMP errors are reported like denied flows: rate-limited */
		event_emit(skb, p, v, VELUM_EVENT_POLICY_VERDICT, 0);
	}
	return 0;
}

/* Conntrack, then the policy for a new flow (enforce_tracked + enforce_new). */
static __always_inline int enforce(struct __sk_buff *skb, const struct pkt *p, __u8 dir,
				   __u32 ep_id, __u32 ep_identity, __u32 peer, struct verdict *v)
{
	verdict_init(v, dir, ep_id, ep_identity, peer);
	if (enforce_tracked(p, dir, v))
		return 0;
	return enforce_new(skb, p, v);
}

/*
 * Whether p, enforced for dir, is a reply: the entry ct_lookup() would meet
 * first (in its order) is the reversed one. Cold paths only (the
 * per-packet path does not keep it).
 */
static __always_inline bool ct_is_reply(const struct pkt *p, __u8 dir)
{
	struct velum_ct_key k;
	bool low = bpf_ntohs(p->sport) < bpf_ntohs(p->dport);

	ct_key_make(&k, p->daddr, p->saddr, p->dport, p->sport, p->protocol, dir_flip(dir));
	if (low && bpf_map_lookup_elem(&velum_ct, &k))
		return true;
	ct_key_make(&k, p->saddr, p->daddr, p->sport, p->dport, p->protocol, dir);
	if (bpf_map_lookup_elem(&velum_ct, &k))
		return false;
	ct_key_make(&k, p->daddr, p->saddr, p->dport, p->sport, p->protocol, dir_flip(dir));
	return !low && bpf_map_lookup_elem(&velum_ct, &k);
}

/*
 * The trace events of a packet that passes and opened or changed
 * conntrack entries (v->trace_from, v->trace_to): FROM_ENDPOINT for the
 * source endpoint's entry, TO_ENDPOINT for the destination's, or TO_PROXY
 * when the packet goes to the proxy's socket (a redirected flow, a reply
 * for the proxy; an egress redirect reports both its FROM_ENDPOINT and
 * TO_PROXY). Each names the endpoint whose entry it is and the entry's
 * direction (for a reply the opposite of the packet's, as Hubble's
 * traffic_direction); identities from the ipcache. Whether the packet was
 * a reply is looked up here, off the per-packet path. Nothing with velumd
 * --trace-events off. Cold path (a subprogram).
 */
static __noinline int trace_report(struct __sk_buff *skb, const struct pkt *p,
				   const struct verdict *v)
{
	struct velum_ipcache_value src, dst;
	struct velum_config *cfg;
	struct verdict t = {};
	__u32 zero = 0;
	__u8 flags;
	bool to_proxy = v->proxy_port || v->proxy_reply;

	cfg = bpf_map_lookup_elem(&velum_config, &zero);
	if (cfg && (cfg->flags & VELUM_CONFIG_F_NO_TRACE))
		return 0;
	ipcache_lookup(p->saddr, &src);
	ipcache_lookup(p->daddr, &dst);
	t.flow_verdict = VELUM_FLOW_FORWARDED;
	t.rule_id = VELUM_RULE_NONE;
	t.proxy_port = v->proxy_port;
	if (v->trace_from) {
		flags = ct_is_reply(p, VELUM_DIR_EGRESS) ? VELUM_EVENT_F_REPLY : 0;
		t.dir = flags ? VELUM_DIR_INGRESS : VELUM_DIR_EGRESS;
		t.ep_id = v->ep_id;
		t.ep_identity = v->ep_identity;
		t.peer_identity = dst.identity;
		__event_emit(skb, p, &t, VELUM_EVENT_TRACE, 0, VELUM_TRACE_FROM_ENDPOINT, flags);
		if (to_proxy && !v->trace_to)
			__event_emit(skb, p, &t, VELUM_EVENT_TRACE, 0, VELUM_TRACE_TO_PROXY, flags);
	}
	if (v->trace_to) {
		flags = ct_is_reply(p, VELUM_DIR_INGRESS) ? VELUM_EVENT_F_REPLY : 0;
		t.dir = flags ? VELUM_DIR_EGRESS : VELUM_DIR_INGRESS;
		t.ep_id = dst.ep_id ? dst.ep_id : v->ep_id;
		t.ep_identity = dst.identity;
		t.peer_identity = src.identity;
		__event_emit(skb, p, &t, VELUM_EVENT_TRACE, 0,
			     to_proxy ? VELUM_TRACE_TO_PROXY : VELUM_TRACE_TO_ENDPOINT, flags);
	}
	return 0;
}

/*
 * Counts and reports a drop (cold path: a subprogram). A dropped packet
 * of a tracked flow (none a policy decided) that is a reply is marked one,
 * with its connection's direction (as a trace's). Returns 0.
 */
static __noinline int report_drop(struct __sk_buff *skb, const struct pkt *p, struct verdict *v,
				  __u16 reason)
{
	struct verdict d;

	metrics_add(v->dir, reason, p->len);
	v->flow_verdict = VELUM_FLOW_DROPPED;
	if (!event_ratelimit_ok(skb, p, v->dir, reason))
		return 0;
	if (v->by_policy)
		event_emit(skb, p, v, VELUM_EVENT_POLICY_VERDICT, reason);
	if (!v->by_policy && p->parsed && !p->icmp_error && ct_is_reply(p, v->dir)) {
		d = *v;
		d.dir = dir_flip(v->dir);
		__event_emit(skb, p, &d, VELUM_EVENT_DROP, reason, VELUM_TRACE_NONE,
			     VELUM_EVENT_F_REPLY);
	} else {
		event_emit(skb, p, v, VELUM_EVENT_DROP, reason);
	}
	return 0;
}

/*
 * Turns the outcome ret (>= 0 pass, else enum velum_drop) into a tc action:
 * hands redirected packets and replies for the proxy to its socket (only
 * at tc ingress, at_ingress; a redirect elsewhere is the caller's to
 * avoid), counts the packet under the deciding direction, and reports
 * drops (policy verdict first if a lookup decided), rate-limited per flow,
 * or the trace events a passing packet is due. Nothing meant for the proxy
 * passes without reaching it.
 */
static __always_inline int verdict_finish(struct __sk_buff *skb, const struct pkt *p,
					  struct verdict *v, int ret, bool at_ingress)
{
	__u16 reason;

	if (ret >= 0 && (v->proxy_port || v->proxy_reply)) {
		ret = at_ingress ? proxy_assign(skb, p, v->proxy_port, v->proxy_reply) :
				   VELUM_DROP_PROXY_LOOKUP;
		/* the policy allowed the flow (and said so): the drop event tells the rest */
		v->by_policy = 0;
		if (ret >= 0)
			skb->mark = VELUM_MARK_MAGIC_TO_PROXY | ((__u32)bpf_ntohs(v->proxy_port)
								 << VELUM_MARK_PROXY_PORT_SHIFT);
	}
	if (ret >= 0) {
		metrics_add(v->dir, 0, p->len);
		if (v->trace_from | v->trace_to)
			trace_report(skb, p, v);
		return TC_ACT_OK;
	}
	reason = (__u16)(-ret);
	report_drop(skb, p, v, reason);
	return TC_ACT_SHOT;
}
