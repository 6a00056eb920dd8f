// SPDX-License-Identifier: Apache-2.0
/*
 * The BPF test harness (harness.h): skeleton set-up, frame builder,
 * checksums, BPF_PROG_TEST_RUN and event capture.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "velum/drop.h"

static int on_event(void *ctx, void *data, size_t len)
{
	struct bpf_harness *h = ctx;

	assert_int_equal(len, sizeof(struct velum_event));
	if (h->nev < BH_MAX_EVENTS)
		memcpy(&h->ev[h->nev++], data, sizeof(struct velum_event));
	return 0;
}

void bh_load(struct bpf_harness *h)
{
	if (geteuid() != 0) {
		print_message("not root: BPF tests skipped\n");
		skip();
	}
	memset(h, 0, sizeof(*h));
	h->skel = velum_endpoint__open();
	assert_non_null(h->skel);
	assert_int_equal(velum_endpoint__load(h->skel), 0);
	h->from_fd = bpf_program__fd(h->skel->progs.from_container);
	h->to_fd = bpf_program__fd(h->skel->progs.to_container);
	h->lo_fd = bpf_program__fd(h->skel->progs.proxy_lo);
	h->rb = ring_buffer__new(bpf_map__fd(h->skel->maps.velum_events), on_event, h, NULL);
	assert_non_null(h->rb);
}

void bh_unload(struct bpf_harness *h)
{
	ring_buffer__free(h->rb);
	velum_endpoint__destroy(h->skel);
	h->rb = NULL;
	h->skel = NULL;
}

__be32 bh_ip4(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

__u16 bh_csum(const void *p, size_t n)
{
	const __u8 *b = p;
	__u32 s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (b[i] << 8) | b[i + 1];
	if (n & 1)
		s += b[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return htons(~s);
}

/* Writes an IPv4 header + L4 (8 or 20 bytes) for the quoted/outer packet. */
static size_t put_ip(__u8 *b, const char *src, const char *dst, __u8 proto, __u16 sport,
		     __u16 dport, __u8 flags, __u16 frag, __u16 id, size_t payload)
{
	size_t l4 = proto == IPPROTO_TCP ? 20 : 8;
	__u16 tot = 20 + l4 + payload;

	memset(b, 0, 20 + l4);
	b[0] = 0x45;
	b[2] = tot >> 8;
	b[3] = tot & 0xff;
	b[4] = id >> 8;
	b[5] = id & 0xff;
	b[6] = frag >> 8;
	b[7] = frag & 0xff;
	b[8] = 64;
	b[9] = proto;
	memcpy(b + 12, &(__be32){ bh_ip4(src) }, 4);
	memcpy(b + 16, &(__be32){ bh_ip4(dst) }, 4);
	memcpy(b + 10, &(__u16){ bh_csum(b, 20) }, 2);
	if (proto == IPPROTO_ICMP) {
		b[20] = dport;	    /* type */
		b[24] = sport >> 8; /* echo id */
		b[25] = sport & 0xff;
	} else {
		b[20] = sport >> 8;
		b[21] = sport & 0xff;
		b[22] = dport >> 8;
		b[23] = dport & 0xff;
		if (proto == IPPROTO_TCP) {
			b[32] = 5 << 4;
			b[33] = flags;
		}
		if (proto == IPPROTO_UDP) {
			b[24] = (8 + payload) >> 8;
			b[25] = (8 + payload) & 0xff;
		}
	}
	return 20 + l4;
}

size_t bh_build(const struct bh_pkt *t, __u8 *buf)
{
	struct ethhdr *eth = (struct ethhdr *)buf;
	__u8 *ip = buf + ETH_HLEN;
	size_t n, payload = 16;

	memset(buf, 0, 256);
	memcpy(eth->h_dest, "\x02\x00\x00\x00\x00\x02", 6);
	memcpy(eth->h_source, "\x02\x00\x00\x00\x00\x01", 6);
	eth->h_proto = htons(ETH_P_IP);
	if (t->mangle == BH_M_IPV6) {
		eth->h_proto = htons(ETH_P_IPV6);
		return ETH_HLEN + 40;
	}
	if (t->mangle == BH_M_ARP) {
		eth->h_proto = htons(ETH_P_ARP);
		return ETH_HLEN + 28;
	}
	if (t->in_src) {
		/* ICMP error: outer header, 8 bytes ICMP, quoted IP + 8 bytes */
		__u8 inner[64];
		size_t in = put_ip(inner, t->in_src, t->in_dst, t->in_proto, t->in_sport,
				   t->in_dport, BH_SYN, 0, 1, 0);

		in = 28; /* RFC 792: header + 8 bytes */
		n = put_ip(ip, t->src, t->dst, IPPROTO_ICMP, 0, t->dport, 0, 0, t->ip_id, in);
		ip[21] = 3; /* code: port unreachable */
		memcpy(ip + n, inner, in);
		return ETH_HLEN + n + in;
	}
	n = put_ip(ip, t->src, t->dst, t->proto, t->sport, t->dport, t->tcp_flags, t->frag,
		   t->ip_id, payload);
	if (t->frag & 0x1fff) {
		/* a later fragment: no L4 header, just payload */
		memset(ip + 20, 0xab, n - 20);
	}
	switch (t->mangle) {
	case BH_M_IHL4:
		ip[0] = 0x44;
		break;
	case BH_M_TOTLEN_BIG:
		ip[2] = 0x05; /* 1280 > frame */
		break;
	case BH_M_TRUNC_L4:
		/* tot_len says 20 + 10: TCP header cut short */
		ip[2] = 0;
		ip[3] = 30;
		return ETH_HLEN + 30;
	case BH_M_TCP_DOFF:
		ip[32] = 4 << 4;
		break;
	case BH_M_TRUNC_IP:
		/* a 60-byte header in a 56-byte datagram (the kernel's test run
		 * refuses frames shorter than an IPv4 header) */
		ip[0] = 0x4f;
		break;
	}
	return ETH_HLEN + n + payload;
}

int bh_run(struct bpf_harness *h, int prog_fd, const __u8 *in, size_t n, __u8 *out, size_t *out_n,
	   __u32 *mark)
{
	__u8 scratch[256];
	struct __sk_buff ctx = { .mark = mark ? *mark : 0 };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = (__u32)n,
		    .data_out = out ? out : scratch, .data_size_out = 256, .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .ctx_out = &ctx, .ctx_size_out = sizeof(ctx),
		    .repeat = 1);

	h->nev = 0;
	assert_int_equal(bpf_prog_test_run_opts(prog_fd, &o), 0);
	ring_buffer__consume(h->rb);
	if (out_n)
		*out_n = o.data_size_out;
	if (mark)
		*mark = ctx.mark;
	return (int)o.retval;
}

const struct velum_event *bh_event_first(const struct bpf_harness *h, __u8 type)
{
	for (int i = 0; i < h->nev; i++)
		if (h->ev[i].type == type)
			return &h->ev[i];
	return NULL;
}

const struct velum_event *bh_event_last(const struct bpf_harness *h, __u8 type)
{
	for (int i = h->nev - 1; i >= 0; i--)
		if (h->ev[i].type == type)
			return &h->ev[i];
	return NULL;
}

__u64 bh_metric(struct bpf_harness *h, int dir, int code)
{
	int ncpu = libbpf_num_possible_cpus();
	struct velum_metrics_value v[ncpu];
	__u32 idx = dir * VELUM_METRICS_PER_DIR + code;
	__u64 sum = 0;

	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(h->skel->maps.velum_metrics), &idx, v), 0);
	for (int i = 0; i < ncpu; i++)
		sum += v[i].packets;
	return sum;
}
