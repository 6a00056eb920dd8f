/* SPDX-License-Identifier: Apache-2.0 */
/*
 * velum-proxy in transparent mode behind the real datapath
 * (docs/proxy-redirect.md): a client endpoint talks HTTP to a server
 * endpoint's address and port 80; the server's ingress policy redirects
 * port 80 to velum-proxy's ingress port. Checked: allowed and denied
 * requests pipelined on one connection get the server's responses and
 * Cilium's 403 in order; the server receives exactly the allowed requests,
 * from the client's own address; access events carry both identities from
 * the ipcache; with the proxy killed, nothing reaches the server (fail
 * closed) and a restarted proxy serves again.
 *
 *   proxy_transparent VELUM_PROXY PROXY_UPSTREAM TMPDIR
 *
 * Names carry the PID like the datapath tests (pin folder
 * velum-test-<pid>, links vt<pid><ep>, namespaces vt<pid>-<ep>), so
 * tests/integration/datapath.sh cleans up after it. Exits 77 without root.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "datapath/dp.h"
#include "dp_net.h"
#include "velum/policy.h"

enum { EP_CLI = 1, EP_SRV = 2, EP_N = 3 };
#define ID_CLI	  2001
#define ID_SRV	  2002
#define PORT_HTTP 80

static const char denied[] = "HTTP/1.1 403 Forbidden\r\ncontent-length: 15\r\n"
			     "content-type: text/plain\r\n\r\nAccess denied\r\n";
static const char req_a[] = "GET /v1 HTTP/1.1\r\nHost: deathstar\r\n\r\n";
static const char req_d[] = "PUT /v1/exhaust-port HTTP/1.1\r\nHost: deathstar\r\n\r\n";
static const char req_b[] = "GET /v1/x HTTP/1.1\r\nHost: deathstar\r\n\r\n";

static int failures;
static char tmp[256];

static void check(int ok, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf(ok ? "ok    " : "FAIL  ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
	if (!ok)
		failures++;
}

static char *slurp(const char *name, size_t *len)
{
	char path[512];
	static char buf[1 << 16];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	fd = open(path, O_RDONLY);
	n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : 0;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	if (len)
		*len = n > 0 ? (size_t)n : 0;
	return buf;
}

/* Starts argv with stdout to TMP/out; waits for "listening" in it. */
static pid_t spawn(int netns_fd, const char *out, char *const argv[])
{
	char path[512];
	pid_t pid;
	int i;

	snprintf(path, sizeof(path), "%s/%s", tmp, out);
	pid = fork();
	if (pid == 0) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (netns_fd >= 0 && setns(netns_fd, CLONE_NEWNET) == -1)
			_exit(126);
		dup2(fd, 1);
		execv(argv[0], argv);
		_exit(127);
	}
	for (i = 0; i < 200; i++) {
		if (strstr(slurp(out, NULL), "listening"))
			return pid;
		usleep(25000);
	}
	fprintf(stderr, "%s did not start\n", argv[0]);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

static void stop(pid_t pid, int sig)
{
	if (pid > 0) {
		kill(pid, sig);
		waitpid(pid, NULL, 0);
	}
}

struct exchange {
	in_addr_t dst;
	const char *send;
	char got[4096];
	size_t len;
	int responses; /* stop after this many "HTTP/1.1 " */
	struct sockaddr_in local;
};

static int count(const char *s, const char *what)
{
	int n = 0;

	while ((s = strstr(s, what))) {
		n++;
		s++;
	}
	return n;
}

/* In the client's namespace: connect, send, read until enough responses, close, or 3 s. */
static long exchange_fn(void *arg)
{
	struct exchange *x = arg;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT_HTTP) };
	struct timeval tv = { 3, 0 };
	socklen_t sl = sizeof(x->local);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ssize_t n;

	a.sin_addr.s_addr = x->dst;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == -1) {
		n = -errno;
		close(fd);
		return n;
	}
	getsockname(fd, (struct sockaddr *)&x->local, &sl);
	if (write(fd, x->send, strlen(x->send)) < 0) {
		close(fd);
		return -EIO;
	}
	x->len = 0;
	while (x->len < sizeof(x->got) - 1) {
		n = read(fd, x->got + x->len, sizeof(x->got) - 1 - x->len);
		if (n <= 0)
			break;
		x->len += (size_t)n;
		x->got[x->len] = '\0';
		/* the last expected response is complete once its body is in */
		if (count(x->got, "HTTP/1.1 ") >= x->responses &&
		    (strstr(x->got + x->len - (x->len > 20 ? 20 : x->len), "\n") != NULL))
			break;
	}
	x->got[x->len] = '\0';
	close(fd);
	return 0;
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

int main(int argc, char **argv)
{
	struct dp_opts o = { 0 };
	struct errbuf eb = { "" };
	char pin_dir[128], ifprefix[16], nsprefix[32], pool[32], port_s[16], rules[300],
		access[300], record[300];
	struct dp_endpoint ep[EP_N];
	struct exchange x;
	pid_t px = -1, up = -1;
	unsigned short pport;
	struct dp *dp;
	int pid = getpid(), nsfd[EP_N] = { -1, -1, -1 }, e;
	FILE *f;

	if (argc != 4) {
		fprintf(stderr, "usage: proxy_transparent VELUM_PROXY PROXY_UPSTREAM TMPDIR\n");
		return 2;
	}
	if (geteuid() != 0) {
		printf("proxy_transparent: not root, skipped\n");
		return 77;
	}
	snprintf(tmp, sizeof(tmp), "%s", argv[3]);
	snprintf(pin_dir, sizeof(pin_dir), "/sys/fs/bpf/velum-test-%d", pid);
	snprintf(ifprefix, sizeof(ifprefix), "vt%d", pid % 10000000);
	snprintf(nsprefix, sizeof(nsprefix), "vt%d-", pid);
	snprintf(pool, sizeof(pool), "10.%d.0.0/16", 100 + pid % 100);
	pport = (unsigned short)(10000 + pid % 10000);
	snprintf(port_s, sizeof(port_s), "%u", pport);
	o.pin_dir = pin_dir;
	o.ifname_prefix = ifprefix;
	o.netns_prefix = nsprefix;
	o.pool = pool;
	dp = dp__open(&o, &eb);
	if (!dp) {
		fprintf(stderr, "dp__open: %s\n", eb.msg);
		return 1;
	}
	if (dp_proxy_setup(dp, &eb)) {
		fprintf(stderr, "dp_proxy_setup: %s\n", eb.msg);
		failures++;
		goto out;
	}
	for (e = EP_CLI; e <= EP_SRV; e++) {
		struct dp_endpoint_opts eo = { .ep_id = (__u32)e,
					       .identity = e == EP_CLI ? ID_CLI : ID_SRV };
		struct velum_policy_key k[3];
		struct velum_policy_value v[3];
		size_t n = 0;

		if (dp_endpoint_add(dp, &eo, &ep[e], &eb)) {
			fprintf(stderr, "endpoint %d: %s\n", e, eb.msg);
			failures++;
			goto out;
		}
		nsfd[e] = open(ep[e].netns, O_RDONLY | O_CLOEXEC);
		put(&k[n], &v[n], VELUM_DIR_INGRESS, 0, 0, 0, VELUM_VERDICT_ALLOW, 0, 100);
		n++;
		put(&k[n], &v[n], VELUM_DIR_EGRESS, 0, 0, 0, VELUM_VERDICT_ALLOW, 0, 101);
		n++;
		if (e == EP_SRV) {
			put(&k[n], &v[n], VELUM_DIR_INGRESS, IPPROTO_TCP, PORT_HTTP, 24,
			    VELUM_VERDICT_REDIRECT, pport, 200);
			n++;
		}
		if (dp_policy_apply(dp, (__u32)e, k, v, n, &eb)) {
			fprintf(stderr, "policy %d: %s\n", e, eb.msg);
			failures++;
			goto out;
		}
	}

	snprintf(rules, sizeof(rules), "%s/rules.yaml", tmp);
	snprintf(access, sizeof(access), "%s/access.jsonl", tmp);
	snprintf(record, sizeof(record), "%s/record", tmp);
	f = fopen(rules, "w");
	fputs("- method: GET\n  path: \"/v1(/.*)?\"\n", f);
	fclose(f);
	{
		char *pa[] = {
			argv[1],   "--transparent", "--ingress-port", port_s, "--pin-dir", pin_dir,
			"--rules", rules,	    "--access-log",   access, NULL
		};
		char *ua[] = { argv[2], "--record", record, "--port", "80", "--any", NULL };

		px = spawn(-1, "px.out", pa);
		up = spawn(nsfd[EP_SRV], "up.out", ua);
	}
	if (px < 0 || up < 0) {
		failures++;
		goto out;
	}

	/* pipelined allowed, denied, allowed on one connection */
	memset(&x, 0, sizeof(x));
	x.dst = ep[EP_SRV].ipv4;
	x.send = "GET /v1 HTTP/1.1\r\nHost: deathstar\r\n\r\n"
		 "PUT /v1/exhaust-port HTTP/1.1\r\nHost: deathstar\r\n\r\n"
		 "GET /v1/x HTTP/1.1\r\nHost: deathstar\r\n\r\n";
	x.responses = 3;
	e = (int)net_run_in(nsfd[EP_CLI], exchange_fn, &x);
	check(e == 0, "client connects to the server's address through the proxy (%d)", e);
	{
		char want[1024];

		snprintf(want, sizeof(want),
			 "HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\nok GET /v1\n%s"
			 "HTTP/1.1 200 OK\r\ncontent-length: 13\r\n\r\nok GET /v1/x\n",
			 denied);
		check(!strcmp(x.got, want), "responses in order, Cilium's 403 for the PUT: '%s'",
		      x.got);
	}
	{
		char want[512];
		size_t len;
		const char *got = slurp("record", &len);

		snprintf(want, sizeof(want), "%s%s", req_a, req_b);
		check(!strcmp(got, want), "the server got exactly the allowed requests: '%s'", got);
	}
	{
		char want[64];
		struct in_addr ca = { ep[EP_CLI].ipv4 };

		snprintf(want, sizeof(want), "peer %s\n", inet_ntoa(ca));
		check(strstr(slurp("up.out", NULL), want) != NULL,
		      "the server sees the client's address (%s): %s", want, slurp("up.out", NULL));
		check(x.local.sin_addr.s_addr == ep[EP_CLI].ipv4,
		      "the client used its own address");
	}
	{
		const char *log = slurp("access.jsonl", NULL);

		check(strstr(log, "\"verdict\":\"DROPPED\"") && strstr(log, "\"identity\":2001") &&
			      strstr(log, "\"identity\":2002"),
		      "access events carry both identities from the ipcache: %.300s", log);
	}

	/* fail closed: no proxy, nothing reaches the server */
	stop(px, SIGKILL);
	px = -1;
	slurp("record", NULL);
	memset(&x, 0, sizeof(x));
	x.dst = ep[EP_SRV].ipv4;
	x.send = req_a;
	x.responses = 1;
	e = (int)net_run_in(nsfd[EP_CLI], exchange_fn, &x);
	{
		size_t len;

		slurp("record", &len);
		check((e != 0 || x.len == 0) && len == strlen(req_a) + strlen(req_b),
		      "proxy gone: the connection fails (%d) and the server gets nothing", e);
	}
	{
		char *pa[] = { argv[1],	  "--transparent", "--ingress-port",
			       port_s,	  "--pin-dir",	   pin_dir,
			       "--rules", rules,	   NULL };

		px = spawn(-1, "px2.out", pa);
	}
	memset(&x, 0, sizeof(x));
	x.dst = ep[EP_SRV].ipv4;
	x.send = req_d;
	x.responses = 1;
	e = (int)net_run_in(nsfd[EP_CLI], exchange_fn, &x);
	check(e == 0 && !strcmp(x.got, denied), "a restarted proxy serves again: '%s'", x.got);

out:
	stop(px, SIGTERM);
	stop(up, SIGTERM);
	for (e = 0; e < EP_N; e++)
		if (nsfd[e] >= 0)
			close(nsfd[e]);
	if (dp_destroy_all(dp, &eb))
		fprintf(stderr, "destroy: %s\n", eb.msg);
	dp__close(dp);
	printf("proxy_transparent: %d failures\n", failures);
	return failures ? 1 : 0;
}
