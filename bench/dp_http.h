/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The benchmarks' HTTP/1.1 keep-alive client, and a tiny server for the
 * datapath benchmark. http_load() is one thread's share of a load: a set
 * of connections driven either closed-loop (each connection sends its next
 * request when the previous response is complete: maximum requests/s) or
 * open-loop at a constant rate, wrk2's model: request k is due at
 * start + offset + k / rate whether or not the server kept up, goes out on
 * the first idle connection, and its latency runs from that due time, so a
 * stalled server is charged for every request it delayed (no coordinated
 * omission). Failures are counted by kind and never enter the latency
 * histogram. All sockets live in the calling thread's network namespace.
 */
#ifndef VELUM_BENCH_DP_HTTP_H
#define VELUM_BENCH_DP_HTTP_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "hist.h"

/* Serves "GET / -> 200 ok" on port until *stop; returns 0 or -errno. */
int http_serve(unsigned short port, atomic_bool *stop, atomic_int *ready);

struct http_load_opts {
	in_addr_t dst; /* network order */
	unsigned short port;
	const char *path;      /* request target; NULL: "/" */
	const char *host;      /* Host header; NULL: "bench" */
	int conns;	       /* connections of this thread, >= 1 */
	double rate;	       /* requests/s of this thread; 0: closed loop */
	double secs;	       /* sending lasts this long after the start */
	double offset;	       /* open loop: the first request is due this long after the start */
	double timeout;	       /* s: a connect or request older than this fails; 0: 30 */
	pthread_barrier_t *go; /* if set, waited on after connecting: the start for all threads */
};

struct http_load_stats {
	struct hist *lat;    /* caller's: latency (us) of each 2xx response */
	struct hist *rate;   /* caller's or NULL: 2xx responses/s in each 100 ms interval */
	long ok;	     /* 2xx responses */
	long non2xx;	     /* complete responses with another status */
	long connect_errors; /* failed or timed-out connects (then retried every 100 ms) */
	long timeouts;	     /* requests unanswered after timeout (connection replaced) */
	long resets;	     /* connections reset or closed with a request in flight */
	long bad;	     /* unparsable responses (connection replaced) */
	long unsent; /* open loop: requests due before the end, never sent (no idle connection) */
	long long bytes; /* bytes received */
	double elapsed;	 /* closed loop: s from the start to the end; open loop: secs */
};

/*
 * Runs one thread's load to o->dst:o->port and adds into s (zero it, and
 * give it histograms, first). Returns 0, or -errno if setting up failed
 * (no memory, epoll); connection failures are counted, not returned.
 * After o->secs, an open loop waits up to o->timeout for answers still due.
 */
int http_load(const struct http_load_opts *o, struct http_load_stats *s);

/* Summary of one single-threaded load, for the datapath benchmark. */
struct http_result {
	double rps; /* 2xx responses per second */
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
