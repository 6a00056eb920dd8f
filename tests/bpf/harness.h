/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The shared harness of the BPF program tests (tests/bpf/test_*.c): loads
 * the production skeleton with private maps, builds crafted Ethernet/IPv4
 * frames with correct checksums, runs them through BPF_PROG_TEST_RUN and
 * captures the events they emit. Each test keeps its own maps' contents
 * and cases; what every test needs to talk to the programs lives here.
 */
#ifndef VELUM_TESTS_BPF_HARNESS_H
#define VELUM_TESTS_BPF_HARNESS_H

#include <linux/types.h>
#include <stddef.h>

#include "velum/events.h"
#include "endpoint.skel.h"

#define BH_SYN 0x02
#define BH_ACK 0x10
#define BH_FIN 0x01
#define BH_RST 0x04

/* Deliberate damage to a built frame (malformed-input cases). */
enum bh_mangle {
	BH_M_NONE,
	BH_M_IHL4,	 /* IHL 4: shorter than an IPv4 header */
	BH_M_TOTLEN_BIG, /* tot_len beyond the frame */
	BH_M_TRUNC_L4,	 /* TCP header cut short */
	BH_M_TCP_DOFF,	 /* TCP data offset 4 */
	BH_M_IPV6,	 /* EtherType IPv6 */
	BH_M_ARP,	 /* EtherType ARP */
	BH_M_TRUNC_IP,	 /* a 60-byte header in a 56-byte datagram */
};

/* One packet to build; addresses are dotted quads. */
struct bh_pkt {
	const char *src, *dst;
	__u8 proto;
	__u16 sport, dport; /* ICMP: dport = type, sport = echo id */
	__u8 tcp_flags;
	/* ICMP errors: the quoted packet */
	const char *in_src, *in_dst;
	__u8 in_proto;
	__u16 in_sport, in_dport;
	__u16 frag; /* IP frag_off field, host order */
	__u16 ip_id;
	int mangle;    /* enum bh_mangle */
	__u32 mark_in; /* skb->mark the packet arrives with */
};

#define BH_MAX_EVENTS 64

struct bpf_harness {
	struct velum_endpoint *skel;
	struct ring_buffer *rb;
	int from_fd, to_fd, lo_fd;	      /* from_container, to_container, proxy_lo */
	struct velum_event ev[BH_MAX_EVENTS]; /* of the last bh_run() */
	int nev;
};

/*
 * Loads the skeleton (private, unpinned maps) and the event consumer into
 * h. Skips the test (cmocka skip()) without root: the tests need CAP_BPF
 * and CAP_NET_ADMIN.
 */
void bh_load(struct bpf_harness *h);
/* Frees what bh_load() made; accepts a zeroed harness. */
void bh_unload(struct bpf_harness *h);

/* The dotted quad s in network order (fails the test if it is not one). */
__be32 bh_ip4(const char *s);
/* The Internet checksum of n bytes, in network order. */
__u16 bh_csum(const void *p, size_t n);
/* Writes t's Ethernet frame (at most 256 bytes) into buf; returns its length. */
size_t bh_build(const struct bh_pkt *t, __u8 *buf);

/*
 * Runs n bytes of in through prog_fd with skb->mark = *mark (NULL: 0);
 * collects the events it emitted into h->ev. out (256 bytes, may be NULL)
 * receives the frame as the program left it and *out_n its length (may be
 * NULL); *mark the mark it left. Returns the program's tc action.
 */
int bh_run(struct bpf_harness *h, int prog_fd, const __u8 *in, size_t n, __u8 *out, size_t *out_n,
	   __u32 *mark);
/* The first / last event of type from the last run, or NULL. */
const struct velum_event *bh_event_first(const struct bpf_harness *h, __u8 type);
const struct velum_event *bh_event_last(const struct bpf_harness *h, __u8 type);

/* Packets counted under dir and code (0 forwarded, else a drop reason), over all CPUs. */
__u64 bh_metric(struct bpf_harness *h, int dir, int code);

#endif
