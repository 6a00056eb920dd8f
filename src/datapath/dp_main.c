// SPDX-License-Identifier: Apache-2.0
/*
 * velum-dp: a debugging command over the datapath library, until the agent
 * drives it. It opens (or loads) the pinned datapath and runs one command:
 * list endpoints and counters, follow events, add or remove an endpoint,
 * collect conntrack, or remove everything.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/libbpf.h>

#include "datapath/dp.h"
#include "lib/log.h"
#include "lib/strbuf.h"
#include "monitor/flow.h"
#include "velum/drop.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* The monitor's compact line; identities by number (velum-dp knows no names). */
static int print_event(void *ctx, const struct velum_event *ev)
{
	bool egress = ev->dir == VELUM_DIR_EGRESS;
	struct strbuf sb = STRBUF_INIT;
	struct timespec mono, real;
	struct mon_flow f;

	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &real);
	mon_flow_fill(&f, ev,
		      (int64_t)ev->ts_ns + (real.tv_sec - mono.tv_sec) * 1000000000LL +
			      (real.tv_nsec - mono.tv_nsec));
	f.src = mon_ident__new(NULL, egress ? ev->ep_identity : ev->peer_identity, NULL, 0);
	f.dst = mon_ident__new(NULL, egress ? ev->peer_identity : ev->ep_identity, NULL, 0);
	if (f.src && f.dst) {
		mon_flow_format_compact(&f, false, &sb);
		printf("%s ep %u\n", strbuf_str(&sb), ev->ep_id);
	}
	strbuf_free(&sb);
	mon_flow_release(&f);
	return 0;
}

static int cmd_status(struct dp *dp)
{
	struct dp_endpoint eps[256];
	int n = dp_endpoint_list(dp, eps, 256), i;
	char ip[INET_ADDRSTRLEN];

	if (n < 0)
		return n;
	printf("pins: %s\n%-8s %-10s %-16s %-12s %s\n", dp_pin_dir(dp), "ENDPOINT", "IDENTITY",
	       "IPV4", "HOST IF", "NETNS");
	for (i = 0; i < n && i < 256; i++) {
		inet_ntop(AF_INET, &eps[i].ipv4, ip, sizeof(ip));
		printf("%-8u %-10u %-16s %-12s %s\n", eps[i].ep_id, eps[i].identity, ip,
		       eps[i].host_ifname, eps[i].netns[0] ? eps[i].netns : "(adopted)");
	}
	printf("\n%-8s %-40s %12s %14s\n", "DIR", "REASON", "PACKETS", "BYTES");
	for (int dir = 0; dir < 2; dir++) {
		for (unsigned int code = 0; code < VELUM_METRICS_PER_DIR; code++) {
			__u64 p, b;

			if (dp_metrics_read(dp, dir, code, &p, &b) || !p)
				continue;
			printf("%-8s %-40s %12llu %14llu\n", dir ? "egress" : "ingress",
			       code ? velum_drop_name(code) : "forwarded", (unsigned long long)p,
			       (unsigned long long)b);
		}
	}
	printf("\nconntrack entries: %d\n", dp_ct_count(dp));
	printf("host routing: %s\n", dp_routing_legacy(dp) ? "legacy" : "bpf");
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: velum-dp [--pin-dir DIR] [--pool CIDR] [--ifname-prefix P]\n"
		"                [--netns-prefix P] [--host-routing bpf|legacy] [--reload]\n"
		"                COMMAND\n"
		"  (the prefixes must be the ones the endpoints were made with, e.g.\n"
		"  velumd's: created namespaces are found by them)\n"
		"  status                       endpoints, counters, conntrack size\n"
		"  events [-n COUNT]            print events until COUNT or Ctrl-C\n"
		"  ep-add ID IDENTITY [NETNS]   create an endpoint (or adopt NETNS path)\n"
		"  ep-del ID                    remove an endpoint\n"
		"  bypass ID on|off             detach (on) or re-attach (off) the endpoint's\n"
		"                               programs: nothing filters its traffic\n"
		"  ct-gc                        delete expired conntrack entries\n"
		"  proxy-routing on|off         install (register) or release the L7 proxy\n"
		"                               policy routing (docs/proxy-redirect.md)\n"
		"  destroy                      remove every endpoint, pin and map\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "pool", required_argument, NULL, 'P' },
		{ "reload", no_argument, NULL, 'r' },
		{ "ifname-prefix", required_argument, NULL, 'i' },
		{ "netns-prefix", required_argument, NULL, 'n' },
		{ "host-routing", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct dp_opts o = { 0 };
	struct errbuf eb = { "" };
	struct dp *dp;
	const char *cmd;
	int c, err = 0;

	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			o.pin_dir = optarg;
			break;
		case 'P':
			o.pool = optarg;
			break;
		case 'r':
			o.reload = true;
			break;
		case 'i':
			o.ifname_prefix = optarg;
			break;
		case 'n':
			o.netns_prefix = optarg;
			break;
		case 'R':
			if (strcmp(optarg, "bpf") && strcmp(optarg, "legacy")) {
				usage();
				return 2;
			}
			o.routing = strcmp(optarg, "bpf") ? DP_ROUTING_LEGACY : DP_ROUTING_BPF;
			break;
		default:
			usage();
			return c == 'h' ? 0 : 2;
		}
	}
	if (optind >= argc) {
		usage();
		return 2;
	}
	cmd = argv[optind++];
	libbpf_set_print(NULL);
	/* destroying takes the folder from its owner: refused while an agent runs */
	o.own = !strcmp(cmd, "destroy");
	dp = dp__open(&o, &eb);
	if (!dp) {
		pr_warn("velum-dp: %s\n", eb.msg[0] ? eb.msg : strerror(errno));
		return 1;
	}
	if (!strcmp(cmd, "status")) {
		err = cmd_status(dp);
	} else if (!strcmp(cmd, "events")) {
		long max = -1, seen = 0;

		if (optind + 1 < argc && !strcmp(argv[optind], "-n"))
			max = atol(argv[optind + 1]);
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
		while (!stop && (max < 0 || seen < max)) {
			err = dp_events_poll(dp, 200, print_event, NULL);
			if (err < 0)
				break;
			seen += err;
			fflush(stdout);
			err = 0;
		}
	} else if (!strcmp(cmd, "ep-add") && optind + 2 <= argc) {
		struct dp_endpoint_opts eo = { .ep_id = strtoul(argv[optind], NULL, 10),
					       .identity = strtoul(argv[optind + 1], NULL, 10) };
		struct dp_endpoint ep;
		char ip[INET_ADDRSTRLEN];

		if (optind + 2 < argc)
			eo.netns_path = argv[optind + 2];
		err = dp_endpoint_add(dp, &eo, &ep, &eb);
		if (!err)
			printf("endpoint %u: %s on %s, netns %s\n", ep.ep_id,
			       inet_ntop(AF_INET, &ep.ipv4, ip, sizeof(ip)), ep.host_ifname,
			       ep.netns[0] ? ep.netns : eo.netns_path);
	} else if (!strcmp(cmd, "ep-del") && optind < argc) {
		err = dp_endpoint_remove(dp, strtoul(argv[optind], NULL, 10), &eb);
	} else if (!strcmp(cmd, "bypass") && optind + 2 == argc &&
		   (!strcmp(argv[optind + 1], "on") || !strcmp(argv[optind + 1], "off"))) {
		err = dp_endpoint_bypass(dp, strtoul(argv[optind], NULL, 10),
					 !strcmp(argv[optind + 1], "on"));
	} else if (!strcmp(cmd, "ct-gc")) {
		err = dp_ct_gc(dp);
		if (err >= 0) {
			printf("%d expired entries deleted\n", err);
			err = 0;
		}
	} else if (!strcmp(cmd, "proxy-routing") && optind < argc &&
		   (!strcmp(argv[optind], "on") || !strcmp(argv[optind], "off"))) {
		err = strcmp(argv[optind], "on") ? dp_proxy_teardown(dp, &eb) :
						   dp_proxy_setup(dp, &eb);
	} else if (!strcmp(cmd, "destroy")) {
		err = dp_destroy_all(dp, &eb);
	} else {
		usage();
		dp__close(dp);
		return 2;
	}
	if (err)
		pr_warn("velum-dp %s: %s\n", cmd, eb.msg[0] ? eb.msg : strerror(-err));
	dp__close(dp);
	return err ? 1 : 0;
}
