/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The endpoint programs, loaded once per node and attached to every
 * endpoint's host-side veth:
 *  - from_container, tc ingress: packets the endpoint sends (its egress
 *    policy; on local delivery also the destination's ingress policy, so
 *    that an ingress L7 redirect can happen at a tc ingress hook, and the
 *    packet goes straight into the destination's namespace: BPF host
 *    routing);
 *  - to_container, tc egress: packets towards the endpoint (its ingress
 *    policy) that came through the host stack: from the host, from
 *    outside the pool's endpoints, or with legacy routing;
 *  - proxy_lo, tc ingress of lo: those of them an ingress L7 redirect sent
 *    back into the host, handed to the proxy's socket;
 *  - sock_ops (cgroup) and sk_msg (velum_sock): the L7 proxy's connections
 *    carried socket to socket once established (lib/sockmap.h).
 * The endpoint is found by skb->ifindex in velum_endpoints.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <stddef.h>
#include <bpf/bpf_helpers.h>

#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/ipcache.h"
#include "lib/conntrack.h"
#include "lib/policy.h"
#include "lib/events.h"
#include "lib/verdict.h"
#include "lib/sockmap.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * Local delivery of a new flow: decide the destination's ingress here, at
 * tc ingress, where a later L7 redirect can still hand the packet to a
 * local socket. The egress verdict's proxy mark, if any, takes precedence.
 * Also the path of every tracked packet between two local endpoints.
 */
static __always_inline int deliver_local(struct __sk_buff *skb, const struct pkt *p,
					 struct verdict *v, const struct velum_ipcache_value *dst,
					 __u32 src_id)
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
	/* a "reply" on a proxied flow's tuple can only be for the proxy's socket */
	v->proxy_reply |= vi.proxy_reply;
	v->trace_to = vi.trace_to;
	return 0;
}

static __always_inline bool legacy_routing(const struct velum_config *cfg)
{
	return cfg && (cfg->flags & VELUM_CONFIG_F_LEGACY_ROUTING);
}

/*
 * A tracked packet to a local endpoint: its ingress conntrack entry is
 * checked here (and the policy decides if the entry is gone, as
 * to_container would): under BPF host routing the destination's
 * to_container will not see it, and under either routing an ingress
 * redirect must happen here, at tc ingress. Sets *to to the destination
 * under BPF host routing. Cold path for non-local traffic: one hash lookup.
 */
static __always_inline int deliver_tracked(struct __sk_buff *skb, const struct pkt *p,
					   struct verdict *v, __u32 src_id,
					   const struct velum_config *cfg,
					   const struct velum_lxc_value **to)
{
	const struct velum_lxc_value *lxc;
	struct velum_ipcache_value dst;

	/* a server's reply to the proxy's upstream socket: the proxy's, not the client's */
	if (v->proxy_reply)
		return 0;
	lxc = bpf_map_lookup_elem(&velum_lxc, &p->daddr);
	if (!lxc)
		return 0;
	dst.identity = lxc->identity;
	dst.ep_id = lxc->ep_id;
	if (!legacy_routing(cfg))
		*to = lxc;
	return deliver_local(skb, p, v, &dst, src_id);
}

static __always_inline int handle_from_container(struct __sk_buff *skb, struct pkt *p,
						 struct verdict *v,
						 const struct velum_lxc_value **to)
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
	cfg = bpf_map_lookup_elem(&velum_config, &zero);
	/*
	 * A tracked packet passed the route check when its flow was new; on
	 * local delivery the destination's ingress entry is checked too (here
	 * under BPF host routing, else by the destination's to_container).
	 */
	if (enforce_tracked(p, VELUM_DIR_EGRESS, v))
		return deliver_tracked(skb, p, v, src_id, cfg, to);

	ipcache_lookup(p->daddr, &dst);
	v->peer_identity = dst.identity;
	if (cfg && cfg->pool_mask && (p->daddr & cfg->pool_mask) != cfg->pool_addr &&
	    dst.identity != VELUM_ID_HOST)
		return VELUM_DROP_UNROUTABLE;

	verdict_init(v, VELUM_DIR_EGRESS, ep->ep_id, src_id, dst.identity);
	ret = enforce_new(skb, p, v);
	if (ret < 0 || !(dst.flags & VELUM_IPCACHE_F_LOCAL_EP))
		return ret;
	ret = deliver_local(skb, p, v, &dst, src_id);
	if (ret >= 0 && !legacy_routing(cfg))
		*to = bpf_map_lookup_elem(&velum_lxc, &p->daddr);
	return ret;
}

/* host_route(): the frame is ready for bpf_redirect_peer() */
#define HOST_ROUTED 1

/*
 * BPF host routing: what the host's forwarding would do to the frame
 * (TTL - 1, the destination's MAC, the host veth's as source), before it
 * goes straight into the destination's namespace. Returns HOST_ROUTED, 0
 * for a packet that takes the host stack instead (its TTL runs out: the
 * stack answers with Time Exceeded; it goes to the L7 proxy), or
 * VELUM_DROP_WRITE.
 */
static __always_inline int host_route(struct __sk_buff *skb, const struct verdict *v,
				      const struct velum_lxc_value *to)
{
	const __u32 ttl_off = ETH_HLEN + offsetof(struct iphdr, ttl);
	__be16 old, new;
	__u8 *b = (__u8 *)&new;

	if (v->proxy_port || bpf_skb_load_bytes(skb, ttl_off, &old, 2))
		return 0;
	new = old; /* ttl and protocol: the checksum is over 16-bit words */
	if (b[0] <= 1)
		return 0;
	b[0]--;
	if (bpf_l3_csum_replace(skb, ETH_HLEN + offsetof(struct iphdr, check), old, new, 2) ||
	    bpf_skb_store_bytes(skb, ttl_off, &new, 2, 0) ||
	    bpf_skb_store_bytes(skb, 0, to->eth, sizeof(to->eth), 0))
		return VELUM_DROP_WRITE;
	return HOST_ROUTED;
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
	const struct velum_lxc_value *to = NULL;
	struct pkt p = {};
	struct verdict v = { .dir = VELUM_DIR_EGRESS };
	int ret, act;

	ret = handle_from_container(skb, &p, &v, &to);
	if (ret >= 0 && to)
		ret = host_route(skb, &v, to);
	act = verdict_finish(skb, &p, &v, ret, true);
	if (ret != HOST_ROUTED || act != TC_ACT_OK)
		return act;
	/* delivered: counted under ingress too, as the destination's to_container would */
	metrics_add(VELUM_DIR_INGRESS, 0, p.len);
	return bpf_redirect_peer(to->ifindex, 0);
}

/* lo's ifindex in every network namespace */
#define LOOPBACK_IFINDEX 1

/*
 * A redirected flow from a source that is not an endpoint (the host, an
 * address outside the pool) meets its ingress redirect here, at tc egress,
 * where no socket can be assigned: the packet goes back into the host
 * through lo's ingress (its destination MAC made lo's, all zeros; marked
 * with the proxy port), where proxy_lo assigns it to the proxy's socket
 * and counts it. Only when dp_proxy_setup() made that path ready; else,
 * and for anything but TCP, a drop. Cold path: a subprogram.
 */
static __noinline int to_proxy_via_lo(struct __sk_buff *skb, const struct pkt *p, __be16 port)
{
	const __u8 lo_mac[ETH_ALEN] = {};
	struct velum_config *cfg;
	__u32 zero = 0;

	cfg = bpf_map_lookup_elem(&velum_config, &zero);
	if (!cfg || !(cfg->flags & VELUM_CONFIG_F_PROXY_LO))
		return VELUM_DROP_PROXY_LOOKUP;
	if (p->protocol != IPPROTO_TCP)
		return VELUM_DROP_PROXY_PROTO;
	if (bpf_skb_store_bytes(skb, 0, lo_mac, ETH_ALEN, 0))
		return VELUM_DROP_WRITE;
	skb->mark =
		VELUM_MARK_MAGIC_TO_PROXY | ((__u32)bpf_ntohs(port) << VELUM_MARK_PROXY_PORT_SHIFT);
	return 0;
}

SEC("tc")
int to_container(struct __sk_buff *skb)
{
	struct pkt p = {};
	struct verdict v = { .dir = VELUM_DIR_INGRESS, .from_proxy = mark_from_proxy(skb->mark) };
	int ret;

	ret = handle_to_container(skb, &p, &v);
	/* replies of proxied flows here come from the proxy's accepted sockets */
	v.proxy_reply = 0;
	if (ret >= 0 && v.proxy_port) {
		ret = to_proxy_via_lo(skb, &p, v.proxy_port);
		if (ret >= 0) {
			if (v.trace_to)
				trace_report(skb, &p, &v);
			return bpf_redirect(LOOPBACK_IFINDEX, BPF_F_INGRESS);
		}
		/* the policy allowed the flow (and said so): the drop event tells the rest */
		v.by_policy = 0;
		v.proxy_port = 0;
	}
	return verdict_finish(skb, &p, &v, ret, false);
}

/*
 * tc ingress of lo (attached by dp_proxy_setup()): packets to_container
 * sent back into the host for the proxy carry the to-proxy mark with the
 * port; they are assigned to the proxy's socket like from_container's, or
 * dropped if none. Anything else on lo is not ours: the next program's.
 */
SEC("tc")
int proxy_lo(struct __sk_buff *skb)
{
	__u32 mark = skb->mark;
	struct pkt p = {};
	struct verdict v = { .dir = VELUM_DIR_INGRESS, .flow_verdict = VELUM_FLOW_REDIRECTED };
	int ret;

	if ((mark & VELUM_MARK_MAGIC_MASK) != VELUM_MARK_MAGIC_TO_PROXY)
		return TC_ACT_UNSPEC;
	ret = parse_packet(skb, &p);
	if (ret == PARSE_ARP)
		ret = VELUM_DROP_INVALID;
	if (ret >= 0) {
		ret = 0;
		v.proxy_port = bpf_htons(mark >> VELUM_MARK_PROXY_PORT_SHIFT);
	}
	return verdict_finish(skb, &p, &v, ret, true);
}

/* cgroup sock_ops (attached by dp_proxy_sockmap()): see lib/sockmap.h. */
SEC("sockops")
int sock_ops_prog(struct bpf_sock_ops *ctx)
{
	if (ctx->op == BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB ||
	    ctx->op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		sock_ops_established(ctx);
	return 1;
}

/* velum_sock's sk_msg verdict: see lib/sockmap.h. */
SEC("sk_msg")
int sk_msg_verdict(struct sk_msg_md *msg)
{
	return sock_msg_verdict(msg);
}
