/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Connection tracking (include/velum/conntrack.h for the model). A lookup
 * classifies a packet for one enforcing direction as NEW, ESTABLISHED,
 * REPLY or RELATED; only NEW goes to the policy. Entries past their expiry
 * are treated as absent and overwritten; user space collects them.
 */
#pragma once

#include <linux/in.h>

#include "maps.h"
#include "parse.h"

#define NSEC_PER_SEC 1000000000ULL

/* Lifetimes in seconds (load-time switches; tests shorten them). */
const volatile __u32 ct_lifetime_syn = VELUM_CT_LIFETIME_SYN;
const volatile __u32 ct_lifetime_tcp = VELUM_CT_LIFETIME_TCP;
const volatile __u32 ct_lifetime_close = VELUM_CT_LIFETIME_CLOSE;
const volatile __u32 ct_lifetime_nontcp = VELUM_CT_LIFETIME_NONTCP;

enum ct_result {
	CT_NEW = 0,
	CT_ESTABLISHED = 1,
	CT_REPLY = 2,
	CT_RELATED = 3,
};

/*
 * Conntrack time: CLOCK_MONOTONIC at tick resolution. Reading the precise
 * clock costs a clocksource read per packet (a paravirtual clock read in a
 * VM); expiry needs no better than a tick. User space compares with
 * CLOCK_MONOTONIC.
 */
static __always_inline __u64 ct_now(void)
{
	return bpf_ktime_get_coarse_ns();
}

static __always_inline __u8 dir_flip(__u8 dir)
{
	return dir == VELUM_DIR_EGRESS ? VELUM_DIR_INGRESS : VELUM_DIR_EGRESS;
}

static __always_inline void ct_key_make(struct velum_ct_key *k, __be32 saddr, __be32 daddr,
					__be16 sport, __be16 dport, __u8 proto, __u8 dir)
{
	k->saddr = saddr;
	k->daddr = daddr;
	k->sport = sport;
	k->dport = dport;
	k->protocol = proto;
	k->dir = dir;
	k->pad = 0;
}

static __always_inline __u8 ct_state_of(__u8 flags)
{
	if ((flags & VELUM_CT_F_RST) || (flags & (VELUM_CT_F_TX_FIN | VELUM_CT_F_RX_FIN)) ==
						(VELUM_CT_F_TX_FIN | VELUM_CT_F_RX_FIN))
		return VELUM_CT_CLOSED;
	if (flags & (VELUM_CT_F_TX_FIN | VELUM_CT_F_RX_FIN))
		return VELUM_CT_CLOSING;
	if (flags & VELUM_CT_F_SEEN_REPLY)
		return VELUM_CT_ESTABLISHED;
	return VELUM_CT_NEW;
}

static __always_inline __u64 ct_lifetime_ns(__u8 proto, __u8 state)
{
	__u32 s;

	if (proto != IPPROTO_TCP)
		s = ct_lifetime_nontcp;
	else if (state == VELUM_CT_CLOSED)
		s = ct_lifetime_close;
	else if (state == VELUM_CT_NEW)
		s = ct_lifetime_syn;
	else
		s = ct_lifetime_tcp;
	return (__u64)s * NSEC_PER_SEC;
}

/*
 * A live entry for key, or NULL. A fresh SYN ignores the entry of a
 * connection that is closed or closing: it starts a new connection on the
 * same tuple, which the policy decides again. (An entry may stay "closing"
 * long after its connection ended when it sees only one side's FIN: the
 * destination's ingress entry of a flow the L7 proxy terminated never sees
 * the proxy's FIN to the client. Taking it for the old connection would
 * let a reused source port skip the policy.)
 */
static __always_inline struct velum_ct_entry *ct_find(const struct velum_ct_key *k,
						      const struct pkt *p, __u64 now)
{
	struct velum_ct_entry *e = bpf_map_lookup_elem(&velum_ct, k);

	if (!e || e->expires_ns <= now)
		return NULL;
	if ((e->state == VELUM_CT_CLOSED || e->state == VELUM_CT_CLOSING) &&
	    p->protocol == IPPROTO_TCP &&
	    (p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN)
		return NULL;
	return e;
}

/*
 * Advances the entry by one packet (reply: from the responder). Writes only
 * when the state changes or the expiry moved by a second, so a busy flow
 * does not dirty its cache line on every packet. Returns the flags the
 * packet added, 0 if none: non-zero for the first reply (TCP: the SYN-ACK;
 * other protocols: the first packet back), a FIN either way, an RST (the
 * packets Cilium's "medium" monitor aggregation reports).
 */
static __always_inline __u8 ct_touch(struct velum_ct_entry *e, const struct pkt *p, bool reply,
				     __u64 now)
{
	__u8 old = e->flags, flags = old;
	__u64 exp;

	if (reply)
		flags |= VELUM_CT_F_SEEN_REPLY;
	if (p->protocol == IPPROTO_TCP) {
		if (p->tcp_flags & TCP_FLAG_FIN)
			flags |= reply ? VELUM_CT_F_RX_FIN : VELUM_CT_F_TX_FIN;
		if (p->tcp_flags & TCP_FLAG_RST)
			flags |= VELUM_CT_F_RST;
	}
	if (flags != old) {
		e->flags = flags;
		e->state = ct_state_of(flags);
		e->expires_ns = now + ct_lifetime_ns(p->protocol, e->state);
	} else {
		exp = now + ct_lifetime_ns(p->protocol, e->state);
		if (exp > e->expires_ns + NSEC_PER_SEC)
			e->expires_ns = exp;
	}
	/*
	 * verifier: a value, not a branch (a constant per path would keep the
	 * verifier from merging the paths after it)
	 */
	return flags ^ old;
}

/* A reply of this entry's flow goes to the proxy's socket (VELUM_CT_F_PROXY). */
static __always_inline bool ct_reply_to_proxy(const struct velum_ct_entry *e)
{
	return e->proxy_port || (e->flags & VELUM_CT_F_PROXY);
}

/*
 * Classifies p for the endpoint enforcing dir. On ESTABLISHED *proxy_port
 * is the entry's (a redirected flow stays redirected); on REPLY
 * *proxy_reply says the reply belongs to the proxy. On either, *changed is
 * non-zero if the packet changed its entry's progress (ct_touch()).
 */
static __always_inline int ct_lookup(const struct pkt *p, __u8 dir, __be16 *proxy_port,
				     bool *proxy_reply, __u8 *changed)
{
	struct velum_ct_key k;
	struct velum_ct_entry *e;
	__u64 now = ct_now();

	if (p->icmp_error) {
		/* the quoted packet went out of the flow (our original) ... */
		ct_key_make(&k, p->in_saddr, p->in_daddr, p->in_sport, p->in_dport, p->in_protocol,
			    dir_flip(dir));
		if (ct_find(&k, p, now))
			return CT_RELATED;
		/* ... or was a reply of a flow the peer started */
		ct_key_make(&k, p->in_daddr, p->in_saddr, p->in_dport, p->in_sport, p->in_protocol,
			    dir);
		if (ct_find(&k, p, now))
			return CT_RELATED;
		return CT_NEW;
	}
	/*
	 * Both lookups are needed in the worst case; the likelier one goes
	 * first. A packet from the lower port is usually a server's reply (and
	 * an echo reply has sport 0): try the reply lookup first for it.
	 */
	if (bpf_ntohs(p->sport) < bpf_ntohs(p->dport)) {
		ct_key_make(&k, p->daddr, p->saddr, p->dport, p->sport, p->protocol, dir_flip(dir));
		e = ct_find(&k, p, now);
		if (e) {
			*changed = ct_touch(e, p, true, now);
			*proxy_reply = ct_reply_to_proxy(e);
			return CT_REPLY;
		}
	}
	ct_key_make(&k, p->saddr, p->daddr, p->sport, p->dport, p->protocol, dir);
	e = ct_find(&k, p, now);
	if (e) {
		*changed = ct_touch(e, p, false, now);
		*proxy_port = e->proxy_port;
		return CT_ESTABLISHED;
	}
	if (bpf_ntohs(p->sport) >= bpf_ntohs(p->dport)) {
		ct_key_make(&k, p->daddr, p->saddr, p->dport, p->sport, p->protocol, dir_flip(dir));
		e = ct_find(&k, p, now);
		if (e) {
			*changed = ct_touch(e, p, true, now);
			*proxy_reply = ct_reply_to_proxy(e);
			return CT_REPLY;
		}
	}
	return CT_NEW;
}

/*
 * Records a new flow the policy allowed; flags: VELUM_CT_F_PROXY or 0.
 * Returns 0 or VELUM_DROP_CT_MAP_FULL.
 */
static __always_inline int ct_create(const struct pkt *p, __u8 dir, __u32 peer, __u32 rule_id,
				     __u8 verdict, __be16 proxy_port, __u8 flags)
{
	struct velum_ct_key k;
	struct velum_ct_entry e = {
		.peer_identity = peer,
		.rule_id = rule_id,
		.proxy_port = proxy_port,
		.verdict = verdict,
		.flags = flags,
	};
	__u64 now = ct_now();

	if (p->protocol == IPPROTO_TCP) {
		if (p->tcp_flags & TCP_FLAG_FIN)
			e.flags |= VELUM_CT_F_TX_FIN;
		if (p->tcp_flags & TCP_FLAG_RST)
			e.flags |= VELUM_CT_F_RST;
	}
	e.state = ct_state_of(e.flags);
	e.expires_ns = now + ct_lifetime_ns(p->protocol, e.state);
	ct_key_make(&k, p->saddr, p->daddr, p->sport, p->dport, p->protocol, dir);
	if (bpf_map_update_elem(&velum_ct, &k, &e, BPF_ANY))
		return VELUM_DROP_CT_MAP_FULL;
	return 0;
}
