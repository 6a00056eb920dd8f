/* SPDX-License-Identifier: Apache-2.0 */
/*
 * velum-proxy: the L7 HTTP proxy. Standalone mode: every client connection
 * accepted on --listen is proxied to --upstream, each request judged by the
 * HTTP rules of --rules. Transparent mode (--transparent): the datapath
 * hands redirected connections to listeners on 127.0.0.1 at the ingress and
 * egress proxy ports; each goes to its original destination, each request
 * judged by velumd's L7 snapshot (--control: the policy's rules for that
 * flow's endpoints, direction, port and peer) or, for tests, by one rules
 * file for every flow (--rules). SIGTERM or SIGINT stop it cleanly (exit
 * 0); SIGHUP reloads the rules file (a bad file is reported and changes
 * nothing).
 * Exit status 2 for bad arguments or a bad rules file, 1 for other errors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/log.h"
#include "proxy/ctlclient.h"
#include "proxy/proxy.h"
#include "proxy/rules.h"
#include "velum/proxy.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: velum-proxy --listen ADDR:PORT --upstream ADDR:PORT --rules FILE [options]\n"
		"       velum-proxy --transparent [--ingress-port P] [--egress-port P] "
		"(--control SOCKET | --rules FILE) [options]\n"
		"  --listen ADDR:PORT          where clients connect (port 0: any free port)\n"
		"  --upstream ADDR:PORT        the server every connection goes to\n"
		"  --rules FILE                JSON or YAML list of Cilium HTTP rules\n"
		"  --transparent               serve the datapath's L7 redirects "
		"(docs/proxy-redirect.md)\n"
		"  --ingress-port P, --egress-port P\n"
		"                              transparent listeners on 127.0.0.1 (10000-20000)\n"
		"  --control SOCKET            transparent: velumd's control socket, for the L7 "
		"snapshots\n"
		"                              (every request is denied until the first)\n"
		"  --pin-dir DIR               the datapath's pins, for identities "
		"(default /sys/fs/bpf/velum)\n"
		"  --threads N                 worker threads (default: one per CPU)\n"
		"  --header-timeout SECONDS    request-header timeout (default 15)\n"
		"  --idle-timeout SECONDS      idle connection timeout (default 300)\n"
		"  --max-conns N               client connections in all (default 65536)\n"
		"  --max-conns-per-source N    client connections per source address "
		"(default 16384)\n"
		"  --access-log FILE|-         access events as JSON lines\n"
		"  --events-socket PATH        send binary access events to this unix datagram "
		"socket\n"
		"  --metrics-socket PATH       serve Prometheus metrics on this unix stream socket\n"
		"  -v, --verbose               more logging\n"
		"ADDR is IPv4 or [IPv6]. Prints \"listening on ADDR:PORT\" once serving.\n");
}

/* Parses "1.2.3.4:80" or "[::1]:80". Returns 0 or -EINVAL. */
static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon;
	char *end;
	unsigned long port;
	size_t hl;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return -EINVAL;
		hl = (size_t)(rb - s - 1);
		colon = rb + 1;
		s++;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		hl = (size_t)(colon - s);
	}
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || port > 65535)
		return -EINVAL;
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		((struct sockaddr_in *)ss)->sin_family = AF_INET;
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
		*len = sizeof(struct sockaddr_in);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
		*len = sizeof(struct sockaddr_in6);
		return 0;
	}
	return -EINVAL;
}

static int parse_uint(const char *s, unsigned long max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v > max || s[0] == '-')
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

/* Seconds with up to millisecond precision, > 0. */
static int parse_seconds(const char *s, unsigned *ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || end == s || !(v > 0) || v > 86400)
		return -EINVAL;
	*ms = (unsigned)(v * 1000 + 0.5);
	return *ms ? 0 : -EINVAL;
}

static int metrics_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 || listen(fd, 16) == -1) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static void metrics_serve(struct px_server *srv, int lfd)
{
	struct strbuf sb = STRBUF_INIT;
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd == -1)
		return;
	if (!px_server_metrics(srv, &sb))
		(void)!write(fd, sb.p, sb.len);
	strbuf_free(&sb);
	close(fd);
}

static void publish_snapshot(void *srv, struct pol_l7_snapshot *s)
{
	px_server_set_snapshot(srv, s);
}

static int serve(struct px_server *srv, const char *rules_path, int mfd)
{
	struct signalfd_siginfo si;
	struct pollfd pfd[2];
	sigset_t set;
	int sfd;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd == -1)
		return -errno;
	pfd[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = mfd, .events = POLLIN };
	for (;;) {
		if (poll(pfd, mfd >= 0 ? 2 : 1, -1) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents & POLLIN)
			metrics_serve(srv, mfd);
		if (!(pfd[0].revents & POLLIN) || read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGHUP && !rules_path) {
			pr_info("SIGHUP: no rules file to reload (the rules come from velumd)\n");
			continue;
		}
		if (si.ssi_signo == SIGHUP) {
			struct errbuf eb = { 0 };
			struct px_rules *rs = px_rules__load(rules_path, &eb);

			if (rs) {
				px_server_set_rules(srv, rs);
				pr_info("rules reloaded from %s (%zu rules)\n", rules_path, rs->n);
			} else {
				pr_warn("rules not reloaded: %s\n",
					errbuf_empty(&eb) ? strerror(errno) : eb.msg);
			}
			continue;
		}
		break;
	}
	close(sfd);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "upstream", required_argument, NULL, 'u' },
		{ "rules", required_argument, NULL, 'r' },
		{ "threads", required_argument, NULL, 't' },
		{ "header-timeout", required_argument, NULL, 'H' },
		{ "idle-timeout", required_argument, NULL, 'I' },
		{ "max-conns", required_argument, NULL, 'm' },
		{ "max-conns-per-source", required_argument, NULL, 'M' },
		{ "access-log", required_argument, NULL, 'a' },
		{ "events-socket", required_argument, NULL, 'e' },
		{ "metrics-socket", required_argument, NULL, 'S' },
		{ "transparent", no_argument, NULL, 'T' },
		{ "ingress-port", required_argument, NULL, 'i' },
		{ "egress-port", required_argument, NULL, 'g' },
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "control", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct px_config cfg = {
		.header_timeout_ms = 15000,
		.idle_timeout_ms = 300000,
		.max_conns = 65536,
		.max_conns_per_source = 16384,
		.access_fd = -1,
	};
	const char *rules_path = NULL, *access = NULL, *metrics = NULL, *control = NULL;
	struct px_control *ctl = NULL;
	bool have_listen = false, have_upstream = false;
	struct errbuf eb = { 0 };
	struct px_server *srv;
	struct px_rules *rules;
	char addr[INET6_ADDRSTRLEN];
	const struct sockaddr_storage *bound;
	socklen_t blen;
	sigset_t set;
	int c, err, mfd = -1;

	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		const char *bad = NULL;

		switch (c) {
		case 'l':
			have_listen = !parse_addr(optarg, &cfg.listen, &cfg.listen_len);
			bad = have_listen ? NULL : "--listen";
			break;
		case 'u':
			have_upstream = !parse_addr(optarg, &cfg.upstream, &cfg.upstream_len);
			bad = have_upstream ? NULL : "--upstream";
			break;
		case 'r':
			rules_path = optarg;
			break;
		case 't':
			bad = parse_uint(optarg, 256, &cfg.threads) ? "--threads" : NULL;
			break;
		case 'H':
			bad = parse_seconds(optarg, &cfg.header_timeout_ms) ? "--header-timeout" :
									      NULL;
			break;
		case 'I':
			bad = parse_seconds(optarg, &cfg.idle_timeout_ms) ? "--idle-timeout" : NULL;
			break;
		case 'm':
			bad = parse_uint(optarg, 1u << 22, &cfg.max_conns) || !cfg.max_conns ?
				      "--max-conns" :
				      NULL;
			break;
		case 'M':
			bad = parse_uint(optarg, 1u << 22, &cfg.max_conns_per_source) ||
					      !cfg.max_conns_per_source ?
				      "--max-conns-per-source" :
				      NULL;
			break;
		case 'a':
			access = optarg;
			break;
		case 'e':
			cfg.events_socket = optarg;
			break;
		case 'S':
			metrics = optarg;
			break;
		case 'T':
			cfg.transparent = true;
			break;
		case 'i':
		case 'g': {
			unsigned port;

			bad = parse_uint(optarg, 65535, &port) || port < VELUM_PROXY_PORT_MIN ||
					      port > VELUM_PROXY_PORT_MAX ?
				      (c == 'i' ? "--ingress-port" : "--egress-port") :
				      NULL;
			cfg.ports[c == 'g'] = (uint16_t)port;
			break;
		}
		case 'p':
			cfg.pin_dir = optarg;
			break;
		case 'c':
			control = optarg;
			break;
		case 'v':
			log_threshold = LOG_LVL_DEBUG;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (bad) {
			fprintf(stderr, "velum-proxy: %s: invalid value '%s'\n", bad, optarg);
			return 2;
		}
	}
	if (cfg.transparent ? optind < argc || have_listen || have_upstream ||
				      !rules_path == !control || (!cfg.ports[0] && !cfg.ports[1]) :
			      optind < argc || !have_listen || !have_upstream || !rules_path ||
				      control || cfg.ports[0] || cfg.ports[1]) {
		fprintf(stderr,
			cfg.transparent ?
				"velum-proxy: --transparent takes a proxy port and either "
				"--control or --rules, not --listen or --upstream\n" :
				"velum-proxy: --listen, --upstream and --rules are required "
				"(--control is for --transparent)\n");
		usage(stderr);
		return 2;
	}
	cfg.snapshots = control != NULL;
	rules = rules_path ? px_rules__load(rules_path, &eb) : NULL;
	if (rules_path && !rules) {
		fprintf(stderr, "velum-proxy: %s\n", errbuf_empty(&eb) ? strerror(errno) : eb.msg);
		return 2;
	}
	if (access) {
		cfg.access_fd =
			strcmp(access, "-") ?
				open(access, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644) :
				STDOUT_FILENO;
		if (cfg.access_fd == -1) {
			fprintf(stderr, "velum-proxy: %s: %s\n", access, strerror(errno));
			px_rules__put(rules);
			return 1;
		}
	}
	if (metrics) {
		mfd = metrics_listen(metrics);
		if (mfd < 0) {
			fprintf(stderr, "velum-proxy: %s: %s\n", metrics, strerror(-mfd));
			px_rules__put(rules);
			return 1;
		}
	}
	/* Workers inherit the mask: the signals reach only the main thread's signalfd. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	srv = px_server__new(&cfg, rules, &eb);
	if (!srv) {
		fprintf(stderr, "velum-proxy: %s\n", errbuf_empty(&eb) ? strerror(errno) : eb.msg);
		return 1;
	}
	err = px_server_start(srv);
	if (err) {
		fprintf(stderr, "velum-proxy: starting workers: %s\n", strerror(-err));
		px_server__free(srv);
		return 1;
	}
	if (control) {
		ctl = px_control__start(control, publish_snapshot, srv, &eb);
		if (!ctl) {
			fprintf(stderr, "velum-proxy: %s\n",
				errbuf_empty(&eb) ? strerror(errno) : eb.msg);
			px_server__free(srv);
			return 1;
		}
	}
	if (cfg.transparent) {
		printf("listening on 127.0.0.1 ports ingress %u egress %u (transparent)\n",
		       cfg.ports[0], cfg.ports[1]);
		fflush(stdout);
		goto serve;
	}
	bound = px_server_addr(srv, &blen);
	if (bound->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)bound)->sin_addr, addr,
			  sizeof(addr));
	else
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)bound)->sin6_addr, addr,
			  sizeof(addr));
	printf(bound->ss_family == AF_INET ? "listening on %s:%u\n" : "listening on [%s]:%u\n",
	       addr,
	       ntohs(bound->ss_family == AF_INET ?
			     ((const struct sockaddr_in *)bound)->sin_port :
			     ((const struct sockaddr_in6 *)bound)->sin6_port));
	fflush(stdout);
serve:
	err = serve(srv, rules_path, mfd);
	px_control__stop(ctl);
	px_server__free(srv);
	if (mfd >= 0) {
		close(mfd);
		unlink(metrics);
	}
	if (err) {
		fprintf(stderr, "velum-proxy: %s\n", strerror(-err));
		return 1;
	}
	return 0;
}
