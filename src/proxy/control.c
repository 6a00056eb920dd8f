/* SPDX-License-Identifier: Apache-2.0 */
/* velum-proxy's side of the control channel (control.h): snapshots from velumd. */
#include "proxy/control.h"
#include "proxy/ctlclient.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/log.h"

struct px_control {
	struct sockaddr_un addr;
	void (*publish)(void *arg, struct pol_l7_snapshot *s);
	void *arg;
	int stop_fd;
	pthread_t thr;
};

/* Waits for fd (or stop). Returns 1 ready, 0 stop, negative errno. */
static int wait_fd(struct px_control *c, int fd, short ev, int timeout_ms)
{
	struct pollfd pfd[2] = { { c->stop_fd, POLLIN, 0 }, { fd, ev, 0 } };
	int r = poll(pfd, fd >= 0 ? 2 : 1, timeout_ms);

	if (r == -1)
		return errno == EINTR ? 1 : -errno;
	if (pfd[0].revents)
		return 0;
	return 1;
}

/* Reads exactly n bytes. Returns 1, 0 on stop, or negative errno (EOF: -ECONNRESET). */
static int read_all(struct px_control *c, int fd, void *buf, size_t n)
{
	char *b = buf;

	while (n) {
		int r = wait_fd(c, fd, POLLIN, -1);
		ssize_t got;

		if (r <= 0)
			return r;
		got = recv(fd, b, n, MSG_DONTWAIT);
		if (got == 0)
			return -ECONNRESET;
		if (got < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -errno;
		}
		b += got;
		n -= (size_t)got;
	}
	return 1;
}

static int ack(int fd, uint64_t revision, const char *msg)
{
	struct px_ctl_hdr h = { PX_CTL_MAGIC, PX_CTL_ACK, revision, msg ? strlen(msg) : 0 };

	if (send(fd, &h, sizeof(h), MSG_NOSIGNAL) != sizeof(h) ||
	    (h.len && send(fd, msg, h.len, MSG_NOSIGNAL) != (ssize_t)h.len))
		return -EIO;
	return 0;
}

/* Serves one connection until it fails or stop. Returns 0 on stop. */
static int serve(struct px_control *c, int fd)
{
	for (;;) {
		struct px_ctl_hdr h;
		struct pol_l7_snapshot *s;
		struct errbuf eb;
		void *buf;
		int r = read_all(c, fd, &h, sizeof(h));

		if (r <= 0)
			return r;
		if (h.magic != PX_CTL_MAGIC || h.type != PX_CTL_SNAPSHOT ||
		    h.len > PX_CTL_MAX_LEN) {
			pr_warn("control: bad frame (magic %#x, type %u, %llu bytes)\n", h.magic,
				h.type, (unsigned long long)h.len);
			return -EBADMSG;
		}
		buf = malloc(h.len ? h.len : 1);
		if (!buf)
			return -ENOMEM;
		r = read_all(c, fd, buf, h.len);
		if (r <= 0) {
			free(buf);
			return r;
		}
		errbuf_clear(&eb);
		s = pol_l7_snapshot_deserialize(buf, h.len, &eb);
		free(buf);
		if (!s) {
			pr_warn("control: snapshot %llu refused: %s\n",
				(unsigned long long)h.revision,
				errbuf_empty(&eb) ? strerror(errno) : eb.msg);
			r = ack(fd, h.revision, errbuf_empty(&eb) ? strerror(errno) : eb.msg);
		} else {
			pr_debug("control: snapshot %llu published (%zu endpoint(s))\n",
				 (unsigned long long)h.revision, pol_l7_snapshot_endpoints(s));
			c->publish(c->arg, s);
			r = ack(fd, h.revision, NULL);
		}
		if (r)
			return r;
	}
}

static void *run(void *arg)
{
	struct px_control *c = arg;
	bool warned = false;

	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

		if (fd == -1) {
			pr_warn("control: socket: %s\n", strerror(errno));
		} else if (connect(fd, (struct sockaddr *)&c->addr, sizeof(c->addr)) == -1) {
			if (!warned)
				pr_info("control: %s: %s; retrying every %d ms\n", c->addr.sun_path,
					strerror(errno), PX_CTL_RETRY_MS);
			warned = true;
		} else {
			warned = false;
			r = serve(c, fd);
			if (r == 0) {
				close(fd);
				return NULL;
			}
			pr_info("control: connection ended (%s); reconnecting\n", strerror(-r));
		}
		if (fd >= 0)
			close(fd);
		if (wait_fd(c, -1, 0, PX_CTL_RETRY_MS) == 0)
			return NULL;
	}
}

struct px_control *px_control__start(const char *path,
				     void (*publish)(void *arg, struct pol_l7_snapshot *s),
				     void *arg, struct errbuf *eb)
{
	struct px_control *c = calloc(1, sizeof(*c));
	int err;

	if (!c)
		return NULL;
	c->publish = publish;
	c->arg = arg;
	c->addr.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(c->addr.sun_path)) {
		free(c);
		errbuf_set(eb, -ENAMETOOLONG, "--control %s: path too long", path);
		errno = ENAMETOOLONG;
		return NULL;
	}
	strcpy(c->addr.sun_path, path);
	c->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (c->stop_fd == -1) {
		err = errno;
		free(c);
		errbuf_set(eb, -err, "control: eventfd: %s", strerror(err));
		errno = err;
		return NULL;
	}
	err = pthread_create(&c->thr, NULL, run, c);
	if (err) {
		close(c->stop_fd);
		free(c);
		errbuf_set(eb, -err, "control: thread: %s", strerror(err));
		errno = err;
		return NULL;
	}
	return c;
}

void px_control__stop(struct px_control *c)
{
	uint64_t one = 1;

	if (!c)
		return;
	if (write(c->stop_fd, &one, sizeof(one)) != sizeof(one))
		pr_warn("control: cannot stop: %s\n", strerror(errno));
	pthread_join(c->thr, NULL);
	close(c->stop_fd);
	free(c);
}
