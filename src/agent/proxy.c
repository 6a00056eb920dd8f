/* SPDX-License-Identifier: Apache-2.0 */
/* velumd's supervision of velum-proxy: ports, start, re-adoption, restarts (proxy.h). */
#include "agent/proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "proxy/control.h"
#include "velum/proxy.h"

#define PROXY_COMM	   "velum-proxy"
#define PROXY_FAST_EXIT_NS 1000000000ll /* an exit sooner than this after a start backs off */
#define PROXY_BACKOFF_MAX  1000		/* ms */

struct agent_proxy {
	char bin[PATH_MAX], pidfile[PATH_MAX], log[PATH_MAX];
	char pin_dir[PATH_MAX], control[108], events[108], metrics[108];
	uint16_t port_in, port_eg;

	pthread_mutex_t lock;
	int pid;      /* 0: none running */
	int pidfd;    /* -1: none */
	bool child;   /* started by this velumd (reap it) */
	bool adopted; /* the first proxy was found running */
	unsigned restarts;
	int64_t started_ns;

	/* control channel (proxy/control.h), under lock */
	int ctl_listen; /* velumd's listening socket */
	int ctl_fd;	/* the proxy's connection, or -1 */
	void *snap;	/* the current snapshot's bytes */
	size_t snap_len;
	uint64_t snap_rev, acked_rev;
	bool have_snap, acked;

	int stop_fd; /* eventfd: the thread's stop signal */
	pthread_t thr;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static int pidfd_open_(int pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Whether pid runs velum-proxy. */
static bool is_proxy(int pid)
{
	char path[64], comm[32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return false;
	n = read(fd, comm, sizeof(comm) - 1);
	close(fd);
	if (n <= 0)
		return false;
	comm[n] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
	return !strcmp(comm, PROXY_COMM);
}

/* Reads "PID INGRESS EGRESS". Returns 0, -ENOENT, or -EINVAL for a malformed file. */
static int pidfile_read(const char *path, int *pid, uint16_t *in, uint16_t *eg)
{
	FILE *f = fopen(path, "re");
	unsigned a, b;
	int p, n;

	if (!f)
		return errno == ENOENT ? -ENOENT : -errno;
	n = fscanf(f, "%d %u %u", &p, &a, &b);
	fclose(f);
	if (n != 3 || p <= 0 || a < VELUM_PROXY_PORT_MIN || a > VELUM_PROXY_PORT_MAX ||
	    b < VELUM_PROXY_PORT_MIN || b > VELUM_PROXY_PORT_MAX || a == b)
		return -EINVAL;
	*pid = p;
	*in = (uint16_t)a;
	*eg = (uint16_t)b;
	return 0;
}

/* Writes the pid file atomically (temporary file, rename). */
static int pidfile_write(const struct agent_proxy *p, int pid, struct errbuf *eb)
{
	char tmp[PATH_MAX + 8];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.new", p->pidfile);
	f = fopen(tmp, "we");
	if (!f)
		return errbuf_set(eb, -errno, "%s: %s", tmp, strerror(errno));
	fprintf(f, "%d %u %u\n", pid, p->port_in, p->port_eg);
	if (fclose(f) != 0 || rename(tmp, p->pidfile) == -1) {
		int err = -errno;

		unlink(tmp);
		return errbuf_set(eb, err, "%s: %s", p->pidfile, strerror(-err));
	}
	return 0;
}

/* Whether TCP 127.0.0.1:port is free to bind (with SO_REUSEADDR, as the proxy binds). */
static bool port_free(uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(port),
				   .sin_addr.s_addr = htonl(VELUM_PROXY_LISTEN_ADDR) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	bool ok;

	if (fd == -1)
		return false;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ok = bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
	close(fd);
	return ok;
}

/* Two distinct free ports, searched from a pid-dependent start so that nodes differ. */
static int ports_alloc(struct agent_proxy *p, struct errbuf *eb)
{
	unsigned span = VELUM_PROXY_PORT_MAX - VELUM_PROXY_PORT_MIN + 1, i, got = 0;
	unsigned start = (unsigned)getpid() % span;
	uint16_t ports[2];

	for (i = 0; i < span && got < 2; i++) {
		uint16_t port = (uint16_t)(VELUM_PROXY_PORT_MIN + (start + i) % span);

		if (port_free(port))
			ports[got++] = port;
	}
	if (got < 2)
		return errbuf_set(eb, -EADDRINUSE, "proxy: no two free ports on 127.0.0.1 in %u-%u",
				  VELUM_PROXY_PORT_MIN, VELUM_PROXY_PORT_MAX);
	p->port_in = ports[0];
	p->port_eg = ports[1];
	return 0;
}

/*
 * Starts a proxy in its own session with the fixed ports; sets pid, pidfd.
 * Called with lock held or before the thread runs.
 */
static int spawn(struct agent_proxy *p, struct errbuf *eb)
{
	char in[8], eg[8];
	char *argv[] = { p->bin,
			 "--transparent",
			 "--ingress-port",
			 in,
			 "--egress-port",
			 eg,
			 "--pin-dir",
			 p->pin_dir,
			 "--control",
			 p->control,
			 "--events-socket",
			 p->events,
			 "--metrics-socket",
			 p->metrics,
			 NULL };
	int pid, fd, err;

	snprintf(in, sizeof(in), "%u", p->port_in);
	snprintf(eg, sizeof(eg), "%u", p->port_eg);
	pid = fork();
	if (pid == -1)
		return errbuf_set(eb, -errno, "proxy: fork: %s", strerror(errno));
	if (pid == 0) {
		sigset_t none;
		int null = open("/dev/null", O_RDONLY), out;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setsid();
		out = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0640);
		if (null >= 0)
			dup2(null, 0);
		if (out >= 0) {
			dup2(out, 1);
			dup2(out, 2);
		}
		syscall(SYS_close_range, 3, ~0u, 0);
		execv(p->bin, argv);
		dprintf(2, "velumd: cannot run %s: %s\n", p->bin, strerror(errno));
		_exit(127);
	}
	fd = pidfd_open_(pid);
	if (fd == -1) {
		err = -errno;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return errbuf_set(eb, err, "proxy: pidfd_open: %s", strerror(-err));
	}
	err = pidfile_write(p, pid, eb);
	if (err) {
		close(fd);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return err;
	}
	p->pid = pid;
	p->pidfd = fd;
	p->child = true;
	p->started_ns = now_ns();
	pr_info("proxy: started %s (pid %d), ingress port %u, egress port %u\n", p->bin, pid,
		p->port_in, p->port_eg);
	return 0;
}

/* ---- control channel ---- */

static int ctl_listen_open(const char *path, struct errbuf *eb)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return errbuf_set(eb, -ENAMETOOLONG, "proxy: control socket %s: path too long",
				  path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return errbuf_set(eb, -errno, "proxy: control socket: %s", strerror(errno));
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 || chmod(path, 0600) == -1 ||
	    listen(fd, 4) == -1) {
		int err = -errno;

		close(fd);
		return errbuf_set(eb, err, "proxy: control socket %s: %s", path, strerror(-err));
	}
	return fd;
}

/* Reads or writes all n bytes within the deadline. Returns 0 or negative errno. */
static int ctl_io(int fd, void *buf, size_t n, bool out, int64_t deadline)
{
	char *b = buf;

	while (n) {
		struct pollfd pfd = { fd, out ? POLLOUT : POLLIN, 0 };
		int64_t left = (deadline - now_ns()) / 1000000;
		ssize_t r;

		if (left < 0)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)left + 1) == -1 && errno != EINTR)
			return -errno;
		r = out ? send(fd, b, n, MSG_NOSIGNAL | MSG_DONTWAIT) :
			  recv(fd, b, n, MSG_DONTWAIT);
		if (r == 0)
			return -ECONNRESET;
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -errno;
		}
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

#define CTL_TIMEOUT_NS 2000000000ll

/*
 * Sends the current snapshot to the connected proxy and waits for its
 * acknowledgement. Called with lock held. Returns 0, -ENOTCONN (no proxy
 * connected: it gets the snapshot when it connects), -EPROTO with eb set
 * (the proxy refused it), or another negative errno (the connection is
 * closed; the proxy reconnects).
 */
static int ctl_send(struct agent_proxy *p, struct errbuf *eb)
{
	struct px_ctl_hdr h = { PX_CTL_MAGIC, PX_CTL_SNAPSHOT, p->snap_rev, p->snap_len };
	int64_t deadline = now_ns() + CTL_TIMEOUT_NS;
	char msg[256];
	int err;

	if (p->ctl_fd < 0)
		return -ENOTCONN;
	err = ctl_io(p->ctl_fd, &h, sizeof(h), true, deadline);
	if (!err)
		err = ctl_io(p->ctl_fd, p->snap, p->snap_len, true, deadline);
	if (!err)
		err = ctl_io(p->ctl_fd, &h, sizeof(h), false, deadline);
	if (!err && (h.magic != PX_CTL_MAGIC || h.type != PX_CTL_ACK || h.revision != p->snap_rev ||
		     h.len >= sizeof(msg)))
		err = -EBADMSG;
	if (!err && h.len) {
		err = ctl_io(p->ctl_fd, msg, h.len, false, deadline);
		if (!err) {
			msg[h.len] = '\0';
			return errbuf_set(eb, -EPROTO, "proxy refused the L7 snapshot: %s", msg);
		}
	}
	if (err) {
		errbuf_set(eb, err, "proxy control channel: %s", strerror(-err));
		close(p->ctl_fd);
		p->ctl_fd = -1;
		return err;
	}
	p->acked_rev = p->snap_rev;
	p->acked = true;
	return 0;
}

/* A proxy connected: it replaces any earlier connection and gets the current snapshot. */
static void ctl_accept(struct agent_proxy *p)
{
	int fd = accept4(p->ctl_listen, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	struct errbuf eb;

	if (fd == -1)
		return;
	errbuf_clear(&eb);
	if (p->ctl_fd >= 0)
		close(p->ctl_fd);
	p->ctl_fd = fd;
	p->acked = false;
	if (p->have_snap && ctl_send(p, &eb))
		pr_warn("%s\n", eb.msg);
}

int agent_proxy_push(struct agent_proxy *p, const void *buf, size_t n, uint64_t revision,
		     struct errbuf *eb)
{
	void *copy = malloc(n ? n : 1);
	int err;

	if (!copy)
		return -ENOMEM;
	memcpy(copy, buf, n);
	pthread_mutex_lock(&p->lock);
	free(p->snap);
	p->snap = copy;
	p->snap_len = n;
	p->snap_rev = revision;
	p->have_snap = true;
	err = ctl_send(p, eb);
	pthread_mutex_unlock(&p->lock);
	return err;
}

/* The proxy exited: reap it if ours, log why. Called with lock held. */
static void reap(struct agent_proxy *p)
{
	int status = 0;

	if (p->child && waitpid(p->pid, &status, 0) == p->pid) {
		if (WIFSIGNALED(status))
			pr_err("proxy: pid %d killed by signal %d; restarting\n", p->pid,
			       WTERMSIG(status));
		else
			pr_err("proxy: pid %d exited with status %d; restarting (see %s)\n", p->pid,
			       WEXITSTATUS(status), p->log);
	} else {
		pr_warn("proxy: pid %d ended; restarting\n", p->pid);
	}
	close(p->pidfd);
	p->pidfd = -1;
	p->pid = 0;
}

static void *supervise(void *arg)
{
	struct agent_proxy *p = arg;
	unsigned backoff = 0;

	for (;;) {
		struct pollfd pfd[3] = { { p->stop_fd, POLLIN, 0 },
					 { -1, POLLIN, 0 },
					 { p->ctl_listen, POLLIN, 0 } };
		int timeout = -1;

		pthread_mutex_lock(&p->lock);
		pfd[1].fd = p->pidfd;
		if (p->pidfd < 0)
			timeout = (int)backoff;
		pthread_mutex_unlock(&p->lock);
		if (poll(pfd, 3, timeout) == -1 && errno != EINTR)
			break;
		if (pfd[0].revents)
			break;
		pthread_mutex_lock(&p->lock);
		if (pfd[2].revents)
			ctl_accept(p);
		if (p->pidfd >= 0 && pfd[1].revents) {
			bool fast = now_ns() - p->started_ns < PROXY_FAST_EXIT_NS;

			reap(p);
			p->restarts++;
			backoff = fast ? (backoff ? backoff * 2 : 50) : 0;
			if (backoff > PROXY_BACKOFF_MAX)
				backoff = PROXY_BACKOFF_MAX;
		}
		if (p->pidfd < 0 && (!backoff || timeout >= 0)) {
			struct errbuf eb;

			errbuf_clear(&eb);
			if (spawn(p, &eb)) {
				pr_warn("%s\n", eb.msg);
				if (!backoff)
					backoff = 50;
			}
		}
		pthread_mutex_unlock(&p->lock);
	}
	return NULL;
}

/* The binary next to our own executable. */
static int default_bin(char *buf, size_t len, struct errbuf *eb)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0)
		return errbuf_set(eb, -errno, "proxy: /proc/self/exe: %s", strerror(errno));
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	if ((size_t)snprintf(buf, len, "%s/velum-proxy", self) >= len)
		return errbuf_set(eb, -ENAMETOOLONG, "proxy: path too long");
	return 0;
}

/* Adopts a running proxy the pid file names. Returns 1 adopted, 0 none, or negative errno. */
static int adopt(struct agent_proxy *p)
{
	uint16_t in, eg;
	int pid, fd, err = pidfile_read(p->pidfile, &pid, &in, &eg);

	if (err == -ENOENT)
		return 0;
	if (err) {
		pr_warn("proxy: %s is not \"PID INGRESS EGRESS\"; ignoring it\n", p->pidfile);
		return 0;
	}
	/* the ports stay: policy maps redirect to them */
	p->port_in = in;
	p->port_eg = eg;
	if (!is_proxy(pid))
		return 0;
	fd = pidfd_open_(pid);
	if (fd == -1)
		return errno == ESRCH ? 0 : -errno;
	p->pid = pid;
	p->pidfd = fd;
	p->child = false;
	p->adopted = true;
	p->started_ns = now_ns() - PROXY_FAST_EXIT_NS;
	pr_info("proxy: adopted the running velum-proxy (pid %d), ingress port %u, egress port "
		"%u\n",
		pid, in, eg);
	return 1;
}

struct agent_proxy *agent_proxy__start(const struct agent_proxy_opts *o, struct errbuf *eb)
{
	struct agent_proxy *p = calloc(1, sizeof(*p));
	int err;

	if (!p)
		return NULL;
	pthread_mutex_init(&p->lock, NULL);
	p->pidfd = -1;
	p->stop_fd = -1;
	p->ctl_listen = -1;
	snprintf(p->pidfile, sizeof(p->pidfile), "%s/proxy.pid", o->state_dir);
	snprintf(p->log, sizeof(p->log), "%s/proxy.log", o->state_dir);
	snprintf(p->pin_dir, sizeof(p->pin_dir), "%s", o->pin_dir);
	p->ctl_fd = -1;
	if ((size_t)snprintf(p->control, sizeof(p->control), "%s/proxy.sock", o->state_dir) >=
		    sizeof(p->control) ||
	    (size_t)snprintf(p->events, sizeof(p->events), "%s/" AGENT_PROXY_EVENTS_SOCK,
			     o->state_dir) >= sizeof(p->events) ||
	    (size_t)snprintf(p->metrics, sizeof(p->metrics), "%s/" AGENT_PROXY_METRICS_SOCK,
			     o->state_dir) >= sizeof(p->metrics)) {
		err = errbuf_set(eb, -ENAMETOOLONG, "proxy: %s: path too long for a unix socket",
				 o->state_dir);
		goto err_free;
	}
	p->ctl_listen = ctl_listen_open(p->control, eb);
	if (p->ctl_listen < 0) {
		err = p->ctl_listen;
		goto err_free;
	}
	if (o->bin)
		snprintf(p->bin, sizeof(p->bin), "%s", o->bin);
	else if ((err = default_bin(p->bin, sizeof(p->bin), eb)))
		goto err_free;
	if (access(p->bin, X_OK) == -1) {
		err = -errno;
		errbuf_set(eb, err, "proxy: %s: %s", p->bin, strerror(errno));
		goto err_free;
	}
	err = adopt(p);
	if (err < 0) {
		errbuf_set(eb, err, "proxy: adopting the running proxy: %s", strerror(-err));
		goto err_free;
	}
	if (!err) {
		if (!p->port_in || !port_free(p->port_in) || !port_free(p->port_eg)) {
			err = ports_alloc(p, eb);
			if (err)
				goto err_free;
		}
		err = spawn(p, eb);
		if (err)
			goto err_free;
	}
	p->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (p->stop_fd == -1) {
		err = -errno;
		errbuf_set(eb, err, "proxy: eventfd: %s", strerror(errno));
		goto err_free;
	}
	err = -pthread_create(&p->thr, NULL, supervise, p);
	if (err) {
		errbuf_set(eb, err, "proxy: thread: %s", strerror(-err));
		goto err_free;
	}
	return p;

err_free:
	if (p->ctl_listen >= 0)
		close(p->ctl_listen);
	if (p->stop_fd >= 0)
		close(p->stop_fd);
	if (p->pidfd >= 0)
		close(p->pidfd); /* a started proxy keeps running; the next start adopts it */
	pthread_mutex_destroy(&p->lock);
	free(p);
	errno = -err;
	return NULL;
}

void agent_proxy__free(struct agent_proxy *p)
{
	uint64_t one = 1;

	if (!p)
		return;
	if (write(p->stop_fd, &one, sizeof(one)) != sizeof(one))
		pr_warn("proxy: cannot stop the supervisor: %s\n", strerror(errno));
	pthread_join(p->thr, NULL);
	close(p->stop_fd);
	if (p->pidfd >= 0)
		close(p->pidfd);
	if (p->ctl_fd >= 0)
		close(p->ctl_fd);
	close(p->ctl_listen);
	free(p->snap);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

void agent_proxy_ports(const struct agent_proxy *p, uint16_t *ingress, uint16_t *egress)
{
	*ingress = p->port_in;
	*egress = p->port_eg;
}

#define PROXY_METRICS_MAX (1u << 20)

bool agent_proxy_metrics(struct agent_proxy *p, int timeout_ms, struct strbuf *sb)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;
	struct strbuf text = STRBUF_INIT;
	bool ok = false;
	char buf[16384];
	int fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", p->metrics);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	/* a unix stream connect completes at once or fails (no listener: ECONNREFUSED, ENOENT) */
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		for (;;) {
			struct pollfd pfd = { fd, POLLIN, 0 };
			int64_t left = (deadline - now_ns()) / 1000000;
			ssize_t r;

			if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
				break;
			r = read(fd, buf, sizeof(buf));
			if (r == 0) {
				ok = true;
				break;
			}
			if (r < 0 && errno != EAGAIN && errno != EINTR)
				break;
			if (r > 0)
				strbuf_append(&text, buf, (size_t)r);
			if (text.len > PROXY_METRICS_MAX || text.oom)
				break;
		}
	}
	if (fd >= 0)
		close(fd);
	/* only complete text, lines whole, goes into the scrape */
	ok = ok && text.len && !text.oom && text.p[text.len - 1] == '\n';
	if (ok)
		strbuf_append(sb, text.p, text.len);
	strbuf_free(&text);
	strbuf_puts(
		sb,
		"# HELP velum_proxy_up Whether velum-proxy answered this scrape (1) or not (0)\n"
		"# TYPE velum_proxy_up gauge\n");
	strbuf_printf(sb, "velum_proxy_up %d\n", ok ? 1 : 0);
	return ok;
}

int agent_proxy_pid(struct agent_proxy *p)
{
	int pid;

	pthread_mutex_lock(&p->lock);
	pid = p->pid;
	pthread_mutex_unlock(&p->lock);
	return pid;
}

json_t *agent_proxy_status(struct agent_proxy *p)
{
	char in[40], eg[40];
	json_t *j;

	snprintf(in, sizeof(in), "127.0.0.1:%u (ingress)", p->port_in);
	snprintf(eg, sizeof(eg), "127.0.0.1:%u (egress)", p->port_eg);
	pthread_mutex_lock(&p->lock);
	j = json_pack("{s:i, s:b, s:i, s:[s,s], s:i, s:i, s:s, s:s}", "pid", p->pid, "adopted",
		      p->adopted, "restarts", (int)p->restarts, "listeners", in, eg, "ingress_port",
		      (int)p->port_in, "egress_port", (int)p->port_eg, "log", p->log, "binary",
		      p->bin);
	if (j) {
		json_object_set_new(j, "control",
				    json_pack("{s:b, s:b, s:I}", "connected", p->ctl_fd >= 0,
					      "acked", p->acked, "revision",
					      (json_int_t)p->acked_rev));
	}
	pthread_mutex_unlock(&p->lock);
	return j;
}

int agent_proxy_terminate(const char *state_dir, struct errbuf *eb)
{
	char path[PATH_MAX];
	uint16_t in, eg;
	int pid, fd, err;

	snprintf(path, sizeof(path), "%s/proxy.pid", state_dir);
	err = pidfile_read(path, &pid, &in, &eg);
	if (err == -ENOENT)
		return 0;
	if (!err && is_proxy(pid)) {
		struct pollfd pfd = { -1, POLLIN, 0 };

		fd = pidfd_open_(pid);
		if (fd == -1 && errno != ESRCH)
			return errbuf_set(eb, -errno, "proxy: pidfd_open %d: %s", pid,
					  strerror(errno));
		if (fd >= 0) {
			pfd.fd = fd;
			kill(pid, SIGTERM);
			if (poll(&pfd, 1, 2000) == 0)
				kill(pid, SIGKILL);
			close(fd);
			pr_info("proxy: ended the velum-proxy an earlier velumd left (pid %d)\n",
				pid);
		}
	}
	if (unlink(path) == -1 && errno != ENOENT)
		return errbuf_set(eb, -errno, "%s: %s", path, strerror(errno));
	return 0;
}
