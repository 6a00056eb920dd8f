// SPDX-License-Identifier: Apache-2.0
/*
 * velum-load: an HTTP load generator in wrk2's model (bench/dp_http.h has
 * the client). With -R, a constant rate over -c connections and -t threads
 * for -d seconds, each request's latency counted from its due time
 * (corrected for coordinated omission); without -R, closed loop: every
 * connection keeps one request in flight (maximum throughput, as wrk).
 * Latencies go into a 1 us .. 60 s histogram with 3 significant digits.
 * Prints wrk2's report (--latency adds the percentile spectrum) and, with
 * --json FILE, the same numbers for machines. Failures are counted by kind
 * (connect errors, time-outs, resets, non-2xx, bad responses) and never
 * enter the latencies.
 *
 *   velum-load [-c 100] [-t 2] [-d 10] [-R RATE] [--timeout 30] [--latency]
 *              [--json FILE] http://IPV4[:PORT]/PATH
 *
 * Exit status: 0 after a run (whatever its errors), 2 for bad arguments,
 * 1 if the run could not be set up.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "dp_http.h"
#include "hist.h"

#define LAT_MAX	 INT64_C(60000000)  /* us: 60 s */
#define RATE_MAX INT64_C(100000000) /* req/s of one 100 ms interval */

struct worker {
	pthread_t tid;
	struct http_load_opts o;
	struct http_load_stats s;
	int err;
};

static void *work(void *p)
{
	struct worker *w = p;

	w->err = http_load(&w->o, &w->s);
	return NULL;
}

static int usage(void)
{
	fprintf(stderr, "usage: velum-load [-c CONNECTIONS] [-t THREADS] [-d SECONDS] [-R RATE]\n"
			"                  [--timeout SECONDS] [--latency] [--json FILE] "
			"http://IPV4[:PORT]/PATH\n"
			"  -R RATE: constant total rate in requests/s (open loop); without it,\n"
			"           closed loop (each connection sends when answered)\n");
	return 2;
}

/* Parses http://A.B.C.D[:PORT][/PATH] into o; false if it is not one. */
static bool parse_url(const char *url, struct http_load_opts *o, char *host, size_t host_len)
{
	const char *p = url + 7, *slash, *colon;
	char addr[16];
	size_t alen;

	if (strncmp(url, "http://", 7))
		return false;
	slash = strchr(p, '/');
	if (!slash)
		slash = p + strlen(p);
	colon = memchr(p, ':', slash - p);
	alen = (colon ? colon : slash) - p;
	if (alen == 0 || alen >= sizeof(addr) || (size_t)(slash - p) >= host_len)
		return false;
	memcpy(addr, p, alen);
	addr[alen] = 0;
	if (inet_pton(AF_INET, addr, &o->dst) != 1)
		return false;
	o->port = 80;
	if (colon) {
		char *end;
		long port = strtol(colon + 1, &end, 10);

		if (end != slash || port < 1 || port > 65535)
			return false;
		o->port = port;
	}
	memcpy(host, p, slash - p);
	host[slash - p] = 0;
	o->host = host;
	o->path = *slash ? slash : "/";
	return true;
}

/* "1.23ms"-style, as wrk prints durations given in us. */
static const char *fmt_us(double us, char *b, size_t n)
{
	if (us < 1000)
		snprintf(b, n, "%.2fus", us);
	else if (us < 1e6)
		snprintf(b, n, "%.2fms", us / 1e3);
	else
		snprintf(b, n, "%.2fs", us / 1e6);
	return b;
}

static const char *fmt_num(double v, char *b, size_t n)
{
	if (v < 1000)
		snprintf(b, n, "%.2f", v);
	else if (v < 1e6)
		snprintf(b, n, "%.2fk", v / 1e3);
	else
		snprintf(b, n, "%.2fM", v / 1e6);
	return b;
}

/* Share of the values within one deviation of the mean, in %. */
static double within_stdev(const struct hist *h)
{
	double m = hist_mean(h), sd = hist_stddev(h);

	if (!h->total)
		return 0;
	return 100.0 * hist_count_between(h, (int64_t)floor(m - sd), (int64_t)ceil(m + sd)) /
	       h->total;
}

static void stats_line(const char *name, const struct hist *h, bool us)
{
	char a[32], b[32], c[32];
	double mean = hist_mean(h), sd = hist_stddev(h), max = h->total ? (double)h->max : 0;

	if (us)
		printf("    %-8s %9s %9s %9s %8.2f%%\n", name, fmt_us(mean, a, 32),
		       fmt_us(sd, b, 32), fmt_us(max, c, 32), within_stdev(h));
	else
		printf("    %-8s %9s %9s %9s %8.2f%%\n", name, fmt_num(mean, a, 32),
		       fmt_num(sd, b, 32), fmt_num(max, c, 32), within_stdev(h));
}

/*
 * "histogram": the latency histogram's non-empty counters as [highest value,
 * count] pairs, so that runs can be pooled exactly (bench/report.py adds
 * them: the percentiles of all their requests together).
 */
static void write_counters(FILE *f, const struct hist *h)
{
	int n = hist_counters(h, NULL, 0);
	struct hist_counter *c = calloc(n ? n : 1, sizeof(*c));

	fprintf(f, "  \"histogram\": [");
	if (c) {
		n = hist_counters(h, c, n);
		for (int i = 0; i < n; i++)
			fprintf(f, "%s[%lld, %lld]", i ? (i % 8 ? ", " : ",\n    ") : "\n    ",
				(long long)c[i].value, (long long)c[i].count);
	}
	fprintf(f, "\n  ]\n");
	free(c);
}

static void write_json(FILE *f, const struct http_load_opts *o, const char *url, int threads,
		       int conns, double rate, const struct http_load_stats *s)
{
	static const double ps[] = { 50, 75, 90, 99, 99.9, 99.99, 99.999, 100 };
	struct hist_point *pts = calloc(4096, sizeof(*pts));
	int n = pts ? hist_spectrum(s->lat, 5, pts, 4096) : 0;

	(void)o;
	fprintf(f, "{\n  \"url\": \"%s\",\n  \"mode\": \"%s\",\n", url,
		rate > 0 ? "open" : "closed");
	fprintf(f, "  \"threads\": %d,\n  \"connections\": %d,\n  \"rate\": %.0f,\n", threads,
		conns, rate);
	fprintf(f, "  \"duration_s\": %.3f,\n  \"requests\": %ld,\n  \"rps\": %.2f,\n", s->elapsed,
		s->ok, s->elapsed > 0 ? s->ok / s->elapsed : 0.0);
	fprintf(f, "  \"bytes\": %lld,\n", s->bytes);
	fprintf(f,
		"  \"errors\": {\"connect\": %ld, \"timeout\": %ld, \"reset\": %ld, \"non2xx\": %ld, "
		"\"bad_response\": %ld, \"unsent\": %ld},\n",
		s->connect_errors, s->timeouts, s->resets, s->non2xx, s->bad, s->unsent);
	fprintf(f,
		"  \"thread_rps\": {\"mean\": %.2f, \"stdev\": %.2f, \"max\": %lld, \"samples\": "
		"%lld},\n",
		hist_mean(s->rate), hist_stddev(s->rate), (long long)s->rate->max,
		(long long)s->rate->total);
	fprintf(f, "  \"latency_us\": {\"mean\": %.1f, \"stdev\": %.1f, \"min\": %lld",
		hist_mean(s->lat), hist_stddev(s->lat),
		(long long)(s->lat->total ? s->lat->min : 0));
	for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++)
		fprintf(f, ", \"p%g\": %lld", ps[i], (long long)hist_percentile(s->lat, ps[i]));
	fprintf(f, ", \"max\": %lld},\n",
		(long long)(s->lat->total ? hist_highest_equivalent(s->lat, s->lat->max) : 0));
	fprintf(f, "  \"spectrum\": [");
	for (int i = 0; i < n; i++)
		fprintf(f, "%s\n    [%lld, %.6f, %lld]", i ? "," : "", (long long)pts[i].value,
			pts[i].percentile / 100, (long long)pts[i].count);
	fprintf(f, "\n  ],\n");
	write_counters(f, s->lat);
	fprintf(f, "}\n");
	free(pts);
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "connections", required_argument, NULL, 'c' },
		{ "threads", required_argument, NULL, 't' },
		{ "duration", required_argument, NULL, 'd' },
		{ "rate", required_argument, NULL, 'R' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "latency", no_argument, NULL, 'L' },
		{ "json", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct http_load_opts base = { 0 };
	struct http_load_stats total = { 0 };
	int conns = 100, threads = 2, opt, err = 0;
	double secs = 10, rate = 0, timeout = 30;
	const char *json = NULL;
	bool latency = false;
	char host[300], *end;
	struct worker *w;
	pthread_barrier_t go;
	struct rlimit rl;

	while ((opt = getopt_long(argc, argv, "c:t:d:R:h", lopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			conns = strtol(optarg, &end, 10);
			if (*end || conns < 1 || conns > 1000000) {
				fprintf(stderr, "velum-load: -c %s: not a count in 1-1000000\n",
					optarg);
				return 2;
			}
			break;
		case 't':
			threads = strtol(optarg, &end, 10);
			if (*end || threads < 1 || threads > 256) {
				fprintf(stderr, "velum-load: -t %s: not a count in 1-256\n",
					optarg);
				return 2;
			}
			break;
		case 'd':
			secs = strtod(optarg, &end);
			if (*end == 's')
				end++;
			if (*end || !(secs > 0) || secs > 86400) {
				fprintf(stderr, "velum-load: -d %s: not a duration in seconds\n",
					optarg);
				return 2;
			}
			break;
		case 'R':
			rate = strtod(optarg, &end);
			if (*end || !(rate > 0) || rate > 1e8) {
				fprintf(stderr, "velum-load: -R %s: not a rate in requests/s\n",
					optarg);
				return 2;
			}
			break;
		case 'T':
			timeout = strtod(optarg, &end);
			if (*end == 's')
				end++;
			if (*end || !(timeout > 0) || timeout > 60) {
				fprintf(stderr,
					"velum-load: --timeout %s: not in (0, 60] seconds\n",
					optarg);
				return 2;
			}
			break;
		case 'L':
			latency = true;
			break;
		case 'j':
			json = optarg;
			break;
		default:
			return usage();
		}
	}
	if (optind != argc - 1)
		return usage();
	if (!parse_url(argv[optind], &base, host, sizeof(host))) {
		fprintf(stderr, "velum-load: %s: not an http://IPV4[:PORT]/PATH URL\n",
			argv[optind]);
		return 2;
	}
	if (threads > conns) {
		fprintf(stderr,
			"velum-load: %d threads need at least as many connections (-c %d)\n",
			threads, conns);
		return 2;
	}
	/* every connection is a descriptor */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	w = calloc(threads, sizeof(*w));
	total.lat = hist__new(LAT_MAX, 3);
	total.rate = hist__new(RATE_MAX, 3);
	if (!w || !total.lat || !total.rate || pthread_barrier_init(&go, NULL, threads)) {
		fprintf(stderr, "velum-load: out of memory\n");
		return 1;
	}
	printf("Running %gs test @ %s\n", secs, argv[optind]);
	printf("  %d threads and %d connections, %s", threads, conns,
	       rate > 0 ? "constant rate" : "closed loop\n");
	if (rate > 0)
		printf(" %.0f requests/s\n", rate);
	fflush(stdout);
	for (int i = 0; i < threads; i++) {
		w[i].o = base;
		w[i].o.conns = conns / threads + (i < conns % threads);
		w[i].o.rate = rate / threads;
		/* threads take turns: thread i's requests fall between thread 0's */
		w[i].o.offset = rate > 0 ? i / rate : 0;
		w[i].o.secs = secs;
		w[i].o.timeout = timeout;
		w[i].o.go = &go;
		w[i].s.lat = hist__new(LAT_MAX, 3);
		w[i].s.rate = hist__new(RATE_MAX, 3);
		if (!w[i].s.lat || !w[i].s.rate) {
			fprintf(stderr, "velum-load: out of memory\n");
			return 1;
		}
		pthread_create(&w[i].tid, NULL, work, &w[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(w[i].tid, NULL);
		if (w[i].err)
			err = w[i].err;
		hist_add(total.lat, w[i].s.lat);
		hist_add(total.rate, w[i].s.rate);
		total.ok += w[i].s.ok;
		total.non2xx += w[i].s.non2xx;
		total.connect_errors += w[i].s.connect_errors;
		total.timeouts += w[i].s.timeouts;
		total.resets += w[i].s.resets;
		total.bad += w[i].s.bad;
		total.unsent += w[i].s.unsent;
		total.bytes += w[i].s.bytes;
		if (w[i].s.elapsed > total.elapsed)
			total.elapsed = w[i].s.elapsed;
		hist__free(w[i].s.lat);
		hist__free(w[i].s.rate);
	}
	if (err) {
		fprintf(stderr, "velum-load: %s\n", strerror(-err));
		return 1;
	}
	printf("  Thread Stats   Avg      Stdev     Max   +/- Stdev\n");
	stats_line("Latency", total.lat, true);
	stats_line("Req/Sec", total.rate, false);
	if (latency) {
		static const double ps[] = { 50, 75, 90, 99, 99.9, 99.99, 99.999, 100 };
		char b[32];

		printf("  Latency Distribution (HdrHistogram - Recorded Latency)\n");
		for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++)
			printf("%7.3f%% %9s\n", ps[i],
			       fmt_us(hist_percentile(total.lat, ps[i]), b, sizeof(b)));
		printf("\n  Detailed Percentile spectrum:\n");
		hist_print_spectrum(total.lat, stdout, 5, 1000);
		printf("----------------------------------------------------------\n");
	}
	printf("  %ld requests in %.2fs, %.2fMB read\n", total.ok + total.non2xx, total.elapsed,
	       total.bytes / 1048576.0);
	printf("  Errors: connect %ld, timeout %ld, reset %ld, non-2xx %ld, bad response %ld, "
	       "unsent %ld\n",
	       total.connect_errors, total.timeouts, total.resets, total.non2xx, total.bad,
	       total.unsent);
	printf("Requests/sec: %10.2f\n", total.elapsed > 0 ? total.ok / total.elapsed : 0.0);
	printf("Transfer/sec: %8.2fMB\n",
	       total.elapsed > 0 ? total.bytes / 1048576.0 / total.elapsed : 0.0);
	if (json) {
		FILE *f = fopen(json, "w");

		if (!f) {
			fprintf(stderr, "velum-load: %s: %s\n", json, strerror(errno));
			return 1;
		}
		write_json(f, &base, argv[optind], threads, conns, rate, &total);
		if (fclose(f)) {
			fprintf(stderr, "velum-load: %s: %s\n", json, strerror(errno));
			return 1;
		}
	}
	hist__free(total.lat);
	hist__free(total.rate);
	free(w);
	pthread_barrier_destroy(&go);
	return 0;
}
