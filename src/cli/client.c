/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 over velumd's unix socket (see client.h): a small client of our
 * own, since the CLI needs only requests with Connection: close, and
 * Content-Length or chunked answers; it starts in a millisecond where
 * libcurl's dependencies take tens.
 */
#include "cli/client.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/cli.h"

const char *cli_socket = CLI_SOCKET_DEFAULT;

/* Connects to the agent's socket; prints the reason on failure. */
static int dial(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, err = 0;

	if (strlen(cli_socket) >= sizeof(sa.sun_path)) {
		err = ENAMETOOLONG;
		fd = -1;
	} else {
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", cli_socket);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd == -1 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
			err = errno;
			if (fd >= 0)
				close(fd);
			fd = -1;
		}
	}
	if (fd >= 0)
		return fd;
	fprintf(stderr,
		"velum: cannot reach velumd at %s: %s%s. Is it running? Start it with: velumd%s\n",
		cli_socket, strerror(err), err == EACCES ? " (the API is for root only)" : "",
		strcmp(cli_socket, CLI_SOCKET_DEFAULT) ? " --socket <path>" : "");
	return -1;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t w = write(fd, p, len);

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return -errno;
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

int cli_request(const char *method, const char *path, const char *body, size_t len,
		struct cli_resp *out)
{
	struct reader r = { .sink = to_strbuf };
	char buf[65536];
	int fd, err;

	memset(out, 0, sizeof(*out));
	r.ctx = &out->body;
	fd = dial();
	if (fd < 0)
		return CLI_EXIT_FAIL;
	err = send_request(fd, method, path, body, len);
	while (!err && !r.done) {
		ssize_t got = read(fd, buf, sizeof(buf));

		if (got == -1 && errno == EINTR)
			continue;
		if (got < 0)
			err = -errno;
		if (got <= 0)
			break;
		feed(&r, buf, (size_t)got);
	}
	close(fd);
	out->status = r.in_body ? r.status : 0;
	strbuf_free(&r.head);
	strbuf_free(&r.line);
	if (err || !out->status || out->body.oom) {
		fprintf(stderr, "velum: request to velumd at %s failed: %s\n", cli_socket,
			err	      ? strerror(-err) :
			out->body.oom ? "out of memory" :
					"no answer");
		strbuf_free(&out->body);
		return CLI_EXIT_FAIL;
	}
	return 0;
}

struct stream {
	struct strbuf buf;  /* a partial line */
	struct strbuf err;  /* the body of a non-200 answer */
	const long *status; /* the reader's */
	int (*line)(void *ctx, const char *text, size_t len);
	void *ctx;
	bool stop;
};

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* Splits a 200 body into lines for the caller (blank lines are keep-alives). */
static void to_lines(void *ctx, const char *p, size_t n)
{
	struct stream *s = ctx;
	size_t i, start = 0;

	if (*s->status != 200) {
		strbuf_append(&s->err, p, n);
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

int cli_stream(const char *path, int (*line)(void *ctx, const char *text, size_t len), void *ctx)
{
	struct stream s = { .line = line, .ctx = ctx };
	struct reader r = { .sink = to_lines, .ctx = &s };
	struct sigaction sa = { .sa_handler = on_sigint }; /* no SA_RESTART: read() returns */
	char buf[65536];
	int fd, err, ret = 0;

	s.status = &r.status;
	fd = dial();
	if (fd < 0)
		return CLI_EXIT_FAIL;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	err = send_request(fd, "GET", path, NULL, 0);
	while (!err && !r.done && !s.stop && !interrupted) {
		ssize_t got = read(fd, buf, sizeof(buf));

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			err = -errno;
		if (got <= 0)
			break;
		feed(&r, buf, (size_t)got);
	}
	close(fd);
	if (r.in_body && r.status != 200) {
		struct cli_resp resp = { .status = r.status, .body = s.err };

		ret = cli_check(&resp, "observe");
	} else if (!r.in_body && !interrupted) {
		fprintf(stderr, "velum: stream from velumd at %s failed: %s\n", cli_socket,
			err ? strerror(-err) : "no answer");
		ret = CLI_EXIT_FAIL;
	} else if (s.buf.len && !s.stop) {
		line(ctx, s.buf.p, s.buf.len);
	}
	if (!ret && !interrupted && !s.stop && strstr(path, "follow=1")) {
		fprintf(stderr, "velum: velumd closed the stream (stopped or restarted)\n");
		ret = CLI_EXIT_FAIL;
	}
	strbuf_free(&s.err);
	strbuf_free(&s.buf);
	strbuf_free(&r.head);
	strbuf_free(&r.line);
	return ret;
}

void cli_resp_free(struct cli_resp *r)
{
	strbuf_free(&r->body);
}

int cli_check(const struct cli_resp *r, const char *cmd)
{
	json_t *j;
	const char *msg = NULL;

	if (r->status >= 200 && r->status < 300)
		return 0;
	j = json_loadb(r->body.p ? r->body.p : "", r->body.len, 0, NULL);
	if (j)
		msg = json_string_value(json_object_get(j, "error"));
	if (msg)
		fprintf(stderr, "velum %s: %s\n", cmd, msg);
	else
		fprintf(stderr, "velum %s: velumd answered %ld: %.*s\n", cmd, r->status,
			(int)r->body.len, r->body.p ? r->body.p : "");
	json_decref(j);
	return r->status == 400 ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
}

json_t *cli_json(const struct cli_resp *r, const char *cmd)
{
	json_error_t je;
	json_t *j = json_loadb(r->body.p ? r->body.p : "", r->body.len, 0, &je);

	if (!j)
		fprintf(stderr, "velum %s: unreadable answer from velumd: %s\n", cmd, je.text);
	return j;
}

void cli_url_escape(struct strbuf *sb, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (isalnum(ch) || strchr("-._~/:", ch))
			strbuf_putc(sb, (char)ch);
		else
			strbuf_printf(sb, "%%%02X", ch);
	}
}

void cli_print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s) {
		puts(s);
		free(s);
	}
}
