/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 over velumd's unix socket (see client.h): a small client of our
 * own, since velum's programs need only requests with Connection: close, and
 * Content-Length or chunked answers; it starts in a millisecond where
 * libcurl's dependencies take tens.
 */
#include "client/client.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

static const char *sock_path(const struct client *c)
{
	return c->socket ? c->socket : CLIENT_SOCKET_DEFAULT;
}

static int set_timeout(int fd, int optname, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	if (ms <= 0)
		return 0;
	if (setsockopt(fd, SOL_SOCKET, optname, &tv, sizeof(tv)) == -1)
		return -errno;
	return 0;
}

/*
 * Connects to the agent's socket. SO_SNDTIMEO also bounds a unix socket's
 * connect(), which blocks while the agent's backlog is full. recv_timeout
 * says whether reads are bounded too (not for streams, which wait for flows).
 */
static int dial(const struct client *c, bool recv_timeout, struct errbuf *eb)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = sock_path(c);
	int fd = -1, err = 0;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		err = -ENAMETOOLONG;
		goto err;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		err = -errno;
		goto err;
	}
	err = set_timeout(fd, SO_SNDTIMEO, c->timeout_ms);
	if (!err && recv_timeout)
		err = set_timeout(fd, SO_RCVTIMEO, c->timeout_ms);
	if (err)
		goto err_close;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		err = errno == EAGAIN || errno == EINPROGRESS ? -ETIMEDOUT : -errno;
		goto err_close;
	}
	return fd;

err_close:
	close(fd);
err:
	if (err == -ETIMEDOUT)
		return errbuf_set(
			eb, err, "velumd at %s accepted no connection within %d ms (busy or stuck)",
			path, c->timeout_ms);
	errbuf_set(eb, err,
		   "cannot reach velumd at %s: %s%s. Is it running? Start it with: velumd%s", path,
		   strerror(-err), err == -EACCES ? " (the API is for root only)" : "",
		   strcmp(path, CLIENT_SOCKET_DEFAULT) ? " --socket <path>" : "");
	return err;
}

/* EAGAIN after SO_RCVTIMEO / SO_SNDTIMEO is a timeout. */
static int io_err(int e)
{
	return e == EAGAIN || e == EWOULDBLOCK ? -ETIMEDOUT : -e;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t w = write(fd, p, len);

		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			return io_err(errno);
		if (w == 0)
			return -EPIPE;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Sends one HTTP/1.1 request (Connection: close). */
static int send_request(int fd, const char *method, const char *path, const char *body, size_t len)
{
	struct strbuf req = STRBUF_INIT;
	int err;

	strbuf_printf(&req,
		      "%s %s HTTP/1.1\r\nHost: velumd\r\nUser-Agent: velum\r\n"
		      "Connection: close\r\n",
		      method, path);
	if (body)
		strbuf_printf(&req, "Content-Type: application/json\r\nContent-Length: %zu\r\n",
			      len);
	strbuf_puts(&req, "\r\n");
	err = req.oom ? -ENOMEM : write_all(fd, req.p, req.len);
	if (!err && body)
		err = write_all(fd, body, len);
	strbuf_free(&req);
	return err;
}

/*
 * An incremental HTTP/1.1 response reader: status line and headers, then a
 * body delimited by Content-Length, chunked encoding, or the end of the
 * connection; decoded body bytes go to a sink.
 */
struct reader {
	struct strbuf head; /* bytes until the end of the headers */
	bool in_body, chunked, done;
	long status;
	long long remaining; /* Content-Length left, or the current chunk's bytes left */
	int chunk_state;     /* 0 size line, 1 data, 2 CRLF after data, 3 trailers */
	struct strbuf line;  /* partial chunk-size or trailer line */
	void (*sink)(void *ctx, const char *p, size_t n);
	void *ctx;
};

static void parse_head(struct reader *r)
{
	const char *h = strbuf_str(&r->head), *p;

	if (sscanf(h, "HTTP/%*d.%*d %ld", &r->status) != 1)
		r->status = 0;
	r->remaining = -1;
	for (p = strstr(h, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
		const char *l = p + 2;

		if (!strncasecmp(l, "Content-Length:", 15))
			r->remaining = strtoll(l + 15, NULL, 10);
		else if (!strncasecmp(l, "Transfer-Encoding:", 18) && strstr(l, "chunked") &&
			 strstr(l, "chunked") < strstr(l, "\r\n"))
			r->chunked = true;
	}
	if (r->chunked)
		r->remaining = 0;
	if (!r->chunked && r->remaining == 0)
		r->done = true;
}

/* Feeds n received bytes. */
static void feed(struct reader *r, const char *p, size_t n)
{
	while (n && !r->done) {
		if (!r->in_body) {
			const char *end;

			strbuf_append(&r->head, p, 1);
			p++;
			n--;
			end = strstr(strbuf_str(&r->head), "\r\n\r\n");
			if (end) {
				r->in_body = true;
				parse_head(r);
			}
			continue;
		}
		if (!r->chunked) {
			size_t take = r->remaining >= 0 && (long long)n > r->remaining ?
					      (size_t)r->remaining :
					      n;

			r->sink(r->ctx, p, take);
			p += take;
			n -= take;
			if (r->remaining >= 0) {
				r->remaining -= (long long)take;
				if (!r->remaining)
					r->done = true;
			}
			continue;
		}
		if (r->chunk_state == 1) {
			size_t take = (long long)n > r->remaining ? (size_t)r->remaining : n;

			r->sink(r->ctx, p, take);
			p += take;
			n -= take;
			r->remaining -= (long long)take;
			if (!r->remaining)
				r->chunk_state = 2;
			continue;
		}
		/* size lines, the CRLF after data, trailers: line by line */
		strbuf_putc(&r->line, *p);
		p++;
		n--;
		if (r->line.len < 2 || strcmp(r->line.p + r->line.len - 2, "\r\n"))
			continue;
		if (r->chunk_state == 0) {
			r->remaining = strtoll(r->line.p, NULL, 16);
			r->chunk_state = r->remaining ? 1 : 3;
		} else if (r->chunk_state == 2) {
			r->chunk_state = 0;
		} else if (r->line.len == 2) {
			r->done = true; /* the empty line after the trailers */
		}
		strbuf_reset(&r->line);
	}
}

static void to_strbuf(void *ctx, const char *p, size_t n)
{
	strbuf_append(ctx, p, n);
}

/* Reads until the answer is complete, the peer closes, *stop is set or an error. */
static int receive(int fd, struct reader *r, const volatile sig_atomic_t *stop,
		   const bool *sink_stop)
{
	char buf[65536];

	while (!r->done && !(sink_stop && *sink_stop) && !(stop && *stop)) {
		ssize_t got = read(fd, buf, sizeof(buf));

		if (got == -1 && errno == EINTR)
			continue;
		if (got == -1)
			return io_err(errno);
		if (got == 0)
			break;
		feed(r, buf, (size_t)got);
	}
	return 0;
}

static void reader_free(struct reader *r)
{
	strbuf_free(&r->head);
	strbuf_free(&r->line);
}

int client_request(const struct client *c, const char *method, const char *path, const char *body,
		   size_t len, struct client_resp *out, struct errbuf *eb)
{
	struct reader r = { .sink = to_strbuf };
	int fd, err;

	memset(out, 0, sizeof(*out));
	r.ctx = &out->body;
	fd = dial(c, true, eb);
	if (fd < 0)
		return fd;
	err = send_request(fd, method, path, body, len);
	if (!err)
		err = receive(fd, &r, NULL, NULL);
	close(fd);
	out->status = r.in_body ? r.status : 0;
	reader_free(&r);
	if (!err && out->body.oom)
		err = -ENOMEM;
	if (!err && !out->status)
		err = -EPROTO;
	if (err == -ETIMEDOUT) {
		errbuf_set(eb, err, "velumd at %s did not answer within %d ms (busy or stuck)",
			   sock_path(c), c->timeout_ms);
		client_resp_free(out);
		out->status = 0;
	} else if (err) {
		errbuf_set(eb, err, "request to velumd at %s failed: %s", sock_path(c),
			   err == -EPROTO ? "no answer" : strerror(-err));
		client_resp_free(out);
		out->status = 0;
	}
	return err;
}

struct stream {
	struct strbuf buf;  /* a partial line */
	struct strbuf *err; /* the body of a non-200 answer */
	const long *status; /* the reader's */
	int (*line)(void *ctx, const char *text, size_t len);
	void *ctx;
	bool stop;
};

/* Splits a 200 body into lines for the caller (blank lines are keep-alives). */
static void to_lines(void *ctx, const char *p, size_t n)
{
	struct stream *s = ctx;
	size_t i, start = 0;

	if (*s->status != 200) {
		strbuf_append(s->err, p, n);
		return;
	}
	if (s->stop)
		return;
	strbuf_append(&s->buf, p, n);
	for (i = 0; i < s->buf.len && !s->stop; i++) {
		if (s->buf.p[i] != '\n')
			continue;
		if (i > start && s->line(s->ctx, s->buf.p + start, i - start))
			s->stop = true;
		start = i + 1;
	}
	if (start) {
		memmove(s->buf.p, s->buf.p + start, s->buf.len - start);
		s->buf.len -= start;
		s->buf.p[s->buf.len] = '\0';
	}
}

int client_stream(const struct client *c, const char *path,
		  int (*line)(void *ctx, const char *text, size_t len), void *ctx,
		  const volatile sig_atomic_t *stop, struct client_resp *out, struct errbuf *eb)
{
	struct stream s = { .line = line, .ctx = ctx };
	struct reader r = { .sink = to_lines, .ctx = &s };
	int fd, err, ret = 0;

	memset(out, 0, sizeof(*out));
	s.status = &r.status;
	s.err = &out->body;
	fd = dial(c, false, eb);
	if (fd < 0)
		return fd;
	err = send_request(fd, "GET", path, NULL, 0);
	if (!err)
		err = receive(fd, &r, stop, &s.stop);
	close(fd);
	out->status = r.in_body ? r.status : 0;
	if (s.stop || (stop && *stop)) {
		ret = 1;
	} else if (!r.in_body) {
		errbuf_set(eb, err, "stream from velumd at %s failed: %s", sock_path(c),
			   err ? strerror(-err) : "no answer");
		ret = err ? err : -EPROTO;
	} else if (r.status == 200 && s.buf.len) {
		line(ctx, s.buf.p, s.buf.len); /* the agent ended it: nothing left to stop */
	}
	strbuf_free(&s.buf);
	reader_free(&r);
	return ret;
}

void client_resp_free(struct client_resp *r)
{
	strbuf_free(&r->body);
}

int client_resp_error(const struct client_resp *r, struct errbuf *eb)
{
	const char *msg = NULL;
	json_t *j;
	int err;

	if (r->status >= 200 && r->status < 300)
		return 0;
	j = json_loadb(r->body.p ? r->body.p : "", r->body.len, 0, NULL);
	if (j)
		msg = json_string_value(json_object_get(j, "error"));
	switch (r->status) {
	case 400:
		err = -EINVAL;
		break;
	case 403:
		err = -EACCES;
		break;
	case 404:
		err = -ENOENT;
		break;
	case 409:
		err = -EEXIST;
		break;
	case 413:
		err = -E2BIG;
		break;
	case 503:
		err = -EAGAIN;
		break;
	default:
		err = -EIO;
	}
	if (msg)
		errbuf_set(eb, err, "%s", msg);
	else
		errbuf_set(eb, err, "velumd answered %ld: %.*s", r->status, (int)r->body.len,
			   r->body.p ? r->body.p : "");
	json_decref(j);
	return err;
}

json_t *client_resp_json(const struct client_resp *r, struct errbuf *eb)
{
	json_error_t je;
	json_t *j = json_loadb(r->body.p ? r->body.p : "", r->body.len, 0, &je);

	if (!j) {
		errbuf_set(eb, -EPROTO, "unreadable answer from velumd: %s", je.text);
		errno = EPROTO;
	}
	return j;
}

int client_call(const struct client *c, const char *method, const char *path, const json_t *body,
		long *status, json_t **out, struct errbuf *eb)
{
	struct client_resp r;
	char *text = NULL;
	int err;

	*out = NULL;
	if (status)
		*status = 0;
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		if (!text) {
			return errbuf_set(eb, -ENOMEM, "cannot serialise the request to velumd");
		}
	}
	err = client_request(c, method, path, text, text ? strlen(text) : 0, &r, eb);
	free(text);
	if (err)
		return err;
	if (status)
		*status = r.status;
	err = client_resp_error(&r, eb);
	if (!err && r.body.len) {
		*out = client_resp_json(&r, eb);
		if (!*out)
			err = -EPROTO;
	}
	client_resp_free(&r);
	return err;
}

void client_url_escape(struct strbuf *sb, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (isalnum(ch) || strchr("-._~/:", ch))
			strbuf_putc(sb, (char)ch);
		else
			strbuf_printf(sb, "%%%02X", ch);
	}
}
