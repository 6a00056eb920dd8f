/* SPDX-License-Identifier: Apache-2.0 */
/*
 * velumd: the agent. Takes the state directory's lock (one agent per state),
 * opens the store, attaches to (or loads) the pinned datapath, restores the
 * model from the store and makes the kernel equal to it, then serves the
 * REST API on a unix socket and metrics on a loopback port until SIGTERM
 * or SIGINT. Enforcement never depends on this process: programs and maps
 * stay pinned and attached when it exits or dies.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "agent/agent.h"
#include "agent/podman.h"
#include "agent/proxy.h"
#include "lib/log.h"

static const char usage[] =
	"usage: velumd [options]\n"
	"\n"
	"The velum agent: owns endpoints, identities and policies, enforces them with eBPF,\n"
	"and serves the REST API the velum command talks to.\n"
	"\n"
	"  --state-dir DIR      state (SQLite store, lock) [" AGENT_STATE_DIR "]\n"
	"  --socket PATH        API unix socket, mode 0600 [" AGENT_SOCKET "]\n"
	"  --pin-dir DIR        bpffs folder of the datapath's pins [/sys/fs/bpf/velum]\n"
	"  --pool CIDR          endpoint address pool [the node's, else " DP_POOL_DEFAULT "]\n"
	"  --ifname-prefix P    host-side veth names P<id> [vlm]\n"
	"  --netns-prefix P     created namespaces /run/netns/P<id> [velum-ep]\n"
	"  --host-routing MODE  between endpoints: bpf (straight into the peer's\n"
	"                       namespace) or legacy (the host stack) [the node's, else bpf]\n"
	"  --metrics ADDR:PORT  Prometheus metrics, or 'off' [" AGENT_METRICS "]\n"
	"  --flows N            flows kept for 'velum observe' [65536]\n"
	"  --proxy on|off       run the node's L7 proxy (velum-proxy) so that policies\n"
	"                       with HTTP rules are enforced; off refuses them [off]\n"
	"  --proxy-bin PATH     the velum-proxy binary [velum-proxy next to velumd]\n"
	"  --allow-localhost always|policy\n"
	"                       always: the host reaches every local endpoint whatever its\n"
	"                       ingress policy (Cilium on Kubernetes: kubelet probes);\n"
	"                       policy: host traffic meets host-entity rules [policy]\n"
	"  --proxy-sockmap on|off  carry the bytes of the proxy's connections socket\n"
	"                       to socket in the kernel (sockmap) instead of over TCP [on]\n"
	"  --trace-events medium|off\n"
	"                       medium: trace events for forwarded packets that open or\n"
	"                       change a connection (SYN, SYN-ACK, FIN, RST; other protocols:\n"
	"                       the first packet each way), as Cilium's monitor aggregation\n"
	"                       medium; off: policy verdicts and drops only [medium]\n"
	"  -v, --debug          more logging\n"
	"  -h, --help           this text\n"
	"  --version            print the version\n";

/*
 * --proxy on: routes for socket-assigned packets, then the supervised proxy
 * (adopted if one runs) whose ports every model's engine gets. --proxy off:
 * ends a proxy an earlier velumd left; HTTP rules are refused.
 */
static int start_proxy(struct agent *a, bool on, bool sockmap, const char *bin, struct errbuf *eb)
{
	struct agent_proxy_opts po = { bin, a->o.state_dir, a->pin_dir };
	int err;

	if (!on)
		return agent_proxy_terminate(a->o.state_dir, eb);
	char events[PATH_MAX];

	err = dp_proxy_setup(a->dp, eb);
	if (!err)
		err = dp_proxy_sockmap(a->dp, sockmap, eb);
	if (err) {
		errbuf_prefix(eb, "proxy: ");
		return err;
	}
	/* bound before the proxy starts or is adopted: its first request's events are kept */
	snprintf(events, sizeof(events), "%s/" AGENT_PROXY_EVENTS_SOCK, a->o.state_dir);
	err = agent_l7_events_open(a, events, eb);
	if (err)
		return err;
	a->proxy = agent_proxy__start(&po, eb);
	if (!a->proxy)
		return -errno;
	agent_proxy_ports(a->proxy, &a->proxy_port_in, &a->proxy_port_eg);
	return 0;
}

static int take_lock(const char *dir, int *fd_out, struct errbuf *eb)
{
	char path[PATH_MAX], pid[32];
	int fd, n;

	struct stat st;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		return errbuf_set(eb, -errno, "state directory %s: %s", dir, strerror(errno));
	/* policies and labels are for root only, even in a folder made 0755 before */
	if (stat(dir, &st) == -1 || (st.st_mode & 077 && chmod(dir, st.st_mode & 07700) == -1))
		return errbuf_set(eb, -errno, "state directory %s: %s", dir, strerror(errno));
	snprintf(path, sizeof(path), "%s/velumd.lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1)
		return errbuf_set(eb, -errno, "lock %s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		int err = -errno;

		n = (int)pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		if (err == -EWOULDBLOCK)
			errbuf_set(eb, err,
				   "another velumd%s%s%s is already using the state directory %s; "
				   "stop it first (one agent per state directory)",
				   pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "", dir);
		else
			errbuf_set(eb, err, "lock %s: %s", path, strerror(-err));
		close(fd);
		return err == -EWOULDBLOCK ? -EBUSY : err;
	}
	if (ftruncate(fd, 0) == 0) {
		n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
		if (pwrite(fd, pid, (size_t)n, 0) != n)
			pr_debug("velumd: cannot write the pid into the lock file\n");
	}
	*fd_out = fd;
	return 0;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX], *p;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) == -1 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) == -1 && errno != EEXIST)
		return -errno;
	return 0;
}

/* The API socket: refuses a path another live agent serves, replaces a stale one. */
static int open_socket(const char *path, struct errbuf *eb)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[PATH_MAX];
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path))
		return errbuf_set(eb, -ENAMETOOLONG, "socket path %s: too long", path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	snprintf(dir, sizeof(dir), "%s", path);
	err = mkdir_p(dirname(dir), 0755);
	if (err)
		return errbuf_set(eb, err, "socket folder of %s: %s", path, strerror(-err));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(fd);
		return errbuf_set(eb, -EADDRINUSE,
				  "socket %s is served by another velumd; stop it or use --socket",
				  path);
	}
	close(fd);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	/* mode 0600 from the start: no window in which others could connect */
	{
		mode_t old = umask(0177);

		err = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
		umask(old);
	}
	if (err == -1 || chmod(path, 0600) == -1 || listen(fd, 64) == -1) {
		err = -errno;
		errbuf_set(eb, err, "socket %s: %s", path, strerror(-err));
		close(fd);
		return err;
	}
	return fd;
}

static int libbpf_log(enum libbpf_print_level lvl, const char *fmt, va_list ap)
{
	char buf[512];

	if (lvl == LIBBPF_DEBUG)
		return 0;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (lvl == LIBBPF_WARN)
		pr_warn("libbpf: %s", buf);
	else
		pr_debug("libbpf: %s", buf);
	return 0;
}

/*
 * SIGTERM and SIGINT are taken by this thread from the start, so that they
 * are honoured while the main thread restores or a change holds a->lock:
 * it sets a->stopping (restore and import check it between their steps)
 * and wakes the main thread through stop_pipe. SIGHUP is taken and ignored.
 */
struct sig_ctx {
	struct agent *a;
	sigset_t sigs;
	int wfd;
};

static void *sig_main(void *arg)
{
	struct sig_ctx *c = arg;

	for (;;) {
		int sig = 0;

		if (sigwait(&c->sigs, &sig))
			continue;
		if (sig != SIGTERM && sig != SIGINT)
			continue;
		atomic_store(&c->a->stopping, true);
		if (write(c->wfd, "x", 1) == -1)
			pr_warn("velumd: stop: %s\n", strerror(errno));
		return NULL;
	}
}

int main(int argc, char **argv)
{
	enum {
		O_STATE = 256,
		O_SOCKET,
		O_PIN,
		O_POOL,
		O_IFP,
		O_NSP,
		O_ROUTING,
		O_METRICS,
		O_FLOWS,
		O_PROXY,
		O_PROXY_BIN,
		O_LOCALHOST,
		O_PROXY_SOCKMAP,
		O_TRACE_EVENTS,
		O_VER
	};
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, O_STATE },
		{ "socket", required_argument, NULL, O_SOCKET },
		{ "pin-dir", required_argument, NULL, O_PIN },
		{ "pool", required_argument, NULL, O_POOL },
		{ "ifname-prefix", required_argument, NULL, O_IFP },
		{ "netns-prefix", required_argument, NULL, O_NSP },
		{ "host-routing", required_argument, NULL, O_ROUTING },
		{ "metrics", required_argument, NULL, O_METRICS },
		{ "flows", required_argument, NULL, O_FLOWS },
		{ "proxy", required_argument, NULL, O_PROXY },
		{ "proxy-bin", required_argument, NULL, O_PROXY_BIN },
		{ "allow-localhost", required_argument, NULL, O_LOCALHOST },
		{ "proxy-sockmap", required_argument, NULL, O_PROXY_SOCKMAP },
		{ "trace-events", required_argument, NULL, O_TRACE_EVENTS },
		{ "debug", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, O_VER },
		{ NULL, 0, NULL, 0 },
	};
	struct agent_opts o = {
		.state_dir = AGENT_STATE_DIR,
		.socket_path = AGENT_SOCKET,
		.metrics = AGENT_METRICS,
		.flow_cap = AGENT_FLOWS_DEFAULT,
	};
	struct dp_opts dpo = { 0 };
	static struct agent a;
	struct agent_http *http = NULL;
	char dbpath[PATH_MAX];
	struct errbuf eb;
	static struct sig_ctx sc;
	pthread_t sig_thr;
	int stop_pipe[2] = { -1, -1 };
	int c, lock_fd = -1, api_fd = -1, err, rc = 1;
	const char *proxy_bin = NULL;
	bool proxy_on = false, proxy_sockmap = true;

	errbuf_clear(&eb);
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case O_STATE:
			o.state_dir = optarg;
			break;
		case O_SOCKET:
			o.socket_path = optarg;
			break;
		case O_PIN:
			o.pin_dir = optarg;
			break;
		case O_POOL:
			o.pool = optarg;
			break;
		case O_IFP:
			o.ifname_prefix = optarg;
			break;
		case O_NSP:
			o.netns_prefix = optarg;
			break;
		case O_ROUTING:
			if (!strcmp(optarg, "bpf")) {
				dpo.routing = DP_ROUTING_BPF;
			} else if (!strcmp(optarg, "legacy")) {
				dpo.routing = DP_ROUTING_LEGACY;
			} else {
				fprintf(stderr,
					"velumd: --host-routing '%s': expected bpf or legacy\n",
					optarg);
				return 2;
			}
			break;
		case O_METRICS:
			o.metrics = optarg;
			break;
		case O_FLOWS: {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end || v < 16 || v > 4000000) {
				fprintf(stderr, "velumd: --flows '%s': expected 16-4000000\n",
					optarg);
				return 2;
			}
			o.flow_cap = (size_t)v;
			break;
		}
		case O_PROXY:
			if (strcmp(optarg, "on") && strcmp(optarg, "off")) {
				fprintf(stderr, "velumd: --proxy '%s': expected on or off\n",
					optarg);
				return 2;
			}
			proxy_on = !strcmp(optarg, "on");
			break;
		case O_PROXY_BIN:
			proxy_bin = optarg;
			break;
		case O_LOCALHOST:
			if (strcmp(optarg, "always") && strcmp(optarg, "policy")) {
				fprintf(stderr,
					"velumd: --allow-localhost '%s': expected always or policy\n",
					optarg);
				return 2;
			}
			o.allow_localhost = !strcmp(optarg, "always");
			break;
		case O_PROXY_SOCKMAP:
			if (strcmp(optarg, "on") && strcmp(optarg, "off")) {
				fprintf(stderr,
					"velumd: --proxy-sockmap '%s': expected on or off\n",
					optarg);
				return 2;
			}
			proxy_sockmap = !strcmp(optarg, "on");
			break;
		case O_TRACE_EVENTS:
			if (strcmp(optarg, "medium") && strcmp(optarg, "off")) {
				fprintf(stderr,
					"velumd: --trace-events '%s': expected medium or off\n",
					optarg);
				return 2;
			}
			o.no_trace = !strcmp(optarg, "off");
			break;
		case 'v':
			log_threshold = LOG_LVL_DEBUG;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		case O_VER:
			printf("velumd %s\n", AGENT_VERSION);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "velumd: unexpected argument '%s'\n%s", argv[optind], usage);
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "velumd: must run as root (it loads eBPF programs and makes "
				"network namespaces)\n");
		return 1;
	}
	/* signals are taken by sig_main(); every thread inherits the mask */
	sigemptyset(&sc.sigs);
	sigaddset(&sc.sigs, SIGTERM);
	sigaddset(&sc.sigs, SIGINT);
	sigaddset(&sc.sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sc.sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	libbpf_set_print(libbpf_log);

	agent_init(&a, &o);
	sc.a = &a;
	if (pipe2(stop_pipe, O_CLOEXEC) == -1 ||
	    (errno = pthread_create(&sig_thr, NULL, sig_main, &sc))) {
		fprintf(stderr, "velumd: signal thread: %s\n", strerror(errno));
		return 1;
	}
	sc.wfd = stop_pipe[1];
	pthread_detach(sig_thr);
	err = take_lock(o.state_dir, &lock_fd, &eb);
	if (err)
		goto out;
	snprintf(dbpath, sizeof(dbpath), "%s/state.db", o.state_dir);
	a.st = agent_store__open(dbpath, &eb);
	if (!a.st) {
		err = -errno;
		goto out;
	}
	a.st_read = agent_store__open_reader(a.st, &eb);
	if (!a.st_read) {
		err = -errno;
		goto out;
	}
	dpo.pin_dir = o.pin_dir;
	dpo.pool = o.pool;
	dpo.ifname_prefix = o.ifname_prefix;
	dpo.netns_prefix = o.netns_prefix;
	{
		/* the agent's own handle owns the pin folder; its helpers' do not */
		struct dp_opts owner = dpo;

		owner.own = true;
		a.dp = dp__open(&owner, &eb);
		if (!a.dp && errno == EPROTO) {
			/*
			 * Pinned by a velum of another datapath ABI (an upgrade):
			 * load this build's programs behind the old ones, keeping
			 * the maps, as a reload does; enforcement has no gap.
			 */
			pr_info("datapath: %s; reloading the programs", eb.msg);
			errbuf_clear(&eb);
			owner.reload = true;
			a.dp = dp__open(&owner, &eb);
		}
	}
	if (!a.dp) {
		err = -errno;
		errbuf_prefix(&eb, "datapath: ");
		goto out;
	}
	snprintf(a.pin_dir, sizeof(a.pin_dir), "%s", dp_pin_dir(a.dp));
	/* node-wide, in the pinned config: the mode of the velumd that runs decides */
	err = dp_allow_localhost_set(a.dp, o.allow_localhost);
	if (err) {
		errbuf_set(&eb, err, "datapath: allow-localhost: %s", strerror(-err));
		goto out;
	}
	err = dp_trace_events_set(a.dp, !o.no_trace);
	if (err) {
		errbuf_set(&eb, err, "datapath: trace-events: %s", strerror(-err));
		goto out;
	}
	a.applier = agent_applier__new(&dpo, AGENT_APPLY_THREADS, &eb);
	if (!a.applier) {
		err = -ENOMEM;
		errbuf_prefix(&eb, "datapath: ");
		goto out;
	}
	err = start_proxy(&a, proxy_on, proxy_sockmap, proxy_bin, &eb);
	if (err)
		goto out;
	pthread_mutex_lock(&a.wlock);
	pthread_mutex_lock(&a.lock);
	err = agent_restore(&a, &eb);
	pthread_mutex_unlock(&a.lock);
	pthread_mutex_unlock(&a.wlock);
	if (err == -EINTR || atomic_load(&a.stopping)) {
		/* as a crash would leave it: the next start restores from the store */
		pr_info("velumd: stopped during the restore; the next start restores again\n");
		rc = 0;
		err = 0;
		goto out;
	}
	if (err) {
		errbuf_prefix(&eb, "cannot restore the state from %s: ", dbpath);
		goto out;
	}
	err = agent_rule_hits_load(&a);
	if (err)
		pr_warn("velumd: rule hits: %s; counting from 0\n", strerror(-err));
	api_fd = open_socket(o.socket_path, &eb);
	if (api_fd < 0) {
		err = api_fd;
		goto out;
	}
	err = agent_flows_start(&a, &dpo, &eb);
	if (err)
		goto out;
	a.podman = agent_podman__start(&a, &eb);
	if (!a.podman) {
		err = -errno;
		goto out;
	}
	http = agent_http_start(&a, api_fd, &eb);
	if (!http) {
		err = -EIO;
		goto out;
	}
	api_fd = -1; /* the HTTP server owns and closes it */
	pr_info("velumd %s: ready on %s (state %s, pins %s, revision %llu, %zu endpoint(s), "
		"metrics %s)\n",
		AGENT_VERSION, o.socket_path, o.state_dir, a.pin_dir,
		(unsigned long long)a.revision, a.epx.n, agent_http_metrics_addr(http));

	while (!atomic_load(&a.stopping)) {
		struct pollfd pfd = { .fd = stop_pipe[0], .events = POLLIN };
		int r = poll(&pfd, 1, 10000);

		if (r == 0) {
			/* conntrack entries past their lifetime */
			pthread_mutex_lock(&a.lock);
			dp_ct_gc(a.dp);
			pthread_mutex_unlock(&a.lock);
			agent_rule_hits_save(&a);
		}
	}
	pr_info("velumd: stopping; enforcement continues (programs and maps stay pinned)\n");
	rc = 0;
	err = 0;
out:
	if (err)
		fprintf(stderr, "velumd: %s\n", eb.msg[0] ? eb.msg : strerror(-err));
	atomic_store(&a.stopping, true);
	pthread_mutex_lock(&a.flow_lock);
	pthread_cond_broadcast(&a.flow_cond);
	pthread_mutex_unlock(&a.flow_lock);
	agent_http_stop(http);
	agent_podman__stop(a.podman);
	agent_flows_stop(&a);
	agent_rule_hits_save(&a);
	agent_proxy__free(a.proxy); /* the proxy keeps running; the next velumd adopts it */
	a.proxy = NULL;
	if (api_fd >= 0)
		close(api_fd);
	if (http || api_fd >= 0)
		unlink(o.socket_path);
	agent_fini(&a);
	if (lock_fd >= 0)
		close(lock_fd);
	return rc;
}
