// SPDX-License-Identifier: Apache-2.0
/*
 * L7 redirection on real namespaces (docs/proxy-redirect.md): a client
 * endpoint connects to a server endpoint's address and port; a policy entry
 * with a proxy port sends the connection through a transparent proxy in the
 * host namespace. The proxy here is a minimal test-only one set up exactly
 * as the contract asks (127.0.0.1 listeners with IP_TRANSPARENT and the
 * from-proxy SO_MARK, an upstream socket bound to the client's address);
 * it records what each accepted socket says and relays bytes both ways.
 *
 * Proven: the proxy's accepted socket sees the original destination and
 * the client's address; the server sees the client's address; data flows
 * both ways; ingress and egress redirects, with BPF host routing and with
 * legacy routing; both at once make one proxy hop (the proxy's packets are
 * not redirected again); no listener means the connection fails with a
 * "Socket lookup failed" drop event; flows without a redirect still take
 * BPF host routing and never meet the proxy.
 *
 * Names carry the PID like dp_integration (pin folder velum-test-<pid>,
 * links vt<pid><ep>, namespaces vt<pid>-<ep>), so tests/integration/
 * datapath.sh cleans up after this program too.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "datapath/dp.h"
#include "dp_net.h"
#include "velum/conntrack.h"
#include "velum/drop.h"
#include "velum/maps.h"
#include "velum/proxy.h"

enum { EP_CLI = 1, EP_SRV = 2, EP_N = 3 };
#define ID_CLI 2001
#define ID_SRV 2002

#define PORT_L7	 8080 /* redirected */
#define PORT_L4	 9090 /* plain allow */
#define PORT_OFF 7070 /* redirected to a port nobody listens on */

#define TIMEOUT_OK   3000
#define TIMEOUT_DROP 400

/* ---- the test-only transparent proxy ---- */

struct px_conn_rec {
	struct sockaddr_in orig_dst; /* getsockname() of the accepted socket */
	struct sockaddr_in client;   /* getpeername() */
	struct sockaddr_in up_local; /* the upstream socket's own address */
	int upstream_err;
};

struct tproxy {
	int lfd[2]; /* 0 ingress, 1 egress listener */
	unsigned short port[2];
	atomic_int accepted[2];
	struct px_conn_rec last[2];
	pthread_mutex_t lock;
	atomic_bool stop;
	pthread_t thr;
};

struct relay {
	int a, b;
};

static void *relay_main(void *p)
{
	struct relay *r = p;
	struct pollfd pfd[2] = { { r->a, POLLIN, 0 }, { r->b, POLLIN, 0 } };
	char buf[4096];

	while (poll(pfd, 2, 5000) > 0) {
		for (int i = 0; i < 2; i++) {
			ssize_t n;

			if (!pfd[i].revents)
				continue;
			n = read(pfd[i].fd, buf, sizeof(buf));
			if (n <= 0 || write(pfd[!i].fd, buf, n) != n)
				goto out;
		}
	}
out:
	close(r->a);
	close(r->b);
	free(r);
	return NULL;
}

/* The upstream socket as the contract says: transparent, marked, bound to the client. */
static int px_upstream(const struct sockaddr_in *client, const struct sockaddr_in *dst, __u32 mark,
		       struct sockaddr_in *local)
{
	struct sockaddr_in src = { .sin_family = AF_INET, .sin_addr = client->sin_addr };
	socklen_t len = sizeof(*local);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, err;
	struct timeval tv = { 2, 0 };

	if (fd == -1)
		return -errno;
	if (setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) == -1 ||
	    setsockopt(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1 ||
	    bind(fd, (struct sockaddr *)&src, sizeof(src)) == -1 ||
	    connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) == -1 ||
	    getsockname(fd, (struct sockaddr *)local, &len) == -1) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static void px_accept(struct tproxy *px, int dir)
{
	struct px_conn_rec rec = { 0 };
	socklen_t len = sizeof(rec.client);
	struct relay *r;
	pthread_t t;
	int cfd, ufd;

	cfd = accept4(px->lfd[dir], (struct sockaddr *)&rec.client, &len, SOCK_CLOEXEC);
	if (cfd == -1)
		return;
	len = sizeof(rec.orig_dst);
	getsockname(cfd, (struct sockaddr *)&rec.orig_dst, &len);
	ufd = px_upstream(&rec.client, &rec.orig_dst,
			  dir ? VELUM_MARK_MAGIC_PROXY_EGRESS : VELUM_MARK_MAGIC_PROXY_INGRESS,
			  &rec.up_local);
	rec.upstream_err = ufd < 0 ? ufd : 0;
	pthread_mutex_lock(&px->lock);
	px->last[dir] = rec;
	pthread_mutex_unlock(&px->lock);
	px->accepted[dir]++;
	r = malloc(sizeof(*r));
	if (ufd < 0 || !r) {
		close(cfd);
		if (ufd >= 0)
			close(ufd);
		free(r);
		return;
	}
	r->a = cfd;
	r->b = ufd;
	if (pthread_create(&t, NULL, relay_main, r)) {
		close(cfd);
		close(ufd);
		free(r);
		return;
	}
	pthread_detach(t);
}

static void *px_main(void *p)
{
	struct tproxy *px = p;
	struct pollfd pfd[2] = { { px->lfd[0], POLLIN, 0 }, { px->lfd[1], POLLIN, 0 } };

	while (!px->stop) {
		if (poll(pfd, 2, 100) <= 0)
			continue;
		for (int i = 0; i < 2; i++)
			if (pfd[i].revents & POLLIN)
				px_accept(px, i);
	}
	return NULL;
}

/* A listener at 127.0.0.1, kernel-chosen port (concurrent runs never collide). */
static int px_listen(__u32 mark, unsigned short *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one)), 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)), 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)), 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 64), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static void px_start(struct tproxy *px)
{
	memset(px, 0, sizeof(*px));
	pthread_mutex_init(&px->lock, NULL);
	px->lfd[0] = px_listen(VELUM_MARK_MAGIC_PROXY_INGRESS, &px->port[0]);
	px->lfd[1] = px_listen(VELUM_MARK_MAGIC_PROXY_EGRESS, &px->port[1]);
	assert_int_equal(pthread_create(&px->thr, NULL, px_main, px), 0);
}

static void px_stop(struct tproxy *px)
{
	px->stop = true;
	pthread_join(px->thr, NULL);
	close(px->lfd[0]);
	close(px->lfd[1]);
	pthread_mutex_destroy(&px->lock);
}

/* ---- a server that records its clients' addresses ---- */

struct rec_server {
	int netns_fd;
	int lfd[2];
	atomic_int accepts[2];
	struct sockaddr_in last_peer[2];
	pthread_mutex_t lock;
	atomic_bool stop;
	atomic_int ready;
	pthread_t thr;
};

static const unsigned short srv_ports[2] = { PORT_L7, PORT_L4 };

static void *srv_main(void *p)
{
	struct rec_server *s = p;
	struct pollfd pfd[2];
	int one = 1;

	if (setns(s->netns_fd, CLONE_NEWNET) == -1) {
		s->ready = -errno;
		return NULL;
	}
	for (int i = 0; i < 2; i++) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(srv_ports[i]) };

		s->lfd[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		setsockopt(s->lfd[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(s->lfd[i], (struct sockaddr *)&a, sizeof(a)) == -1 ||
		    listen(s->lfd[i], 64) == -1) {
			s->ready = -errno;
			return NULL;
		}
		pfd[i].fd = s->lfd[i];
		pfd[i].events = POLLIN;
	}
	s->ready = 1;
	while (!s->stop) {
		if (poll(pfd, 2, 100) <= 0)
			continue;
		for (int i = 0; i < 2; i++) {
			struct sockaddr_in peer;
			socklen_t len = sizeof(peer);
			struct timeval tv = { 2, 0 };
			char buf[256];
			ssize_t n;
			int c;

			if (!(pfd[i].revents & POLLIN))
				continue;
			c = accept4(s->lfd[i], (struct sockaddr *)&peer, &len, SOCK_CLOEXEC);
			if (c == -1)
				continue;
			pthread_mutex_lock(&s->lock);
			s->last_peer[i] = peer;
			pthread_mutex_unlock(&s->lock);
			s->accepts[i]++;
			setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
			/* echo until the client closes: one request per connection here */
			while ((n = read(c, buf, sizeof(buf))) > 0)
				if (write(c, buf, n) != n)
					break;
			close(c);
		}
	}
	close(s->lfd[0]);
	close(s->lfd[1]);
	return NULL;
}

/* ---- environment ---- */

struct env {
	struct dp *dp;
	char pin_dir[128], ifprefix[16], nsprefix[32], pool[32];
	struct dp_endpoint ep[EP_N];
	int nsfd[EP_N];
	struct tproxy px;
	struct rec_server srv;
	struct velum_event ev[1024];
	int nev;
};

static int collect(void *ctx, const struct velum_event *ev)
{
	struct env *env = ctx;

	if (env->nev < (int)(sizeof(env->ev) / sizeof(env->ev[0])))
		env->ev[env->nev++] = *ev;
	return 0;
}

static void drain_events(struct env *env)
{
	while (dp_events_poll(env->dp, 0, collect, env) > 0)
		;
}

struct client {
	in_addr_t dst;
	unsigned short port;
	int timeout_ms;
	struct sockaddr_in local; /* the client's own address and port */
};

/* Connects, sends a line, expects it echoed whole; 0 or -errno (-ETIMEDOUT on silence). */
static long client_fn(void *arg)
{
	struct client *c = arg;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(c->port) };
	static const char msg[] = "through the proxy and back\n";
	char buf[sizeof(msg)];
	socklen_t len = sizeof(c->local);
	struct pollfd pfd;
	size_t got = 0;
	int fd, err = 0;

	a.sin_addr.s_addr = c->dst;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == -1 && errno != EINPROGRESS) {
		err = -errno;
		goto out;
	}
	pfd.fd = fd;
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, c->timeout_ms) != 1) {
		err = -ETIMEDOUT;
		goto out;
	}
	len = sizeof(err);
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err) {
		err = -err;
		goto out;
	}
	len = sizeof(c->local);
	getsockname(fd, (struct sockaddr *)&c->local, &len);
	if (write(fd, msg, sizeof(msg)) != (ssize_t)sizeof(msg)) {
		err = -EIO;
		goto out;
	}
	pfd.events = POLLIN;
	while (got < sizeof(msg)) {
		ssize_t n;

		if (poll(&pfd, 1, c->timeout_ms) != 1) {
			err = -ETIMEDOUT;
			goto out;
		}
		n = read(fd, buf + got, sizeof(buf) - got);
		if (n <= 0) {
			err = n ? -errno : -ECONNRESET;
			goto out;
		}
		got += n;
	}
	err = memcmp(buf, msg, sizeof(msg)) ? -EBADMSG : 0;
out:
	close(fd);
	return err;
}

static int ns_fd(struct env *env, int ep)
{
	if (env->nsfd[ep] <= 0) {
		env->nsfd[ep] = open(env->ep[ep].netns, O_RDONLY | O_CLOEXEC);
		assert_true(env->nsfd[ep] >= 0);
	}
	return env->nsfd[ep];
}

/* A client in endpoint `from` (0: the host) to the server endpoint's port. */
static int connect_from(struct env *env, int from, unsigned short port, int timeout,
			struct sockaddr_in *local)
{
	struct client c = { env->ep[EP_SRV].ipv4, port, timeout, { 0 } };
	int r = net_run_in(from ? ns_fd(env, from) : -1, client_fn, &c);

	if (local)
		*local = c.local;
	return r;
}

static void put(struct velum_policy_key *k, struct velum_policy_value *v, __u8 dir, __u8 proto,
		__u16 port, int bits, __u8 verdict, __u16 proxy_port, __u32 rule)
{
	memset(k, 0, sizeof(*k));
	memset(v, 0, sizeof(*v));
	k->prefixlen = VELUM_POLICY_PREFIX_FIXED + bits;
	k->egress = dir;
	k->protocol = proto;
	k->dport = htons(port);
	v->verdict = verdict;
	v->port_prefix = bits;
	v->proxy_port = htons(proxy_port);
	v->rule_id = rule;
}

/*
 * Policies: each endpoint allows everything in both directions except
 * that `redirect_dir` of `ep` (if ep) sends TCP PORT_L7 to the proxy of that
 * direction, and PORT_OFF to a port without a listener.
 */
static void policies(struct env *env, int ep_in, int ep_eg)
{
	for (int ep = EP_CLI; ep <= EP_SRV; ep++) {
		struct velum_policy_key k[6];
		struct velum_policy_value v[6];
		struct errbuf eb = { "" };
		size_t n = 0;
		int err;

		for (__u8 dir = 0; dir < 2; dir++) {
			put(&k[n], &v[n], dir, 0, 0, 0, VELUM_VERDICT_ALLOW, 0, 100 + dir);
			n++;
			if ((dir == VELUM_DIR_INGRESS && ep == ep_in) ||
			    (dir == VELUM_DIR_EGRESS && ep == ep_eg)) {
				put(&k[n], &v[n], dir, IPPROTO_TCP, PORT_L7, 24,
				    VELUM_VERDICT_REDIRECT, env->px.port[dir], 200 + dir);
				n++;
				/* a port no listener of ours has */
				put(&k[n], &v[n], dir, IPPROTO_TCP, PORT_OFF, 24,
				    VELUM_VERDICT_REDIRECT, env->px.port[dir] ^ 0x8000, 300 + dir);
				n++;
			}
		}
		err = dp_policy_apply(env->dp, ep, k, v, n, &eb);
		if (err)
			print_error("policy %d: %s\n", ep, eb.msg);
		assert_int_equal(err, 0);
	}
}

static unsigned long long tx_packets(const char *ifname)
{
	char path[128];
	unsigned long long n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/tx_packets", ifname);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%llu", &n), 1);
	fclose(f);
	return n;
}

static int setup(void **state)
{
	struct dp_opts o = { 0 };
	struct errbuf eb = { "" };
	struct env *env;
	int pid = getpid();

	if (geteuid() != 0) {
		print_message("not root: redirect integration tests skipped\n");
		skip();
	}
	env = calloc(1, sizeof(*env));
	assert_non_null(env);
	snprintf(env->pin_dir, sizeof(env->pin_dir), "/sys/fs/bpf/velum-test-%d", pid);
	snprintf(env->ifprefix, sizeof(env->ifprefix), "vt%d", pid % 10000000);
	snprintf(env->nsprefix, sizeof(env->nsprefix), "vt%d-", pid);
	snprintf(env->pool, sizeof(env->pool), "10.%d.0.0/16", 100 + pid % 100);
	o.pin_dir = env->pin_dir;
	o.ifname_prefix = env->ifprefix;
	o.netns_prefix = env->nsprefix;
	o.pool = env->pool;
	env->dp = dp__open(&o, &eb);
	if (!env->dp)
		print_error("dp__open: %s\n", eb.msg);
	assert_non_null(env->dp);
	if (dp_proxy_setup(env->dp, &eb))
		print_error("dp_proxy_setup: %s\n", eb.msg);
	for (int ep = EP_CLI; ep <= EP_SRV; ep++) {
		struct dp_endpoint_opts eo = { .ep_id = ep,
					       .identity = ep == EP_CLI ? ID_CLI : ID_SRV };

		assert_int_equal(dp_endpoint_add(env->dp, &eo, &env->ep[ep], &eb), 0);
	}
	px_start(&env->px);
	pthread_mutex_init(&env->srv.lock, NULL);
	env->srv.netns_fd = ns_fd(env, EP_SRV);
	assert_int_equal(pthread_create(&env->srv.thr, NULL, srv_main, &env->srv), 0);
	while (!env->srv.ready)
		usleep(1000);
	assert_int_equal(env->srv.ready, 1);
	*state = env;
	return 0;
}

static int teardown(void **state)
{
	struct env *env = *state;
	struct errbuf eb = { "" };

	if (!env)
		return 0;
	env->srv.stop = true;
	pthread_join(env->srv.thr, NULL);
	px_stop(&env->px);
	for (int i = 0; i < EP_N; i++)
		if (env->nsfd[i] > 0)
			close(env->nsfd[i]);
	if (dp_destroy_all(env->dp, &eb))
		print_error("destroy: %s\n", eb.msg);
	dp__close(env->dp);
	free(env);
	return 0;
}

static int connect_cli(struct env *env, unsigned short port, int timeout, struct sockaddr_in *local)
{
	return connect_from(env, EP_CLI, port, timeout, local);
}

/* A live conntrack entry for the tuple and direction with all of flags. */
static bool ct_has(struct env *env, __be32 saddr, __be16 sport, __be32 daddr, __be16 dport,
		   __u8 dir, __u8 flags)
{
	struct dp_ct_record *r;
	bool found = false;
	size_t n;

	assert_int_equal(dp_ct_list(env->dp, &r, &n), 0);
	for (size_t i = 0; i < n; i++)
		if (r[i].key.saddr == saddr && r[i].key.sport == sport && r[i].key.daddr == daddr &&
		    r[i].key.dport == dport && r[i].key.dir == dir &&
		    (r[i].val.flags & flags) == flags)
			found = true;
	free(r);
	return found;
}

/*
 * One proxied connection from `from` (0: the host): the client gets its
 * bytes back, the proxy's listener of dir accepted it with the original
 * destination and the client's address, and the server saw the client's
 * address.
 */
static void expect_proxied_from(struct env *env, int from, int dir)
{
	int px_before[2] = { env->px.accepted[0], env->px.accepted[1] };
	int srv_before = env->srv.accepts[0];
	struct sockaddr_in local;
	struct px_conn_rec rec;
	int r = connect_from(env, from, PORT_L7, TIMEOUT_OK, &local);

	if (r)
		print_error("client -> server:%d through the proxy: %s\n", PORT_L7, strerror(-r));
	assert_int_equal(r, 0);
	assert_int_equal(env->px.accepted[dir], px_before[dir] + 1);
	assert_int_equal(env->px.accepted[!dir], px_before[!dir]); /* one hop only */
	pthread_mutex_lock(&env->px.lock);
	rec = env->px.last[dir];
	pthread_mutex_unlock(&env->px.lock);
	assert_int_equal(rec.upstream_err, 0);
	assert_int_equal(rec.orig_dst.sin_addr.s_addr, env->ep[EP_SRV].ipv4);
	assert_int_equal(ntohs(rec.orig_dst.sin_port), PORT_L7);
	if (from)
		assert_int_equal(local.sin_addr.s_addr, env->ep[from].ipv4);
	assert_int_equal(rec.client.sin_addr.s_addr, local.sin_addr.s_addr);
	assert_int_equal(rec.client.sin_port, local.sin_port);
	assert_int_equal(rec.up_local.sin_addr.s_addr, local.sin_addr.s_addr);
	assert_int_equal(env->srv.accepts[0], srv_before + 1);
	pthread_mutex_lock(&env->srv.lock);
	assert_int_equal(env->srv.last_peer[0].sin_addr.s_addr, local.sin_addr.s_addr);
	assert_int_equal(env->srv.last_peer[0].sin_port, rec.up_local.sin_port);
	pthread_mutex_unlock(&env->srv.lock);
	/* the upstream leg is tracked at the server's ingress as the proxy's */
	assert_true(ct_has(env, rec.up_local.sin_addr.s_addr, rec.up_local.sin_port,
			   env->ep[EP_SRV].ipv4, htons(PORT_L7), VELUM_DIR_INGRESS,
			   VELUM_CT_F_PROXY));
}

static void expect_proxied(struct env *env, int dir)
{
	expect_proxied_from(env, EP_CLI, dir);
}

/* A flow without a redirect: passes, host-routed (nothing out of the server's veth), no proxy. */
static void expect_plain(struct env *env)
{
	int px_before = env->px.accepted[0] + env->px.accepted[1];
	int srv_before = env->srv.accepts[1];
	unsigned long long tx = tx_packets(env->ep[EP_SRV].host_ifname);

	assert_int_equal(connect_cli(env, PORT_L4, TIMEOUT_OK, NULL), 0);
	assert_int_equal(env->srv.accepts[1], srv_before + 1);
	assert_int_equal(env->px.accepted[0] + env->px.accepted[1], px_before);
	if (!dp_routing_legacy(env->dp))
		assert_true(tx_packets(env->ep[EP_SRV].host_ifname) - tx <= 2);
}

static void test_redirect_ingress(void **state)
{
	struct env *env = *state;

	policies(env, EP_SRV, 0);
	for (int i = 0; i < 3; i++)
		expect_proxied(env, VELUM_DIR_INGRESS);
	expect_plain(env);
}

static void test_redirect_egress(void **state)
{
	struct env *env = *state;

	policies(env, 0, EP_CLI);
	for (int i = 0; i < 3; i++)
		expect_proxied(env, VELUM_DIR_EGRESS);
	expect_plain(env);
}

/* Both sides redirect: the egress proxy takes it once; its upstream is not redirected again. */
static void test_redirect_both_one_hop(void **state)
{
	struct env *env = *state;

	policies(env, EP_SRV, EP_CLI);
	for (int i = 0; i < 3; i++)
		expect_proxied(env, VELUM_DIR_EGRESS);
	expect_plain(env);
}

static void test_redirect_legacy_routing(void **state)
{
	struct env *env = *state;

	assert_int_equal(dp_routing_set(env->dp, true), 0);
	policies(env, EP_SRV, 0);
	expect_proxied(env, VELUM_DIR_INGRESS);
	expect_plain(env);
	policies(env, 0, EP_CLI);
	expect_proxied(env, VELUM_DIR_EGRESS);
	expect_plain(env);
	assert_int_equal(dp_routing_set(env->dp, false), 0);
}

/*
 * A source that is not an endpoint (the host itself) gets the server's
 * ingress L7 rules too: through to_container, lo and proxy_lo. Its
 * non-redirected flows are untouched, and without the lo path (after
 * dp_proxy_teardown) the redirected port fails closed.
 */
static void test_redirect_from_host(void **state)
{
	struct env *env = *state;
	struct errbuf eb = { "" };
	int srv_before;

	policies(env, EP_SRV, 0);
	for (int i = 0; i < 3; i++)
		expect_proxied_from(env, 0, VELUM_DIR_INGRESS);
	srv_before = env->srv.accepts[1];
	assert_int_equal(connect_from(env, 0, PORT_L4, TIMEOUT_OK, NULL), 0);
	assert_int_equal(env->srv.accepts[1], srv_before + 1);

	/* unregistered: the lo path is gone, the redirect drops */
	assert_int_equal(dp_proxy_teardown(env->dp, &eb), 0);
	srv_before = env->srv.accepts[0];
	drain_events(env);
	env->nev = 0;
	assert_int_equal(connect_from(env, 0, PORT_L7, TIMEOUT_DROP, NULL), -ETIMEDOUT);
	assert_int_equal(env->srv.accepts[0], srv_before);
	drain_events(env);
	bool seen = false;
	for (int i = 0; i < env->nev; i++)
		if (env->ev[i].type == VELUM_EVENT_DROP &&
		    env->ev[i].reason == -VELUM_DROP_PROXY_LOOKUP &&
		    ntohs(env->ev[i].dport) == PORT_L7)
			seen = true;
	assert_true(seen);
	assert_int_equal(dp_proxy_setup(env->dp, &eb), 0);
	expect_proxied_from(env, 0, VELUM_DIR_INGRESS);
}

/* tcx ingress attach type (the build machine's UAPI headers may predate it) */
#define TCX_INGRESS 46

/* The kernel id of the program pinned at pin_dir/name. */
static __u32 pinned_id(struct env *env, const char *name)
{
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", env->pin_dir, name);
	fd = bpf_obj_get(path);
	assert_true(fd >= 0);
	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	close(fd);
	return info.id;
}

/* Whether program id is attached to lo's tcx ingress. */
static bool lo_has(__u32 id)
{
	__u32 ids[64], cnt = 64, flags = 0;
	bool found = false;

	assert_int_equal(bpf_prog_query(1, TCX_INGRESS, 0, &flags, ids, &cnt), 0);
	for (__u32 i = 0; i < cnt; i++)
		found |= ids[i] == id;
	return found;
}

/*
 * A reload (an upgrade, another handle) replaces proxy_lo on lo like the
 * endpoints' programs: the host's flows keep reaching the proxy, and a
 * teardown through the old handle still removes the new program.
 */
static void test_redirect_reload(void **state)
{
	struct env *env = *state;
	struct dp_opts o = { .pin_dir = env->pin_dir, .reload = true };
	struct errbuf eb = { "" };
	__u32 old_id, new_id;
	struct dp *dp2;

	policies(env, EP_SRV, 0);
	old_id = pinned_id(env, VELUM_PROG_PROXY_LO);
	assert_true(lo_has(old_id));
	dp2 = dp__open(&o, &eb);
	if (!dp2)
		print_error("reload: %s\n", eb.msg);
	assert_non_null(dp2);
	dp__close(dp2);
	new_id = pinned_id(env, VELUM_PROG_PROXY_LO);
	assert_int_not_equal(new_id, old_id);
	assert_true(lo_has(new_id));
	assert_false(lo_has(old_id));
	expect_proxied_from(env, 0, VELUM_DIR_INGRESS);
	expect_proxied(env, VELUM_DIR_INGRESS);
	/* the old handle's teardown removes the program now pinned */
	assert_int_equal(dp_proxy_teardown(env->dp, &eb), 0);
	assert_false(lo_has(new_id));
	assert_int_equal(dp_proxy_setup(env->dp, &eb), 0);
}

/* No listener on the proxy port: the connection fails, with a drop event saying why. */
static void test_redirect_no_listener(void **state)
{
	struct env *env = *state;
	int srv_before = env->srv.accepts[0] + env->srv.accepts[1];
	bool seen = false;

	for (int ep_in = 0; ep_in <= EP_SRV; ep_in += EP_SRV) {
		policies(env, ep_in, ep_in ? 0 : EP_CLI);
		drain_events(env);
		env->nev = 0;
		assert_int_equal(connect_cli(env, PORT_OFF, TIMEOUT_DROP, NULL), -ETIMEDOUT);
		drain_events(env);
		for (int i = 0; i < env->nev; i++) {
			const struct velum_event *e = &env->ev[i];

			if (e->type == VELUM_EVENT_DROP && e->reason == -VELUM_DROP_PROXY_LOOKUP &&
			    e->daddr == env->ep[EP_SRV].ipv4 && ntohs(e->dport) == PORT_OFF &&
			    e->verdict == VELUM_FLOW_DROPPED)
				seen = true;
		}
		assert_true(seen);
		assert_string_equal(velum_drop_name(-VELUM_DROP_PROXY_LOOKUP),
				    "Socket lookup failed");
		seen = false;
	}
	assert_int_equal(env->srv.accepts[0] + env->srv.accepts[1], srv_before);
	/* and the L7 port with a listener still works (the last round: ingress) */
	expect_proxied(env, VELUM_DIR_INGRESS);
}

/* The proxy's read-only ipcache: endpoints by address, everything else world. */
static void test_redirect_ipcache_reader(void **state)
{
	struct env *env = *state;
	struct errbuf eb = { "" };
	struct dp_ipcache_reader *r = dp_ipcache_reader__open(env->pin_dir, &eb);
	struct velum_ipcache_value v;

	if (!r)
		print_error("reader: %s\n", eb.msg);
	assert_non_null(r);
	assert_int_equal(dp_ipcache_lookup(r, env->ep[EP_CLI].ipv4, &v), 0);
	assert_int_equal(v.identity, ID_CLI);
	assert_int_equal(v.ep_id, EP_CLI);
	assert_true(v.flags & VELUM_IPCACHE_F_LOCAL_EP);
	assert_int_equal(dp_ipcache_lookup(r, env->ep[EP_SRV].ipv4, &v), 0);
	assert_int_equal(v.identity, ID_SRV);
	assert_int_equal(dp_ipcache_lookup(r, inet_addr("192.0.2.1"), &v), -ENOENT);
	assert_int_equal(v.identity, VELUM_ID_WORLD);
	assert_int_equal(v.ep_id, 0);
	dp_ipcache_reader__close(r);
	/* a missing pin folder is an error naming it */
	assert_null(dp_ipcache_reader__open("/sys/fs/bpf/velum-no-such-folder", &eb));
	assert_non_null(strstr(eb.msg, "velum-no-such-folder"));
}

/* The routing rule and table exist while registered and are shared idempotently. */
static void test_redirect_routing(void **state)
{
	struct env *env = *state;
	struct errbuf eb = { "" };

	assert_int_equal(dp_proxy_setup(env->dp, &eb), 0); /* again: idempotent */
	assert_int_equal(system("ip rule show | grep -q 'fwmark 0x200/0xf00 lookup 2004'"), 0);
	assert_int_equal(system("ip route show table 2004 | grep -q '^local default dev lo'"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_redirect_routing),
		cmocka_unit_test(test_redirect_ipcache_reader),
		cmocka_unit_test(test_redirect_ingress),
		cmocka_unit_test(test_redirect_egress),
		cmocka_unit_test(test_redirect_both_one_hop),
		cmocka_unit_test(test_redirect_legacy_routing),
		cmocka_unit_test(test_redirect_no_listener),
		cmocka_unit_test(test_redirect_from_host),
		cmocka_unit_test(test_redirect_reload),
	};

	libbpf_set_print(NULL);
	return cmocka_run_group_tests(tests, setup, teardown);
}
