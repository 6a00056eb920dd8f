/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of velum-proxy's HTTP layer (src/proxy/session.c) without
 * sockets: client bytes in, upstream bytes out, upstream responses in,
 * client bytes out, access events. Also the rules file loader and the
 * access event's JSON. A request buffer that ends at a PROT_NONE guard
 * page catches reads past the input.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/strbuf.h"
#include "proxy/access.h"
#include "proxy/rules.h"
#include "proxy/session.h"

static const char denied[] = "HTTP/1.1 403 Forbidden\r\ncontent-length: 15\r\n"
			     "content-type: text/plain\r\n\r\nAccess denied\r\n";
static const char ok_resp[] = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

#define MAX_EVENTS 64

struct tstate {
	struct px_pool pool;
	struct px_stats stats;
	struct px_ctx ctx;
	struct px_rules *rules;
	struct px_session s;
	struct strbuf up, cl; /* what went upstream, what went to the client */
	struct px_access_event ev[MAX_EVENTS];
	size_t nev;
	uint64_t now;
	void *guard; /* mmap'd guard-page buffer, if any */
	size_t guard_len;
};

static struct px_rules *get_rules(void *arg)
{
	return px_rules__get(((struct tstate *)arg)->rules);
}

static void collect(void *arg, const struct px_access_event *ev)
{
	struct tstate *st = arg;

	assert_true(st->nev < MAX_EVENTS);
	st->ev[st->nev++] = *ev;
}

static uint64_t fixed_now;
static uint64_t test_now(void)
{
	return fixed_now;
}

static struct pol_http_rule rule(const char *method, const char *path)
{
	struct pol_http_rule r = { 0 };

	if (method)
		r.method = strdup(method);
	if (path)
		r.path = strdup(path);
	r.line = 1;
	return r;
}

static int setup(void **state)
{
	struct tstate *st = calloc(1, sizeof(*st));
	struct pol_http_rule *rs = calloc(3, sizeof(*rs));
	struct errbuf eb;

	if (!st || !rs)
		return -1;
	rs[0] = rule("GET", "/v1(/.*)?");
	rs[1] = rule("POST", "/v1/request-landing");
	rs[2] = rule("HEAD", "/v1");
	st->rules = px_rules__new(rs, 3, &eb);
	for (size_t i = 0; i < 3; i++)
		pol_http_rule_free(&rs[i]);
	free(rs);
	st->pool.max_free = 64;
	fixed_now = 1000;
	st->ctx = (struct px_ctx){ .pool = &st->pool,
				   .stats = &st->stats,
				   .rules_get = get_rules,
				   .rules_arg = st,
				   .emit = collect,
				   .emit_arg = st,
				   .now_ns = test_now };
	px_session_init(&st->s, &st->ctx, NULL, NULL);
	*state = st;
	return 0;
}

static int teardown(void **state)
{
	struct tstate *st = *state;
	struct px_buf **pp;

	px_session_fini(&st->s);
	/* The guard-page buffer is not malloc's: take it out of the free list. */
	for (pp = &st->pool.free; *pp; pp = &(*pp)->next) {
		if ((void *)*pp >= st->guard && (char *)*pp < (char *)st->guard + st->guard_len) {
			*pp = (*pp)->next;
			st->pool.nfree--;
			break;
		}
	}
	if (st->guard)
		munmap(st->guard, st->guard_len);
	px_pool_drain(&st->pool);
	assert_int_equal(st->pool.in_use, 0);
	px_rules__put(st->rules);
	strbuf_free(&st->up);
	strbuf_free(&st->cl);
	free(st);
	return 0;
}

/* Moves everything the session has for either side into st->up / st->cl. */
static void drain(struct tstate *st)
{
	const char *p;
	size_t n;

	do {
		px_session_pump(&st->s);
		st->s.want_upstream = false;
		if (!st->s.upstream_open && !st->s.upstream_drop)
			st->s.upstream_open = true;
		st->s.upstream_drop = false;
		p = px_session_upstream_out(&st->s, &n);
		if (n) {
			strbuf_append(&st->up, p, n);
			px_session_upstream_sent(&st->s, n);
		}
		p = px_session_client_out(&st->s, &n);
		if (n) {
			strbuf_append(&st->cl, p, n);
			px_session_client_sent(&st->s, n);
		}
	} while (px_session_pump(&st->s));
}

/* Feeds len bytes from the client in pieces of at most `step`. Returns bytes taken. */
static size_t client(struct tstate *st, const char *in, size_t len, size_t step)
{
	size_t done = 0;

	while (done < len) {
		size_t room, n;
		char *at = px_session_client_room(&st->s, &room);

		if (!at)
			break;
		n = len - done < room ? len - done : room;
		if (n > step)
			n = step;
		memcpy(at, in + done, n);
		px_session_client_read(&st->s, n);
		done += n;
		drain(st);
	}
	drain(st);
	return done;
}

static void upstream(struct tstate *st, const char *in)
{
	size_t len = strlen(in), done = 0;

	while (done < len) {
		size_t room, n;
		char *at = px_session_upstream_room(&st->s, &room);

		assert_non_null(at);
		n = len - done < room ? len - done : room;
		memcpy(at, in + done, n);
		px_session_upstream_read(&st->s, n);
		done += n;
		drain(st);
	}
}

static void assert_str(const struct strbuf *sb, const char *want)
{
	assert_string_equal(strbuf_str(sb), want);
}

static void test_proxy_allowed_forwarded(void **state)
{
	struct tstate *st = *state;
	const char *r = "GET /v1/x?y=1 HTTP/1.1\r\nHost: deathstar\r\nX-A: b \r\n\r\n";

	client(st, r, strlen(r), SIZE_MAX);
	assert_str(&st->up, r);
	assert_str(&st->cl, "");
	fixed_now += 5000;
	upstream(st, ok_resp);
	assert_str(&st->cl, ok_resp);
	assert_int_equal(st->nev, 2);
	assert_int_equal(st->ev[0].type, PX_EV_REQUEST);
	assert_int_equal(st->ev[0].verdict, PX_VERDICT_FORWARDED);
	assert_int_equal(st->ev[0].rule, 0);
	assert_string_equal(st->ev[0].method, "GET");
	assert_string_equal(st->ev[0].url, "/v1/x?y=1");
	assert_string_equal(st->ev[0].host, "deathstar");
	assert_int_equal(st->ev[1].type, PX_EV_RESPONSE);
	assert_int_equal(st->ev[1].status, 200);
	assert_int_equal(st->ev[1].latency_ns, 5000);
	assert_int_equal(st->stats.forwarded, 1);
	assert_int_equal(st->stats.lat_count, 1);
	assert_false(px_session_finished(&st->s));
	assert_true(px_session_idle(&st->s));
}

static void test_proxy_denied_exact_bytes(void **state)
{
	struct tstate *st = *state;
	const char *r =
		"PUT /v1/exhaust-port HTTP/1.1\r\nHost: d\r\nContent-Length: 5\r\n\r\nboom!";

	client(st, r, strlen(r), SIZE_MAX);
	assert_str(&st->up, "");
	assert_str(&st->cl, denied);
	assert_int_equal(st->nev, 2);
	assert_int_equal(st->ev[0].verdict, PX_VERDICT_DROPPED);
	assert_int_equal(st->ev[0].rule, PX_RULE_NONE);
	assert_string_equal(st->ev[0].reason, "no HTTP rule matched");
	assert_int_equal(st->ev[1].status, 403);
	assert_int_equal(st->stats.denied, 1);
	assert_false(px_session_finished(&st->s));
	/* an idle connection after a denied request holds no buffer (memory of idle connections) */
	assert_true(px_session_idle(&st->s));
	assert_int_equal(st->pool.in_use, 0);
	/* still usable */
	client(st, "GET /v1 HTTP/1.1\r\nHost: d\r\n\r\n", 29, SIZE_MAX);
	assert_str(&st->up, "GET /v1 HTTP/1.1\r\nHost: d\r\n\r\n");
}

/* A 403 waits for the response of the forwarded request before it. */
static void test_proxy_pipeline_order(void **state)
{
	struct tstate *st = *state;
	const char *a = "GET /v1 HTTP/1.1\r\nHost: d\r\n\r\n";
	const char *d = "DELETE /v1 HTTP/1.1\r\nHost: d\r\n\r\n";
	const char *b = "POST /v1/request-landing HTTP/1.1\r\nHost: d\r\n"
			"Transfer-Encoding: chunked\r\n\r\n4\r\nland\r\n0\r\n\r\n";
	char all[512];
	struct strbuf want = STRBUF_INIT;

	snprintf(all, sizeof(all), "%s%s%s%s", a, d, b, d);
	client(st, all, strlen(all), SIZE_MAX);
	strbuf_printf(&want, "%s%s", a, b);
	assert_str(&st->up, strbuf_str(&want));
	assert_str(&st->cl, ""); /* the 403 waits behind the first response */
	upstream(st, "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n");
	strbuf_reset(&want);
	strbuf_printf(&want,
		      "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n%s",
		      denied);
	assert_str(&st->cl, strbuf_str(&want));
	upstream(st, ok_resp);
	strbuf_printf(&want, "%s%s", ok_resp, denied);
	assert_str(&st->cl, strbuf_str(&want));
	assert_true(px_session_idle(&st->s));
	strbuf_free(&want);
}

/*
 * Empty lines before a request line are skipped by the parser and not
 * forwarded; the request line that is rewritten (here normalized) is the
 * request's own, not the first line of the buffer (the forwarded head once
 * held both the rewritten and the original request line).
 */
static void test_proxy_empty_lines_before_request(void **state)
{
	struct tstate *st = *state;
	const char *in = "GET /v1 HTTP/1.1\r\nHost: d\r\n\r\n"
			 "\r\nGET //v1/./x HTTP/1.1\r\nHost: d\r\n\r\n"
			 "\r\n\r\nGET /v1/y HTTP/1.1\r\nHost: d\r\n\r\n";

	client(st, in, strlen(in), SIZE_MAX);
	assert_str(&st->up, "GET /v1 HTTP/1.1\r\nHost: d\r\n\r\n"
			    "GET /v1/x HTTP/1.1\r\nHost: d\r\n\r\n"
			    "GET /v1/y HTTP/1.1\r\nHost: d\r\n\r\n");
}

/* The same pipeline split at every byte gives the same bytes on both sides. */
static void test_proxy_split_anywhere(void **state)
{
	struct tstate *st = *state;
	const char *in = "GET /v1 HTTP/1.1\r\nHost: d\r\n\r\n"
			 "PUT /x HTTP/1.1\r\nHost: d\r\nContent-Length: 3\r\n\r\nabc"
			 "POST /v1/request-landing HTTP/1.1\r\nHost: d\r\n"
			 "Transfer-Encoding: chunked\r\n\r\n4;a=b\r\nland\r\n0\r\nT: v\r\n\r\n";
	const char *want_up =
		"GET /v1 HTTP/1.1\r\nHost: d\r\n\r\n"
		"POST /v1/request-landing HTTP/1.1\r\nHost: d\r\n"
		"Transfer-Encoding: chunked\r\n\r\n4;a=b\r\nland\r\n0\r\nT: v\r\n\r\n";
	size_t step;

	for (step = 1; step <= strlen(in); step++) {
		px_session_fini(&st->s);
		px_session_init(&st->s, &st->ctx, NULL, NULL);
		strbuf_reset(&st->up);
		strbuf_reset(&st->cl);
		st->nev = 0;
		assert_int_equal(client(st, in, strlen(in), step), strlen(in));
		assert_str(&st->up, want_up);
		upstream(st, ok_resp);
		upstream(st, ok_resp);
		assert_int_equal(st->cl.len, 2 * strlen(ok_resp) + strlen(denied));
		assert_memory_equal(st->cl.p + strlen(ok_resp), denied, strlen(denied));
	}
}

/* Replaces the session's rule set by rules[0..n) (taken). */
static void set_rules(struct tstate *st, struct pol_http_rule *rules, size_t n)
{
	struct errbuf eb;
	size_t i;

	px_rules__put(st->rules);
	st->rules = px_rules__new(rules, n, &eb);
	for (i = 0; i < n; i++)
		pol_http_rule_free(&rules[i]);
	assert_non_null(st->rules);
}

static void restart(struct tstate *st)
{
	px_session_fini(&st->s);
	px_session_init(&st->s, &st->ctx, NULL, NULL);
	strbuf_reset(&st->up);
	strbuf_reset(&st->cl);
	st->nev = 0;
}

/*
 * The target is normalized before it is judged, and the normalized target
 * is what the upstream receives: with only /public.* allowed, every
 * spelling of a way out of /public is judged (and forwarded) as where it
 * leads.
 */
static void test_proxy_normalized_target(void **state)
{
	static const struct {
		const char *target;
		const char *up_line; /* request line upstream, NULL: nothing forwarded */
		const char *answer;  /* start of the client's bytes ("" none yet) */
		const char *url;     /* the access event's URL */
	} cases[] = {
		{ "/public/../private", NULL, "HTTP/1.1 403 ", "/private" },
		{ "//private", NULL, "HTTP/1.1 403 ", "/private" },
		{ "/%2e%2e/private", NULL, "HTTP/1.1 403 ", "/private" },
		{ "/a/%2E%2e;x=1/b", NULL, "HTTP/1.1 403 ", "/b" },
		{ "/public/a/%2E%2e;x=1/b", "GET /public/b HTTP/1.1", "", "/public/b" },
		{ "/private/../public/x", "GET /public/x HTTP/1.1", "", "/public/x" },
		{ "//public//x/./y", "GET /public/x/y HTTP/1.1", "", "/public/x/y" },
		{ "/private/%2e%2E/public", "GET /public HTTP/1.1", "", "/public" },
		{ "/public/%7euser%3b", "GET /public/~user%3B HTTP/1.1", "", "/public/~user%3B" },
		{ "/x/..%2fpublic?q=/../%2e%2e", NULL,
		  "HTTP/1.1 307 Temporary Redirect\r\ncontent-length: 0\r\n"
		  "location: /public?q=/../%2e%2e\r\n\r\n",
		  "/public?q=/../%2e%2e" },
		{ "/public/x?a=/../private", "GET /public/x?a=/../private HTTP/1.1", "",
		  "/public/x?a=/../private" },
		{ "http://d/private/../public", "GET /public HTTP/1.1", "", "/public" },
		{ "/public", "GET /public HTTP/1.1", "", "/public" },
	};
	struct tstate *st = *state;
	struct pol_http_rule r[1] = { rule("GET", "/public.*") };
	size_t i;

	set_rules(st, r, 1);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char in[256], want[256];

		restart(st);
		snprintf(in, sizeof(in), "GET %s HTTP/1.1\r\nHost: d\r\nX-A: b\r\n\r\n",
			 cases[i].target);
		client(st, in, strlen(in), SIZE_MAX);
		if (cases[i].up_line)
			snprintf(want, sizeof(want), "%s\r\nHost: d\r\nX-A: b\r\n\r\n",
				 cases[i].up_line);
		else
			want[0] = '\0';
		if (strcmp(strbuf_str(&st->up), want))
			fail_msg("%s: upstream got '%s', want '%s'", cases[i].target,
				 strbuf_str(&st->up), want);
		if (strncmp(strbuf_str(&st->cl), cases[i].answer, strlen(cases[i].answer)) ||
		    (!cases[i].answer[0] && st->cl.len))
			fail_msg("%s: client got '%s', want '%s'", cases[i].target,
				 strbuf_str(&st->cl), cases[i].answer);
		assert_true(st->nev >= 1);
		if (strcmp(st->ev[0].url, cases[i].url))
			fail_msg("%s: event URL '%s', want '%s'", cases[i].target, st->ev[0].url,
				 cases[i].url);
		assert_false(px_session_finished(&st->s));
	}
}

/* An escaped slash: 307 to the normalized target, nothing upstream, the connection stays usable. */
static void test_proxy_escaped_slash_redirect(void **state)
{
	static const char redirect[] = "HTTP/1.1 307 Temporary Redirect\r\ncontent-length: 0\r\n"
				       "location: /a/b\r\n\r\n";
	struct tstate *st = *state;
	struct pol_http_rule r[2] = { rule("GET", "/public.*"), rule("POST", "/a/b") };
	const char *in = "POST /a%2Fb HTTP/1.1\r\nHost: d\r\nContent-Length: 4\r\n\r\nbody"
			 "GET /public HTTP/1.1\r\nHost: d\r\n\r\n";

	set_rules(st, r, 2);
	client(st, in, strlen(in), SIZE_MAX);
	assert_str(&st->up, "GET /public HTTP/1.1\r\nHost: d\r\n\r\n");
	assert_str(&st->cl, redirect);
	assert_int_equal(st->ev[0].verdict, PX_VERDICT_DROPPED);
	assert_string_equal(st->ev[0].url, "/a/b");
	assert_string_equal(st->ev[0].reason, "escaped slash in path: redirected (307)");
	/* the next request is judged before the 307 goes out */
	assert_int_equal(st->ev[1].verdict, PX_VERDICT_FORWARDED);
	assert_int_equal(st->ev[2].type, PX_EV_RESPONSE);
	assert_int_equal(st->ev[2].status, 307);
	upstream(st, ok_resp);
	assert_int_equal(st->cl.len, strlen(redirect) + strlen(ok_resp));
	assert_false(px_session_finished(&st->s));
	assert_true(px_session_idle(&st->s));
	/* the same split at every byte */
	for (size_t step = 1; step < strlen(in); step += 7) {
		restart(st);
		client(st, in, strlen(in), step);
		assert_str(&st->up, "GET /public HTTP/1.1\r\nHost: d\r\n\r\n");
		assert_str(&st->cl, redirect);
	}
	/* a redirect waiting behind a forwarded request is dropped with it on an upstream failure */
	restart(st);
	in = "GET /public HTTP/1.1\r\nHost: d\r\n\r\nGET /a%5cb HTTP/1.1\r\nHost: d\r\n\r\n";
	client(st, in, strlen(in), SIZE_MAX);
	assert_str(&st->cl, "");
	px_session_upstream_gone(&st->s, true);
	drain(st);
	assert_true(px_session_finished(&st->s));
}

/* A malformed escape: 400 with the normalizer's reason, nothing upstream, closed. */
static void test_proxy_malformed_escape_400(void **state)
{
	struct tstate *st = *state;
	struct pol_http_rule r[1] = { rule("GET", "/.*") };
	const char *in = "GET /a%zz HTTP/1.1\r\nHost: d\r\n\r\nGET /b HTTP/1.1\r\nHost: d\r\n\r\n";

	set_rules(st, r, 1);
	client(st, in, strlen(in), SIZE_MAX);
	assert_str(&st->up, "");
	assert_str(&st->cl, "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n"
			    "connection: close\r\n\r\n");
	assert_true(px_session_finished(&st->s));
	assert_int_equal(st->ev[0].verdict, PX_VERDICT_ERROR);
	assert_string_equal(st->ev[0].reason, "bad request: malformed percent-encoding in path");
	assert_string_equal(st->ev[0].url, "/a%zz");
}

/* Adds a header requirement (value NULL: presence) with a mismatch action to r. */
static void hdr(struct pol_http_rule *r, const char *name, const char *value,
		enum pol_hdr_mismatch mm)
{
	struct pol_http_header *h = realloc(r->headers, (r->nheaders + 1) * sizeof(*h));

	assert_non_null(h);
	r->headers = h;
	h[r->nheaders].name = strdup(name);
	h[r->nheaders].value = value ? strdup(value) : NULL;
	h[r->nheaders].mismatch = mm;
	r->nheaders++;
}

/*
 * headerMatches mismatch actions of the rule that allowed: the bytes the
 * upstream receives (the edited head, then the body) and the access event's
 * reason.
 */
static void test_proxy_header_actions(void **state)
{
	static const struct {
		const char *in;
		const char *up; /* NULL: the same as in */
		const char *reason;
	} cases[] = {
		{ "GET /log HTTP/1.1\r\nHost: d\r\nX-Token: guess\r\n\r\n", NULL,
		  "header X-Token mismatch (LOG)" },
		{ "GET /log HTTP/1.1\r\nHost: d\r\nX-Token: secret\r\n\r\n", NULL, "matched" },
		{ "GET /log HTTP/1.1\r\nHost: d\r\n\r\n", NULL, "header X-Token mismatch (LOG)" },
		{ "GET /add HTTP/1.1\r\nHost: d\r\nA: 1\r\n\r\n",
		  "GET /add HTTP/1.1\r\nHost: d\r\nA: 1\r\nX-Env: prod\r\n\r\n",
		  "header X-Env mismatch (ADD)" },
		/* ADD keeps what the client sent: the header becomes multi-valued */
		{ "GET /add HTTP/1.1\r\nHost: d\r\nx-env: dev\r\n\r\n",
		  "GET /add HTTP/1.1\r\nHost: d\r\nx-env: dev\r\nX-Env: prod\r\n\r\n",
		  "header X-Env mismatch (ADD)" },
		{ "GET /add HTTP/1.1\r\nHost: d\r\nX-Env: prod\r\n\r\n", NULL, "matched" },
		{ "GET /del HTTP/1.1\r\nX-Debug: 1\r\nHost: d\r\nx-debug: 0\r\nB: 2\r\n\r\n",
		  "GET /del HTTP/1.1\r\nHost: d\r\nB: 2\r\n\r\n",
		  "header X-Debug mismatch (DELETE)" },
		{ "GET /del HTTP/1.1\r\nHost: d\r\n\r\n", NULL,
		  "header X-Debug mismatch (DELETE)" },
		{ "GET /del HTTP/1.1\r\nHost: d\r\nX-Debug:   0  \r\n\r\n", NULL, "matched" },
		{ "GET /rep HTTP/1.1\r\nHost: d\r\nX-User: admin\r\nA: 1\r\n\r\n",
		  "GET /rep HTTP/1.1\r\nHost: d\r\nA: 1\r\nX-User: anon\r\n\r\n",
		  "header X-User mismatch (REPLACE)" },
		{ "GET /rep HTTP/1.1\r\nHost: d\r\n\r\n",
		  "GET /rep HTTP/1.1\r\nHost: d\r\nX-User: anon\r\n\r\n",
		  "header X-User mismatch (REPLACE)" },
		{ "GET /rep HTTP/1.1\r\nHost: d\r\nX-User: anon\r\n\r\n", NULL, "matched" },
		/* two occurrences compare as "anon,anon": a mismatch, both replaced by one */
		{ "GET /rep HTTP/1.1\r\nHost: d\r\nX-User: anon\r\nX-User: anon\r\n\r\n",
		  "GET /rep HTTP/1.1\r\nHost: d\r\nX-User: anon\r\n\r\n",
		  "header X-User mismatch (REPLACE)" },
		/* with a normalized absolute-form target and a chunked body */
		{ "POST http://d/x/../rep HTTP/1.1\r\nHost: d\r\nX-User: root\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n4\r\nland\r\n0\r\n\r\n",
		  "POST /rep HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\nX-User: anon\r\n"
		  "\r\n4\r\nland\r\n0\r\n\r\n",
		  "header X-User mismatch (REPLACE)" },
		/*
		 * In order: ADD, then REPLACE removes the added line too, then
		 * DELETE; LOG notes come first in the reason (cut to 64 bytes).
		 */
		{ "GET /all HTTP/1.1\r\nHost: d\r\nX-C: 1\r\nX-B: 1\r\n\r\n",
		  "GET /all HTTP/1.1\r\nHost: d\r\nX-A: a\r\nX-B: b\r\n\r\n",
		  "header X-D mismatch (LOG); header X-A mismatch (ADD); header X-" },
		/* an unmet requirement without an action fails the rule: no edit, 403 */
		{ "GET /all HTTP/1.1\r\nHost: d\r\nX-B: 1\r\n\r\n", "", "no HTTP rule matched" },
	};
	struct tstate *st = *state;
	struct pol_http_rule r[5] = { rule("GET", "/log"), rule("GET", "/add"), rule("GET", "/del"),
				      rule(NULL, "/rep"), rule("GET", "/all") };
	size_t i;

	hdr(&r[0], "X-Token", "secret", POL_MISMATCH_LOG);
	hdr(&r[1], "X-Env", "prod", POL_MISMATCH_ADD);
	hdr(&r[2], "X-Debug", "0", POL_MISMATCH_DELETE);
	hdr(&r[3], "X-User", "anon", POL_MISMATCH_REPLACE);
	hdr(&r[4], "X-C", NULL, POL_MISMATCH_NONE);
	hdr(&r[4], "X-A", "a", POL_MISMATCH_ADD);
	hdr(&r[4], "X-B", "x", POL_MISMATCH_ADD);
	hdr(&r[4], "X-B", "b", POL_MISMATCH_REPLACE);
	hdr(&r[4], "X-C", "2", POL_MISMATCH_DELETE);
	hdr(&r[4], "X-D", NULL, POL_MISMATCH_LOG);
	set_rules(st, r, 5);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *want = cases[i].up ? cases[i].up : cases[i].in;
		size_t step;

		for (step = 1; step <= strlen(cases[i].in); step += step < 8 ? 1 : 13) {
			restart(st);
			client(st, cases[i].in, strlen(cases[i].in),
			       step == 1 ? SIZE_MAX : step - 1);
			if (strcmp(strbuf_str(&st->up), want))
				fail_msg("case %zu step %zu: upstream got '%s', want '%s'", i, step,
					 strbuf_str(&st->up), want);
			if (strcmp(st->ev[0].reason, cases[i].reason))
				fail_msg("case %zu: reason '%s', want '%s'", i, st->ev[0].reason,
					 cases[i].reason);
		}
	}
}

/* Both sides judge (transparent mode): decide_both() allows by two rule sets' rules. */
static struct px_rules *both[2];

static void decide_both(void *arg, const struct px_session *s, const struct pol_http_request *req,
			struct px_decision *d)
{
	struct px_decision side;
	int k;

	(void)arg;
	(void)s;
	memset(d, 0, sizeof(*d));
	d->allowed = true;
	d->reason = "matched";
	for (k = 0; k < 2; k++) {
		px_rules_decide(both[k], req, &side);
		d->allowed &= side.allowed;
		d->rule = side.rule;
		d->matched[k] = side.matched[0];
	}
}

/* The egress rule's edits, then the ingress rule's, each on the request as the client sent it. */
static void test_proxy_header_actions_both_sides(void **state)
{
	struct tstate *st = *state;
	struct pol_http_rule eg = rule("GET", "/.*"), in = rule("GET", "/.*");
	const char *r = "GET /x HTTP/1.1\r\nHost: d\r\nX-A: client\r\n\r\n";
	struct errbuf eb;

	hdr(&eg, "X-A", "egress", POL_MISMATCH_REPLACE);
	hdr(&eg, "X-B", "1", POL_MISMATCH_ADD);
	hdr(&in, "X-B", "2", POL_MISMATCH_REPLACE);
	hdr(&in, "X-C", "3", POL_MISMATCH_LOG);
	both[0] = px_rules__new(&eg, 1, &eb);
	both[1] = px_rules__new(&in, 1, &eb);
	pol_http_rule_free(&eg);
	pol_http_rule_free(&in);
	assert_non_null(both[0]);
	assert_non_null(both[1]);
	st->ctx.decide = decide_both;
	client(st, r, strlen(r), SIZE_MAX);
	assert_str(&st->up, "GET /x HTTP/1.1\r\nHost: d\r\nX-A: egress\r\nX-B: 2\r\n\r\n");
	assert_string_equal(st->ev[0].reason,
			    "header X-C mismatch (LOG); header X-A mismatch (REPLACE); heade");
	px_rules__put(both[0]);
	px_rules__put(both[1]);
}

/* Edits that could change how the server frames or routes the request are refused at load. */
static void test_proxy_header_edit_refused(void **state)
{
	static const struct {
		const char *name, *value;
		enum pol_hdr_mismatch mm;
		const char *err;
	} bad[] = {
		{ "Content-Length", "5", POL_MISMATCH_ADD,
		  "'Content-Length': mismatch ADD cannot edit" },
		{ "transfer-encoding", NULL, POL_MISMATCH_DELETE, "mismatch DELETE cannot edit" },
		{ "Host", "evil", POL_MISMATCH_REPLACE, "mismatch REPLACE cannot edit" },
		{ "Connection", "close", POL_MISMATCH_ADD, "cannot edit" },
		{ "X-A", "a\r\nHost: evil", POL_MISMATCH_ADD,
		  "control character 0x0d in the value" },
		{ "X A", "a", POL_MISMATCH_REPLACE, "'X A': not a header name" },
	};
	struct pol_http_rule r;
	struct px_rules *rs;
	struct errbuf eb;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = rule("GET", "/");
		r.line = 7;
		hdr(&r, bad[i].name, bad[i].value, bad[i].mm);
		errbuf_clear(&eb);
		rs = px_rules__new(&r, 1, &eb);
		pol_http_rule_free(&r);
		assert_null(rs);
		assert_int_equal(errno, EINVAL);
		if (strncmp(eb.msg, "7: [0]: headerMatches ", 22) || !strstr(eb.msg, bad[i].err))
			fail_msg("case %zu: '%s' lacks '%s'", i, eb.msg, bad[i].err);
	}
	/* LOG only reads: any header may be logged */
	r = rule("GET", "/");
	hdr(&r, "Host", "d", POL_MISMATCH_LOG);
	rs = px_rules__new(&r, 1, &eb);
	pol_http_rule_free(&r);
	assert_non_null(rs);
	px_rules__put(rs);
}

#define LIT(s) s, sizeof(s) - 1

struct hostile_case {
	const char *name;
	const char *in;
	size_t len; /* 0: strlen */
	const char *status;
};

static void run_hostile(struct tstate *st, const struct hostile_case *c)
{
	size_t len = c->len ? c->len : strlen(c->in);

	px_session_fini(&st->s);
	px_session_init(&st->s, &st->ctx, NULL, NULL);
	strbuf_reset(&st->up);
	strbuf_reset(&st->cl);
	st->nev = 0;
	client(st, c->in, len, SIZE_MAX);
	if (strncmp(strbuf_str(&st->cl), c->status, strlen(c->status)))
		fail_msg("%s: got '%.60s', want '%s'", c->name, strbuf_str(&st->cl), c->status);
	if (st->up.len)
		fail_msg("%s: upstream got '%s'", c->name, strbuf_str(&st->up));
	if (!px_session_finished(&st->s))
		fail_msg("%s: connection not closed", c->name);
	if (!strstr(strbuf_str(&st->cl), "connection: close\r\n"))
		fail_msg("%s: no connection: close", c->name);
}

static void test_proxy_hostile(void **state)
{
	static char big_line[PX_MAX_REQLINE + 64], big_head[PX_BUF_SIZE + 64],
		many[PX_MAX_HEADERS * 12 + 64];
	static const struct hostile_case cases[] = {
		{ "CL+TE",
		  "POST /v1/request-landing HTTP/1.1\r\nHost: d\r\nContent-Length: 1\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		  0, "HTTP/1.1 400 " },
		{ "TE+CL",
		  "POST /v1/request-landing HTTP/1.1\r\nHost: d\r\n"
		  "Transfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n0\r\n\r\n",
		  0, "HTTP/1.1 400 " },
		{ "dup CL",
		  "POST /v1/request-landing HTTP/1.1\r\nHost: d\r\nContent-Length: 1\r\n"
		  "Content-Length: 1\r\n\r\nx",
		  0, "HTTP/1.1 400 " },
		{ "CL list",
		  "POST /v1/request-landing HTTP/1.1\r\nHost: d\r\nContent-Length: 1, 1\r\n"
		  "\r\nx",
		  0, "HTTP/1.1 400 " },
		{ "CL sign",
		  "POST /v1/request-landing HTTP/1.1\r\nHost: d\r\nContent-Length: +1\r\n"
		  "\r\nx",
		  0, "HTTP/1.1 400 " },
		{ "TE identity",
		  "POST /v1/request-landing HTTP/1.1\r\nHost: d\r\n"
		  "Transfer-Encoding: identity\r\n\r\n",
		  0, "HTTP/1.1 400 " },
		{ "TE twice",
		  "POST /v1/request-landing HTTP/1.1\r\nHost: d\r\n"
		  "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		  0, "HTTP/1.1 400 " },
		{ "TE gzip, chunked",
		  "POST /v1/request-landing HTTP/1.1\r\nHost: d\r\n"
		  "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
		  0, "HTTP/1.1 400 " },
		{ "TE vertical tab",
		  "POST /v1/request-landing HTTP/1.1\r\nHost: d\r\n"
		  "Transfer-Encoding:\x0b"
		  "chunked\r\n\r\n0\r\n\r\n",
		  0, "HTTP/1.1 400 " },
		{ "TE on 1.0",
		  "POST /v1/request-landing HTTP/1.0\r\nTransfer-Encoding: chunked\r\n"
		  "\r\n0\r\n\r\n",
		  0, "HTTP/1.1 400 " },
		{ "space before colon", "GET /v1 HTTP/1.1\r\nHost : d\r\n\r\n", 0,
		  "HTTP/1.1 400 " },
		{ "obs-fold", "GET /v1 HTTP/1.1\r\nHost: d\r\nX: a\r\n\tb\r\n\r\n", 0,
		  "HTTP/1.1 400 " },
		{ "NUL value", LIT("GET /v1 HTTP/1.1\r\nHost: d\r\nX: a\0b\r\n\r\n"),
		  "HTTP/1.1 400 " },
		{ "NUL name", LIT("GET /v1 HTTP/1.1\r\nHost: d\r\nX\0: ab\r\n\r\n"),
		  "HTTP/1.1 400 " },
		{ "CR in value", "GET /v1 HTTP/1.1\r\nHost: d\r\nX: a\rb\r\n\r\n", 0,
		  "HTTP/1.1 400 " },
		{ "bare LF", "GET /v1 HTTP/1.1\nHost: d\n\n", 0, "HTTP/1.1 400 " },
		{ "no Host", "GET /v1 HTTP/1.1\r\n\r\n", 0, "HTTP/1.1 400 " },
		{ "two Hosts", "GET /v1 HTTP/1.1\r\nHost: d\r\nhost: d\r\n\r\n", 0,
		  "HTTP/1.1 400 " },
		{ "authority mismatch", "GET http://e/v1 HTTP/1.1\r\nHost: d\r\n\r\n", 0,
		  "HTTP/1.1 400 " },
		{ "userinfo", "GET http://u@d/v1 HTTP/1.1\r\nHost: u@d\r\n\r\n", 0,
		  "HTTP/1.1 400 " },
		{ "https scheme", "GET https://d/v1 HTTP/1.1\r\nHost: d\r\n\r\n", 0,
		  "HTTP/1.1 400 " },
		{ "fragment", "GET /v1#x HTTP/1.1\r\nHost: d\r\n\r\n", 0, "HTTP/1.1 400 " },
		{ "asterisk GET", "GET * HTTP/1.1\r\nHost: d\r\n\r\n", 0, "HTTP/1.1 400 " },
		{ "HTTP/0.9", "GET /v1\r\n\r\n", 0, "HTTP/1.1 400 " },
		{ "HTTP/1.2", "GET /v1 HTTP/1.2\r\nHost: d\r\n\r\n", 0, "HTTP/1.1 400 " },
		{ "HTTP/2.0", "GET /v1 HTTP/2.0\r\nHost: d\r\n\r\n", 0, "HTTP/1.1 505 " },
		{ "h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 0, "HTTP/1.1 " },
		{ "CONNECT", "CONNECT d:443 HTTP/1.1\r\nHost: d:443\r\n\r\n", 0, "HTTP/1.1 405 " },
		{ "Upgrade",
		  "GET /v1 HTTP/1.1\r\nHost: d\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n", 0,
		  "HTTP/1.1 400 " },
		{ "Expect other", "GET /v1 HTTP/1.1\r\nHost: d\r\nExpect: 200-ok\r\n\r\n", 0,
		  "HTTP/1.1 400 " },
		{ "lowercase method", "get /v1 HTTP/1.1\r\nHost: d\r\n\r\n", 0, "HTTP/1.1 400 " },
		{ "binary", "\x16\x03\x01\x00\x05hello", 0, "HTTP/1.1 400 " },
		{ "long line", big_line, 0, "HTTP/1.1 414 " },
		{ "big head", big_head, 0, "HTTP/1.1 431 " },
		{ "many headers", many, 0, "HTTP/1.1 431 " },
	};
	struct tstate *st = *state;
	size_t i, n;

	n = (size_t)snprintf(big_line, sizeof(big_line), "GET /v1/");
	memset(big_line + n, 'a', PX_MAX_REQLINE);
	big_line[n + PX_MAX_REQLINE] = '\0';
	n = (size_t)snprintf(big_head, sizeof(big_head), "GET /v1 HTTP/1.1\r\nHost: d\r\nX: ");
	memset(big_head + n, 'v', PX_BUF_SIZE);
	big_head[n + PX_BUF_SIZE] = '\0';
	n = (size_t)snprintf(many, sizeof(many), "GET /v1 HTTP/1.1\r\nHost: d\r\n");
	for (i = 0; i < PX_MAX_HEADERS; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, "X%zu: v\r\n", i);
	snprintf(many + n, sizeof(many) - n, "\r\n");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_hostile(st, &cases[i]);
	assert_true(st->stats.parse_errors >= sizeof(cases) / sizeof(cases[0]));
}

/* A bad chunk size after an allowed head: the bad bytes never go upstream. */
static void test_proxy_bad_chunk_closes(void **state)
{
	struct tstate *st = *state;
	const char *head = "POST /v1/request-landing HTTP/1.1\r\nHost: d\r\n"
			   "Transfer-Encoding: chunked\r\n\r\n";
	char in[256];

	snprintf(in, sizeof(in), "%s1\r\na\r\nzz\r\nGET /v1 HTTP/1.1\r\nHost: d\r\n\r\n", head);
	client(st, in, strlen(in), 1);
	assert_true(px_session_finished(&st->s));
	assert_true(st->s.fatal);
	/* bytes before the error may have gone up one at a time, never the bad ones */
	assert_true(st->up.len <= strlen(head) + 6);
	assert_memory_equal(st->up.p, in, st->up.len);
}

static void test_proxy_upstream_failure_503(void **state)
{
	struct tstate *st = *state;
	const char *r = "GET /v1 HTTP/1.1\r\nHost: d\r\n\r\nGET /v1/b HTTP/1.1\r\nHost: d\r\n\r\n";

	client(st, r, strlen(r), SIZE_MAX);
	px_session_upstream_gone(&st->s, true);
	drain(st);
	assert_str(&st->cl, "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n"
			    "connection: close\r\n\r\n");
	assert_true(px_session_finished(&st->s));
	assert_int_equal(st->stats.upstream_errors, 1);
	assert_int_equal(st->ev[st->nev - 1].status, 503);
}

static void test_proxy_upstream_eof_body(void **state)
{
	struct tstate *st = *state;
	const char *r = "GET /v1 HTTP/1.1\r\nHost: d\r\n\r\n";

	client(st, r, strlen(r), SIZE_MAX);
	upstream(st, "HTTP/1.1 200 OK\r\n\r\nuntil close");
	assert_false(px_session_finished(&st->s));
	px_session_upstream_gone(&st->s, false);
	drain(st);
	assert_str(&st->cl, "HTTP/1.1 200 OK\r\n\r\nuntil close");
	assert_int_equal(st->ev[st->nev - 1].status, 200);
	/* the client learns the end from the close */
	assert_true(px_session_finished(&st->s) || st->s.close_client);
}

static void test_proxy_head_and_continue(void **state)
{
	struct tstate *st = *state;
	const char *r = "POST /v1/request-landing HTTP/1.1\r\nHost: d\r\n"
			"Expect: 100-continue\r\nContent-Length: 4\r\n\r\n";

	client(st, r, strlen(r), SIZE_MAX);
	assert_str(&st->up, r);
	upstream(st, "HTTP/1.1 100 Continue\r\n\r\n");
	assert_str(&st->cl, "HTTP/1.1 100 Continue\r\n\r\n");
	client(st, "land", 4, SIZE_MAX);
	upstream(st, ok_resp);
	assert_int_equal(st->nev, 2); /* the 100 is not the response */
	assert_int_equal(st->ev[1].status, 200);
	strbuf_reset(&st->cl);
	client(st, "HEAD /v1 HTTP/1.1\r\nHost: d\r\n\r\n", 30, SIZE_MAX);
	upstream(st, "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n");
	assert_true(px_session_idle(&st->s));
	assert_str(&st->cl, "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n");
	/* a denied HEAD: the 403's head only, then the next response on the connection */
	strbuf_reset(&st->cl);
	strbuf_reset(&st->up);
	client(st, "HEAD /x HTTP/1.1\r\nHost: d\r\n\r\nHEAD /v1 HTTP/1.1\r\nHost: d\r\n\r\n", 59,
	       SIZE_MAX);
	assert_str(&st->up, "HEAD /v1 HTTP/1.1\r\nHost: d\r\n\r\n");
	upstream(st, "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n");
	assert_str(&st->cl, "HTTP/1.1 403 Forbidden\r\ncontent-length: 15\r\n"
			    "content-type: text/plain\r\n\r\n"
			    "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n");
}

static void test_proxy_timeout_408(void **state)
{
	struct tstate *st = *state;

	assert_true(px_session_awaiting_head(&st->s));
	client(st, "GET /v1 HTTP/1.1\r\nHo", 20, SIZE_MAX);
	px_session_timeout(&st->s);
	drain(st);
	assert_str(&st->cl, "HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n"
			    "connection: close\r\n\r\n");
	assert_true(px_session_finished(&st->s));
	assert_false(px_session_awaiting_head(&st->s));
}

/* The client buffer ends at a PROT_NONE page: a head filling it exactly must not be read past. */
static void test_proxy_guard_page(void **state)
{
	struct tstate *st = *state;
	long pg = sysconf(_SC_PAGESIZE);
	size_t span = sizeof(struct px_buf) + (size_t)pg, len;
	static char in[PX_BUF_SIZE + 1];
	char *base;
	struct px_buf *b;
	int k;

	st->guard_len = (span + (size_t)pg - 1) / (size_t)pg * (size_t)pg + (size_t)pg;
	st->guard = mmap(NULL, st->guard_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
	assert_true(st->guard != MAP_FAILED);
	base = st->guard;
	assert_int_equal(mprotect(base + st->guard_len - pg, (size_t)pg, PROT_NONE), 0);
	/* data[PX_BUF_SIZE] is the guard page's first byte */
	b = (struct px_buf *)(void *)(base + st->guard_len - pg - sizeof(struct px_buf));
	for (k = 0; k < 3; k++) {
		px_session_fini(&st->s);
		b->next = st->pool.free;
		st->pool.free = b;
		st->pool.nfree++;
		px_session_init(&st->s, &st->ctx, NULL, NULL);
		strbuf_reset(&st->up);
		strbuf_reset(&st->cl);
		/* 0: a complete head filling the buffer; 1: an unfinished one; 2: unfinished value */
		len = (size_t)snprintf(in, sizeof(in), "GET /v1 HTTP/1.1\r\nHost: d\r\nX: ");
		memset(in + len, 'v', PX_BUF_SIZE - len);
		if (k == 0)
			memcpy(in + PX_BUF_SIZE - 4, "\r\n\r\n", 4);
		else if (k == 1)
			memcpy(in + PX_BUF_SIZE - 2, "\r\n", 2);
		assert_int_equal(client(st, in, PX_BUF_SIZE, SIZE_MAX), PX_BUF_SIZE);
		if (k == 0) {
			assert_int_equal(st->up.len, PX_BUF_SIZE);
		} else {
			assert_int_equal(st->up.len, 0);
			assert_memory_equal(st->cl.p, "HTTP/1.1 431 ", 13);
		}
		px_session_fini(&st->s);
		/* return the guard buffer to the front of the free list for the next round */
		while (st->pool.free != b) {
			struct px_buf *x = st->pool.free;

			st->pool.free = x->next;
			st->pool.nfree--;
			free(x);
		}
		st->pool.free = b->next;
		st->pool.nfree--;
	}
	px_session_init(&st->s, &st->ctx, NULL, NULL);
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static void test_proxy_rules_file(void **state)
{
	static const struct {
		const char *text, *err;
	} bad[] = {
		{ "- method: GET\n  path: \"/v1(\"\n", ":2: http[0].path: " },
		{ "- method: GET\n- pathh: /v1\n", ":2: http[1].pathh: unknown field" },
		{ "- headers: [7]\n", ":1: http[0].headers[0]: expected a string, got integer" },
		{ "- headerMatches:\n  - value: x\n",
		  ":2: http[0].headerMatches[0]: name is required" },
		{ "- headerMatches:\n  - name: x\n    mismatch: DROP\n",
		  ":3: http[0].headerMatches[0]: 'DROP' is not a mismatch action" },
		{ "{\"method\": \"GET\"}", ":1: method: " },
		{ "[{\"method\": 1}]", ":1: http[0].method: expected a string, got integer" },
	};
	char path[] = "/tmp/velum-test-proxy-rules.XXXXXX";
	struct px_rules *rs;
	struct errbuf eb;
	size_t i;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(write_file(path, bad[i].text), 0);
		errbuf_clear(&eb);
		rs = px_rules__load(path, &eb);
		assert_null(rs);
		assert_int_equal(errno, EINVAL);
		if (strncmp(eb.msg, path, strlen(path)) || !strstr(eb.msg, bad[i].err))
			fail_msg("case %zu: '%s' lacks '%s'", i, eb.msg, bad[i].err);
	}
	assert_int_equal(write_file(path, "[{\"method\": \"GET\", \"path\": \"/a\", "
					  "\"headers\": [\"X-A: b\"]}, {}]"),
			 0);
	rs = px_rules__load(path, &eb);
	assert_non_null(rs);
	assert_int_equal(rs->n, 2);
	assert_int_equal(pol_http_matcher_rule(rs->m, 0)->nheaders, 1);
	px_rules__put(rs);
	unlink(path);
}

static void test_proxy_access_json(void **state)
{
	struct px_access_event ev = { .version = PX_EV_VERSION,
				      .type = PX_EV_RESPONSE,
				      .verdict = PX_VERDICT_DROPPED,
				      .http_major = 1,
				      .http_minor = 1,
				      .status = 403,
				      .rule = PX_RULE_NONE,
				      .time_ns = 1700000000123456789ull,
				      .latency_ns = 42 };
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	ev.src.addr[10] = ev.src.addr[11] = 0xff;
	ev.src.addr[12] = 10;
	ev.src.addr[15] = 7;
	ev.src.port = 4242;
	ev.src.identity = 1234;
	ev.dst.addr[15] = 1;
	ev.dst.port = 80;
	strcpy(ev.method, "PUT");
	strcpy(ev.host, "deathstar");
	strcpy(ev.url, "/v1/\"x\"");
	strcpy(ev.reason, "no HTTP rule matched");
	assert_int_equal(px_access_format_json(&ev, &sb), 0);
	assert_string_equal(
		strbuf_str(&sb),
		"{\"time\":\"2023-11-14T22:13:20.123456789Z\",\"verdict\":\"DROPPED\","
		"\"source\":{\"ip\":\"10.0.0.7\",\"port\":4242,\"identity\":1234},"
		"\"destination\":{\"ip\":\"::1\",\"port\":80,\"identity\":0},\"type\":\"L7\","
		"\"l7\":{\"type\":\"RESPONSE\",\"latency_ns\":42,\"http\":{\"code\":403,"
		"\"method\":\"PUT\",\"url\":\"http://deathstar/v1/\\\"x\\\"\","
		"\"protocol\":\"HTTP/1.1\"}},\"reason\":\"no HTTP rule matched\"}");
	strbuf_free(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_proxy_allowed_forwarded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_proxy_denied_exact_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_proxy_pipeline_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_proxy_empty_lines_before_request, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_proxy_split_anywhere, setup, teardown),
		cmocka_unit_test_setup_teardown(test_proxy_normalized_target, setup, teardown),
		cmocka_unit_test_setup_teardown(test_proxy_escaped_slash_redirect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_proxy_malformed_escape_400, setup, teardown),
		cmocka_unit_test_setup_teardown(test_proxy_header_actions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_proxy_header_actions_both_sides, setup,
						teardown),
		cmocka_unit_test(test_proxy_header_edit_refused),
		cmocka_unit_test_setup_teardown(test_proxy_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_proxy_bad_chunk_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_proxy_upstream_failure_503, setup, teardown),
		cmocka_unit_test_setup_teardown(test_proxy_upstream_eof_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_proxy_head_and_continue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_proxy_timeout_408, setup, teardown),
		cmocka_unit_test_setup_teardown(test_proxy_guard_page, setup, teardown),
		cmocka_unit_test(test_proxy_rules_file),
		cmocka_unit_test(test_proxy_access_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
