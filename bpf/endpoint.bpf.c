/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The endpoint programs, loaded once per node and attached to every
 * endpoint's host-side veth:
 *  - from_container, tc ingress: packets the endpoint sends (its egress
 *    policy; on local delivery also the destination's ingress policy, so
 *    that an ingress L7 redirect can happen at a tc ingress hook);
 *  - to_container, tc egress: packets towards the endpoint (its ingress
 *    policy, for peers whose traffic was not already decided at the source).
 * The endpoint is found by skb->ifindex in velum_endpoints.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/ipcache.h"
#include "lib/conntrack.h"
#include "lib/policy.h"
#include "lib/events.h"
#include "lib/verdict.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * Local delivery of a new flow: decide the destination's ingress here, at
 * tc ingress, where a later L7 redirect can still hand the packet to a
 * local socket. The egress verdict's proxy mark, if any, takes precedence.
 * Cold path: a subprogram.
 */
static __noinline int deliver_local(struct __sk_buff *skb, const struct pkt *p, struct verdict *v,
				    const struct velum_ipcache_value *dst, __u32 src_id)
{
	struct verdict vi = {};
	__be16 egress_proxy = v->proxy_port;
	__u8 egress_fv = v->flow_verdict;
	int ret;

	ret = enforce(skb, p, VELUM_DIR_INGRESS, dst->ep_id, dst->identity, src_id, &vi);
	if (ret < 0) {
		*v = vi;
		return ret;
	}
	if (!egress_proxy && vi.proxy_port) {
		v->proxy_port = vi.proxy_port;
		v->flow_verdict = vi.flow_verdict;
	} else {
		v->flow_verdict = egress_fv;
	}
	return 0;
}

static __always_inline int handle_from_container(struct __sk_buff *skb, struct pkt *p,
						 struct verdict *v)
{
	struct velum_endpoint_info *ep;
	struct velum_ipcache_value dst;
	struct velum_config *cfg;
	__u32 ifindex = skb->ifindex, zero = 0;
	__u32 src_id;
	int ret;

	ep = bpf_map_lookup_elem(&velum_endpoints, &ifindex);
	if (!ep)
		return VELUM_DROP_NO_ENDPOINT;
	v->ep_id = ep->ep_id;
	v->ep_identity = ep->identity;
	src_id = ep->identity;
	ret = parse_packet(skb, p);
	if (ret == PARSE_ARP)
		return 0;
	if (ret < 0)
		return ret;
	/* an endpoint speaks only with its own address */
	if (p->saddr != ep->ipv4)
		return VELUM_DROP_INVALID_SIP;
	/*
	 * A tracked packet needs nothing else: its flow passed the route check
	 * and, on local delivery, the destination's ingress when it was new (the
	 * destination's to_container still checks its own conntrack entry).
	 */
	if (enforce_tracked(p, VELUM_DIR_EGRESS, v))
		return 0;

	ipcache_lookup(p->daddr, &dst);
	v->peer_identity = dst.identity;
	cfg = bpf_map_lookup_elem(&velum_config, &zero);
	if (cfg && cfg->pool_mask && (p->daddr & cfg->pool_mask) != cfg->pool_addr &&
	    dst.identity != VELUM_ID_HOST)
		return VELUM_DROP_UNROUTABLE;

	verdict_init(v, VELUM_DIR_EGRESS, ep->ep_id, src_id, dst.identity);
	ret = enforce_new(skb, p, v);
	if (ret < 0 || !(dst.flags & VELUM_IPCACHE_F_LOCAL_EP))
		return ret;
	return deliver_local(skb, p, v, &dst, src_id);
}

static __always_inline int handle_to_container(struct __sk_buff *skb, struct pkt *p,
					       struct verdict *v)
{
	struct velum_endpoint_info *ep;
	struct velum_ipcache_value src;
	__u32 ifindex = skb->ifindex;
	int ret;

	ret = parse_packet(skb, p);
	if (ret == PARSE_ARP)
		return 0;
	if (ret < 0)
		return ret;
	/*
	 * A tracked packet needs neither the endpoint nor the peer's identity:
	 * its flow was decided for this endpoint (entries are keyed by the
	 * endpoint's own address and go with the endpoint).
	 */
	if (enforce_tracked(p, VELUM_DIR_INGRESS, v))
		return 0;
	ep = bpf_map_lookup_elem(&velum_endpoints, &ifindex);
	if (!ep)
		return VELUM_DROP_NO_ENDPOINT;
	v->ep_id = ep->ep_id;
	v->ep_identity = ep->identity;
	ipcache_lookup(p->saddr, &src);
	v->peer_identity = src.identity;
	verdict_init(v, VELUM_DIR_INGRESS, ep->ep_id, ep->identity, src.identity);
	return enforce_new(skb, p, v);
}

SEC("tc")
int from_container(struct __sk_buff *skb)
{
	struct pkt p = {};
	struct verdict v = { .dir = VELUM_DIR_EGRESS };

	return verdict_finish(skb, &p, &v, handle_from_container(skb, &p, &v));
}

SEC("tc")
int to_container(struct __sk_buff *skb)
{
	struct pkt p = {};
	struct verdict v = { .dir = VELUM_DIR_INGRESS };

	return verdict_finish(skb, &p, &v, handle_to_container(skb, &p, &v));
}
