/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's side of velum-cni: one HTTP/1.1 request per connection to
 * velumd's unix socket (docs/api.md), JSON in and out. It never prints: a
 * failure is a CNI error for the caller to report.
 */
#include "cni/cni.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/strbuf.h"

/* A request longer than this is abandoned (an agent that hangs must not hang the runtime). */
#define CALL_TIMEOUT_MS 60000
#define CALL_MAX_ANSWER (16u << 20)

static int connect_agent(const char *path, struct cni_err *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return cni_fail(e, CNI_ERR_CONFIG, "invalid network config",
				"socket %s: path too long", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return cni_fail(e, CNI_ERR_IO, "I/O failure", "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		int err = errno;

		close(fd);
		return cni_fail(e, CNI_ERR_TRY_AGAIN, "velumd is not running",
				"cannot reach velumd at %s: %s; start it with: velumd "
				"(as root; `velumd --socket %s` for this path)",
				path, strerror(err), path);
	}
	return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static long long elapsed_ms(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000LL + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Decodes a chunked body in place; returns its length, or -1 if malformed. */
static long dechunk(char *b, size_t n)
{
	size_t in = 0, out = 0;

	for (;;) {
		char *end;
		unsigned long len = strtoul(b + in, &end, 16);
		char *crlf = strstr(b + in, "\r\n");

		if (!crlf || end == b + in)
			return -1;
		in = (size_t)(crlf - b) + 2;
		if (len == 0)
			return (long)out;
		if (in + len > n)
			return -1;
		memmove(b + out, b + in, len);
		out += len;
		in += len + 2;
		if (in > n)
			return -1;
	}
}

int cni_call(const char *socket, const char *method, const char *path, json_t *body, long *status,
	     json_t **resp, struct cni_err *e)
{
	struct strbuf req = STRBUF_INIT, ans = STRBUF_INIT;
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL, *head_end, buf[8192];
	struct timespec t0;
	int fd, rc = -1, err;
	long blen;

	*resp = NULL;
	*status = 0;
	fd = connect_agent(socket, e);
	if (fd < 0)
		goto out;
	strbuf_printf(&req,
		      "%s %s HTTP/1.1\r\nHost: velumd\r\nConnection: close\r\n"
		      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
		      method, path, text ? strlen(text) : 0, text ? text : "");
	err = write_all(fd, strbuf_str(&req), req.len);
	if (err) {
		cni_fail(e, CNI_ERR_IO, "I/O failure", "send to velumd at %s: %s", socket,
			 strerror(-err));
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long long left = CALL_TIMEOUT_MS - elapsed_ms(&t0);
		ssize_t got;

		if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
			cni_fail(e, CNI_ERR_TRY_AGAIN, "velumd did not answer",
				 "%s %s: no answer from velumd at %s in %d s", method, path, socket,
				 CALL_TIMEOUT_MS / 1000);
			goto out;
		}
		got = read(fd, buf, sizeof(buf));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			cni_fail(e, CNI_ERR_IO, "I/O failure", "read from velumd at %s: %s", socket,
				 strerror(errno));
			goto out;
		}
		if (got == 0)
			break;
		if (ans.len + (size_t)got > CALL_MAX_ANSWER) {
			cni_fail(e, CNI_ERR_IO, "I/O failure", "velumd's answer is over %u bytes",
				 CALL_MAX_ANSWER);
			goto out;
		}
		strbuf_append(&ans, buf, (size_t)got);
	}
	head_end = ans.len && !ans.oom ? strstr(strbuf_str(&ans), "\r\n\r\n") : NULL;
	if (!head_end || sscanf(ans.p, "HTTP/1.%*d %ld", status) != 1) {
		cni_fail(e, CNI_ERR_IO, "I/O failure", "%s %s: velumd's answer is not HTTP", method,
			 path);
		goto out;
	}
	*head_end = '\0';
	head_end += 4;
	blen = (long)(ans.len - (size_t)(head_end - ans.p));
	if (strcasestr(ans.p, "\r\nTransfer-Encoding: chunked"))
		blen = dechunk(head_end, (size_t)blen);
	if (blen < 0) {
		cni_fail(e, CNI_ERR_IO, "I/O failure", "%s %s: velumd's answer is cut short",
			 method, path);
		goto out;
	}
	*resp = json_loadb(head_end, (size_t)blen, 0, NULL);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(text);
	strbuf_free(&req);
	strbuf_free(&ans);
	return rc;
}
