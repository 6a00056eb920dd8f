// SPDX-License-Identifier: Apache-2.0
/*
 * HTTP server and load generators for bench/dp_bench.c (see dp_http.h). The
 * server answers every request head with a fixed 2-byte body; clients send
 * a fixed GET and count a response when its full length has arrived. Both
 * sides are single-threaded epoll loops with non-blocking sockets.
 */
#include "dp_http.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char req[] = "GET / HTTP/1.1\r\nHost: bench\r\n\r\n";
static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int http_serve(unsigned short port, atomic_bool *stop, atomic_int *ready)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct epoll_event ev, evs[64];
	int lfd, ep, one = 1;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ep = epoll_create1(EPOLL_CLOEXEC);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || ep < 0 || bind(lfd, (void *)&a, sizeof(a)) || listen(lfd, 1024)) {
		*ready = -errno;
		return -errno;
	}
	ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = lfd };
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	*ready = 1;
	while (!*stop) {
		int n = epoll_wait(ep, evs, 64, 50);

		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			char buf[4096];
			ssize_t r;

			if (fd == lfd) {
				int c;

				while ((c = accept4(lfd, NULL, NULL,
						    SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					ev = (struct epoll_event){ .events = EPOLLIN,
								   .data.fd = c };
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				}
				continue;
			}
			r = read(fd, buf, sizeof(buf));
			if (r <= 0) {
				if (r < 0 && errno == EAGAIN)
					continue;
				close(fd);
				continue;
			}
			/* one response per request head (clients never pipeline) */
			for (char *p = buf; (p = memmem(p, buf + r - p, "\r\n\r\n", 4)); p += 4)
				if (write(fd, resp, sizeof(resp) - 1) < 0)
					break;
		}
	}
	close(ep);
	close(lfd);
	return 0;
}

struct conn {
	int fd;
	size_t got; /* bytes of the current response */
	bool busy;
	double sched; /* scheduled send time of the request in flight */
};

static int connect_all(in_addr_t dst, unsigned short port, struct conn *c, int n, int ep)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = dst };
	int one = 1;

	for (int i = 0; i < n; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };

		c[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c[i].fd < 0 || connect(c[i].fd, (void *)&a, sizeof(a)))
			return -errno;
		setsockopt(c[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &ev);
	}
	return 0;
}

static void close_all(struct conn *c, int n, int ep)
{
	for (int i = 0; i < n; i++)
		if (c[i].fd > 0)
			close(c[i].fd);
	close(ep);
}

/* Reads what arrived on c; returns the number of complete responses. */
static int on_readable(struct conn *c)
{
	char buf[4096];
	ssize_t r = read(c->fd, buf, sizeof(buf));
	int done = 0;

	if (r <= 0)
		return -1;
	c->got += r;
	while (c->got >= sizeof(resp) - 1) {
		c->got -= sizeof(resp) - 1;
		done++;
	}
	return done;
}

int http_closed_loop(in_addr_t dst, unsigned short port, int conns, double secs,
		     struct http_result *r)
{
	struct conn *c = calloc(conns, sizeof(*c));
	struct epoll_event evs[256];
	int ep = epoll_create1(EPOLL_CLOEXEC), err;
	double t0, end;

	memset(r, 0, sizeof(*r));
	if (!c || ep < 0)
		return -ENOMEM;
	err = connect_all(dst, port, c, conns, ep);
	if (err)
		goto out;
	t0 = now_s();
	end = t0 + secs;
	for (int i = 0; i < conns; i++)
		if (write(c[i].fd, req, sizeof(req) - 1) < 0)
			r->errors++;
	while (now_s() < end) {
		int n = epoll_wait(ep, evs, 256, 100);

		for (int i = 0; i < n; i++) {
			struct conn *k = &c[evs[i].data.u32];
			int d = on_readable(k);

			if (d < 0) {
				r->errors++;
				continue;
			}
			r->done += d;
			if (d && write(k->fd, req, sizeof(req) - 1) < 0)
				r->errors++;
		}
	}
	r->rps = r->done / (now_s() - t0);
out:
	close_all(c, conns, ep);
	free(c);
	return err;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int http_open_loop(in_addr_t dst, unsigned short port, int conns, double rate, double secs,
		   struct http_result *r)
{
	size_t total = rate * secs, sent = 0, nlat = 0;
	struct conn *c = calloc(conns, sizeof(*c));
	double *lat = calloc(total + 1, sizeof(double));
	struct epoll_event evs[256];
	int ep = epoll_create1(EPOLL_CLOEXEC), err;
	double t0, drain_end;

	memset(r, 0, sizeof(*r));
	if (!c || !lat || ep < 0) {
		err = -ENOMEM;
		goto out;
	}
	err = connect_all(dst, port, c, conns, ep);
	if (err)
		goto out;
	t0 = now_s();
	drain_end = t0 + secs + 2;
	while (nlat + r->errors < total && now_s() < drain_end) {
		double t = now_s();
		struct timespec to;
		int n;

		/* every request whose time has come goes to an idle connection; the
		 * others wait, and their wait counts in their latency */
		while (sent < total && t0 + sent / rate <= t) {
			int i;

			for (i = 0; i < conns && c[i].busy; i++)
				;
			if (i == conns)
				break;
			c[i].busy = true;
			c[i].sched = t0 + sent / rate;
			c[i].got = 0;
			if (write(c[i].fd, req, sizeof(req) - 1) < 0)
				r->errors++;
			sent++;
		}
		{
			double next = sent < total ? t0 + sent / rate - now_s() : 0.001;

			if (next < 0)
				next = 0;
			to.tv_sec = (time_t)next;
			to.tv_nsec = (long)((next - to.tv_sec) * 1e9);
		}
		n = epoll_pwait2(ep, evs, 256, &to, NULL);
		for (int i = 0; i < n; i++) {
			struct conn *k = &c[evs[i].data.u32];
			int d = on_readable(k);

			if (d < 0) {
				r->errors++;
				continue;
			}
			if (d) {
				lat[nlat++] = (now_s() - k->sched) * 1e6;
				k->busy = false;
			}
		}
	}
	r->done = nlat;
	r->rps = nlat / secs;
	if (nlat) {
		qsort(lat, nlat, sizeof(double), cmp_double);
		r->p50_us = lat[nlat / 2];
		r->p90_us = lat[nlat * 9 / 10];
		r->p99_us = lat[nlat * 99 / 100];
		r->p999_us = lat[nlat * 999 / 1000];
		r->max_us = lat[nlat - 1];
	}
out:
	if (ep >= 0)
		close_all(c, conns, ep);
	free(c);
	free(lat);
	return err;
}
