// SPDX-License-Identifier: Apache-2.0
/*
 * The benchmarks' HTTP client and the datapath benchmark's server (see
 * dp_http.h). The server answers every request head with a fixed 2-byte
 * body. The client is one epoll loop per thread over non-blocking sockets:
 * it parses each response's status line and Content-Length (chunked bodies
 * are refused as bad responses; the targets send lengths) and keeps a
 * queue of idle connections for the open loop.
 */
#include "dp_http.h"

#include <errno.h>
#include <math.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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

#define HEAD_MAX 2048 /* a response head longer than this is a bad response */
#define TICK	 0.1  /* s: rate samples, time-out scans and reconnects */

enum conn_state { C_DOWN, C_CONNECTING, C_IDLE, C_BUSY };

struct conn {
	int fd;
	enum conn_state st;
	bool in_idle;	  /* in the idle queue (entries are checked when taken) */
	bool close_after; /* the response said Connection: close */
	int status;
	long body_left; /* body bytes still to come; -1 while reading the head */
	double since;	/* connect start or send time */
	double due;	/* the request's due time (open loop) or send time */
	size_t len;
	char buf[HEAD_MAX];
};

struct load {
	const struct http_load_opts *o;
	struct http_load_stats *s;
	struct sockaddr_in addr;
	char req[512];
	size_t req_len;
	struct conn *c;
	int *idle, idle_head, nidle, nbusy, ep; /* idle: a ring of conns entries */
	double timeout;
	bool open, sending;
	long interval_ok;
};

static void conn_open(struct load *l, int i, double now);

static void conn_close(struct load *l, int i)
{
	struct conn *c = &l->c[i];

	if (c->st == C_BUSY)
		l->nbusy--;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->st = C_DOWN;
}

/* Closes connection i and, while the load runs, opens its replacement. */
static void conn_replace(struct load *l, int i, double now)
{
	conn_close(l, i);
	if (l->sending)
		conn_open(l, i, now);
}

/*
 * Idle connections wait in a queue: the open loop takes the one idle the
 * longest, so that requests rotate over all connections (in wrk2 each
 * connection carries rate / connections) instead of reusing a few.
 */
static void push_idle(struct load *l, int i)
{
	l->c[i].st = C_IDLE;
	if (!l->c[i].in_idle) {
		l->c[i].in_idle = true;
		l->idle[(l->idle_head + l->nidle++) % l->o->conns] = i;
	}
}

/* The connection idle the longest, or -1. */
static int pop_idle(struct load *l)
{
	while (l->nidle) {
		int i = l->idle[l->idle_head];

		l->idle_head = (l->idle_head + 1) % l->o->conns;
		l->nidle--;
		l->c[i].in_idle = false;
		if (l->c[i].st == C_IDLE)
			return i;
	}
	return -1;
}

static void send_req(struct load *l, int i, double due, double now)
{
	struct conn *c = &l->c[i];

	if (write(c->fd, l->req, l->req_len) != (ssize_t)l->req_len) {
		/* a request this small goes out whole unless the connection broke */
		l->s->resets++;
		conn_replace(l, i, now);
		return;
	}
	c->st = C_BUSY;
	l->nbusy++;
	c->since = now;
	c->due = due;
	c->body_left = -1;
	c->len = 0;
}

static void conn_ready(struct load *l, int i, double now)
{
	if (!l->open && l->sending)
		send_req(l, i, now, now);
	else
		push_idle(l, i);
}

static void conn_open(struct load *l, int i, double now)
{
	struct conn *c = &l->c[i];
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.u32 = i };
	int one = 1;

	c->since = now;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		l->s->connect_errors++;
		c->st = C_DOWN;
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (void *)&l->addr, sizeof(l->addr)) && errno != EINPROGRESS) {
		l->s->connect_errors++;
		conn_close(l, i);
		return;
	}
	c->st = C_CONNECTING;
	epoll_ctl(l->ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void on_connected(struct load *l, int i, double now)
{
	struct conn *c = &l->c[i];
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };
	socklen_t len = sizeof(int);
	int err = 0;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
		l->s->connect_errors++;
		conn_close(l, i); /* retried at the next tick */
		return;
	}
	epoll_ctl(l->ep, EPOLL_CTL_MOD, c->fd, &ev);
	conn_ready(l, i, now);
}

/* The status and body length of the head in c->buf[0..head_len); false if unparsable. */
static bool parse_head(struct conn *c, size_t head_len)
{
	const char *p = c->buf, *end = c->buf + head_len;
	bool have_len = false;

	if (head_len < 12 || memcmp(p, "HTTP/1.", 7) || p[8] != ' ')
		return false;
	c->status = atoi(p + 9);
	if (c->status < 100 || c->status > 599)
		return false;
	c->body_left = 0;
	c->close_after = p[7] == '0';
	for (p = memchr(p, '\n', end - p); p && ++p < end; p = memchr(p, '\n', end - p)) {
		if (!strncasecmp(p, "Content-Length:", 15)) {
			c->body_left = strtol(p + 15, NULL, 10);
			have_len = c->body_left >= 0;
		} else if (!strncasecmp(p, "Transfer-Encoding:", 18)) {
			return false;
		} else if (!strncasecmp(p, "Connection:", 11)) {
			const char *v = p + 11 + strspn(p + 11, " \t");

			c->close_after = !strncasecmp(v, "close", 5);
		}
	}
	/* 1xx, 204 and 304 have no body; others must say how long theirs is */
	return have_len || c->status < 200 || c->status == 204 || c->status == 304;
}

static void complete(struct load *l, int i, double now)
{
	struct conn *c = &l->c[i];

	if (c->status >= 200 && c->status < 300) {
		hist_record(l->s->lat, (int64_t)((now - c->due) * 1e6 + 0.5));
		l->s->ok++;
		l->interval_ok++;
	} else {
		l->s->non2xx++;
	}
	c->st = C_IDLE;
	l->nbusy--;
	if (c->close_after)
		conn_replace(l, i, now);
	else
		conn_ready(l, i, now);
}

static void on_readable(struct load *l, int i, double now)
{
	struct conn *c = &l->c[i];

	for (;;) {
		size_t room = HEAD_MAX - c->len;
		ssize_t r = read(c->fd, c->buf + c->len, room);

		if (r < 0 && errno == EAGAIN)
			return;
		if (r <= 0) {
			/* an idle connection the server closed is replaced quietly */
			if (c->st == C_BUSY)
				l->s->resets++;
			conn_replace(l, i, now);
			return;
		}
		l->s->bytes += r;
		if (c->st != C_BUSY)
			goto bad; /* bytes nobody asked for */
		c->len += r;
		if (c->body_left < 0) {
			char *e = memmem(c->buf, c->len, "\r\n\r\n", 4);
			size_t head;

			if (!e) {
				if (c->len == HEAD_MAX)
					goto bad;
				if ((size_t)r < room)
					return;
				continue;
			}
			head = e + 4 - c->buf;
			if (!parse_head(c, head))
				goto bad;
			c->len -= head;
			memmove(c->buf, c->buf + head, c->len);
		}
		{
			size_t take = (size_t)c->body_left < c->len ? (size_t)c->body_left : c->len;

			c->body_left -= take;
			c->len -= take;
			memmove(c->buf, c->buf + take, c->len);
		}
		if (c->body_left > 0) {
			if ((size_t)r < room)
				return; /* drained: epoll (level-triggered) reports the rest */
			continue;
		}
		if (c->len)
			goto bad; /* more than one response to one request */
		complete(l, i, now);
		return; /* one response per request in flight: nothing else is due */
	}
bad:
	l->s->bad++;
	conn_replace(l, i, now);
}

/* Every TICK: the rate sample, time-outs, and reconnects. */
static void tick(struct load *l, double now, double interval)
{
	/* a last, partial interval much shorter than TICK would be a noisy sample */
	if (l->sending && l->s->rate && interval >= TICK / 2)
		hist_record(l->s->rate, (int64_t)(l->interval_ok / interval + 0.5));
	l->interval_ok = 0;
	for (int i = 0; i < l->o->conns; i++) {
		struct conn *c = &l->c[i];

		if (c->st == C_BUSY && now - c->since > l->timeout) {
			l->s->timeouts++;
			conn_replace(l, i, now);
		} else if (c->st == C_CONNECTING && now - c->since > l->timeout) {
			l->s->connect_errors++;
			conn_replace(l, i, now);
		} else if (c->st == C_DOWN && l->sending) {
			conn_open(l, i, now);
		}
	}
}

static void handle(struct load *l, struct epoll_event *evs, int n)
{
	double now = now_s();

	for (int k = 0; k < n; k++) {
		int i = evs[k].data.u32;

		if (l->c[i].st == C_CONNECTING)
			on_connected(l, i, now);
		else if (l->c[i].fd >= 0)
			on_readable(l, i, now);
	}
}

static int wait_events(struct load *l, double until)
{
	struct epoll_event evs[256];
	double left = until - now_s();
	struct timespec to;
	int n;

	if (left < 0)
		left = 0;
	to.tv_sec = (time_t)left;
	to.tv_nsec = (long)((left - to.tv_sec) * 1e9);
	n = epoll_pwait2(l->ep, evs, 256, &to, NULL);
	if (n > 0)
		handle(l, evs, n);
	return n;
}

/* Sends open-loop request k onwards while they are due and a connection is idle. */
static long send_due(struct load *l, long k, double start, double end, double now)
{
	for (;;) {
		double due = start + l->o->offset + k / l->o->rate;
		int i;

		if (due > now || due >= end)
			return k;
		i = pop_idle(l);
		if (i < 0)
			return k;
		send_req(l, i, due, now);
		k++;
	}
}

int http_load(const struct http_load_opts *o, struct http_load_stats *s)
{
	struct load l = { .o = o, .s = s, .open = o->rate > 0 };
	double start, end, next_tick, last_tick, now, drain_end = 0;
	long k = 0;
	int err = 0;

	l.timeout = o->timeout > 0 ? o->timeout : 30;
	l.addr = (struct sockaddr_in){ .sin_family = AF_INET,
				       .sin_port = htons(o->port),
				       .sin_addr.s_addr = o->dst };
	l.req_len = snprintf(l.req, sizeof(l.req), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n",
			     o->path ? o->path : "/", o->host ? o->host : "bench");
	if (l.req_len >= sizeof(l.req) || o->conns < 1)
		return -EINVAL;
	l.c = calloc(o->conns, sizeof(*l.c));
	l.idle = calloc(o->conns, sizeof(*l.idle));
	l.ep = epoll_create1(EPOLL_CLOEXEC);
	if (!l.c || !l.idle || l.ep < 0) {
		err = l.ep < 0 ? -errno : -ENOMEM;
		goto out;
	}
	/* connect everything first; the load starts when all are up or failed */
	now = now_s();
	for (int i = 0; i < o->conns; i++) {
		l.c[i].fd = -1;
		conn_open(&l, i, now);
	}
	for (;;) {
		int connecting = 0;

		for (int i = 0; i < o->conns; i++)
			connecting += l.c[i].st == C_CONNECTING;
		if (!connecting || now_s() - now > l.timeout)
			break;
		wait_events(&l, now_s() + TICK);
	}
	if (o->go)
		pthread_barrier_wait(o->go);
	start = now_s();
	end = start + o->secs;
	last_tick = start;
	next_tick = start + TICK;
	l.sending = true;
	if (!l.open)
		for (int i; (i = pop_idle(&l)) >= 0;)
			send_req(&l, i, start, start);
	for (;;) {
		double wake = next_tick;

		now = now_s();
		if (l.open && l.sending) /* due before the end: sent even if the wake-up was late */
			k = send_due(&l, k, start, end, now);
		if (l.sending && now >= end) {
			tick(&l, now, now - last_tick);
			l.sending = false;
			/* open loop: the answered share of the requests due in secs */
			s->elapsed = l.open ? o->secs : now - start;
			if (l.open && o->secs > o->offset) {
				long due = (long)ceil((o->secs - o->offset) * o->rate);

				s->unsent += due > k ? due - k : 0;
			}
			drain_end = l.open ? now + l.timeout : now;
		}
		if (!l.sending && (!l.nbusy || now >= drain_end))
			break;
		if (l.open && l.sending && l.nidle)
			wake = start + o->offset + k / o->rate;
		if (now >= next_tick) {
			tick(&l, now, now - last_tick);
			last_tick = now;
			while (next_tick <= now)
				next_tick += TICK;
		}
		if (wake > next_tick)
			wake = next_tick;
		if (l.sending && wake > end)
			wake = end;
		if (!l.sending && wake > drain_end)
			wake = drain_end;
		if (wait_events(&l, wake) < 0 && errno != EINTR) {
			err = -errno;
			break;
		}
	}
	/* requests still unanswered at the end of the drain */
	if (l.open)
		s->timeouts += l.nbusy;
out:
	if (l.c)
		for (int i = 0; i < o->conns; i++)
			if (l.c[i].fd >= 0)
				close(l.c[i].fd);
	if (l.ep >= 0)
		close(l.ep);
	free(l.c);
	free(l.idle);
	return err;
}

static int run_one(in_addr_t dst, unsigned short port, int conns, double rate, double secs,
		   struct http_result *r)
{
	struct http_load_opts o = {
		.dst = dst, .port = port, .conns = conns, .rate = rate, .secs = secs, .timeout = 2
	};
	struct http_load_stats s = { .lat = hist__new(60000000, 3) };
	int err;

	memset(r, 0, sizeof(*r));
	if (!s.lat)
		return -ENOMEM;
	err = http_load(&o, &s);
	r->done = s.ok;
	r->errors = s.non2xx + s.connect_errors + s.timeouts + s.resets + s.bad;
	r->rps = s.elapsed > 0 ? s.ok / s.elapsed : 0;
	r->p50_us = hist_percentile(s.lat, 50);
	r->p90_us = hist_percentile(s.lat, 90);
	r->p99_us = hist_percentile(s.lat, 99);
	r->p999_us = hist_percentile(s.lat, 99.9);
	r->max_us = hist_percentile(s.lat, 100);
	hist__free(s.lat);
	return err;
}

int http_closed_loop(in_addr_t dst, unsigned short port, int conns, double secs,
		     struct http_result *r)
{
	return run_one(dst, port, conns, 0, secs, r);
}

int http_open_loop(in_addr_t dst, unsigned short port, int conns, double rate, double secs,
		   struct http_result *r)
{
	return run_one(dst, port, conns, rate, secs, r);
}
