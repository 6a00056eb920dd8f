/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the document tree readers (src/policy/doc*.c): values, types
 * and positions from JSON and YAML, every rejection rule with its exact
 * message, the nesting and alias limits, format sniffing, and reads that
 * end exactly at a PROT_NONE guard page. Trees are compared through a
 * compact text dump: `{key@L:C:value@L:C}` with positions, or without.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/strbuf.h"
#include "policy/doc.h"

struct tstate {
	struct doc_stream s;
	struct errbuf eb;
	struct strbuf sb;
	char *big; /* a generated input, freed by teardown */
	char *map; /* a guard-page mapping of maplen bytes, unmapped by teardown */
	size_t maplen;
};

static int setup(void **state)
{
	struct tstate *st = calloc(1, sizeof(*st));

	if (!st)
		return -1;
	*state = st;
	return 0;
}

static int teardown(void **state)
{
	struct tstate *st = *state;

	doc_stream_free(&st->s);
	strbuf_free(&st->sb);
	free(st->big);
	if (st->map)
		munmap(st->map, st->maplen);
	free(st);
	return 0;
}

static int parse_buf(struct tstate *st, const char *buf, size_t len, enum doc_format fmt)
{
	doc_stream_free(&st->s);
	return doc_parse(buf, len, fmt, &st->s, &st->eb);
}

static int parse(struct tstate *st, const char *text, enum doc_format fmt)
{
	return parse_buf(st, text, strlen(text), fmt);
}

static void dump_node(struct strbuf *sb, const struct doc_node *n, bool pos)
{
	unsigned char c;
	size_t i;

	switch (n->type) {
	case DOC_NULL:
		strbuf_puts(sb, "null");
		break;
	case DOC_BOOL:
		strbuf_puts(sb, n->b ? "true" : "false");
		break;
	case DOC_INT:
		strbuf_printf(sb, "%lld", n->i);
		break;
	case DOC_FLOAT:
		strbuf_printf(sb, "%gf", n->f);
		break;
	case DOC_STR:
		assert_int_equal(strlen(n->str.s), n->str.len);
		strbuf_putc(sb, '"');
		for (i = 0; i < n->str.len; i++) {
			c = (unsigned char)n->str.s[i];
			if (c == '"' || c == '\\')
				strbuf_printf(sb, "\\%c", c);
			else if (c < 0x20 || c >= 0x7f)
				strbuf_printf(sb, "\\x%02x", c);
			else
				strbuf_putc(sb, (char)c);
		}
		strbuf_putc(sb, '"');
		break;
	case DOC_SEQ:
		strbuf_putc(sb, '[');
		for (i = 0; i < n->seq.n; i++) {
			if (i)
				strbuf_putc(sb, ',');
			dump_node(sb, n->seq.items[i], pos);
		}
		strbuf_putc(sb, ']');
		break;
	case DOC_MAP:
		strbuf_putc(sb, '{');
		for (i = 0; i < n->map.n; i++) {
			if (i)
				strbuf_putc(sb, ',');
			strbuf_puts(sb, n->map.pairs[i].key);
			if (pos)
				strbuf_printf(sb, "@%u:%u", n->map.pairs[i].line,
					      n->map.pairs[i].col);
			strbuf_putc(sb, ':');
			dump_node(sb, n->map.pairs[i].value, pos);
		}
		strbuf_putc(sb, '}');
		break;
	}
	if (pos)
		strbuf_printf(sb, "@%u:%u", n->line, n->col);
}

/* Dumps every document of the stream, separated by " | "; borrowed until the next dump. */
static const char *dump(struct tstate *st, bool pos)
{
	size_t i;

	strbuf_reset(&st->sb);
	for (i = 0; i < st->s.n; i++) {
		if (i)
			strbuf_puts(&st->sb, " | ");
		dump_node(&st->sb, st->s.docs[i], pos);
	}
	assert_false(st->sb.oom);
	return strbuf_str(&st->sb);
}

/* Every error message starts with "LINE:COL: " and has text after it. */
static void assert_msg_form(const char *msg)
{
	unsigned line = 0, col = 0;
	int n = 0;

	if (sscanf(msg, "%u:%u: %n", &line, &col, &n) != 2 || n == 0 || !msg[n] || !line || !col)
		fail_msg("badly formed error message: '%s'", msg);
}

static void assert_failed_clean(struct tstate *st, int err)
{
	assert_int_equal(err, -EINVAL);
	assert_null(st->s.docs);
	assert_int_equal(st->s.n, 0);
	assert_null(st->s.arena);
	assert_msg_form(st->eb.msg);
}

struct ok_case {
	const char *in;
	const char *want;
};

struct err_case {
	const char *in;
	const char *msg;
};

static void run_ok(struct tstate *st, const struct ok_case *c, size_t n, enum doc_format fmt,
		   bool pos)
{
	size_t i;
	int err;

	for (i = 0; i < n; i++) {
		err = parse(st, c[i].in, fmt);
		if (err)
			fail_msg("'%s': unexpected error %d: %s", c[i].in, err, st->eb.msg);
		assert_string_equal(dump(st, pos), c[i].want);
	}
}

static void run_err(struct tstate *st, const struct err_case *c, size_t n, enum doc_format fmt)
{
	size_t i;
	int err;

	for (i = 0; i < n; i++) {
		err = parse(st, c[i].in, fmt);
		if (!err)
			fail_msg("'%s': parsed, want error '%s'", c[i].in, c[i].msg);
		assert_failed_clean(st, err);
		assert_string_equal(st->eb.msg, c[i].msg);
	}
}

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- JSON ---- */

static void test_doc_json_values(void **state)
{
	static const struct ok_case cases[] = {
		{ "{}", "{}" },
		{ "[]", "[]" },
		{ " \t\r\n[ ]\n", "[]" },
		{ "null", "null" },
		{ "true", "true" },
		{ "false", "false" },
		{ "0", "0" },
		{ "-0", "0" },
		{ "42", "42" },
		{ "-17", "-17" },
		{ "\"\"", "\"\"" },
		{ "\"abc\"", "\"abc\"" },
		{ "1.5", "1.5f" },
		{ "-0.25", "-0.25f" },
		{ "1e3", "1000f" },
		{ "1E+2", "100f" },
		{ "25e-1", "2.5f" },
		{ "0.0", "0f" },
		{ "[1,[2,[3,{}]],{\"a\":[]}]", "[1,[2,[3,{}]],{a:[]}]" },
		{ "{\"b\":1,\"a\":{\"c\":null,\"d\":[true,false]}}",
		  "{b:1,a:{c:null,d:[true,false]}}" },
		{ "{\"\":1}", "{:1}" },
		/* Same key in different maps is no duplicate. */
		{ "[{\"a\":1},{\"a\":2}]", "[{a:1},{a:2}]" },
		{ "{\"a\":{\"a\":{\"a\":1}}}", "{a:{a:{a:1}}}" },
		/* Raw DEL and non-ASCII are fine in strings. */
		{ "\"\x7f\xc3\xa9\"", "\"\\x7f\\xc3\\xa9\"" },
	};

	run_ok(*state, cases, ARRAY_SIZE(cases), DOC_FMT_JSON, false);
}

static void test_doc_json_numbers(void **state)
{
	static const struct ok_case cases[] = {
		{ "9223372036854775807", "9223372036854775807" },
		{ "-9223372036854775808", "-9223372036854775808" },
		/* Past long long: still a number, as a double. */
		{ "9223372036854775808", "9.22337e+18f" },
		{ "-9223372036854775809", "-9.22337e+18f" },
		{ "100000000000000000000000000000", "1e+29f" },
		{ "1.7976931348623157e308", "1.79769e+308f" },
		/* Underflow rounds to zero. */
		{ "1e-400", "0f" },
		{ "[0,-0.0,0e0,0E-0]", "[0,-0f,0f,0f]" },
	};
	struct tstate *st = *state;

	run_ok(st, cases, ARRAY_SIZE(cases), DOC_FMT_JSON, false);
	assert_int_equal(parse(st, "-9223372036854775808", DOC_FMT_JSON), 0);
	assert_int_equal(st->s.docs[0]->type, DOC_INT);
	assert_true(st->s.docs[0]->i == LLONG_MIN);
	assert_int_equal(parse(st, "0.1", DOC_FMT_JSON), 0);
	assert_int_equal(st->s.docs[0]->type, DOC_FLOAT);
	assert_true(st->s.docs[0]->f == 0.1);
}

static void test_doc_json_escapes(void **state)
{
	/* Every escape of RFC 8259 section 7, BMP and astral \u forms. */
	static const char in[] = "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20AC\\uD83D\\uDE00"
				 "\\u0001\\u001f\\uFFFF\\u007F|\"";
	static const char want[] = "\"\\/\b\f\n\r\tA\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
				   "\x01\x1f\xef\xbf\xbf\x7f|";
	struct tstate *st = *state;
	const struct doc_node *n;

	assert_int_equal(parse(st, in, DOC_FMT_JSON), 0);
	n = st->s.docs[0];
	assert_int_equal(n->type, DOC_STR);
	assert_int_equal(n->str.len, sizeof(want) - 1);
	assert_memory_equal(n->str.s, want, sizeof(want));

	/* Escaped keys decode the same way. */
	assert_int_equal(parse(st, "{\"a\\u0062\\n\":1}", DOC_FMT_JSON), 0);
	assert_string_equal(st->s.docs[0]->map.pairs[0].key, "ab\n");
	assert_non_null(doc_map_get(st->s.docs[0], "ab\n"));
}

static void test_doc_json_errors(void **state)
{
	static const struct err_case cases[] = {
		{ "", "1:1: unexpected end of input, expected a value" },
		{ "  \n ", "2:2: unexpected end of input, expected a value" },
		{ "{\"a\":1,\"a\":2}", "1:8: duplicate key 'a'" },
		{ "{\"a\":1,\n \"b\":{},\n \"a\":2}", "3:2: duplicate key 'a'" },
		{ "{\"a\\u0062\":1,\"ab\":2}", "1:14: duplicate key 'ab'" },
		{ "[1,]", "1:4: trailing comma before ']'" },
		{ "{\"a\":1,}", "1:8: trailing comma before '}'" },
		{ "[,1]", "1:2: unexpected character ',', expected a value" },
		{ "[1 2]", "1:4: unexpected character '2', expected ',' or ']'" },
		{ "{\"a\" 1}", "1:6: unexpected character '1', expected ':' after the key" },
		{ "{\"a\":1 \"b\":2}", "1:8: unexpected character '\"', expected ',' or '}'" },
		{ "{a:1}", "1:2: unexpected character 'a', expected a string key" },
		{ "{1:1}", "1:2: unexpected character '1', expected a string key" },
		{ "['a']", "1:2: unexpected character ''', expected a value" },
		{ "[1}", "1:3: unexpected character '}', expected ',' or ']'" },
		{ "{\"a\":1]", "1:7: unexpected character ']', expected ',' or '}'" },
		{ "[", "1:2: unexpected end of input, expected a value" },
		{ "[1", "1:3: unexpected end of input, expected ',' or ']'" },
		{ "{", "1:2: unexpected end of input, expected a string key" },
		{ "{\"a\"", "1:5: unexpected end of input, expected ':'" },
		{ "{\"a\":", "1:6: unexpected end of input, expected a value" },
		{ "// c\n{}", "1:1: comments are not allowed in JSON" },
		{ "{} // c", "1:4: comments are not allowed in JSON" },
		{ "[1 /* c */]", "1:4: comments are not allowed in JSON" },
		{ "{\"a\":1} x", "1:9: unexpected data after the top-level value" },
		{ "{}{}", "1:3: unexpected data after the top-level value" },
		{ "1 2", "1:3: unexpected data after the top-level value" },
		{ "01", "1:1: leading zeros are not allowed in numbers" },
		{ "-01", "1:1: leading zeros are not allowed in numbers" },
		{ "[00]", "1:2: leading zeros are not allowed in numbers" },
		{ "-", "1:1: invalid number: expected a digit after '-'" },
		{ "-a", "1:1: invalid number: expected a digit after '-'" },
		{ "+1", "1:1: unexpected character '+', expected a value" },
		{ ".5", "1:1: unexpected character '.', expected a value" },
		{ "1.", "1:1: invalid number: expected a digit after '.'" },
		{ "1.e5", "1:1: invalid number: expected a digit after '.'" },
		{ "1e", "1:1: invalid number: expected a digit in the exponent" },
		{ "1e+", "1:1: invalid number: expected a digit in the exponent" },
		{ "1.5.3", "1:1: invalid number" },
		{ "0x10", "1:1: invalid number" },
		{ "12abc", "1:1: invalid number" },
		{ "1e999", "1:1: number out of range" },
		{ "[-1e400]", "1:2: number out of range" },
		{ "NaN", "1:1: unexpected character 'N', expected a value" },
		{ "Infinity", "1:1: unexpected character 'I', expected a value" },
		{ "-Infinity", "1:1: invalid number: expected a digit after '-'" },
		{ "tru", "1:1: invalid literal, expected true, false or null" },
		{ "True", "1:1: unexpected character 'T', expected a value" },
		{ "nulll", "1:1: invalid literal, expected true, false or null" },
		{ "[truex]", "1:2: invalid literal, expected true, false or null" },
		{ "\"abc", "1:1: unterminated string" },
		{ "[\"abc\\\"]", "1:2: unterminated string" },
		{ "\"a\\", "1:1: unterminated string" },
		{ "\"a\nb\"", "1:3: unescaped control character U+000A in string" },
		{ "\"a\tb\"", "1:3: unescaped control character U+0009 in string" },
		{ "\"\\x41\"", "1:2: invalid escape '\\x' in string" },
		{ "\"\\'\"", "1:2: invalid escape '\\'' in string" },
		{ "\"\\\t\"", "1:2: invalid escape in string" },
		{ "\"\\u12\"", "1:2: invalid \\u escape: expected 4 hex digits" },
		{ "\"\\u12G4\"", "1:2: invalid \\u escape: expected 4 hex digits" },
		{ "\"\\u0000\"", "1:2: \\u0000 is not allowed in strings" },
		{ "{\"a\\u0000\":1}", "1:4: \\u0000 is not allowed in strings" },
		{ "\"\\uD83D\"", "1:2: unpaired surrogate \\uD83D" },
		{ "\"\\uD83Dx\"", "1:2: unpaired surrogate \\uD83D" },
		{ "\"\\uD83D\\u0041\"", "1:2: unpaired surrogate \\uD83D" },
		{ "\"\\uD83D\\uD83D\"", "1:2: unpaired surrogate \\uD83D" },
		{ "\"\\uDE00\"", "1:2: unpaired surrogate \\uDE00" },
		{ "\"\xff\"", "1:2: invalid UTF-8 in string" },
		{ "\"\x80\"", "1:2: invalid UTF-8 in string" },
		{ "\"\xc0\x80\"", "1:2: invalid UTF-8 in string" },
		{ "\"\xc3\"", "1:2: invalid UTF-8 in string" },
		{ "\"\xe0\x80\xaf\"", "1:2: invalid UTF-8 in string" },
		{ "\"\xed\xa0\x80\"", "1:2: invalid UTF-8 in string" },
		{ "\"\xf4\x90\x80\x80\"", "1:2: invalid UTF-8 in string" },
		{ "\"\xf5\x80\x80\x80\"", "1:2: invalid UTF-8 in string" },
		{ "\"\xe2\x82\"", "1:2: invalid UTF-8 in string" },
		/* Columns count characters, not bytes. */
		{ "[\"\xc3\xa9\xe2\x82\xac\", x]",
		  "1:8: unexpected character 'x', expected a value" },
		{ "\xe2\x82\xac", "1:1: unexpected byte 0xe2, expected a value" },
		{ "[1,\x01]", "1:4: unexpected byte 0x01, expected a value" },
		{ "\xef\xbb\xbf\xef\xbb\xbf{}", "1:1: unexpected byte 0xef, expected a value" },
	};

	run_err(*state, cases, ARRAY_SIZE(cases), DOC_FMT_JSON);
}

static void test_doc_json_nul_byte(void **state)
{
	struct tstate *st = *state;
	int err;

	/* NUL bytes in the input are data, not terminators. */
	err = parse_buf(st, "\"a\0b\"", 5, DOC_FMT_JSON);
	assert_failed_clean(st, err);
	assert_string_equal(st->eb.msg, "1:3: unescaped control character U+0000 in string");
	err = parse_buf(st, "{}\0", 3, DOC_FMT_JSON);
	assert_failed_clean(st, err);
	assert_string_equal(st->eb.msg, "1:3: unexpected data after the top-level value");
}

static void test_doc_json_positions(void **state)
{
	static const struct ok_case cases[] = {
		{ "{\"a\": 1}", "{a@1:2:1@1:7}@1:1" },
		{ "{\n  \"spec\": {\n    \"ports\": [80, \"443\", {\"x\": null}],\n"
		  "    \"on\": true\n  }\n}\n",
		  "{spec@2:3:{ports@3:5:[80@3:15,\"443\"@3:19,{x@3:27:null@3:32}@3:26]@3:14,"
		  "on@4:5:true@4:11}@2:11}@1:1" },
		/* CR LF and lone CR end lines; the CR of a pair adds no line. */
		{ "{\r\n \"a\":\r\n  [1,\r\n   2]}", "{a@2:2:[1@3:4,2@4:4]@3:3}@1:1" },
		{ "[1,\r2]", "[1@1:2,2@2:1]@1:1" },
		/* Multi-byte characters are one column each. */
		{ "[\"\xc3\xa9\xc3\xa9\",\"\xf0\x9f\x98\x80\", 3]",
		  "[\"\\xc3\\xa9\\xc3\\xa9\"@1:2,\"\\xf0\\x9f\\x98\\x80\"@1:7,3@1:12]@1:1" },
		/* The BOM is skipped and takes no column. */
		{ "\xef\xbb\xbf{\"a\":[true]}", "{a@1:2:[true@1:7]@1:6}@1:1" },
		{ "\xef\xbb\xbf\n\n   42", "42@3:4" },
	};

	run_ok(*state, cases, ARRAY_SIZE(cases), DOC_FMT_JSON, true);
}

/* Returns "[[...1...]]" (or with maps) nested depth levels deep; freed by teardown. */
static const char *nested_json(struct tstate *st, size_t depth, bool maps)
{
	size_t i, n = 0;
	char *p;

	free(st->big);
	st->big = malloc(depth * 6 + 2);
	assert_non_null(st->big);
	p = st->big;
	for (i = 0; i < depth; i++) {
		if (maps) {
			memcpy(p + n, "{\"k\":", 5);
			n += 5;
		} else {
			p[n++] = '[';
		}
	}
	p[n++] = '1';
	for (i = 0; i < depth; i++)
		p[n++] = maps ? '}' : ']';
	p[n] = '\0';
	return p;
}

static void test_doc_json_depth(void **state)
{
	struct tstate *st = *state;
	const struct doc_node *n;
	char want[64];
	size_t d;
	int err;

	assert_int_equal(parse(st, nested_json(st, DOC_MAX_DEPTH, false), DOC_FMT_JSON), 0);
	n = st->s.docs[0];
	for (d = 1; d < DOC_MAX_DEPTH; d++) {
		assert_int_equal(n->type, DOC_SEQ);
		assert_int_equal(n->col, d);
		n = n->seq.items[0];
	}
	assert_int_equal(parse(st, nested_json(st, DOC_MAX_DEPTH, true), DOC_FMT_JSON), 0);

	err = parse(st, nested_json(st, DOC_MAX_DEPTH + 1, false), DOC_FMT_JSON);
	assert_failed_clean(st, err);
	snprintf(want, sizeof(want), "1:%d: nesting deeper than %d levels", DOC_MAX_DEPTH + 1,
		 DOC_MAX_DEPTH);
	assert_string_equal(st->eb.msg, want);

	err = parse(st, nested_json(st, DOC_MAX_DEPTH + 1, true), DOC_FMT_JSON);
	assert_failed_clean(st, err);
	snprintf(want, sizeof(want), "1:%d: nesting deeper than %d levels", DOC_MAX_DEPTH * 5 + 1,
		 DOC_MAX_DEPTH);
	assert_string_equal(st->eb.msg, want);

	/* Deep but unbalanced: fails at the limit, not by running out of stack. */
	err = parse(st, nested_json(st, 100000, false), DOC_FMT_JSON);
	assert_failed_clean(st, err);
}

/* Many keys and long strings: the hash table and arena grow. */
static void test_doc_json_large(void **state)
{
	struct tstate *st = *state;
	struct strbuf in = STRBUF_INIT;
	const struct doc_node *n;
	char key[32];
	size_t i;

	strbuf_putc(&in, '{');
	for (i = 0; i < 20000; i++)
		strbuf_printf(&in, "%s\"k%zu\":%zu", i ? "," : "", i, i);
	strbuf_puts(&in, ",\"long\":\"");
	for (i = 0; i < 100000; i++)
		strbuf_putc(&in, (char)('a' + i % 26));
	strbuf_puts(&in, "\"}");
	assert_false(in.oom);
	assert_int_equal(parse(st, strbuf_str(&in), DOC_FMT_JSON), 0);
	n = st->s.docs[0];
	assert_int_equal(n->map.n, 20001);
	for (i = 0; i < 20000; i += 997) {
		snprintf(key, sizeof(key), "k%zu", i);
		assert_int_equal(doc_map_get(n, key)->i, i);
	}
	assert_int_equal(doc_map_get(n, "long")->str.len, 100000);

	strbuf_free(&in);

	/* A duplicate among many keys is still found. */
	for (i = 0; i < 20000; i++)
		strbuf_printf(&in, "%s\"k%zu\":%zu", i ? "," : "{", i, i);
	strbuf_puts(&in, ",\"k12345\":0}");
	assert_false(in.oom);
	assert_int_equal(parse(st, strbuf_str(&in), DOC_FMT_JSON), -EINVAL);
	assert_non_null(strstr(st->eb.msg, ": duplicate key 'k12345'"));
	strbuf_free(&in);
}

/*
 * Duplicate keys around the size where maps switch from scanning to
 * hashing, in both formats; a nested map with the same keys is no duplicate.
 */
static void test_doc_dup_keys_sizes(void **state)
{
	static const size_t sizes[] = { 1, 2, 15, 16, 17, 18, 40 };
	struct tstate *st = *state;
	struct strbuf in = STRBUF_INIT;
	size_t i, k, dup, f;
	bool json;
	int err;

	for (f = 0; f < 2; f++) {
		json = f == 1;
		for (i = 0; i < ARRAY_SIZE(sizes); i++) {
			for (dup = 0; dup <= sizes[i]; dup++) {
				strbuf_reset(&in);
				strbuf_puts(&in, json ? "{\"in\":{" : "{in: {");
				for (k = 0; k < sizes[i]; k++)
					strbuf_printf(&in, json ? "\"k%zu\":%zu," : "k%zu: %zu, ",
						      k, k);
				strbuf_puts(&in, json ? "\"z\":0}," : "z: 0}, ");
				for (k = 0; k < sizes[i]; k++)
					strbuf_printf(&in, json ? "\"k%zu\":%zu," : "k%zu: %zu, ",
						      k, k);
				/* dup == sizes[i] means no duplicate: a fresh key. */
				strbuf_printf(&in, json ? "\"k%zu\":-1}" : "k%zu: -1}", dup);
				assert_false(in.oom);
				err = parse(st, strbuf_str(&in),
					    json ? DOC_FMT_JSON : DOC_FMT_YAML);
				if (dup == sizes[i]) {
					if (err)
						fail_msg("%s: %s", strbuf_str(&in), st->eb.msg);
					assert_int_equal(st->s.docs[0]->map.n, sizes[i] + 2);
					continue;
				}
				assert_failed_clean(st, err);
				assert_non_null(strstr(st->eb.msg, ": duplicate key 'k"));
			}
		}
	}
	strbuf_free(&in);
}

/* ---- YAML ---- */

static void test_doc_yaml_scalars(void **state)
{
	/* YAML 1.2 core schema for plain scalars; quoted ones are strings. */
	static const struct ok_case cases[] = {
		{ "- \n- ~\n- null\n- Null\n- NULL\n- nULL\n- ''\n- \"null\"",
		  "[null,null,null,null,null,\"nULL\",\"\",\"null\"]" },
		{ "[true, True, TRUE, false, False, FALSE, tRUE, 'true']",
		  "[true,true,true,false,false,false,\"tRUE\",\"true\"]" },
		{ "[yes, no, on, off, y, n, Yes]",
		  "[\"yes\",\"no\",\"on\",\"off\",\"y\",\"n\",\"Yes\"]" },
		{ "[0, 12, -3, +4, 007, 0o17, 0x1F, 0xff, 0o, 0x, 0o8, 0xg, 1_000, -0x1, 0b1]",
		  "[0,12,-3,4,7,15,31,255,\"0o\",\"0x\",\"0o8\",\"0xg\",\"1_000\",\"-0x1\","
		  "\"0b1\"]" },
		{ "[9223372036854775807, -9223372036854775808, 9223372036854775808, 0x7fffffffffffffff]",
		  "[9223372036854775807,-9223372036854775808,9.22337e+18f,9223372036854775807]" },
		{ "[1.5, -2.5, .5, +.5, 1., 1e3, 1E-2, -1.5e+2, 0.0, 5e]",
		  "[1.5f,-2.5f,0.5f,0.5f,1f,1000f,0.01f,-150f,0f,\"5e\"]" },
		{ "[.inf, .Inf, .INF, -.inf, +.inf, .nan, .NaN, .NAN, .iNf, inf, nan, .]",
		  "[inff,inff,inff,-inff,inff,nanf,nanf,nanf,\".iNf\",\"inf\",\"nan\",\".\"]" },
		{ "[1.2.3, 1e5e, 0x1p3, 12:30, 1,2]",
		  "[\"1.2.3\",\"1e5e\",\"0x1p3\",\"12:30\",1,2]" },
		{ "a: 'it''s'\nb: \"tab\\tnl\\n\\u00e9\\x41\"\nc: plain text here",
		  "{a:\"it's\",b:\"tab\\x09nl\\x0a\\xc3\\xa9A\",c:\"plain text here\"}" },
		{ "a: |\n  x\n  y\nb: >\n  p\n  q\nc: |-\n  z\n",
		  "{a:\"x\\x0ay\\x0a\",b:\"p q\\x0a\",c:\"z\"}" },
		{ "'1': \"2\"", "{1:\"2\"}" },
		/* Fuzzer regression: empty collections first in the stream. */
		{ "{}", "{}" },
		{ "[]", "[]" },
		{ "a: {}\nb: []\nc: [{}, []]", "{a:{},b:[],c:[{},[]]}" },
		/* YAML 1.1 sexagesimal, timestamps and merge keys are not special. */
		{ "a: 2001-12-14\n<<: {b: 1}\nc: 1:20", "{a:\"2001-12-14\",<<:{b:1},c:\"1:20\"}" },
		{ "%YAML 1.1\n--- [yes, 010]", "[\"yes\",10]" },
	};

	run_ok(*state, cases, ARRAY_SIZE(cases), DOC_FMT_YAML, false);
}

static void test_doc_yaml_tags(void **state)
{
	static const struct ok_case ok[] = {
		{ "[!!str 12, !!str true, !!str ~, !!str , !!str 'x']",
		  "[\"12\",\"true\",\"~\",\"\",\"x\"]" },
		{ "[!!int '12', !!int 0x10, !!int \"-5\"]", "[12,16,-5]" },
		{ "[!!float 1, !!float '2.5', !!float .inf, !!float 0x10]", "[1f,2.5f,inff,16f]" },
		{ "[!!bool 'true', !!bool FALSE]", "[true,false]" },
		{ "[!!null '', !!null ~, !!null null]", "[null,null,null]" },
		{ "- !!null\n- !!str\n", "[null,\"\"]" },
		{ "!!map {a: !!seq [1]}", "{a:[1]}" },
		{ "!<tag:yaml.org,2002:int> '7'", "7" },
		{ "%TAG !e! tag:yaml.org,2002:\n--- !e!int '8'", "8" },
	};
	static const struct err_case bad[] = {
		{ "a: !foo x", "1:4: unsupported tag '!foo'" },
		{ "a: ! x", "1:4: unsupported tag '!'" },
		{ "a: !!binary aGk=", "1:4: unsupported tag '!!binary'" },
		{ "a: !!timestamp 2001-12-14", "1:4: unsupported tag '!!timestamp'" },
		{ "a: !!set {x}", "1:4: unsupported tag '!!set'" },
		{ "a: !<tag:example.com,2000:x> y",
		  "1:4: unsupported tag 'tag:example.com,2000:x'" },
		{ "a: !!int x", "1:4: invalid !!int value 'x'" },
		{ "a: !!int 1.5", "1:4: invalid !!int value '1.5'" },
		{ "a: !!int 99999999999999999999", "1:4: integer out of range" },
		{ "a: !!float abc", "1:4: invalid !!float value 'abc'" },
		{ "a: !!bool yes", "1:4: invalid !!bool value 'yes'" },
		{ "a: !!null 0", "1:4: invalid !!null value '0'" },
		{ "a: !!map x", "1:4: tag '!!map' on a scalar" },
		{ "a: !!seq {}", "1:4: tag '!!seq' on a mapping" },
		{ "a: !!map [1]", "1:4: tag '!!map' on a sequence" },
		{ "a: !!str [1]", "1:4: tag '!!str' on a sequence" },
		{ "a: !!int {}", "1:4: tag '!!int' on a mapping" },
		{ "!foo\nk: v", "1:1: unsupported tag '!foo'" },
		{ "- !!str\n  - x", "1:3: tag '!!str' on a sequence" },
	};
	struct tstate *st = *state;

	run_ok(st, ok, ARRAY_SIZE(ok), DOC_FMT_YAML, false);
	run_err(st, bad, ARRAY_SIZE(bad), DOC_FMT_YAML);
}

static void test_doc_yaml_multidoc(void **state)
{
	static const struct ok_case cases[] = {
		{ "", "" },
		{ "# only a comment\n", "" },
		{ "---\n", "" },
		{ "---\n...\n---\n# c\n...\n", "" },
		{ "a: 1\n---\nb: 2\n", "{a:1} | {b:2}" },
		{ "---\n---\na: 1\n---\n---\n- x\n---\n", "{a:1} | [\"x\"]" },
		{ "--- 1\n--- two\n--- [3]\n...\n", "1 | \"two\" | [3]" },
		/* Explicit nulls are documents; only nothing at all is skipped. */
		{ "--- null\n--- ~\n--- !!null\n--- ''\n", "null | null | null | \"\"" },
		{ "kind: A\n---\nkind: B\n---\nkind: C\n",
		  "{kind:\"A\"} | {kind:\"B\"} | {kind:\"C\"}" },
	};
	struct tstate *st = *state;
	int err;

	run_ok(st, cases, ARRAY_SIZE(cases), DOC_FMT_YAML, false);
	assert_int_equal(parse(st, "", DOC_FMT_YAML), 0);
	assert_int_equal(st->s.n, 0);

	/* An error in a later document fails the whole stream. */
	err = parse(st, "a: 1\n---\nb: [\n", DOC_FMT_YAML);
	assert_failed_clean(st, err);
	/* Anchors do not cross documents. */
	err = parse(st, "a: &x 1\n---\nb: *x\n", DOC_FMT_YAML);
	assert_failed_clean(st, err);
	assert_string_equal(st->eb.msg, "3:4: undefined alias 'x'");
}

static void test_doc_yaml_positions(void **state)
{
	static const struct ok_case cases[] = {
		{ "apiVersion: v1\nspec:\n  ingress:\n  - fromEndpoints:\n    - matchLabels:\n"
		  "        app: web\n    toPorts: [{port: \"80\"}]\n",
		  "{apiVersion@1:1:\"v1\"@1:13,spec@2:1:{ingress@3:3:[{fromEndpoints@4:5:"
		  "[{matchLabels@5:7:{app@6:9:\"web\"@6:14}@6:9}@5:7]@5:5,"
		  "toPorts@7:5:[{port@7:16:\"80\"@7:22}@7:15]@7:14}@4:5]@4:3}@3:3}@1:1" },
		{ "a:\r\n  b: 1\r\n  c: [x,\r\n    y]\r\n",
		  "{a@1:1:{b@2:3:1@2:6,c@3:3:[\"x\"@3:7,\"y\"@4:5]@3:6}@2:3}@1:1" },
		{ "\xef\xbb\xbf"
		  "a: 1\nb: 2\n",
		  "{a@1:1:1@1:4,b@2:1:2@2:4}@1:1" },
		{ "\xef\xbb\xbf---\r\nx: 'y'\r\n---\r\n- 1\r\n",
		  "{x@2:1:\"y\"@2:4}@2:1 | [1@4:3]@4:1" },
		/* Columns count characters. */
		{ "\xc3\xa9\xc3\xa9: \xe2\x82\xac\n",
		  "{\xc3\xa9\xc3\xa9@1:1:\"\\xe2\\x82\\xac\"@1:5}@1:1" },
		{ "k: {\"a b\": 'c', d: [1, 2]}",
		  "{k@1:1:{a b@1:5:\"c\"@1:12,d@1:17:[1@1:21,2@1:24]@1:20}@1:4}@1:1" },
		{ "? a\n: 1\n", "{a@1:3:1@2:3}@1:1" },
	};

	run_ok(*state, cases, ARRAY_SIZE(cases), DOC_FMT_YAML, true);
}

static void test_doc_yaml_aliases(void **state)
{
	static const struct ok_case ok[] = {
		{ "a: &x 1\nb: *x", "{a:1,b:1}" },
		{ "a: &m {p: 1, q: [2]}\nb: *m\nc: [*m, *m]",
		  "{a:{p:1,q:[2]},b:{p:1,q:[2]},c:[{p:1,q:[2]},{p:1,q:[2]}]}" },
		/* The latest definition wins. */
		{ "- &x 1\n- &x 2\n- *x", "[1,2,2]" },
		/* An anchored key, and an alias used as a key. */
		{ "&k a: 1\nb: *k", "{a:1,b:\"a\"}" },
		{ "a: &k b\n*k : 2", "{a:\"b\",b:2}" },
		{ "x: &s 'quoted'\ny: *s", "{x:\"quoted\",y:\"quoted\"}" },
		{ "- &n [&i 1, *i]\n- *n", "[[1,1],[1,1]]" },
	};
	static const struct err_case bad[] = {
		{ "a: *nope", "1:4: undefined alias 'nope'" },
		/* No self-reference: the anchor is defined when its node ends. */
		{ "a: &x [*x]", "1:8: undefined alias 'x'" },
		{ "a: &x {b: *x}", "1:11: undefined alias 'x'" },
		{ "a: &m {p: 1}\n*m : 2", "2:1: mapping keys must be scalars" },
		{ "&k a: 1\n*k : 2", "2:1: duplicate key 'a'" },
	};
	struct tstate *st = *state;
	const struct doc_node *a, *b;

	run_ok(st, ok, ARRAY_SIZE(ok), DOC_FMT_YAML, false);
	run_err(st, bad, ARRAY_SIZE(bad), DOC_FMT_YAML);

	/* Aliases share the anchored node, position included. */
	assert_int_equal(parse(st, "a: &m {p: 1}\nb: *m\n", DOC_FMT_YAML), 0);
	a = doc_map_get(st->s.docs[0], "a");
	b = doc_map_get(st->s.docs[0], "b");
	assert_ptr_equal(a, b);
	assert_int_equal(b->line, 1);
}

/* The classic exponential alias bomb, levels deep, fan-out 10. */
static const char *laughs(struct tstate *st, int levels)
{
	struct strbuf sb = STRBUF_INIT;
	int l, i;

	strbuf_puts(&sb, "l0: &l0 [lol,lol,lol,lol,lol,lol,lol,lol,lol,lol]\n");
	for (l = 1; l < levels; l++) {
		strbuf_printf(&sb, "l%d: &l%d [", l, l);
		for (i = 0; i < 10; i++)
			strbuf_printf(&sb, "%s*l%d", i ? "," : "", l - 1);
		strbuf_puts(&sb, "]\n");
	}
	assert_false(sb.oom);
	free(st->big);
	st->big = strbuf_detach(&sb);
	return st->big;
}

static void test_doc_yaml_alias_budget(void **state)
{
	struct tstate *st = *state;
	struct strbuf sb = STRBUF_INIT;
	struct timespec t0, t1;
	double secs;
	int err, d;

	/* 10^5 expanded nodes is within budget. */
	assert_int_equal(parse(st, laughs(st, 5), DOC_FMT_YAML), 0);
	assert_int_equal(doc_map_get(st->s.docs[0], "l4")->seq.n, 10);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	err = parse(st, laughs(st, 30), DOC_FMT_YAML);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_failed_clean(st, err);
	assert_string_equal(st->eb.msg, "6:38: more than 1000000 nodes (aliases expanded)");
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(secs < 1.0);

	/* The budget spans the stream: documents within budget each add up. */
	laughs(st, 5);
	for (d = 0; d < 10; d++)
		strbuf_printf(&sb, "---\n%s", st->big);
	assert_false(sb.oom);
	err = parse(st, strbuf_str(&sb), DOC_FMT_YAML);
	strbuf_free(&sb);
	assert_failed_clean(st, err);
	assert_non_null(strstr(st->eb.msg, ": more than 1000000 nodes (aliases expanded)"));
}

static void test_doc_yaml_errors(void **state)
{
	static const struct err_case cases[] = {
		{ "a: 1\na: 2\n", "2:1: duplicate key 'a'" },
		{ "a: 1\nb:\n  c: 1\n  c: 2\n", "4:3: duplicate key 'c'" },
		{ "{a: 1, 'a': 2}", "1:8: duplicate key 'a'" },
		{ "1: x\n'1': y\n", "2:1: duplicate key '1'" },
		{ "? [a]\n: 1\n", "1:3: mapping keys must be scalars" },
		{ "? {a: 1}\n: 1\n", "1:3: mapping keys must be scalars" },
		{ "[a, b]: 1\n", "1:1: mapping keys must be scalars" },
		{ "a: \"x\\0y\"\n", "1:4: strings cannot contain NUL characters" },
		{ "\"k\\0\": 1\n", "1:1: strings cannot contain NUL characters" },
		{ "a: 0x8000000000000000\n", "1:4: integer out of range" },
		{ "a: 0o7777777777777777777777\n", "1:4: integer out of range" },
		{ "a: 1e999\n", "1:4: number out of range" },
		/* libyaml's own errors, 1-based. */
		{ "a: [1\n",
		  "2:1: did not find expected ',' or ']' (while parsing a flow sequence at 1:4)" },
		{ "a: b: c\n", "1:5: mapping values are not allowed in this context" },
		{ "a:\n  - x\n - y\n",
		  "3:2: did not find expected key (while parsing a block mapping at 1:1)" },
		{ "a: 'x\n",
		  "2:1: found unexpected end of stream (while scanning a quoted scalar at 1:4)" },
		{ "a: @x\n",
		  "1:4: found character that cannot start any token (while scanning for the next token at 1:4)" },
		{ "a:\n\tb: 1\n",
		  "2:1: found character that cannot start any token (while scanning for the next token at 2:1)" },
		{ "%YAML 2.0\n--- x\n", "1:1: found incompatible YAML document" },
		{ "a: *\n",
		  "1:5: did not find expected alphabetic or numeric character (while scanning an alias at 1:4)" },
		{ "a: x\n\x01", "2:1: control characters are not allowed (0x1)" },
		{ "a: \xff\n", "1:4: invalid leading UTF-8 octet (0xFF)" },
		{ "a: \xc3\n", "1:5: invalid trailing UTF-8 octet (0xA)" },
		{ "a: \xc3", "1:4: incomplete UTF-8 octet sequence" },
		/* Only UTF-8: other byte order marks are errors. */
		{ "\xff\xfe"
		  "a\0:\0",
		  "1:1: invalid leading UTF-8 octet (0xFF)" },
	};

	run_err(*state, cases, ARRAY_SIZE(cases), DOC_FMT_YAML);
}

/* Inputs the fuzzer found, each once a sanitizer failure, now with their outcome. */
static void test_doc_fuzz_regressions(void **state)
{
	static const struct {
		const char *in;
		enum doc_format fmt;
		const char *want; /* dump, or the error message when it starts with a digit */
	} cases[] = {
		/* UBSan: an empty collection before any child did NULL + 0. */
		{ "{\n# \"a\": [1, -2.5e+3, 0, tru-12, +3, 0o1[1.rue,\"y\"\\ \\/   \"o\": "
		  "{\"x\": {}, \"y\": []}\n}\n",
		  DOC_FMT_YAML, "{}" },
		{ "{\n# \"a\": 1\n}\n", DOC_FMT_AUTO,
		  "2:1: unexpected character '#', expected a string key" },
	};
	struct tstate *st = *state;
	size_t i;
	int err;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		err = parse(st, cases[i].in, cases[i].fmt);
		if (cases[i].want[0] >= '0' && cases[i].want[0] <= '9') {
			assert_failed_clean(st, err);
			assert_string_equal(st->eb.msg, cases[i].want);
		} else {
			assert_int_equal(err, 0);
			assert_string_equal(dump(st, false), cases[i].want);
		}
	}
}

static void test_doc_yaml_nul_byte(void **state)
{
	struct tstate *st = *state;
	int err;

	err = parse_buf(st, "a: b\0c\n", 7, DOC_FMT_YAML);
	assert_failed_clean(st, err);
	assert_string_equal(st->eb.msg, "1:5: control characters are not allowed (0x0)");
}

/* Returns YAML nested depth levels deep, block or flow style; freed by teardown. */
static const char *nested_yaml(struct tstate *st, size_t depth, bool flow)
{
	struct strbuf sb = STRBUF_INIT;
	size_t i;

	for (i = 0; i < depth; i++) {
		if (flow)
			strbuf_putc(&sb, '[');
		else
			strbuf_printf(&sb, "%*sk:\n", (int)i, "");
	}
	if (flow) {
		strbuf_putc(&sb, '1');
		for (i = 0; i < depth; i++)
			strbuf_putc(&sb, ']');
	} else {
		/* Turn the last "k:" into a scalar, so depth maps remain. */
		sb.len -= 1;
		strbuf_puts(&sb, " 1\n");
	}
	assert_false(sb.oom);
	free(st->big);
	st->big = strbuf_detach(&sb);
	return st->big;
}

static void test_doc_yaml_depth(void **state)
{
	struct tstate *st = *state;
	char want[64];
	int err;

	assert_int_equal(parse(st, nested_yaml(st, DOC_MAX_DEPTH, true), DOC_FMT_YAML), 0);
	assert_int_equal(parse(st, nested_yaml(st, DOC_MAX_DEPTH, false), DOC_FMT_YAML), 0);

	err = parse(st, nested_yaml(st, DOC_MAX_DEPTH + 1, true), DOC_FMT_YAML);
	assert_failed_clean(st, err);
	snprintf(want, sizeof(want), "1:%d: nesting deeper than %d levels", DOC_MAX_DEPTH + 1,
		 DOC_MAX_DEPTH);
	assert_string_equal(st->eb.msg, want);

	err = parse(st, nested_yaml(st, DOC_MAX_DEPTH + 1, false), DOC_FMT_YAML);
	assert_failed_clean(st, err);
	snprintf(want, sizeof(want), "%d:%d: nesting deeper than %d levels", DOC_MAX_DEPTH + 1,
		 DOC_MAX_DEPTH + 1, DOC_MAX_DEPTH);
	assert_string_equal(st->eb.msg, want);
}

/* ---- shared ---- */

static void test_doc_auto_sniff(void **state)
{
	static const struct ok_case ok[] = {
		{ "{\"a\": 1}", "{a:1}" },
		{ " \r\n\t[1, 2]", "[1,2]" },
		{ "\xef\xbb\xbf{\"a\":true}", "{a:true}" },
		{ "a: 1", "{a:1}" },
		{ "# {json?}\n{a: 1}", "{a:1}" },
		{ "\xef\xbb\xbf"
		  "a: [1]",
		  "{a:[1]}" },
		{ "", "" },
		{ "  \n", "" },
		{ "\"x\"", "\"x\"" },
		{ "42", "42" },
	};
	static const struct err_case bad[] = {
		/* Looks like JSON, so it is strict JSON. */
		{ "{a: 1}", "1:2: unexpected character 'a', expected a string key" },
		{ "[1, 2,]", "1:7: trailing comma before ']'" },
	};
	struct tstate *st = *state;

	run_ok(st, ok, ARRAY_SIZE(ok), DOC_FMT_AUTO, false);
	run_err(st, bad, ARRAY_SIZE(bad), DOC_FMT_AUTO);
	/* The same YAML-ish flow text is fine when YAML is asked for. */
	assert_int_equal(parse(st, "{a: 1}", DOC_FMT_YAML), 0);
	assert_string_equal(dump(st, false), "{a:1}");
	/* And a bad format is refused. */
	assert_int_equal(parse(st, "1", (enum doc_format)42), -EINVAL);
	assert_msg_form(st->eb.msg);
	assert_null(st->s.arena);
}

static void test_doc_api(void **state)
{
	struct tstate *st = *state;
	struct doc_stream zero = { 0 };
	const struct doc_node *root;

	assert_int_equal(parse(st, "{\"a\": 1, \"b\": [2], \"\": null}", DOC_FMT_JSON), 0);
	assert_int_equal(st->s.n, 1);
	assert_non_null(st->s.arena);
	root = st->s.docs[0];
	assert_int_equal(doc_map_get(root, "a")->i, 1);
	assert_int_equal(doc_map_get(root, "b")->type, DOC_SEQ);
	assert_int_equal(doc_map_get(root, "")->type, DOC_NULL);
	assert_null(doc_map_get(root, "c"));
	assert_null(doc_map_get(root, NULL));
	assert_null(doc_map_get(NULL, "a"));
	assert_null(doc_map_get(doc_map_get(root, "b"), "a"));

	assert_string_equal(doc_type_name(DOC_NULL), "null");
	assert_string_equal(doc_type_name(DOC_BOOL), "boolean");
	assert_string_equal(doc_type_name(DOC_INT), "integer");
	assert_string_equal(doc_type_name(DOC_FLOAT), "number");
	assert_string_equal(doc_type_name(DOC_STR), "string");
	assert_string_equal(doc_type_name(DOC_SEQ), "list");
	assert_string_equal(doc_type_name(DOC_MAP), "object");

	/* Freeing twice, and freeing a zeroed stream, are fine. */
	doc_stream_free(&st->s);
	doc_stream_free(&st->s);
	assert_null(st->s.arena);
	doc_stream_free(&zero);
	doc_stream_free(NULL);

	/* A NULL buffer of length 0 is an empty input. */
	assert_int_equal(doc_parse(NULL, 0, DOC_FMT_YAML, &st->s, &st->eb), 0);
	assert_int_equal(st->s.n, 0);
	doc_stream_free(&st->s);
	assert_int_equal(doc_parse(NULL, 0, DOC_FMT_JSON, &st->s, &st->eb), -EINVAL);
	/* Errors need no errbuf. */
	assert_int_equal(doc_parse("[", 1, DOC_FMT_JSON, &st->s, NULL), -EINVAL);
	assert_int_equal(doc_parse("[", 1, DOC_FMT_YAML, &st->s, NULL), -EINVAL);
	/* Success clears an old message. */
	assert_int_equal(parse(st, "1", DOC_FMT_JSON), 0);
	assert_string_equal(st->eb.msg, "");
}

/* Both readers give the same tree for the same data. */
static void test_doc_formats_agree(void **state)
{
	static const char json[] =
		"{\"apiVersion\":\"cilium.io/v2\",\"kind\":\"CiliumNetworkPolicy\","
		"\"metadata\":{\"name\":\"rule1\"},\"spec\":{\"endpointSelector\":{\"matchLabels\":"
		"{\"app\":\"db\"}},\"ingress\":[{\"fromEndpoints\":[{\"matchLabels\":{\"app\":"
		"\"web\"}}],\"toPorts\":[{\"ports\":[{\"port\":\"5432\",\"protocol\":\"TCP\"}]}]}],"
		"\"n\":[1,-2,1.5,true,null,\"\\u00e9\"]}}";
	static const char yaml[] = "apiVersion: cilium.io/v2\n"
				   "kind: CiliumNetworkPolicy\n"
				   "metadata:\n"
				   "  name: rule1\n"
				   "spec:\n"
				   "  endpointSelector:\n"
				   "    matchLabels:\n"
				   "      app: db\n"
				   "  ingress:\n"
				   "  - fromEndpoints:\n"
				   "    - matchLabels:\n"
				   "        app: web\n"
				   "    toPorts:\n"
				   "    - ports:\n"
				   "      - port: \"5432\"\n"
				   "        protocol: TCP\n"
				   "  n: [1, -2, 1.5, true, null, \xc3\xa9]\n";
	struct tstate *st = *state;
	char *from_json;

	assert_int_equal(parse(st, json, DOC_FMT_AUTO), 0);
	from_json = strdup(dump(st, false));
	assert_non_null(from_json);
	assert_int_equal(parse(st, yaml, DOC_FMT_AUTO), 0);
	assert_string_equal(dump(st, false), from_json);
	free(from_json);
	/* JSON is YAML too (for this subset). */
	assert_int_equal(parse(st, json, DOC_FMT_YAML), 0);
	assert_int_equal(st->s.n, 1);
}

/* ---- guard page ---- */

/* Unmaps the previous guard mapping, if any. */
static void guard_free(struct tstate *st)
{
	if (st->map)
		munmap(st->map, st->maplen);
	st->map = NULL;
}

/*
 * Copies buf[0..len) so that its last byte is the last readable byte before a
 * PROT_NONE page, and returns the copy (valid until the next call).
 */
static const char *guard_copy(struct tstate *st, const char *buf, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), pages;
	char *end;

	guard_free(st);
	pages = (len + page - 1) / page + 1;
	st->maplen = pages * page;
	st->map =
		mmap(NULL, st->maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(st->map != MAP_FAILED);
	end = st->map + st->maplen - page;
	assert_int_equal(mprotect(end, page, PROT_NONE), 0);
	memcpy(end - len, buf, len);
	assert_int_equal(mprotect(st->map, st->maplen - page, PROT_READ), 0);
	return end - len;
}

static const char *const guard_inputs[] = {
	"{\"apiVersion\": \"cilium.io/v2\", \"spec\": {\"ingress\": [{\"toPorts\": "
	"[{\"ports\": [{\"port\": \"80\"}]}]}], \"n\": [-1.5e+3, 0, true, false, null, "
	"\"\\u00e9\\uD83D\\uDE00\\n\\\"\"]}}",
	"apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nspec:\n  ingress:\n"
	"  - fromEndpoints:\n    - matchLabels: {app: web}\n    toPorts:\n    - ports:\n"
	"      - port: \"80\"\n        protocol: TCP\n---\nlist: &a [1, 0x1F, .inf, ~, 'q''s']\n"
	"again: *a\ntext: |\n  line\nflag: !!bool true\n",
	"\xef\xbb\xbf{\"a\":\r\n[1,2]}",
	"\xef\xbb\xbf"
	"a:\r\n  - \"x\\u00e9\"\r\n  - >\r\n    folded\r\n",
	"[\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"]",
	"# comment\n? key\n: value\n...\n%YAML 1.2\n--- !!str\n",
};

static void test_doc_guard_page(void **state)
{
	static const enum doc_format fmts[] = { DOC_FMT_AUTO, DOC_FMT_JSON, DOC_FMT_YAML };
	struct tstate *st = *state;
	size_t i, len, f, parsed = 0;
	const char *p;
	int err;

	for (i = 0; i < ARRAY_SIZE(guard_inputs); i++) {
		/* Every prefix, the empty one and the whole input included. */
		for (len = 0; len <= strlen(guard_inputs[i]); len++) {
			p = guard_copy(st, guard_inputs[i], len);
			for (f = 0; f < ARRAY_SIZE(fmts); f++) {
				err = parse_buf(st, p, len, fmts[f]);
				if (err)
					assert_failed_clean(st, err);
				else
					parsed++;
				doc_stream_free(&st->s);
			}
		}
	}
	/* Some prefixes are valid documents in some format. */
	assert_true(parsed > 0);
	/* The whole inputs parse in AUTO mode. */
	for (i = 0; i < ARRAY_SIZE(guard_inputs); i++) {
		len = strlen(guard_inputs[i]);
		p = guard_copy(st, guard_inputs[i], len);
		err = parse_buf(st, p, len, DOC_FMT_AUTO);
		if (err)
			fail_msg("guard input %zu: %s", i, st->eb.msg);
		doc_stream_free(&st->s);
	}
	guard_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_doc_json_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_doc_json_numbers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_doc_json_escapes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_doc_json_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_doc_json_nul_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_doc_json_positions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_doc_json_depth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_doc_json_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_doc_dup_keys_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_doc_yaml_scalars, setup, teardown),
		cmocka_unit_test_setup_teardown(test_doc_yaml_tags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_doc_yaml_multidoc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_doc_yaml_positions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_doc_yaml_aliases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_doc_yaml_alias_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_doc_yaml_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_doc_yaml_nul_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_doc_fuzz_regressions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_doc_yaml_depth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_doc_auto_sniff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_doc_api, setup, teardown),
		cmocka_unit_test_setup_teardown(test_doc_formats_agree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_doc_guard_page, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
