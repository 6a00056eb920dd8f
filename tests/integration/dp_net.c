// SPDX-License-Identifier: Apache-2.0
/*
 * Namespace threads, echo servers and probes (see dp_net.h). A probe that
 * is dropped by policy shows up as a timeout: the datapath drops silently.
 */
#include "dp_net.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

struct ns_call {
	int netns_fd;
	long (*fn)(void *);
	void *arg;
	long ret;
};

static void *ns_tramp(void *p)
{
	struct ns_call *c = p;

	if (c->netns_fd >= 0 && setns(c->netns_fd, CLONE_NEWNET) == -1) {
		c->ret = -errno;
		return NULL;
	}
	c->ret = c->fn(c->arg);
	return NULL;
}

long net_run_in(int netns_fd, long (*fn)(void *), void *arg)
{
	struct ns_call c = { netns_fd, fn, arg, 0 };
	pthread_t t;
	int err;

	err = pthread_create(&t, NULL, ns_tramp, &c);
	if (err)
		return -err;
	pthread_join(t, NULL);
	return c.ret;
}

static void set_timeout(int fd, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static void *server_main(void *p)
{
	struct net_server *s = p;
	struct pollfd pfd[2 * NET_MAX_PORTS];
	int one = 1, i, n = 0;

	if (setns(s->netns_fd, CLONE_NEWNET) == -1) {
		s->ready = -errno;
		return NULL;
	}
	for (i = 0; i < s->nports; i++) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(s->ports[i]) };
		int t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

		setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (t < 0 || u < 0 || bind(t, (void *)&a, sizeof(a)) || listen(t, 128) ||
		    bind(u, (void *)&a, sizeof(a))) {
			s->ready = -errno;
			return NULL;
		}
		pfd[n++] = (struct pollfd){ .fd = t, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = u, .events = POLLIN };
	}
	s->ready = 1;
	while (!s->stop) {
		if (poll(pfd, n, 50) <= 0)
			continue;
		for (i = 0; i < n; i++) {
			char buf[8192];
			struct sockaddr_in peer;
			socklen_t plen = sizeof(peer);
			ssize_t r;
			int c;

			if (!(pfd[i].revents & POLLIN))
				continue;
			if (i % 2 == 0) {
				c = accept4(pfd[i].fd, NULL, NULL, SOCK_CLOEXEC);
				if (c < 0)
					continue;
				s->tcp_accepts[i / 2]++;
				set_timeout(c, 500);
				r = recv(c, buf, sizeof(buf), 0);
				if (r > 0)
					send(c, buf, r, MSG_NOSIGNAL);
				close(c);
			} else {
				r = recvfrom(pfd[i].fd, buf, sizeof(buf), 0, (void *)&peer, &plen);
				if (r < 0)
					continue;
				s->udp_rx[i / 2]++;
				sendto(pfd[i].fd, buf, r, 0, (void *)&peer, plen);
			}
		}
	}
	for (i = 0; i < n; i++)
		close(pfd[i].fd);
	return NULL;
}

int net_server_start(struct net_server *s)
{
	int err;

	s->stop = false;
	s->ready = 0;
	for (int i = 0; i < NET_MAX_PORTS; i++) {
		s->tcp_accepts[i] = 0;
		s->udp_rx[i] = 0;
	}
	err = pthread_create(&s->thr, NULL, server_main, s);
	if (err)
		return -err;
	while (!s->ready)
		usleep(1000);
	if (s->ready < 0) {
		pthread_join(s->thr, NULL);
		return s->ready;
	}
	return 0;
}

void net_server_stop(struct net_server *s)
{
	s->stop = true;
	pthread_join(s->thr, NULL);
}

static int port_idx(struct net_server *s, unsigned short port)
{
	for (int i = 0; i < s->nports; i++)
		if (s->ports[i] == port)
			return i;
	return -1;
}

int net_server_tcp(struct net_server *s, unsigned short port)
{
	int i = port_idx(s, port);

	return i < 0 ? 0 : s->tcp_accepts[i];
}

int net_server_udp(struct net_server *s, unsigned short port)
{
	int i = port_idx(s, port);

	return i < 0 ? 0 : s->udp_rx[i];
}

int net_tcp_echo(in_addr_t dst, unsigned short port, int timeout_ms)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = dst };
	struct pollfd p;
	char buf[16];
	int fd, err = 0, so = 0;
	socklen_t sl = sizeof(so);

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (void *)&a, sizeof(a)) && errno != EINPROGRESS) {
		err = -errno;
		goto out;
	}
	p = (struct pollfd){ .fd = fd, .events = POLLOUT };
	if (poll(&p, 1, timeout_ms) <= 0) {
		err = -ETIMEDOUT;
		goto out;
	}
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl);
	if (so) {
		err = -so;
		goto out;
	}
	if (send(fd, "ping", 4, MSG_NOSIGNAL) != 4) {
		err = -errno;
		goto out;
	}
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	if (poll(&p, 1, timeout_ms) <= 0 || recv(fd, buf, sizeof(buf), 0) != 4)
		err = -ETIMEDOUT;
out:
	close(fd);
	return err;
}

int net_udp_echo_size(in_addr_t dst, unsigned short port, size_t size, int timeout_ms)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = dst };
	static __thread char out[8192], in[8192];
	struct pollfd p;
	int fd, err = 0;

	if (size > sizeof(out))
		return -EINVAL;
	memset(out, 'v', size);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (void *)&a, sizeof(a)) || send(fd, out, size, 0) != (ssize_t)size) {
		err = -errno;
		goto out;
	}
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	if (poll(&p, 1, timeout_ms) <= 0)
		err = -ETIMEDOUT;
	else if (recv(fd, in, sizeof(in), 0) != (ssize_t)size)
		err = errno ? -errno : -EIO;
out:
	close(fd);
	return err;
}

int net_udp_echo(in_addr_t dst, unsigned short port, int timeout_ms)
{
	return net_udp_echo_size(dst, port, 4, timeout_ms);
}

int net_ping(in_addr_t dst, int timeout_ms)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = dst };
	struct icmphdr req = { .type = ICMP_ECHO };
	static unsigned short seq;
	unsigned short id = getpid() & 0xffff;
	struct timespec t0, t;
	char buf[256];
	int fd, err = -ETIMEDOUT;

	fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
	if (fd < 0)
		return -errno;
	req.un.echo.id = htons(id);
	req.un.echo.sequence = htons(++seq);
	{
		/* ICMP checksum over the 8-byte header */
		unsigned short *w = (unsigned short *)&req;
		unsigned int sum = 0;

		for (int i = 0; i < 4; i++)
			sum += w[i];
		while (sum >> 16)
			sum = (sum & 0xffff) + (sum >> 16);
		req.checksum = ~sum;
	}
	if (sendto(fd, &req, sizeof(req), 0, (void *)&a, sizeof(a)) < 0) {
		err = -errno;
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int left;
		ssize_t r;

		clock_gettime(CLOCK_MONOTONIC, &t);
		left = timeout_ms -
		       ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0 || poll(&p, 1, left) <= 0)
			break;
		r = recv(fd, buf, sizeof(buf), 0);
		/* raw sockets see every ICMP: find our echo reply */
		if (r >= 28) {
			int ihl = (buf[0] & 0xf) * 4;
			struct icmphdr *h = (struct icmphdr *)(buf + ihl);

			if (r >= ihl + 8 && h->type == ICMP_ECHOREPLY &&
			    h->un.echo.id == htons(id) &&
			    h->un.echo.sequence == req.un.echo.sequence) {
				err = 0;
				break;
			}
		}
	}
out:
	close(fd);
	return err;
}

long net_probe_fn(void *probe)
{
	struct net_probe *p = probe;

	switch (p->proto) {
	case IPPROTO_TCP:
		return net_tcp_echo(p->dst, p->port, p->timeout_ms);
	case IPPROTO_UDP:
		return net_udp_echo_size(p->dst, p->port, p->size ? p->size : 4, p->timeout_ms);
	default:
		return net_ping(p->dst, p->timeout_ms);
	}
}
