// SPDX-License-Identifier: Apache-2.0
/*
 * velum-hello: the HTTP benchmark's target, a hello-world server with a
 * single API, `GET /hello` -> 200 "Hello, world!". Another path is a 404,
 * another method on /hello a 405. HTTP/1.1 keep-alive (pipelined requests
 * answered in order), HTTP/1.0 and `Connection: close` honoured, request
 * bodies read and discarded. One epoll loop per thread, each with its own
 * SO_REUSEPORT listener; connections are indexed by descriptor.
 *
 *   velum-hello [--port 80] [--threads 1]
 *
 * It runs until killed; a bad request head (over 8 KiB, unparsable) gets a
 * 400 and the connection is closed.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define HEAD_MAX 8192

static const char ok_resp[] = "HTTP/1.1 200 OK\r\n"
			      "Content-Type: text/plain\r\n"
			      "Content-Length: 14\r\n"
			      "\r\n"
			      "Hello, world!\n";
static const char not_found[] = "HTTP/1.1 404 Not Found\r\n"
				"Content-Type: text/plain\r\n"
				"Content-Length: 10\r\n"
				"\r\n"
				"not found\n";
static const char not_allowed[] = "HTTP/1.1 405 Method Not Allowed\r\n"
				  "Allow: GET\r\n"
				  "Content-Type: text/plain\r\n"
				  "Content-Length: 19\r\n"
				  "\r\n"
				  "method not allowed\n";
static const char bad_request[] = "HTTP/1.1 400 Bad Request\r\n"
				  "Connection: close\r\n"
				  "Content-Length: 12\r\n"
				  "\r\n"
				  "bad request\n";

struct hconn {
	size_t len;
	long body_left; /* request body bytes still to discard */
	char buf[HEAD_MAX];
};

static struct hconn **conns; /* by descriptor; each is owned by one thread */
static rlim_t max_fds;
static unsigned short port = 80;

static void drop(int fd)
{
	free(conns[fd]);
	conns[fd] = NULL;
	close(fd);
}

struct out {
	int fd;
	size_t len;
	char buf[HEAD_MAX];
};

/* Queues response r, writing out what is queued first if it would not fit. */
static bool emit(struct out *o, const char *r)
{
	size_t n = strlen(r);

	if (o->len + n > sizeof(o->buf)) {
		if (write(o->fd, o->buf, o->len) != (ssize_t)o->len)
			return false;
		o->len = 0;
	}
	memcpy(o->buf + o->len, r, n);
	o->len += n;
	return true;
}

/*
 * The response to the request head in h->buf[0..head_len), or NULL for a
 * bad head; *keep says whether the connection stays open.
 */
static const char *answer(struct hconn *h, size_t head_len, bool *keep)
{
	char *sp1 = memchr(h->buf, ' ', head_len), *sp2, *p, *end = h->buf + head_len;
	bool get, hello;

	if (!sp1)
		return NULL;
	sp2 = memchr(sp1 + 1, ' ', end - sp1 - 1);
	if (!sp2 || end - sp2 < 9 || memcmp(sp2 + 1, "HTTP/1.", 7))
		return NULL;
	*keep = sp2[8] == '1';
	get = sp1 - h->buf == 3 && !memcmp(h->buf, "GET", 3);
	hello = sp2 - sp1 - 1 == 6 && !memcmp(sp1 + 1, "/hello", 6);
	h->body_left = 0;
	for (p = memchr(sp2, '\n', end - sp2); p && ++p < end; p = memchr(p, '\n', end - p)) {
		if (!strncasecmp(p, "Content-Length:", 15)) {
			h->body_left = strtol(p + 15, NULL, 10);
			if (h->body_left < 0)
				return NULL;
		} else if (!strncasecmp(p, "Transfer-Encoding:", 18)) {
			return NULL; /* a GET API: chunked request bodies are not supported */
		} else if (!strncasecmp(p, "Connection:", 11)) {
			const char *v = p + 11 + strspn(p + 11, " \t");

			if (!strncasecmp(v, "close", 5))
				*keep = false;
			else if (!strncasecmp(v, "keep-alive", 10))
				*keep = true;
		}
	}
	return !hello ? not_found : get ? ok_resp : not_allowed;
}

/* Reads and answers what arrived on fd; closes it when done or broken. */
static void on_readable(int fd)
{
	struct hconn *h = conns[fd];
	struct out out = { .fd = fd };
	bool open = true;

	while (open) {
		ssize_t r = read(fd, h->buf + h->len, HEAD_MAX - h->len);

		if (r < 0 && errno == EAGAIN)
			break;
		if (r <= 0) {
			open = false;
			break;
		}
		h->len += r;
		while (open) {
			const char *resp;
			size_t head;
			char *e;

			if (h->body_left) {
				size_t take = (size_t)h->body_left < h->len ? (size_t)h->body_left :
									      h->len;

				h->body_left -= take;
				h->len -= take;
				memmove(h->buf, h->buf + take, h->len);
				if (h->body_left)
					break;
			}
			e = memmem(h->buf, h->len, "\r\n\r\n", 4);
			if (!e) {
				if (h->len == HEAD_MAX) {
					emit(&out, bad_request);
					open = false;
				}
				break;
			}
			head = e + 4 - h->buf;
			resp = answer(h, head, &open);
			if (!resp) {
				resp = bad_request;
				open = false;
			}
			if (!emit(&out, resp))
				open = false;
			h->len -= head;
			memmove(h->buf, h->buf + head, h->len);
		}
	}
	if (out.len && write(fd, out.buf, out.len) != (ssize_t)out.len)
		open = false;
	if (!open)
		drop(fd);
}

static void *serve(void *arg)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct epoll_event ev, evs[256];
	int lfd, ep, one = 1;

	(void)arg;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (lfd < 0 || ep < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    bind(lfd, (void *)&a, sizeof(a)) || listen(lfd, 4096)) {
		fprintf(stderr, "velum-hello: port %u: %s\n", port, strerror(errno));
		exit(1);
	}
	ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = lfd };
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);

		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd, c;

			if (fd != lfd) {
				on_readable(fd);
				continue;
			}
			while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
				if ((rlim_t)c >= max_fds ||
				    !(conns[c] = calloc(1, sizeof(**conns)))) {
					close(c);
					continue;
				}
				setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = c };
				epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
			}
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct rlimit rl;
	int threads = 1;
	pthread_t t;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc) {
			int p = atoi(argv[++i]);

			if (p < 1 || p > 65535) {
				fprintf(stderr, "velum-hello: --port %s: not in 1-65535\n",
					argv[i]);
				return 2;
			}
			port = p;
		} else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
			threads = atoi(argv[++i]);
			if (threads < 1 || threads > 64) {
				fprintf(stderr, "velum-hello: --threads %s: not in 1-64\n",
					argv[i]);
				return 2;
			}
		} else {
			fprintf(stderr, "usage: velum-hello [--port 80] [--threads 1]\n");
			return 2;
		}
	}
	/* room for every connection a benchmark opens */
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	max_fds = getrlimit(RLIMIT_NOFILE, &rl) ? 1024 : rl.rlim_cur;
	if (max_fds > 1 << 20)
		max_fds = 1 << 20;
	conns = calloc(max_fds, sizeof(*conns));
	if (!conns) {
		fprintf(stderr, "velum-hello: out of memory\n");
		return 1;
	}
	for (int i = 1; i < threads; i++)
		pthread_create(&t, NULL, serve, NULL);
	fprintf(stderr, "velum-hello: GET /hello on port %u, %d thread(s)\n", port, threads);
	serve(NULL);
	return 0;
}
