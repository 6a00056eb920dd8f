/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of src/l7: request-target normalization (every spelling of
 * dot segments, slashes and escapes; the query kept; rejects), also with
 * each target ending at a PROT_NONE guard page, and the RE2 sets.
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

#include "l7/normalize.h"
#include "l7/regex.h"

struct norm_case {
	const char *in;
	enum l7_norm want;
	const char *out; /* the target, or for REJECT a word of the reason */
};

static const struct norm_case norm_cases[] = {
	/* unchanged */
	{ "/", L7_NORM_OK, "/" },
	{ "/v1/request-landing", L7_NORM_OK, "/v1/request-landing" },
	{ "/a/b/", L7_NORM_OK, "/a/b/" },
	{ "/a;p=1/b", L7_NORM_OK, "/a;p=1/b" },
	{ "/a%20b", L7_NORM_OK, "/a%20b" },
	{ "/caf\xc3\xa9", L7_NORM_OK, "/caf\xc3\xa9" },
	/* dot segments, plain */
	{ "/public/../private", L7_NORM_OK, "/private" },
	{ "/a/./b", L7_NORM_OK, "/a/b" },
	{ "/a/b/..", L7_NORM_OK, "/a/" },
	{ "/a/b/.", L7_NORM_OK, "/a/b/" },
	{ "/a/b/../../..", L7_NORM_OK, "/" },
	{ "/../../etc/passwd", L7_NORM_OK, "/etc/passwd" },
	{ "/..", L7_NORM_OK, "/" },
	{ "/.", L7_NORM_OK, "/" },
	{ "/a/.../b", L7_NORM_OK, "/a/.../b" },
	{ "/a/..b/.c", L7_NORM_OK, "/a/..b/.c" },
	/* dot segments, percent-encoded in any case */
	{ "/public/%2e%2e/private", L7_NORM_OK, "/private" },
	{ "/public/%2E%2E/private", L7_NORM_OK, "/private" },
	{ "/public/%2e%2E/private", L7_NORM_OK, "/private" },
	{ "/public/.%2e/private", L7_NORM_OK, "/private" },
	{ "/public/%2e./private", L7_NORM_OK, "/private" },
	{ "/a/%2e/b", L7_NORM_OK, "/a/b" },
	{ "/a/%2e", L7_NORM_OK, "/a/" },
	/* dot segments with path parameters */
	{ "/public/..;x/private", L7_NORM_OK, "/private" },
	{ "/public/%2e%2e;jsessionid=1/private", L7_NORM_OK, "/private" },
	{ "/a/.;x/b", L7_NORM_OK, "/a/b" },
	{ "/public/..%3bx/private", L7_NORM_OK, "/public/..%3Bx/private" },
	/* merged slashes, backslashes */
	{ "//private", L7_NORM_OK, "/private" },
	{ "/a//b///c", L7_NORM_OK, "/a/b/c" },
	{ "/a//", L7_NORM_OK, "/a/" },
	{ "/a\\b", L7_NORM_OK, "/a/b" },
	{ "\\a\\..\\b", L7_NORM_OK, "/b" },
	{ "/public/..\\private", L7_NORM_OK, "/private" },
	/* unreserved characters decoded, other escapes upper-cased */
	{ "/%41%62%7e%2D%5f", L7_NORM_OK, "/Ab~-_" },
	{ "/a%3bb%3fc", L7_NORM_OK, "/a%3Bb%3Fc" },
	{ "/%252e%252e/x", L7_NORM_OK, "/%252e%252e/x" },
	/* the query string is kept as is */
	{ "/a/../b?x=/../y&z=%2e%2e//", L7_NORM_OK, "/b?x=/../y&z=%2e%2e//" },
	{ "/?", L7_NORM_OK, "/?" },
	{ "/a?%zz", L7_NORM_OK, "/a?%zz" },
	{ "//?q", L7_NORM_OK, "/?q" },
	/* escaped slashes: unescaped, normalized, redirected */
	{ "/public%2F..%2Fprivate", L7_NORM_REDIRECT, "/private" },
	{ "/a%2fb", L7_NORM_REDIRECT, "/a/b" },
	{ "/a%5Cb", L7_NORM_REDIRECT, "/a/b" },
	{ "/a%5c..%5cb?q=%2F", L7_NORM_REDIRECT, "/b?q=%2F" },
	{ "/a%2F%2Fb", L7_NORM_REDIRECT, "/a/b" },
	/* rejected */
	{ "", L7_NORM_REJECT, "start" },
	{ "a/b", L7_NORM_REJECT, "start" },
	{ "*", L7_NORM_REJECT, "start" },
	{ "http://x/a", L7_NORM_REJECT, "start" },
	{ "?a", L7_NORM_REJECT, "start" },
	{ "/a%", L7_NORM_REJECT, "percent" },
	{ "/a%2", L7_NORM_REJECT, "percent" },
	{ "/a%2?x", L7_NORM_REJECT, "percent" },
	{ "/a%zz", L7_NORM_REJECT, "percent" },
	{ "/a%g0", L7_NORM_REJECT, "percent" },
	{ "/a b", L7_NORM_REJECT, "control" },
	{ "/a\tb", L7_NORM_REJECT, "control" },
	{ "/a\x7f", L7_NORM_REJECT, "control" },
	{ "/a?b c", L7_NORM_REJECT, "control" },
	{ "/a#frag", L7_NORM_REJECT, "#" },
};

static void check_case(const struct norm_case *c, const char *in)
{
	size_t n = strlen(c->in), outlen = 0;
	char *out = malloc(n + 1);
	const char *why = NULL;
	enum l7_norm r;

	assert_non_null(out);
	r = l7_path_normalize((struct sv){ in, n }, out, n, &outlen, &why);
	if (r != c->want)
		fail_msg("'%s': got %s, want %s (%s)", c->in, l7_norm_name(r),
			 l7_norm_name(c->want), why ? why : "");
	if (r == L7_NORM_REJECT) {
		assert_non_null(why);
		if (!strstr(why, c->out))
			fail_msg("'%s': reason '%s' lacks '%s'", c->in, why, c->out);
	} else {
		assert_true(outlen <= n);
		if (outlen != strlen(c->out) || memcmp(out, c->out, outlen))
			fail_msg("'%s': got '%.*s', want '%s'", c->in, (int)outlen, out, c->out);
	}
	free(out);
}

static void test_l7_normalize_spellings(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(norm_cases) / sizeof(norm_cases[0]); i++)
		check_case(&norm_cases[i], norm_cases[i].in);
}

/* The same cases with each target's last byte just before a PROT_NONE page. */
static void test_l7_normalize_guard_page(void **state)
{
	long pg = sysconf(_SC_PAGESIZE);
	char *map = mmap(NULL, 2 * (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
	size_t i;

	(void)state;
	assert_true(map != MAP_FAILED);
	assert_int_equal(mprotect(map + pg, (size_t)pg, PROT_NONE), 0);
	for (i = 0; i < sizeof(norm_cases) / sizeof(norm_cases[0]); i++) {
		size_t n = strlen(norm_cases[i].in);
		char *in = map + pg - n;

		memcpy(in, norm_cases[i].in, n);
		check_case(&norm_cases[i], in);
	}
	munmap(map, 2 * (size_t)pg);
}

/* Normalizing twice changes nothing; the output never outgrows the input. */
static void test_l7_normalize_idempotent(void **state)
{
	static const char alphabet[] = "/\\.%2eEfF5cC;?a#";
	char in[24], out[24], out2[24];
	size_t i, k, len, len2;
	unsigned seed = 7;

	(void)state;
	for (i = 0; i < 200000; i++) {
		size_t n = 1 + (seed = seed * 1103515245u + 12345u) % (sizeof(in) - 1);

		in[0] = '/';
		for (k = 1; k < n; k++)
			in[k] = alphabet[(seed = seed * 1103515245u + 12345u) >> 16 &
					 (sizeof(alphabet) - 2)];
		if (l7_path_normalize((struct sv){ in, n }, out, n, &len, NULL) != L7_NORM_OK)
			continue;
		assert_true(len <= n);
		assert_int_equal(l7_path_normalize((struct sv){ out, len }, out2, len, &len2, NULL),
				 L7_NORM_OK);
		if (len2 != len || memcmp(out, out2, len))
			fail_msg("'%.*s' -> '%.*s' -> '%.*s'", (int)n, in, (int)len, out, (int)len2,
				 out2);
	}
}

static void test_l7_reset_basic(void **state)
{
	static const char *const pats[] = { "GET", "GET|POST", "[A-Z]+", "(?i)get" };
	static const uint32_t ids[] = { 0, 1, 70, 3 };
	struct l7_reset *s;
	struct errbuf eb;
	uint64_t bits[2] = { 0 };

	(void)state;
	s = l7_reset__new(pats, ids, 4, 0, &eb);
	assert_non_null(s);
	assert_int_equal(l7_reset_size(s), 4);
	assert_int_equal(l7_reset_match(s, SV("GET"), bits), 4);
	assert_int_equal(bits[0], 0xb);
	assert_int_equal(bits[1], (uint64_t)1 << 6);
	bits[0] = bits[1] = 0;
	assert_int_equal(l7_reset_match(s, SV("get"), bits), 1);
	assert_int_equal(bits[0], 0x8);
	bits[0] = bits[1] = 0;
	assert_int_equal(l7_reset_match(s, SV("GETS"), bits), 1); /* only [A-Z]+: anchored */
	assert_int_equal(l7_reset_match(s, (struct sv){ NULL, 0 }, bits), 0);
	l7_reset__free(s);
	l7_reset__free(NULL);

	/* the first bad pattern is named with RE2's reason; a too long one is E2BIG */
	{
		static const char *const bad[] = { "ok", "a(?P<n>b" };
		char *big = malloc(L7_REGEX_MAX_LEN + 2);
		const char *const longp[] = { big };

		assert_null(l7_reset__new(bad, ids, 2, 0, &eb));
		assert_int_equal(errno, EINVAL);
		assert_non_null(strstr(eb.msg, "'a(?P<n>b'"));
		assert_non_null(big);
		memset(big, 'a', L7_REGEX_MAX_LEN + 1);
		big[L7_REGEX_MAX_LEN + 1] = '\0';
		assert_null(l7_reset__new(longp, ids, 1, 0, &eb));
		assert_int_equal(errno, E2BIG);
		assert_int_equal(l7_regex_check(big, &eb), -EINVAL);
		free(big);
	}
	/* a set that cannot fit its memory budget is refused when compiled */
	{
		static const char *const wide[] = { "[a-z]{100}[0-9]{100}" };

		assert_null(l7_reset__new(wide, ids, 1, 4096, &eb));
		assert_int_equal(errno, EINVAL);
		assert_non_null(strstr(eb.msg, "matcher memory"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_l7_normalize_spellings),
		cmocka_unit_test(test_l7_normalize_guard_page),
		cmocka_unit_test(test_l7_normalize_idempotent),
		cmocka_unit_test(test_l7_reset_basic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
