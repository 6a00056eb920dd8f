/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Packet parsing: Ethernet + IPv4 + the L4 header (TCP, UDP, SCTP ports,
 * ICMP type/id, the tuple quoted by ICMP errors). Headers are copied with
 * bpf_skb_load_bytes(), which bounds-checks against the whole skb (linear
 * or not) and takes variable offsets (IP options) without verifier
 * gymnastics. Every length field is checked against what the packet holds:
 * a lie is a drop with a reason, never a read past the datagram.
 */
#pragma once

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "maps.h"

/* ICMP types (linux/icmp.h drags in libc headers) */
#define ICMP_ECHOREPLY	   0
#define ICMP_DEST_UNREACH  3
#define ICMP_SOURCE_QUENCH 4
#define ICMP_REDIRECT	   5
#define ICMP_ECHO	   8
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12

#define PARSE_ARP 1 /* not IP: pass without policy */

#define IP_MF	  0x2000
#define IP_OFFSET 0x1fff

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10

/* What the datapath needs of one packet. */
struct pkt {
	__u32 len; /* skb->len */
	__be32 saddr;
	__be32 daddr;
	__be16 sport; /* conntrack ports (ICMP echo: id, see conntrack.h) */
	__be16 dport;
	__be16 policy_dport; /* what the policy key sees (ICMP: type) */
	__u8 protocol;
	__u8 tcp_flags;
	__u8 icmp_error; /* the quoted tuple is in inner */
	__u8 parsed;	 /* the tuple fields are valid */
	__u16 pad;
	/* ICMP errors: the tuple of the packet that caused the error */
	__be32 in_saddr;
	__be32 in_daddr;
	__be16 in_sport;
	__be16 in_dport;
	__u8 in_protocol;
	__u8 in_pad[3];
};

static __always_inline bool icmp_is_error(__u8 type)
{
	return type == ICMP_DEST_UNREACH || type == ICMP_TIME_EXCEEDED ||
	       type == ICMP_PARAMETERPROB || type == ICMP_SOURCE_QUENCH || type == ICMP_REDIRECT;
}

/*
 * ICMP queries that have a reply carrying the same id: echo (8/0),
 * timestamp (13/14), information (15/16), address mask (17/18). Returns the
 * pair's class 0..3 and sets *reply, or -1 for any other type.
 */
static __always_inline int icmp_query_class(__u8 type, bool *reply)
{
	switch (type) {
	case ICMP_ECHO:
	case ICMP_ECHOREPLY:
		*reply = type == ICMP_ECHOREPLY;
		return 0;
	case 13:
	case 14:
	case 15:
	case 16:
	case 17:
	case 18:
		*reply = !(type & 1);
		return (type - 11) / 2; /* 13,14 -> 1; 15,16 -> 2; 17,18 -> 3 */
	default:
		return -1;
	}
}

/* Ports of an L4 header at off (room already checked): conntrack and policy view. */
static __always_inline int parse_ports(struct __sk_buff *skb, __u32 off, __u8 proto, __be16 *sport,
				       __be16 *dport, __be16 *policy_dport)
{
	__u8 icmp[8];

	switch (proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_SCTP:
		if (bpf_skb_load_bytes(skb, off, icmp, 4))
			return VELUM_DROP_CT_INVALID_HDR;
		__builtin_memcpy(sport, &icmp[0], 2);
		__builtin_memcpy(dport, &icmp[2], 2);
		*policy_dport = *dport;
		return 0;
	case IPPROTO_ICMP: {
		bool reply;
		int cls;

		if (bpf_skb_load_bytes(skb, off, icmp, 8))
			return VELUM_DROP_CT_INVALID_HDR;
		*policy_dport = bpf_htons(icmp[0]);
		/*
		 * Conntrack ports (conntrack.h): a query is {id, class << 8} and its
		 * reply {class << 8, id}, so only the reply of the same class and id
		 * reverses into the query's entry; any other type is
		 * {0xff00 | type, 0}, which no packet can reverse into.
		 */
		cls = icmp_query_class(icmp[0], &reply);
		if (cls < 0) {
			*sport = bpf_htons(0xff00 | icmp[0]);
			*dport = 0;
		} else if (!reply) {
			__builtin_memcpy(sport, &icmp[4], 2);
			*dport = bpf_htons((__u16)(cls << 8));
		} else {
			*sport = bpf_htons((__u16)(cls << 8));
			__builtin_memcpy(dport, &icmp[4], 2);
		}
		return 0;
	}
	default:
		*sport = 0;
		*dport = 0;
		*policy_dport = 0;
		return 0;
	}
}

/* Bytes of L4 header the datapath needs to see for proto. */
static __always_inline __u32 l4_min_len(__u8 proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return 20;
	case IPPROTO_UDP:
	case IPPROTO_ICMP:
		return 8;
	case IPPROTO_SCTP:
		return 12;
	default:
		return 0;
	}
}

/*
 * The tuple an ICMP error quotes: inner IPv4 header and 8 bytes of its L4
 * header at off (RFC 792). Anything shorter or inconsistent is invalid.
 * Cold path: a subprogram.
 */
static __noinline int parse_icmp_inner(struct __sk_buff *skb, __u32 off, __u32 end, struct pkt *p)
{
	struct iphdr ip;
	__u32 l4;
	__be16 pd;

	if (off + sizeof(ip) > end || bpf_skb_load_bytes(skb, off, &ip, sizeof(ip)))
		return VELUM_DROP_CT_INVALID_HDR;
	if (ip.version != 4 || ip.ihl < 5)
		return VELUM_DROP_CT_INVALID_HDR;
	l4 = off + ip.ihl * 4;
	if (l4 + 8 > end)
		return VELUM_DROP_CT_INVALID_HDR;
	p->in_saddr = ip.saddr;
	p->in_daddr = ip.daddr;
	p->in_protocol = ip.protocol;
	/* verifier: parse_ports reads at most 8 bytes, checked above */
	return parse_ports(skb, l4, ip.protocol, &p->in_sport, &p->in_dport, &pd);
}

/* Records a first fragment's ports for the rest of its datagram (cold: a subprogram). */
static __noinline int frag_record(const struct pkt *p, __be16 id)
{
	struct velum_frag_key k = {
		.saddr = p->saddr, .daddr = p->daddr, .id = id, .protocol = p->protocol
	};
	struct velum_frag_value v = { .sport = p->sport,
				      .dport = p->dport,
				      .policy_dport = p->policy_dport };

	bpf_map_update_elem(&velum_frag, &k, &v, BPF_ANY);
	return 0;
}

/* A later fragment takes its first fragment's ports, or is dropped (cold: a subprogram). */
static __noinline int frag_lookup(struct pkt *p, __be16 id)
{
	struct velum_frag_key k = {
		.saddr = p->saddr, .daddr = p->daddr, .id = id, .protocol = p->protocol
	};
	struct velum_frag_value *v = bpf_map_lookup_elem(&velum_frag, &k);

	if (!v)
		return VELUM_DROP_FRAG_NOT_FOUND;
	p->sport = v->sport;
	p->dport = v->dport;
	p->policy_dport = v->policy_dport;
	return 0;
}

/*
 * The common case read in place: an unfragmented IPv4 TCP or UDP packet
 * without IP options whose headers are in the linear data. Returns 1 if p
 * is filled, 0 if the general parser must look (it repeats every check).
 */
static __always_inline int parse_fast(struct __sk_buff *skb, struct pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + ETH_HLEN;
	__u8 *l4 = (__u8 *)(ip + 1);
	__u32 ip_len;

	/* verifier: every read below is within this bound */
	if ((void *)(l4 + 20) > data_end)
		return 0;
	if (ip->version != 4 || ip->ihl != 5 || (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET)))
		return 0;
	ip_len = bpf_ntohs(ip->tot_len);
	if (ip_len > skb->len - ETH_HLEN)
		return 0;
	if (ip->protocol == IPPROTO_TCP) {
		if (ip_len < 40 || (l4[12] >> 4) < 5)
			return 0;
		p->tcp_flags = l4[13];
	} else if (ip->protocol == IPPROTO_UDP) {
		if (ip_len < 28)
			return 0;
	} else {
		return 0;
	}
	p->saddr = ip->saddr;
	p->daddr = ip->daddr;
	p->protocol = ip->protocol;
	__builtin_memcpy(&p->sport, l4, 2);
	__builtin_memcpy(&p->dport, l4 + 2, 2);
	p->policy_dport = p->dport;
	p->parsed = 1;
	return 1;
}

/*
 * Fills p from skb. Returns 0 for IPv4, PARSE_ARP for ARP (passed without
 * policy, like Cilium), or a negative enum velum_drop.
 */
static __always_inline int parse_packet(struct __sk_buff *skb, struct pkt *p)
{
	struct iphdr ip;
	__u32 ip_len, hdr_len, l4, need, end;
	__u16 frag;
	__u8 l4b[20];
	int ret;

	p->len = skb->len;
	if (skb->protocol == bpf_htons(ETH_P_ARP))
		return PARSE_ARP;
	if (skb->protocol != bpf_htons(ETH_P_IP))
		return VELUM_DROP_UNKNOWN_L3;
	if (parse_fast(skb, p))
		return 0;
	p->tcp_flags = 0;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)))
		return VELUM_DROP_INVALID;
	if (ip.version != 4 || ip.ihl < 5)
		return VELUM_DROP_INVALID;
	hdr_len = ip.ihl * 4;
	ip_len = bpf_ntohs(ip.tot_len);
	/* the datagram must hold its header and fit in the frame */
	if (ip_len < hdr_len || ip_len > skb->len - ETH_HLEN)
		return VELUM_DROP_INVALID;
	p->saddr = ip.saddr;
	p->daddr = ip.daddr;
	p->protocol = ip.protocol;
	end = ETH_HLEN + ip_len;
	l4 = ETH_HLEN + hdr_len;
	frag = bpf_ntohs(ip.frag_off);

	if (frag & IP_OFFSET) {
		/* a later fragment has no L4 header: its first fragment's ports */
		ret = frag_lookup(p, ip.id);
		if (ret < 0)
			return ret;
		p->parsed = 1;
		return 0;
	}

	need = l4_min_len(ip.protocol);
	if (l4 + need > end)
		return VELUM_DROP_CT_INVALID_HDR;
	if (ip.protocol == IPPROTO_TCP) {
		if (bpf_skb_load_bytes(skb, l4, l4b, 20))
			return VELUM_DROP_CT_INVALID_HDR;
		/* data offset below 5 words is a malformed header */
		if ((l4b[12] >> 4) < 5)
			return VELUM_DROP_CT_INVALID_HDR;
		p->tcp_flags = l4b[13];
	}
	ret = parse_ports(skb, l4, ip.protocol, &p->sport, &p->dport, &p->policy_dport);
	if (ret < 0)
		return ret;
	if (ip.protocol == IPPROTO_ICMP) {
		__u8 type;

		if (bpf_skb_load_bytes(skb, l4, &type, 1))
			return VELUM_DROP_CT_INVALID_HDR;
		if (icmp_is_error(type)) {
			ret = parse_icmp_inner(skb, l4 + 8, end, p);
			if (ret < 0)
				return ret;
			p->icmp_error = 1;
		}
	}
	if (frag & IP_MF)
		frag_record(p, ip.id);
	p->parsed = 1;
	return 0;
}
