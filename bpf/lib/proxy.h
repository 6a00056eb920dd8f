/* SPDX-License-Identifier: Apache-2.0 */
/*
 * L7 redirection by BPF socket assignment (docs/proxy-redirect.md): a
 * packet of a redirected flow is given to the proxy's socket in the host
 * namespace with bpf_sk_assign() at tc ingress, and marked so that the
 * host's policy routing (include/velum/proxy.h) delivers it locally.
 * Packets the proxy sends carry its SO_MARK and are never redirected again.
 */
#pragma once

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "maps.h"
#include "parse.h"

/* The packet was sent by one of the proxy's sockets (its SO_MARK). */
static __always_inline bool mark_from_proxy(__u32 mark)
{
	__u32 m = mark & VELUM_MARK_MAGIC_MASK;

	return m == VELUM_MARK_MAGIC_PROXY_INGRESS || m == VELUM_MARK_MAGIC_PROXY_EGRESS;
}

/*
 * Assigns p to the proxy: the socket of its own 4-tuple (the proxy's end of
 * the connection: accepted, in handshake, or upstream for a server's
 * reply), else, for a client's packet (reply false), the listener at
 * 127.0.0.1:proxy_port. A listener found by the 4-tuple is not the
 * proxy's connection (a host service may listen on the server's port) and
 * is skipped. A TIME_WAIT socket is the proxy's side of an earlier
 * connection with this 4-tuple, and packets go to it so that the kernel
 * handles them as TCP says: a client's reused port (assigned to the
 * listener directly, a new SYN got no SYN-ACK while the TIME_WAIT
 * lasted), a server's FIN to an upstream socket the proxy closed first
 * (the kernel keeps an orphaned FIN_WAIT2 as a TIME_WAIT socket: dropped,
 * the server's side stayed in LAST_ACK and the next connection from that
 * port met it). Returns 0 or a negative enum velum_drop.
 * Cold path: a subprogram.
 */
static __noinline int proxy_assign(struct __sk_buff *skb, const struct pkt *p, __be16 proxy_port,
				   bool reply)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;
	long err;

	if (p->protocol != IPPROTO_TCP)
		return VELUM_DROP_PROXY_PROTO;
	t.ipv4.saddr = p->saddr;
	t.ipv4.daddr = p->daddr;
	t.ipv4.sport = p->sport;
	t.ipv4.dport = p->dport;
	sk = bpf_skc_lookup_tcp(skb, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
	if (sk) {
		if (sk->state != BPF_TCP_LISTEN)
			goto assign;
		bpf_sk_release(sk);
	}
	if (reply || !proxy_port)
		return VELUM_DROP_PROXY_LOOKUP;
	t.ipv4.daddr = bpf_htonl(VELUM_PROXY_LISTEN_ADDR);
	t.ipv4.dport = proxy_port;
	sk = bpf_skc_lookup_tcp(skb, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return VELUM_DROP_PROXY_LOOKUP;
	if (sk->state != BPF_TCP_LISTEN) {
		bpf_sk_release(sk);
		return VELUM_DROP_PROXY_LOOKUP;
	}
assign:
	err = bpf_sk_assign(skb, sk, 0);
	bpf_sk_release(sk);
	return err ? VELUM_DROP_PROXY_ASSIGN : 0;
}
