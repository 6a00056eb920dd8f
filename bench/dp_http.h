/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A tiny HTTP/1.1 keep-alive server and two load generators for the
 * datapath benchmark: closed-loop (maximum requests/s) and open-loop at a
 * constant rate with latency measured from each request's scheduled send
 * time, so that a stalled server is charged for every request it delayed
 * (no coordinated omission). All run in the calling thread's namespace.
 */
#ifndef VELUM_BENCH_DP_HTTP_H
#define VELUM_BENCH_DP_HTTP_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>

/* Serves "GET / -> 200 ok" on port until *stop; returns 0 or -errno. */
int http_serve(unsigned short port, atomic_bool *stop, atomic_int *ready);

struct http_result {
	double rps; /* completed requests per second */
	long done, errors;
	double p50_us, p90_us, p99_us, p999_us, max_us; /* open loop only */
};

/* conns connections, each with one request in flight, for secs seconds. */
int http_closed_loop(in_addr_t dst, unsigned short port, int conns, double secs,
		     struct http_result *r);
/* rate requests/s spread over conns connections for secs seconds. */
int http_open_loop(in_addr_t dst, unsigned short port, int conns, double rate, double secs,
		   struct http_result *r);

#endif
