/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The API socket's front door. libmicrohttpd answers some malformed
 * requests itself (a Content-Length it cannot hold, a request line or
 * header block over its memory, a bad HTTP version or chunk encoding) with
 * an HTML page, and for an overlong Content-Length it sends the status line
 * and headers twice. So velumd accepts API connections itself: a thread
 * accepts, checks that the peer is root (SO_PEERCRED), and hands the
 * connection to libmicrohttpd through a socketpair (MHD_add_connection()),
 * relaying bytes both ways in a thread of its own. The relay reads the first
 * response head (after any 1xx): velumd's own answers carry the header
 * FRONT_MARK (removed on the way out) and pass unchanged; any other is the
 * library's, and the client gets instead one well-formed answer with the
 * same status and the API's JSON error body, and the connection closes.
 * velumd's answers say "Connection: close", so a connection carries one
 * request and the check covers every answer.
 */
#include "agent/api_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"

#define RELAY_BUF  65536
#define HEAD_MAX   16384
#define RELAY_WAIT 1000 /* ms between checks of the stop flag */

struct agent_front {
	int lfd;
	int stop_pipe[2];
	struct MHD_Daemon *d;
	unsigned max_conns;
	atomic_uint conns;
	atomic_bool stopping;
	pthread_t thr;
};

struct relay {
	struct agent_front *f;
	int cfd, mfd; /* the client; our end of the socketpair */
};

static const char *reason(unsigned status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 408:
		return "Request Timeout";
	case 411:
		return "Length Required";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return status < 500 ? "Bad Request" : "Internal Server Error";
	}
}

/* The API's message for an answer the HTTP library made itself. */
static const char *library_message(unsigned status)
{
	switch (status) {
	case 400:
		return "malformed HTTP request (request line, header or chunked body)";
	case 408:
		return "request not received in time";
	case 411:
		return "a request body needs a Content-Length";
	case 413:
		return "request body larger than 32 MiB (Content-Length)";
	case 414:
		return "request line too long";
	case 431:
		return "request header fields too large or too many";
	case 501:
		return "request method or transfer encoding not supported";
	case 505:
		return "HTTP version not supported (velumd speaks HTTP/1.1)";
	default:
		return status < 500 ? "request refused by velumd's HTTP server" :
				      "velumd's HTTP server failed";
	}
}

/* Writes all of buf to a (blocking or not) socket, waiting up to 5 s. 0 or -errno. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);

		if (w > 0) {
			buf += w;
			len -= (size_t)w;
			continue;
		}
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };

			if (poll(&p, 1, 5000) != 1)
				return -ETIMEDOUT;
			continue;
		}
		return -errno;
	}
	return 0;
}

/* Sends one complete JSON error answer {"error": msg} (msg needs no escaping). */
static void send_json_error(int fd, unsigned status, const char *msg)
{
	char body[512], head[256];
	int bl = snprintf(body, sizeof(body), "{\"error\":\"%s\"}\n", msg);
	int hl = snprintf(head, sizeof(head),
			  "HTTP/1.1 %u %s\r\nContent-Type: application/json\r\nContent-Length: "
			  "%d\r\nConnection: close\r\n\r\n",
			  status, reason(status), bl);

	if (!write_all(fd, head, (size_t)hl))
		write_all(fd, body, (size_t)bl);
}

/* The end of the head in buf[0..len) ("\r\n\r\n" included), or 0. */
static size_t head_end(const char *buf, size_t len)
{
	size_t i;

	for (i = 3; i < len; i++)
		if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' &&
		    buf[i - 3] == '\r')
			return i + 1;
	return 0;
}

/*
 * Handles the response heads at the start of down[0..*len) (NUL-terminated
 * at *len): forwards 1xx
 * heads and velumd's own head (FRONT_MARK removed) to the client. Returns
 * 1 once velumd's head went out (the rest is forwarded as is), 0 when more
 * bytes are needed, -1 when the relay must end (the library's own answer,
 * replaced by a JSON error, or a write failure).
 */
static int check_head(int cfd, char *down, size_t *len)
{
	for (;;) {
		size_t end = head_end(down, *len), i, line;
		unsigned status = 0;
		char *mark = NULL;

		if (!end) {
			if (*len < HEAD_MAX)
				return 0;
			send_json_error(cfd, 500, "velumd's HTTP server sent an unreadable answer");
			return -1;
		}
		if (sscanf(down, "HTTP/1.%*u %3u", &status) != 1 || status < 100 || status > 599) {
			send_json_error(cfd, 500, "velumd's HTTP server sent an unreadable answer");
			return -1;
		}
		if (status < 200) {
			/* 100 Continue: the client waits for it */
			if (write_all(cfd, down, end))
				return -1;
			memmove(down, down + end, *len - end + 1); /* with the NUL */
			*len -= end;
			continue;
		}
		for (i = 0; i < end; i = line) {
			char *nl = memchr(down + i, '\n', end - i);

			line = nl ? (size_t)(nl - down) + 1 : end;
			if (!strncasecmp(down + i, FRONT_MARK ":", strlen(FRONT_MARK) + 1)) {
				mark = down + i;
				break;
			}
		}
		if (!mark) {
			pr_debug("velumd: http: the library answered %u itself; sent as JSON\n",
				 status);
			send_json_error(cfd, status, library_message(status));
			return -1;
		}
		/* the head without the mark's line, then the rest */
		if (write_all(cfd, down, (size_t)(mark - down)) ||
		    write_all(cfd, down + line, *len - line))
			return -1;
		*len = 0;
		return 1;
	}
}

/*
 * Closes the client's connection without destroying the answer just sent:
 * closing a socket with unread input makes the kernel reset the
 * connection, and the client may lose the answer before it reads it (a
 * request over the library's limits is answered before it is all read). So
 * the sending side is shut down first and the client's further bytes are
 * read and dropped until it closes, for at most LINGER_MS.
 */
#define LINGER_MS 1000

static void linger_close(int fd)
{
	struct timespec t0, t;
	char sink[4096];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (shutdown(fd, SHUT_WR) == 0) {
		for (;;) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			long ms;
			ssize_t n;

			clock_gettime(CLOCK_MONOTONIC, &t);
			ms = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
			if (ms >= LINGER_MS ||
			    (poll(&p, 1, (int)(LINGER_MS - ms)) == -1 && errno != EINTR))
				break;
			if (!(p.revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
				break;
		}
	}
	close(fd);
}

static void *relay_run(void *arg)
{
	struct relay *r = arg;
	/* down has room for a NUL after the bytes: check_head() reads it as text */
	char *up = malloc(RELAY_BUF), *down = malloc(RELAY_BUF + 1);
	size_t ulen = 0, dlen = 0;
	/* up_dead: the server stopped reading (it answered and closed): client bytes are dropped */
	bool client_eof = false, mhd_eof = false, passing = false, up_dead = false;

	if (!up || !down)
		goto out;
	fcntl(r->cfd, F_SETFL, fcntl(r->cfd, F_GETFL) | O_NONBLOCK);
	fcntl(r->mfd, F_SETFL, fcntl(r->mfd, F_GETFL) | O_NONBLOCK);
	while (!atomic_load(&r->f->stopping)) {
		/*
		 * The server's side is not polled once closed, nor while down is
		 * full (the client reads slowly): its POLLHUP would spin.
		 */
		struct pollfd p[2] = { { .fd = r->cfd },
				       { .fd = mhd_eof || dlen == RELAY_BUF ? -1 : r->mfd } };
		ssize_t n;

		if (!client_eof && ulen < RELAY_BUF)
			p[0].events |= POLLIN;
		if (passing && dlen)
			p[0].events |= POLLOUT;
		if (!mhd_eof && dlen < RELAY_BUF)
			p[1].events |= POLLIN;
		if (ulen && !up_dead)
			p[1].events |= POLLOUT;
		if (mhd_eof && !dlen)
			break; /* everything the server said went out */
		if (poll(p, 2, RELAY_WAIT) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		/* the client closed its socket (not just its sending side): so does the server's */
		if (p[0].revents & (POLLHUP | POLLERR))
			break;
		if (p[0].revents & POLLIN) {
			n = recv(r->cfd, up + ulen, RELAY_BUF - ulen, 0);
			if (n > 0 && !up_dead)
				ulen += (size_t)n;
			else if (n == 0) {
				client_eof = true;
				if (!ulen)
					shutdown(r->mfd, SHUT_WR);
			} else if (errno != EAGAIN && errno != EINTR)
				break;
		}
		if ((p[1].revents & POLLOUT) && ulen && !up_dead) {
			n = send(r->mfd, up, ulen, MSG_NOSIGNAL);
			if (n > 0) {
				memmove(up, up + n, ulen - (size_t)n);
				ulen -= (size_t)n;
				if (!ulen && client_eof)
					shutdown(r->mfd, SHUT_WR);
			} else if (n == -1 && errno != EAGAIN && errno != EINTR) {
				/*
				 * The server closed before reading everything (it
				 * answered an oversized request and hung up): its answer
				 * may still wait in the socket, so read on, and drop what
				 * the client sends from now on.
				 */
				up_dead = true;
				ulen = 0;
			}
		}
		/* with down full, a POLLHUP must wait: recv() of 0 bytes would look like the end */
		if ((p[1].revents & (POLLIN | POLLHUP | POLLERR)) && dlen < RELAY_BUF) {
			n = recv(r->mfd, down + dlen, RELAY_BUF - dlen, 0);
			if (n > 0)
				dlen += (size_t)n;
			else if (n == 0 || (errno != EAGAIN && errno != EINTR))
				mhd_eof = true;
			down[dlen] = '\0';
			if (!passing && dlen) {
				int c = check_head(r->cfd, down, &dlen);

				if (c < 0)
					break;
				passing = c > 0;
			}
			if (!passing && mhd_eof)
				break; /* closed without a whole answer: nothing to send */
		}
		if ((p[0].revents & POLLOUT) && passing && dlen) {
			n = send(r->cfd, down, dlen, MSG_NOSIGNAL);
			if (n > 0) {
				memmove(down, down + n, dlen - (size_t)n);
				dlen -= (size_t)n;
			} else if (n == -1 && errno != EAGAIN && errno != EINTR)
				break;
		}
	}
out:
	close(r->mfd);
	linger_close(r->cfd);
	free(up);
	free(down);
	atomic_fetch_sub(&r->f->conns, 1);
	free(r);
	return NULL;
}

/*
 * Before refusing a connection: reads its request head (at most HEAD_MAX
 * bytes, 500 ms), so that the client is not cut off while still sending
 * and reads the answer.
 */
static void drain_head(int fd)
{
	char buf[HEAD_MAX];
	size_t len = 0;
	int i;

	for (i = 0; i < 10 && len < sizeof(buf) && !head_end(buf, len); i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 50) != 1)
			continue;
		n = recv(fd, buf + len, sizeof(buf) - len, MSG_DONTWAIT);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
}

static bool peer_root(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.uid == 0;
}

/* One accepted connection: refused with a JSON answer, or relayed. */
static void admit(struct agent_front *f, int cfd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	pthread_attr_t attr;
	struct relay *r;
	pthread_t t;
	int sv[2];

	if (!peer_root(cfd)) {
		drain_head(cfd);
		send_json_error(cfd, 403, "velumd: only root may use the API");
		close(cfd);
		return;
	}
	if (atomic_fetch_add(&f->conns, 1) >= f->max_conns) {
		atomic_fetch_sub(&f->conns, 1);
		drain_head(cfd);
		send_json_error(cfd, 503, "velumd: too many connections");
		close(cfd);
		return;
	}
	r = calloc(1, sizeof(*r));
	if (!r || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		free(r);
		goto err;
	}
	r->f = f;
	r->cfd = cfd;
	r->mfd = sv[0];
	/* the library owns sv[1] from here, also on failure */
	if (MHD_add_connection(f->d, sv[1], (struct sockaddr *)&sa, sizeof(sa)) != MHD_YES) {
		close(sv[0]);
		free(r);
		goto err;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	if (pthread_create(&t, &attr, relay_run, r)) {
		pthread_attr_destroy(&attr);
		close(sv[0]);
		free(r);
		goto err;
	}
	pthread_attr_destroy(&attr);
	return;

err:
	atomic_fetch_sub(&f->conns, 1);
	send_json_error(cfd, 503, "velumd: cannot take another connection now");
	close(cfd);
}

static void *accept_run(void *arg)
{
	struct agent_front *f = arg;

	for (;;) {
		struct pollfd p[2] = { { .fd = f->lfd, .events = POLLIN },
				       { .fd = f->stop_pipe[0], .events = POLLIN } };
		int cfd;

		if (poll(p, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		cfd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd == -1) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOMEM)
				usleep(100 * 1000); /* the queue waits; a spin would not help */
			continue;
		}
		admit(f, cfd);
	}
	return NULL;
}

struct agent_front *agent_front__start(int lfd, struct MHD_Daemon *d, unsigned max_conns)
{
	struct agent_front *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->lfd = lfd;
	f->d = d;
	f->max_conns = max_conns;
	atomic_init(&f->conns, 0);
	atomic_init(&f->stopping, false);
	if (pipe2(f->stop_pipe, O_CLOEXEC) == -1) {
		free(f);
		return NULL;
	}
	if (pthread_create(&f->thr, NULL, accept_run, f)) {
		close(f->stop_pipe[0]);
		close(f->stop_pipe[1]);
		free(f);
		return NULL;
	}
	return f;
}

void agent_front__stop(struct agent_front *f)
{
	unsigned i;

	if (!f)
		return;
	atomic_store(&f->stopping, true);
	if (write(f->stop_pipe[1], "x", 1) == -1)
		pr_warn("velumd: http: cannot wake the accept thread: %s\n", strerror(errno));
	pthread_join(f->thr, NULL);
	/* relays see the flag within RELAY_WAIT and close; wait for them (at most 2 s) */
	for (i = 0; i < 200 && atomic_load(&f->conns); i++)
		usleep(10 * 1000);
	close(f->stop_pipe[0]);
	close(f->stop_pipe[1]);
	if (atomic_load(&f->conns))
		return; /* a relay still runs: leak f rather than free it under it */
	free(f);
}
