// SPDX-License-Identifier: Apache-2.0
/*
 * velum-stall: how much of the machine's time a benchmark cannot have. One
 * thread per online CPU, pinned to it, reads CLOCK_MONOTONIC in a loop for
 * the given time; a gap between two reads longer than 50 µs is time the
 * thread did not run (the hypervisor's steal, interrupts, kernel threads,
 * other work). Per CPU it prints the time lost, the gaps over 1 ms and the
 * longest, on one line:
 *
 *   velum-stall [--secs S]     (S in (0, 60], 2 by default)
 *   cpu0 lost 41.4 ms in 506 gaps (3 over 1 ms), longest 2.97 ms
 *
 * A latency percentile above 99 % at a fixed rate is set by such gaps as
 * much as by what is measured: bench/http.sh records this before and after
 * its runs.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define GAP_NS 50000u

struct probe {
	pthread_t tid;
	int cpu;
	uint64_t ns, lost, longest;
	long gaps, over_1ms;
	int err;
};

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void *run(void *arg)
{
	struct probe *p = arg;
	cpu_set_t set;
	uint64_t prev, end;

	CPU_ZERO(&set);
	CPU_SET(p->cpu, &set);
	p->err = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (p->err)
		return NULL;
	prev = now_ns();
	end = prev + p->ns;
	while (prev < end) {
		uint64_t t = now_ns(), gap = t - prev;

		prev = t;
		if (gap <= GAP_NS)
			continue;
		p->gaps++;
		p->lost += gap;
		p->over_1ms += gap > 1000000u;
		if (gap > p->longest)
			p->longest = gap;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	double secs = 2;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	struct probe *p;
	int rc = 0;

	if (argc == 3 && !strcmp(argv[1], "--secs")) {
		char *end;

		secs = strtod(argv[2], &end);
		if (*end || !(secs > 0 && secs <= 60)) {
			fprintf(stderr, "velum-stall: --secs %s: not in (0, 60]\n", argv[2]);
			return 2;
		}
	} else if (argc != 1) {
		fprintf(stderr, "usage: velum-stall [--secs S]\n");
		return 2;
	}
	if (ncpu < 1)
		ncpu = 1;
	p = calloc((size_t)ncpu, sizeof(*p));
	if (!p) {
		fprintf(stderr, "velum-stall: out of memory\n");
		return 1;
	}
	for (long i = 0; i < ncpu; i++) {
		p[i].cpu = (int)i;
		p[i].ns = (uint64_t)(secs * 1e9);
		p[i].err = pthread_create(&p[i].tid, NULL, run, &p[i]);
		if (p[i].err) {
			fprintf(stderr, "velum-stall: thread: %s\n", strerror(p[i].err));
			return 1;
		}
	}
	for (long i = 0; i < ncpu; i++) {
		pthread_join(p[i].tid, NULL);
		if (p[i].err) {
			fprintf(stderr, "velum-stall: cpu%d: %s\n", p[i].cpu, strerror(p[i].err));
			rc = 1;
			continue;
		}
		printf("cpu%d lost %.1f ms in %ld gaps (%ld over 1 ms), longest %.2f ms\n",
		       p[i].cpu, (double)p[i].lost / 1e6, p[i].gaps, p[i].over_1ms,
		       (double)p[i].longest / 1e6);
	}
	free(p);
	return rc;
}
