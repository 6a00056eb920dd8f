/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kernel-carried bytes on the L7 proxy's connections (docs/proxy-redirect.md,
 * "Kernel-carried bytes"). A proxied connection has two TCP legs: client ->
 * proxy (accepted socket) and proxy (upstream socket) -> server. Once all
 * four ends are established, a send on one end is put straight into its
 * peer's receive queue (sk_msg redirect to ingress): the bytes skip TCP,
 * the veth pair and tc, while the proxy still reads, judges and writes
 * every byte exactly as before. What decides (the proxy) and what the
 * client and the server see do not change; only the carrier does.
 *
 * sock_ops puts the four ends in velum_sock when they become established:
 * sockets in an endpoint's namespace, with that endpoint's address, whose
 * flow conntrack says is proxied, and the proxy's own sockets (host
 * namespace and the proxy's mark). The
 * sk_msg verdict then redirects a send when, and only while:
 *  - the peer end is in the map;
 *  - no byte sent the TCP way is still on its way or unread: the sender
 *    has nothing unacknowledged or unsent, and the peer has read all it
 *    received. The peer reads redirected bytes before TCP ones, so going
 *    from TCP to redirect with TCP bytes pending would reorder the stream;
 *    going back is always safe;
 *  - the peer's queue of redirected bytes is under VELUM_SOCK_QUEUE_MAX:
 *    redirected bytes bypass TCP's flow control, so a reader that stops
 *    reading (a hostile client, a stalled server) makes the sender fall
 *    back to TCP, whose window stops it as before.
 * Anything else goes the TCP way, as it would without this file.
 */
#pragma once

#include <linux/bpf.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "maps.h"
#include "proxy.h"

#ifndef AF_INET
#define AF_INET 2
#endif

/* The host namespace's cookie, set by the loader; 0 keeps everything off. */
const volatile __u64 host_netns_cookie = 0;

/* The kernel's structures, only the fields read here (CO-RE). */
struct tcp_sock___velum {
	__u32 rcv_nxt;
	__u32 copied_seq;
	__u32 snd_una;
	__u32 write_seq;
} __attribute__((preserve_access_index));

struct sock_common___velum {
	volatile unsigned char skc_state;
	struct {
		__s64 counter;
	} skc_cookie;
} __attribute__((preserve_access_index));

struct sock___velum {
	struct sock_common___velum __sk_common;
	void *sk_user_data;
} __attribute__((preserve_access_index));

struct sk_psock___velum {
	__u32 msg_tot_len;
} __attribute__((preserve_access_index));

/* sk_user_data's low bits are flags (include/net/sock.h SK_USER_DATA_*). */
#define SK_USER_DATA_FLAGS    7UL
#define TCP_STATE_ESTABLISHED 1
#define TCP_STATE_CLOSE_WAIT  8

/* The flow client -> server:port is proxied: its conntrack entry says so. */
static __always_inline bool sock_flow_proxied(__be32 saddr, __be32 daddr, __be16 sport,
					      __be16 dport)
{
	struct velum_ct_key k = {
		.saddr = saddr,
		.daddr = daddr,
		.sport = sport,
		.dport = dport,
		.protocol = IPPROTO_TCP,
		.dir = VELUM_DIR_INGRESS,
	};
	struct velum_ct_entry *e;

	e = bpf_map_lookup_elem(&velum_ct, &k);
	if (e && (e->proxy_port || (e->flags & VELUM_CT_F_PROXY)))
		return true;
	k.dir = VELUM_DIR_EGRESS;
	e = bpf_map_lookup_elem(&velum_ct, &k);
	return e && e->proxy_port;
}

/* A context field read as itself: the verifier refuses merged loads. */
#define CTX_READ(f) (*(volatile __typeof__(f) *)&(f))

static __always_inline int sock_ops_established(struct bpf_sock_ops *ctx)
{
	struct velum_sock_key k = {};
	struct velum_sock_ref ref;
	struct bpf_sock *sk = ctx->sk;
	__be32 laddr, raddr;
	__be16 lport, rport;
	bool proxied;
	__u64 netns;

	if (ctx->family != AF_INET || !host_netns_cookie || !sk)
		return 0;
	laddr = CTX_READ(ctx->local_ip4);
	raddr = CTX_READ(ctx->remote_ip4);
	lport = bpf_htons((__u16)CTX_READ(ctx->local_port));
	rport = (__be16)(CTX_READ(ctx->remote_port) >> 16);
	netns = bpf_get_netns_cookie(ctx);
	if (netns == host_netns_cookie) {
		if (!mark_from_proxy(sk->mark))
			return 0;
		k.side = VELUM_SOCK_SIDE_PROXY;
	} else {
		/*
		 * Only in the namespace of the endpoint that owns the address:
		 * another endpoint may give itself the address and make a
		 * connection of the same 4-tuple inside its own namespace.
		 */
		__u64 *owner = bpf_map_lookup_elem(&velum_ep_netns, &laddr);

		if (!owner || *owner != netns)
			return 0;
		k.side = VELUM_SOCK_SIDE_ENDPOINT;
	}
	/* the flow as the client sent it: the active end is the client's side */
	if (ctx->op == BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB)
		proxied = sock_flow_proxied(laddr, raddr, lport, rport);
	else
		proxied = sock_flow_proxied(raddr, laddr, rport, lport);
	if (!proxied)
		return 0;
	k.laddr = laddr;
	k.raddr = raddr;
	k.lport = lport;
	k.rport = rport;
	ref.sk = (__u64)(unsigned long)sk;
	ref.cookie = bpf_get_socket_cookie(ctx);
	/* the reference first: a socket in velum_sock is always readable */
	if (bpf_map_update_elem(&velum_sock_ref, &k, &ref, BPF_ANY))
		return 0;
	/* a full map leaves the socket to TCP: nothing else changes */
	bpf_sock_hash_update(ctx, &velum_sock, &k, BPF_ANY);
	return 0;
}

/*
 * Whether the peer socket at ref may be sent to now: it is still the
 * socket sock_ops saw (same cookie; TCP sockets are type-safe under RCU, so
 * the address holds a socket, maybe another), open for reading, has read
 * every byte TCP brought it, and has less than VELUM_SOCK_QUEUE_MAX
 * redirected bytes unread. Reads are fault-safe (probe reads).
 */
static __always_inline bool sock_peer_ready(const struct velum_sock_ref *ref)
{
	struct tcp_sock___velum *tp = (void *)(unsigned long)ref->sk;
	struct sock___velum *sk = (void *)(unsigned long)ref->sk;
	struct sk_psock___velum *psock;
	unsigned long ud;
	__u32 queued = 0;
	__u8 state;

	if (BPF_CORE_READ(sk, __sk_common.skc_cookie.counter) != (__s64)ref->cookie)
		return false;
	state = BPF_CORE_READ(sk, __sk_common.skc_state);
	if (state != TCP_STATE_ESTABLISHED && state != TCP_STATE_CLOSE_WAIT)
		return false;
	if (BPF_CORE_READ(tp, copied_seq) != BPF_CORE_READ(tp, rcv_nxt))
		return false;
	ud = (unsigned long)BPF_CORE_READ(sk, sk_user_data);
	psock = (void *)(ud & ~SK_USER_DATA_FLAGS);
	if (!psock || bpf_core_read(&queued, sizeof(queued), &psock->msg_tot_len))
		return false;
	return queued < VELUM_SOCK_QUEUE_MAX;
}

static __always_inline void sock_stat(__u32 idx, __u32 len)
{
	struct velum_metrics_value *m = bpf_map_lookup_elem(&velum_sock_stats, &idx);

	if (m) {
		m->packets++;
		m->bytes += len;
	}
}

static __always_inline int sock_msg_verdict(struct sk_msg_md *msg)
{
	struct velum_sock_key k = {};
	struct velum_sock_ref *ref;
	struct tcp_sock___velum *me;
	struct bpf_sock *self = msg->sk;

	if (msg->family != AF_INET || !self)
		return SK_PASS;
	/* the peer end: the reversed tuple, on the other side */
	k.laddr = CTX_READ(msg->remote_ip4);
	k.raddr = CTX_READ(msg->local_ip4);
	k.lport = (__be16)(CTX_READ(msg->remote_port) >> 16);
	k.rport = bpf_htons((__u16)CTX_READ(msg->local_port));
	k.side = bpf_get_netns_cookie(msg) == host_netns_cookie ? VELUM_SOCK_SIDE_ENDPOINT :
								  VELUM_SOCK_SIDE_PROXY;
	ref = bpf_map_lookup_elem(&velum_sock_ref, &k);
	if (!ref)
		return SK_PASS;
	/* nothing of ours the TCP way still unsent or unacknowledged */
	me = (void *)bpf_skc_to_tcp_sock(self);
	if (!me || me->write_seq != me->snd_una || !sock_peer_ready(ref)) {
		sock_stat(VELUM_SOCK_STAT_TCP, msg->size);
		return SK_PASS;
	}
	/*
	 * Redirect; if the peer has left velum_sock meanwhile (it closed), the
	 * helper sets no target and SK_PASS sends the TCP way.
	 */
	if (bpf_msg_redirect_hash(msg, &velum_sock, &k, BPF_F_INGRESS) == SK_PASS)
		sock_stat(VELUM_SOCK_STAT_CARRIED, msg->size);
	else
		sock_stat(VELUM_SOCK_STAT_TCP, msg->size);
	return SK_PASS;
}
