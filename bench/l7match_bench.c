/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP matcher benchmark: nanoseconds per request for the question the
 * proxy asks ("which rule matches method, path and host?"), with 1 and 40
 * rules, three ways:
 *   re2-set     pol_http_matcher: one RE2::Set per field (what velum ships)
 *   re2-each    one RE2 per rule and field, tried in order (the shape of
 *               the former per-rule matcher, on a linear-time engine)
 *   vectorscan  one Vectorscan block-mode database per field
 * and the pathological path of issue 9 (`/(a|aa)+$` on 4 KiB). Results in
 * bench/results/l7-matcher.md.
 */
#include <errno.h>
#include <hs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "l7/regex.h"
#include "policy/http.h"

#define NRULES 40

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

struct ruleset {
	char method[NRULES][32], path[NRULES][96];
	size_t n;
};

/* 40 API rules in the style of the paper's: a method and a path with a variable part. */
static void make_rules(struct ruleset *rs, size_t n)
{
	static const char *const methods[] = { "GET", "POST", "PUT", "DELETE", "GET|HEAD" };
	size_t i;

	rs->n = n;
	for (i = 0; i < n; i++) {
		snprintf(rs->method[i], sizeof(rs->method[i]), "%s", methods[i % 5]);
		snprintf(rs->path[i], sizeof(rs->path[i]), "/api/v%zu/resource-%zu/[0-9]+(/.*)?",
			 i % 3 + 1, i);
	}
	/* The first rule is the demo's, so the 1-rule set is the paper's policy. */
	snprintf(rs->method[0], sizeof(rs->method[0]), "POST");
	snprintf(rs->path[0], sizeof(rs->path[0]), "/v1/request-landing");
}

/* --- re2-set: the shipped matcher --- */
static struct pol_http_matcher *build_set(const struct ruleset *rs)
{
	struct pol_http_rule rules[NRULES];
	struct pol_http_matcher *m;
	struct errbuf eb;
	size_t i;

	memset(rules, 0, sizeof(rules));
	for (i = 0; i < rs->n; i++) {
		rules[i].method = (char *)rs->method[i];
		rules[i].path = (char *)rs->path[i];
	}
	m = pol_http_matcher__new(rules, rs->n, &eb);
	if (!m) {
		fprintf(stderr, "matcher: %s\n", eb.msg);
		exit(1);
	}
	return m;
}

/* --- re2-each: one single-pattern set per rule and field, in order --- */
struct each {
	struct l7_reset *method[NRULES], *path[NRULES];
	size_t n;
};

static void build_each(const struct ruleset *rs, struct each *e)
{
	static const uint32_t id0 = 0;
	struct errbuf eb;
	size_t i;

	e->n = rs->n;
	for (i = 0; i < rs->n; i++) {
		const char *m = rs->method[i], *p = rs->path[i];

		e->method[i] = l7_reset__new(&m, &id0, 1, 0, &eb);
		e->path[i] = l7_reset__new(&p, &id0, 1, 0, &eb);
		if (!e->method[i] || !e->path[i]) {
			fprintf(stderr, "re2: %s\n", eb.msg);
			exit(1);
		}
	}
}

static int match_each(const struct each *e, struct sv method, struct sv path)
{
	size_t i;

	for (i = 0; i < e->n; i++) {
		uint64_t b = 0;

		if (l7_reset_match(e->method[i], method, &b) > 0 &&
		    l7_reset_match(e->path[i], path, &b) > 0)
			return (int)i;
	}
	return -1;
}

/* --- vectorscan: one database per field --- */
struct vs {
	hs_database_t *db[2];
	hs_scratch_t *scratch;
	size_t n;
};

static void build_vs(const struct ruleset *rs, struct vs *v)
{
	char *exprs[2][NRULES];
	unsigned flags[NRULES], ids[NRULES];
	hs_compile_error_t *cerr;
	size_t i;
	int f;

	v->n = rs->n;
	v->scratch = NULL;
	for (i = 0; i < rs->n; i++) {
		flags[i] = HS_FLAG_UTF8 | HS_FLAG_SINGLEMATCH;
		ids[i] = (unsigned)i;
		for (f = 0; f < 2; f++) {
			exprs[f][i] = malloc(160);
			/* Anchored at both ends: \z is the very end, as RE2's ANCHOR_BOTH. */
			snprintf(exprs[f][i], 160, "^(?:%s)\\z", f ? rs->path[i] : rs->method[i]);
		}
	}
	for (f = 0; f < 2; f++) {
		if (hs_compile_multi((const char *const *)exprs[f], flags, ids, (unsigned)rs->n,
				     HS_MODE_BLOCK, NULL, &v->db[f], &cerr) != HS_SUCCESS) {
			fprintf(stderr, "vectorscan: %s\n", cerr->message);
			exit(1);
		}
		if (hs_alloc_scratch(v->db[f], &v->scratch) != HS_SUCCESS)
			exit(1);
		for (i = 0; i < rs->n; i++)
			free(exprs[f][i]);
	}
}

static int vs_on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned fl,
		       void *ctx)
{
	uint64_t *bits = ctx;

	(void)from;
	(void)to;
	(void)fl;
	*bits |= (uint64_t)1 << id;
	return 0;
}

static int match_vs(const struct vs *v, struct sv method, struct sv path)
{
	uint64_t mb = 0, pb = 0;

	hs_scan(v->db[0], method.p, (unsigned)method.len, 0, v->scratch, vs_on_match, &mb);
	if (!mb)
		return -1;
	hs_scan(v->db[1], path.p, (unsigned)path.len, 0, v->scratch, vs_on_match, &pb);
	return (mb & pb) ? __builtin_ctzll(mb & pb) : -1;
}

struct req {
	const char *name, *method, *path;
};

static const struct req reqs[] = {
	{ "first rule", "POST", "/v1/request-landing" },
	{ "last rule", "GET", "/api/v1/resource-39/12345/details?full=1" },
	{ "no rule", "PUT", "/v1/exhaust-port" },
};

#define ITERS 200000

static void run(size_t n)
{
	struct ruleset rs;
	struct pol_http_matcher *m;
	struct each e;
	struct vs v;
	size_t r, i;

	make_rules(&rs, n);
	m = build_set(&rs);
	build_each(&rs, &e);
	build_vs(&rs, &v);
	for (r = 0; r < sizeof(reqs) / sizeof(reqs[0]); r++) {
		struct pol_http_request q = { sv_from(reqs[r].method), sv_from(reqs[r].path),
					      SV("deathstar"), NULL, 0 };
		double t0, t[3];
		int a = 0, b = 0, c = 0;
		size_t idx;

		/* Warm-up (DFA states, scratch), then each engine in turn, timed. */
		for (i = 0; i < 1000; i++) {
			pol_http_matcher_match(m, &q, &idx);
			match_each(&e, q.method, q.path);
			match_vs(&v, q.method, q.path);
		}
		t0 = now_ns();
		for (i = 0; i < ITERS; i++)
			a += pol_http_matcher_match(m, &q, &idx) > 0 ? (int)idx : -1;
		t[0] = (now_ns() - t0) / ITERS;
		t0 = now_ns();
		for (i = 0; i < ITERS; i++)
			b += match_each(&e, q.method, q.path);
		t[1] = (now_ns() - t0) / ITERS;
		t0 = now_ns();
		for (i = 0; i < ITERS; i++)
			c += match_vs(&v, q.method, q.path);
		t[2] = (now_ns() - t0) / ITERS;
		if (a != b || b != c) {
			fprintf(stderr, "engines disagree on %s: %d %d %d\n", reqs[r].name, a, b,
				c);
			exit(1);
		}
		printf("%2zu rules  %-10s  re2-set %7.0f ns  re2-each %7.0f ns  vectorscan %7.0f ns\n",
		       n, reqs[r].name, t[0], t[1], t[2]);
	}
	pol_http_matcher__put(m);
	for (i = 0; i < n; i++) {
		l7_reset__free(e.method[i]);
		l7_reset__free(e.path[i]);
	}
	hs_free_database(v.db[0]);
	hs_free_database(v.db[1]);
	hs_free_scratch(v.scratch);
}

/* The backtracking trap of issue 9: one match on a 4 KiB path. */
static void pathological(void)
{
	static const char pat[] = "/(a|aa)+$";
	const char *p = pat;
	static const uint32_t id0 = 0;
	char path[4096];
	struct errbuf eb;
	struct l7_reset *s = l7_reset__new(&p, &id0, 1, 0, &eb);
	uint64_t b = 0;
	double t0;
	int i, r = 0;

	path[0] = '/';
	memset(path + 1, 'a', sizeof(path) - 2);
	path[sizeof(path) - 1] = '!';
	t0 = now_ns();
	for (i = 0; i < 1000; i++)
		r += l7_reset_match(s, (struct sv){ path, sizeof(path) }, &b);
	printf("pathological  /(a|aa)+$ on 4096 bytes (no match: %d): re2 %.1f us per match\n", r,
	       (now_ns() - t0) / 1000 / 1e3);
	l7_reset__free(s);
}

int main(void)
{
	printf("# %d iterations per cell; ns per request (method and path matched)\n", ITERS);
	run(1);
	run(NRULES);
	pathological();
	return 0;
}
