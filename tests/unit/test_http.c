/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the HTTP rule matcher (src/policy/http.c over the RE2 sets
 * of src/l7/regex.h) and the L7 decision (pol_l7_items_decide): RE2
 * syntax and its errors, anchoring, UTF-8, first-match order over many
 * rules, headers, and engine errors that must never pass as verdicts
 * (injected by wrapping l7_reset_match at link time).
 */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "l7/regex.h"
#include "policy/http.h"
#include "policy/mapstate.h"

/* Fault injection: while inject_err is set, every scan fails with it. */
static int inject_err;
int __real_l7_reset_match(const struct l7_reset *set, struct sv subject, uint64_t *bits);
int __wrap_l7_reset_match(const struct l7_reset *set, struct sv subject, uint64_t *bits);
int __wrap_l7_reset_match(const struct l7_reset *set, struct sv subject, uint64_t *bits)
{
	if (inject_err)
		return inject_err;
	return __real_l7_reset_match(set, subject, bits);
}

struct rule_spec {
	const char *method, *path, *host;
	const char *header; /* one `headers` entry, or NULL */
};

/* Builds rules from specs and compiles them; the rules are freed here. */
static struct pol_http_matcher *compile(const struct rule_spec *spec, size_t n)
{
	struct pol_http_rule *rules = calloc(n, sizeof(*rules));
	struct pol_http_matcher *m;
	struct errbuf eb;
	size_t i;

	assert_non_null(rules);
	for (i = 0; i < n; i++) {
		rules[i].method = spec[i].method ? strdup(spec[i].method) : NULL;
		rules[i].path = spec[i].path ? strdup(spec[i].path) : NULL;
		rules[i].host = spec[i].host ? strdup(spec[i].host) : NULL;
		if (spec[i].header) {
			rules[i].headers = calloc(1, sizeof(*rules[i].headers));
			assert_non_null(rules[i].headers);
			assert_int_equal(
				pol_http_header_parse(spec[i].header, rules[i].headers, &eb), 0);
			rules[i].nheaders = 1;
		}
	}
	m = pol_http_matcher__new(rules, n, &eb);
	for (i = 0; i < n; i++)
		pol_http_rule_free(&rules[i]);
	free(rules);
	assert_non_null(m);
	return m;
}

/* Index of the first matching rule, -1 for none, or the negative errno minus 1000. */
static int first(const struct pol_http_matcher *m, const struct pol_http_request *req)
{
	size_t idx = 999;
	int r = pol_http_matcher_match(m, req, &idx);

	if (r < 0)
		return r - 1000;
	return r ? (int)idx : -1;
}

static void test_http_fields_anchored(void **state)
{
	static const struct rule_spec spec[] = {
		{ "GET|HEAD", "/v1/.*", NULL, "X-Token: abc" },
	};
	struct pol_http_field hdrs[] = {
		{ SV("x-token"), SV("abc") },
		{ SV("Accept"), SV("a") },
	};
	struct pol_http_request req = { SV("GET"), SV("/v1/ships"), SV("deathstar"), hdrs, 2 };
	struct pol_http_matcher *m = compile(spec, 1);

	(void)state;
	assert_int_equal(first(m, &req), 0);
	req.method = SV("GETX"); /* a prefix is not a match */
	assert_int_equal(first(m, &req), -1);
	req.method = SV("XGET");
	assert_int_equal(first(m, &req), -1);
	req.method = SV("HEAD");
	req.path = SV("/v2/v1/x");
	assert_int_equal(first(m, &req), -1);
	req.path = SV("/v1/x?y=1"); /* the query string is part of the path */
	assert_int_equal(first(m, &req), 0);
	hdrs[0].value = SV("abcd");
	assert_int_equal(first(m, &req), -1);
	hdrs[0].value = SV("abc");
	req.nheaders = 0;
	assert_int_equal(first(m, &req), -1);
	pol_http_matcher__put(m);
}

static void test_http_dollar_and_host(void **state)
{
	static const struct rule_spec spec[] = {
		{ NULL, "/public$", NULL, NULL },
		{ NULL, NULL, "api.example.com", NULL },
	};
	struct pol_http_request req = { SV("GET"), SV("/public?x=1"), SV("other"), NULL, 0 };
	struct pol_http_matcher *m = compile(spec, 2);

	(void)state;
	assert_int_equal(first(m, &req), -1);
	req.path = SV("/public\n"); /* $ matches only at the very end, as in RE2 */
	assert_int_equal(first(m, &req), -1);
	req.path = SV("/public");
	assert_int_equal(first(m, &req), 0);
	req.path = SV("/x");
	req.host = SV("apiXexample.com"); /* '.' is a metacharacter, as in Cilium */
	assert_int_equal(first(m, &req), 1);
	req.host = SV("api.example.com:8080");
	assert_int_equal(first(m, &req), -1);
	pol_http_matcher__put(m);
}

static void test_http_re2_syntax(void **state)
{
	static const char *const bad[] = {
		"(?=x)", "(?!x)", "(?<=x)y", "(a)\\1", "a++",
		"(?>a)", "\\Ka",  "(",	     "[z-a]",  "a{2,1}",
	};
	struct errbuf eb;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errbuf_clear(&eb);
		assert_int_equal(pol_http_regex_check(bad[i], &eb), -EINVAL);
		/* the message names the pattern and RE2's reason */
		assert_non_null(strstr(eb.msg, bad[i]));
		assert_non_null(strstr(eb.msg, "invalid regular expression"));
	}
	assert_int_equal(pol_http_regex_check("(?=x)", &eb), -EINVAL);
	assert_string_equal(eb.msg,
			    "invalid regular expression '(?=x)': invalid perl operator: (?=");
	assert_int_equal(pol_http_regex_check("(?i)/Admin(?P<x>/.*)?\\.html", &eb), 0);
	assert_int_equal(pol_http_regex_check("\\pL+\\d{2}[[:alpha:]]\\Q.*\\E", &eb), 0);
}

static void test_http_utf8_and_case(void **state)
{
	static const struct rule_spec spec[] = {
		{ NULL, "/a.b", NULL, NULL },
		{ NULL, "(?i)/Admin(?P<x>/.*)?\\.html", NULL, NULL },
	};
	struct pol_http_request req = { SV("GET"),
					SV("/a\xc3\xa9"
					   "b"),
					SV(""), NULL, 0 };
	struct pol_http_matcher *m = compile(spec, 2);

	(void)state;
	assert_int_equal(first(m, &req), 0); /* `.` is one UTF-8 character */
	req.path = SV("/a\xe2\x82\xac"
		      "b");
	assert_int_equal(first(m, &req), 0);
	req.path = SV("/aXYb");
	assert_int_equal(first(m, &req), -1);
	req.path = SV("/ADMIN/a.html");
	assert_int_equal(first(m, &req), 1);
	pol_http_matcher__put(m);
}

/* Issue: a backtracking engine turned these into a CPU sink or a wrong "no match". */
static void test_http_no_backtracking(void **state)
{
	static const struct rule_spec spec[] = {
		{ NULL, "/(a+)+b|/.*", NULL, NULL },
		{ NULL, "/(a|aa)+$", NULL, NULL },
	};
	char path[4096];
	struct pol_http_request req = { SV("GET"), { path, 0 }, SV(""), NULL, 0 };
	struct pol_http_matcher *m = compile(spec, 1), *m2 = compile(spec + 1, 1);

	(void)state;
	path[0] = '/';
	memset(path + 1, 'a', 25);
	path[26] = '!';
	req.path.len = 27;
	assert_int_equal(first(m, &req), 0);
	memset(path + 1, 'a', sizeof(path) - 2);
	path[sizeof(path) - 1] = '!';
	req.path.len = sizeof(path);
	assert_int_equal(first(m2, &req), -1);
	req.path.len = sizeof(path) - 1;
	assert_int_equal(first(m2, &req), 0);
	pol_http_matcher__put(m);
	pol_http_matcher__put(m2);
}

/* Many rules: the lowest index whose fields and headers all match decides. */
static void test_http_first_match_many(void **state)
{
	struct rule_spec spec[40];
	char paths[40][32];
	struct pol_http_field tok = { SV("X-Token"), SV("t") };
	struct pol_http_request req = { SV("GET"), SV("/r/7"), SV("h"), NULL, 0 };
	struct pol_http_matcher *m;
	size_t i;

	(void)state;
	for (i = 0; i < 40; i++) {
		snprintf(paths[i], sizeof(paths[i]), "/r/%zu", i);
		spec[i] = (struct rule_spec){ i % 2 ? "POST" : "GET", paths[i], NULL, NULL };
	}
	spec[30] = (struct rule_spec){ NULL, "/r/[0-9]+", NULL, NULL };
	spec[7].header = "X-Token";
	spec[39] = (struct rule_spec){ "DELETE", NULL, NULL, NULL };
	m = compile(spec, 40);
	assert_int_equal(pol_http_matcher_count(m), 40);
	assert_string_equal(pol_http_matcher_rule(m, 30)->path, "/r/[0-9]+");
	/* rule 7 is POST-only: rule 30 (any method) decides */
	assert_int_equal(first(m, &req), 30);
	req.method = SV("POST");
	assert_int_equal(first(m, &req), 30); /* 7 needs X-Token */
	req.headers = &tok;
	req.nheaders = 1;
	assert_int_equal(first(m, &req), 7);
	req.path = SV("/r/8");
	req.method = SV("GET");
	assert_int_equal(first(m, &req), 8);
	req.method = SV("DELETE");
	req.path = SV("/elsewhere");
	assert_int_equal(first(m, &req), 39);
	req.method = SV("PUT");
	assert_int_equal(first(m, &req), -1);
	pol_http_matcher__put(m);
}

/* Several occurrences of a header compare as their comma-joined list. */
static void test_http_headers(void **state)
{
	static const struct rule_spec spec[] = { { NULL, NULL, NULL, "Accept a,b" } };
	struct pol_http_field hdrs[] = {
		{ SV("Accept"), SV("a") },
		{ SV("accept"), SV("b") },
	};
	struct pol_http_request req = { SV("GET"), SV("/"), SV(""), hdrs, 2 };
	struct pol_http_matcher *m = compile(spec, 1);
	struct pol_http_header h;
	struct errbuf eb;

	(void)state;
	assert_int_equal(first(m, &req), 0);
	req.nheaders = 1;
	assert_int_equal(first(m, &req), -1);
	pol_http_matcher__put(m);
	assert_int_equal(pol_http_header_parse("Bad Name: x", &h, &eb), 0);
	assert_string_equal(h.name, "Bad");
	free(h.name);
	free(h.value);
	assert_int_equal(pol_http_header_parse(": x", &h, &eb), -EINVAL);
}

/* A matcher outlives the rules it was built from and counts its references. */
static void test_http_matcher_refs(void **state)
{
	static const struct rule_spec spec[] = { { "GET", NULL, NULL, NULL } };
	struct pol_http_request req = { SV("GET"), SV("/"), SV(""), NULL, 0 };
	struct pol_http_matcher *m = compile(spec, 1);
	struct pol_http_rule r = { 0 };
	struct errbuf eb;

	(void)state;
	assert_ptr_equal(pol_http_matcher__get(m), m);
	pol_http_matcher__put(m);
	assert_int_equal(first(m, &req), 0);
	pol_http_matcher__put(m);
	pol_http_matcher__put(NULL);
	/* an invalid pattern fails the whole list with RE2's reason */
	r.path = (char *)"(?=a)";
	assert_null(pol_http_matcher__new(&r, 1, &eb));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(eb.msg, "'(?=a)'"));
}

static void test_http_engine_error_is_not_a_verdict(void **state)
{
	static const struct rule_spec spec[] = { { "GET", "/x", NULL, NULL } };
	struct pol_http_request req = { SV("GET"), SV("/x"), SV(""), NULL, 0 };
	struct pol_http_matcher *m = compile(spec, 1);
	uint32_t peer = 1234;
	struct pol_l7_item items[2] = {
		{ .dir = POL_INGRESS,
		  .proto = IPPROTO_TCP,
		  .lo = 80,
		  .hi = 80,
		  .peers = &peer,
		  .npeers = 1,
		  .matcher = m,
		  .rule_id = 20 },
		{ .dir = POL_INGRESS,
		  .proto = IPPROTO_TCP,
		  .lo = 80,
		  .hi = 80,
		  .any_peer = true,
		  .rule_id = 21 },
	};
	struct pol_l7_verdict v;

	(void)state;
	pol_l7_items_decide(items, 1, POL_INGRESS, peer, 80, &req, &v);
	assert_true(v.allowed);
	assert_int_equal(v.reason, POL_L7_MATCHED);
	assert_int_equal(v.rule_id, 20);
	assert_int_equal(v.http_index, 0);
	inject_err = -ENOMEM;
	assert_int_equal(first(m, &req), -ENOMEM - 1000);
	pol_l7_items_decide(items, 1, POL_INGRESS, peer, 80, &req, &v);
	assert_false(v.allowed);
	assert_int_equal(v.reason, POL_L7_ENGINE_ERROR);
	assert_int_equal(v.error, -ENOMEM);
	assert_string_equal(pol_l7_reason_name(v.reason), "engine error");
	/* another item that allows the request still allows it */
	pol_l7_items_decide(items, 2, POL_INGRESS, peer, 80, &req, &v);
	assert_true(v.allowed);
	assert_int_equal(v.rule_id, 21);
	assert_int_equal(v.http_index, -1);
	inject_err = 0;
	req.path = SV("/y");
	pol_l7_items_decide(items, 1, POL_INGRESS, peer, 80, &req, &v);
	assert_false(v.allowed);
	assert_int_equal(v.reason, POL_L7_NO_MATCH);
	/* nothing covers this peer or port: not filtered */
	pol_l7_items_decide(items, 1, POL_INGRESS, peer + 1, 80, &req, &v);
	assert_true(v.allowed);
	assert_int_equal(v.reason, POL_L7_NOT_FILTERED);
	pol_l7_items_decide(items, 1, POL_EGRESS, peer, 80, &req, &v);
	assert_int_equal(v.reason, POL_L7_NOT_FILTERED);
	pol_l7_items_decide(items, 1, POL_INGRESS, peer, 81, &req, &v);
	assert_int_equal(v.reason, POL_L7_NOT_FILTERED);
	pol_http_matcher__put(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http_fields_anchored),
		cmocka_unit_test(test_http_dollar_and_host),
		cmocka_unit_test(test_http_re2_syntax),
		cmocka_unit_test(test_http_utf8_and_case),
		cmocka_unit_test(test_http_no_backtracking),
		cmocka_unit_test(test_http_first_match_many),
		cmocka_unit_test(test_http_headers),
		cmocka_unit_test(test_http_matcher_refs),
		cmocka_unit_test(test_http_engine_error_is_not_a_verdict),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
