/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Traffic helpers for datapath integration tests and the benchmark: run a
 * function inside a network namespace (a thread that joins it), echo
 * servers that count what reaches them, and clients for TCP, UDP and ICMP
 * echo with short timeouts. Only addresses inside namespaces the caller
 * made are ever contacted.
 */
#ifndef VELUM_TESTS_DP_NET_H
#define VELUM_TESTS_DP_NET_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#define NET_MAX_PORTS 8

/* Runs fn(arg) in a thread that joined netns_fd (-1: this namespace); returns fn's result. */
long net_run_in(int netns_fd, long (*fn)(void *), void *arg);

/* An echo server on TCP and UDP for each port, in a namespace. */
struct net_server {
	int netns_fd;
	unsigned short ports[NET_MAX_PORTS];
	int nports;
	atomic_int tcp_accepts[NET_MAX_PORTS];
	atomic_int udp_rx[NET_MAX_PORTS];
	atomic_bool stop;
	atomic_int ready; /* 1 listening, -errno failed */
	pthread_t thr;
};

/* Starts s (netns_fd, ports, nports set by the caller); 0 or -errno. */
int net_server_start(struct net_server *s);
void net_server_stop(struct net_server *s);
/* Counters for port (0 if not served). */
int net_server_tcp(struct net_server *s, unsigned short port);
int net_server_udp(struct net_server *s, unsigned short port);

/* Clients, in the calling thread's namespace: 0 on an echoed round trip, -errno else. */
int net_tcp_echo(in_addr_t dst, unsigned short port, int timeout_ms);
int net_udp_echo(in_addr_t dst, unsigned short port, int timeout_ms);
/* A size-byte datagram (up to 8192: IP fragments on a 1500-byte MTU) echoed whole. */
int net_udp_echo_size(in_addr_t dst, unsigned short port, size_t size, int timeout_ms);
int net_ping(in_addr_t dst, int timeout_ms);

/* A probe to run with net_run_in(). */
struct net_probe {
	int proto; /* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP */
	in_addr_t dst;
	unsigned short port;
	int timeout_ms;
	size_t size; /* UDP payload; 0: 4 bytes */
};
long net_probe_fn(void *probe);

#endif
