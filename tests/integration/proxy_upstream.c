/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small HTTP/1.1 origin server for the proxy's integration tests. It
 * appends every byte it receives to --record FILE (so tests can check
 * exactly what passed the proxy) and answers each request, in order, by its
 * path:
 *   /close    200, then closes the connection (Connection: close)
 *   /reset    no answer: resets the connection
 *   /eof      200 whose body ends at the close (no length)
 *   /chunked  200 with a chunked body
 *   other     200 "ok METHOD TARGET\n" (no body for HEAD)
 * A request with `Expect: 100-continue` gets "100 Continue" first.
 * Listens on 127.0.0.1 and any free port, or on --port N of every address
 * with --any. Prints "listening on PORT" once ready and "peer ADDR" for each
 * connection; exits on SIGTERM.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <llhttp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXC 512

struct client {
	int fd;
	llhttp_t p;
	char url[4096];
	size_t url_len;
	char field[64];
	size_t field_len;
	int expect, closing;
};

static struct client clients[MAXC];
static int record_fd = -1;

static void say(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(fd, s, n);

		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
	struct client *c = p->data;

	if (c->url_len + n < sizeof(c->url)) {
		memcpy(c->url + c->url_len, at, n);
		c->url_len += n;
	}
	return 0;
}

static int on_field(llhttp_t *p, const char *at, size_t n)
{
	struct client *c = p->data;

	if (c->field_len + n < sizeof(c->field)) {
		memcpy(c->field + c->field_len, at, n);
		c->field_len += n;
	}
	return 0;
}

static int on_value(llhttp_t *p, const char *at, size_t n)
{
	struct client *c = p->data;

	c->field[c->field_len] = '\0';
	if (!strcasecmp(c->field, "expect") && n >= 12 && !strncasecmp(at, "100-continue", 12))
		c->expect = 1;
	return 0;
}

static int on_value_done(llhttp_t *p)
{
	((struct client *)p->data)->field_len = 0;
	return 0;
}

static int on_headers(llhttp_t *p)
{
	struct client *c = p->data;

	if (c->expect)
		say(c->fd, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	return 0;
}

static int ends(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

static int on_done(llhttp_t *p)
{
	struct client *c = p->data;
	char body[4200], resp[8400];
	int n;

	c->url[c->url_len] = '\0';
	if (ends(c->url, "/reset")) {
		struct linger l = { 1, 0 };

		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		c->closing = 1;
		return HPE_PAUSED;
	}
	if (ends(c->url, "/eof")) {
		n = snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\n\r\nbody until close\n");
		say(c->fd, resp, (size_t)n);
		c->closing = 1;
		return HPE_PAUSED;
	}
	if (ends(c->url, "/chunked")) {
		n = snprintf(resp, sizeof(resp),
			     "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
			     "3\r\none\r\n4\r\n two\r\n0\r\n\r\n");
		say(c->fd, resp, (size_t)n);
		goto next;
	}
	snprintf(body, sizeof(body), "ok %s %s\n", llhttp_method_name(p->method), c->url);
	c->closing = ends(c->url, "/close");
	n = snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\ncontent-length: %zu\r\n%s\r\n%s",
		     strlen(body), c->closing ? "connection: close\r\n" : "",
		     p->method == HTTP_HEAD ? "" : body);
	say(c->fd, resp, (size_t)n);
next:
	c->url_len = 0;
	c->expect = 0;
	return c->closing ? HPE_PAUSED : 0;
}

static llhttp_settings_t settings;

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct pollfd pfd[MAXC + 1];
	socklen_t sl = sizeof(sa);
	int lfd, one = 1, i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--record") && i + 1 < argc)
			record_fd = open(argv[++i], O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0644);
		else if (!strcmp(argv[i], "--port") && i + 1 < argc)
			sa.sin_port = htons((unsigned short)atoi(argv[++i]));
		else if (!strcmp(argv[i], "--any"))
			sa.sin_addr.s_addr = htonl(INADDR_ANY);
	}
	signal(SIGPIPE, SIG_IGN);
	llhttp_settings_init(&settings);
	settings.on_url = on_url;
	settings.on_header_field = on_field;
	settings.on_header_value = on_value;
	settings.on_header_value_complete = on_value_done;
	settings.on_headers_complete = on_headers;
	settings.on_message_complete = on_done;
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 128) ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl)) {
		perror("proxy_upstream: listen");
		return 1;
	}
	printf("listening on %u\n", ntohs(sa.sin_port));
	fflush(stdout);
	for (i = 0; i < MAXC; i++)
		clients[i].fd = -1;
	for (;;) {
		int n = 0;

		pfd[n++] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		for (i = 0; i < MAXC; i++)
			pfd[n++] = (struct pollfd){ .fd = clients[i].fd, .events = POLLIN };
		if (poll(pfd, (nfds_t)n, -1) < 0)
			continue;
		if (pfd[0].revents & POLLIN) {
			struct sockaddr_in peer;
			socklen_t plen = sizeof(peer);
			int fd = accept(lfd, (struct sockaddr *)&peer, &plen);

			if (fd >= 0) {
				printf("peer %s\n", inet_ntoa(peer.sin_addr));
				fflush(stdout);
			}

			for (i = 0; fd >= 0 && i < MAXC && clients[i].fd >= 0; i++)
				;
			if (fd >= 0 && i == MAXC) {
				close(fd);
			} else if (fd >= 0) {
				memset(&clients[i], 0, sizeof(clients[i]));
				clients[i].fd = fd;
				llhttp_init(&clients[i].p, HTTP_REQUEST, &settings);
				clients[i].p.data = &clients[i];
			}
		}
		for (i = 0; i < MAXC; i++) {
			struct client *c = &clients[i];
			char buf[65536];
			ssize_t r;

			if (c->fd < 0 || !(pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = read(c->fd, buf, sizeof(buf));
			if (r > 0 && record_fd >= 0)
				say(record_fd, buf, (size_t)r);
			if (r <= 0 || (llhttp_execute(&c->p, buf, (size_t)r) != HPE_OK)) {
				/* Closing, done, or a request the strict parser refuses. */
				close(c->fd);
				c->fd = -1;
			}
		}
	}
}
