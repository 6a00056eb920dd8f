/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A strict RFC 8259 JSON reader building the doc tree. One pass, no
 * recursion: open collections sit on a fixed stack of DOC_MAX_DEPTH frames
 * and their finished children on one scratch list, copied into exact-size
 * arena arrays when the collection closes. Everything the RFC does not
 * allow is an error with its position: comments, trailing commas, leading
 * zeros, duplicate keys, raw control characters and invalid UTF-8 in
 * strings, \u0000 (strings are NUL-terminated), lone surrogates, numbers
 * that overflow a double, and anything after the top-level value.
 */
#include "policy/doc.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/errbuf.h"
#include "lib/vec.h"
#include "policy/doc_internal.h"

/* Duplicate-key messages quote at most this many bytes of the key. */
#define KEY_QUOTE_MAX 64

struct jframe {
	struct doc_node *node;
	size_t first;  /* index of its first child in jparser.kids */
	size_t serial; /* scope of its keys in jparser.keys */
};

struct jparser {
	const unsigned char *b;
	size_t len, i; /* input and read offset */
	struct doc_arena *a;
	struct errbuf *eb;
	struct doc_pos pos;
	/* Children of every open collection, innermost last; seq items use .value only. */
	VEC(struct doc_pair) kids;
	struct doc_htab keys; /* keys of big open maps, scoped by frame serial */
	size_t serials;
	size_t depth;
	struct jframe stack[DOC_MAX_DEPTH];
};

__attribute__((format(printf, 3, 4))) static int jerr(struct jparser *jp, size_t off,
						      const char *fmt, ...)
{
	char msg[ERRBUF_SIZE];
	unsigned line, col;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	doc_pos_at(&jp->pos, off, &line, &col);
	return errbuf_set(jp->eb, -EINVAL, "%u:%u: %s", line, col, msg);
}

/* Reports an unexpected byte, naming it readably. */
static int jerr_unexpected(struct jparser *jp, const char *what)
{
	unsigned char c = jp->b[jp->i];

	if (c == '/')
		return jerr(jp, jp->i, "comments are not allowed in JSON");
	if (c > 0x20 && c < 0x7f)
		return jerr(jp, jp->i, "unexpected character '%c', expected %s", c, what);
	return jerr(jp, jp->i, "unexpected byte 0x%02x, expected %s", c, what);
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alnum(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int hex_val(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static void skip_ws(struct jparser *jp)
{
	while (jp->i < jp->len) {
		switch (jp->b[jp->i]) {
		case ' ':
		case '\t':
		case '\n':
		case '\r':
			jp->i++;
			continue;
		}
		break;
	}
}

static struct doc_node *jnode(struct jparser *jp, enum doc_type t, size_t off)
{
	unsigned line, col;

	doc_pos_at(&jp->pos, off, &line, &col);
	return doc_node__new(jp->a, t, line, col);
}

/*
 * Returns the length of the well-formed UTF-8 sequence at b[0..avail) (no
 * overlong forms, no surrogates, nothing above U+10FFFF), or 0.
 */
static size_t utf8_seq_len(const unsigned char *b, size_t avail)
{
	unsigned char c = b[0];
	size_t n, k;

	if (c < 0x80)
		return 1;
	if (c < 0xc2)
		return 0; /* stray continuation byte or overlong 2-byte form */
	n = c < 0xe0 ? 2 : c < 0xf0 ? 3 : c < 0xf5 ? 4 : 0;
	if (!n || avail < n)
		return 0;
	for (k = 1; k < n; k++)
		if ((b[k] & 0xc0) != 0x80)
			return 0;
	if ((c == 0xe0 && b[1] < 0xa0) || (c == 0xed && b[1] >= 0xa0) ||
	    (c == 0xf0 && b[1] < 0x90) || (c == 0xf4 && b[1] >= 0x90))
		return 0;
	return n;
}

static size_t utf8_put(char *s, unsigned cp)
{
	if (cp < 0x80) {
		s[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		s[0] = (char)(0xc0 | (cp >> 6));
		s[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		s[0] = (char)(0xe0 | (cp >> 12));
		s[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		s[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	s[0] = (char)(0xf0 | (cp >> 18));
	s[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	s[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	s[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Reads the 4 hex digits of a \u escape at b[k..end); returns the code unit or -1. */
static long hex4(const unsigned char *b, size_t k, size_t end)
{
	long v = 0;
	int d, j;

	if (end - k < 4)
		return -1;
	for (j = 0; j < 4; j++) {
		d = hex_val(b[k + j]);
		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/*
 * Reads the string whose opening quote is at jp->i into a new NUL-terminated
 * arena string; leaves jp->i past the closing quote.
 */
static int jstring(struct jparser *jp, char **out, size_t *outlen)
{
	const unsigned char *b = jp->b;
	size_t start = jp->i + 1, j = start, end, k, n = 0, l;
	long cp, lo;
	char *s;

	/*
	 * Find the closing quote first: escapes only shrink, so the raw
	 * length bounds the decoded one and one arena block suffices.
	 */
	while (j < jp->len && b[j] != '"') {
		if (b[j] < 0x20)
			return jerr(jp, j, "unescaped control character U+%04X in string", b[j]);
		j += b[j] == '\\' ? 2 : 1;
	}
	if (j >= jp->len)
		return jerr(jp, jp->i, "unterminated string");
	end = j;
	s = doc_arena_alloc(jp->a, end - start + 1);
	if (!s)
		return -ENOMEM;

	for (k = start; k < end;) {
		if (b[k] >= 0x80) {
			l = utf8_seq_len(b + k, end - k);
			if (!l)
				return jerr(jp, k, "invalid UTF-8 in string");
			memcpy(s + n, b + k, l);
			n += l;
			k += l;
			continue;
		}
		if (b[k] != '\\') {
			s[n++] = (char)b[k++];
			continue;
		}
		/* The scan above guarantees a byte after the backslash before end. */
		switch (b[k + 1]) {
		case '"':
		case '\\':
		case '/':
			s[n++] = (char)b[k + 1];
			break;
		case 'b':
			s[n++] = '\b';
			break;
		case 'f':
			s[n++] = '\f';
			break;
		case 'n':
			s[n++] = '\n';
			break;
		case 'r':
			s[n++] = '\r';
			break;
		case 't':
			s[n++] = '\t';
			break;
		case 'u':
			cp = hex4(b, k + 2, end);
			if (cp < 0)
				return jerr(jp, k, "invalid \\u escape: expected 4 hex digits");
			if (cp == 0)
				return jerr(jp, k, "\\u0000 is not allowed in strings");
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return jerr(jp, k, "unpaired surrogate \\u%04lX", cp);
			if (cp >= 0xd800 && cp <= 0xdbff) {
				/* A high surrogate must be followed by a low one. */
				lo = -1;
				if (end - k >= 12 && b[k + 6] == '\\' && b[k + 7] == 'u')
					lo = hex4(b, k + 8, end);
				if (lo < 0xdc00 || lo > 0xdfff)
					return jerr(jp, k, "unpaired surrogate \\u%04lX", cp);
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				k += 6;
			}
			n += utf8_put(s + n, (unsigned)cp);
			k += 6;
			continue;
		default:
			if (b[k + 1] > 0x20 && b[k + 1] < 0x7f)
				return jerr(jp, k, "invalid escape '\\%c' in string", b[k + 1]);
			return jerr(jp, k, "invalid escape in string");
		}
		k += 2;
	}
	s[n] = '\0';
	doc_arena_shrink(jp->a, s, end - start + 1, n + 1);
	*out = s;
	*outlen = n;
	jp->i = end + 1;
	return 0;
}

/* Reads the number at jp->i into node: DOC_INT when integral and in range, else DOC_FLOAT. */
static int jnumber(struct jparser *jp, struct doc_node *node)
{
	const unsigned char *b = jp->b;
	size_t s = jp->i, j = s, k;
	bool integral = true, neg = false;
	unsigned long long mag = 0, lim;
	double d;
	int err;

	if (b[j] == '-') {
		neg = true;
		j++;
	}
	if (j >= jp->len || !is_digit(b[j]))
		return jerr(jp, s, "invalid number: expected a digit after '-'");
	if (b[j] == '0') {
		j++;
		if (j < jp->len && is_digit(b[j]))
			return jerr(jp, s, "leading zeros are not allowed in numbers");
	} else {
		while (j < jp->len && is_digit(b[j]))
			j++;
	}
	if (j < jp->len && b[j] == '.') {
		integral = false;
		j++;
		if (j >= jp->len || !is_digit(b[j]))
			return jerr(jp, s, "invalid number: expected a digit after '.'");
		while (j < jp->len && is_digit(b[j]))
			j++;
	}
	if (j < jp->len && (b[j] == 'e' || b[j] == 'E')) {
		integral = false;
		j++;
		if (j < jp->len && (b[j] == '+' || b[j] == '-'))
			j++;
		if (j >= jp->len || !is_digit(b[j]))
			return jerr(jp, s, "invalid number: expected a digit in the exponent");
		while (j < jp->len && is_digit(b[j]))
			j++;
	}
	/* "1.2.3", "0x1", "1-2", "12abc": one bad token, not a number and junk. */
	if (j < jp->len &&
	    (b[j] == '.' || b[j] == '+' || b[j] == '-' || b[j] == '_' || is_alnum(b[j])))
		return jerr(jp, s, "invalid number");

	if (integral) {
		lim = neg ? (unsigned long long)LLONG_MAX + 1 : (unsigned long long)LLONG_MAX;
		for (k = s + neg; k < j; k++) {
			if (mag > (lim - (b[k] - '0')) / 10)
				break;
			mag = mag * 10 + (b[k] - '0');
		}
		if (k == j) {
			node->type = DOC_INT;
			if (neg)
				node->i = mag == (unsigned long long)LLONG_MAX + 1 ?
						  LLONG_MIN :
						  -(long long)mag;
			else
				node->i = (long long)mag;
			jp->i = j;
			return 0;
		}
		/* Too big for long long: it is still a valid JSON number. */
	}
	err = doc_strtod((const char *)b + s, j - s, &d);
	if (err == -ERANGE)
		return jerr(jp, s, "number out of range");
	if (err)
		return err;
	node->type = DOC_FLOAT;
	node->f = d;
	jp->i = j;
	return 0;
}

/* Matches the literal word at jp->i; it must not run on into letters or digits. */
static bool jword(struct jparser *jp, const char *w, size_t n)
{
	if (jp->len - jp->i < n || memcmp(jp->b + jp->i, w, n) != 0)
		return false;
	if (jp->len - jp->i > n && is_alnum(jp->b[jp->i + n]))
		return false;
	jp->i += n;
	return true;
}

/* Reads a scalar value at jp->i (not at end of input) into a new node. */
static int jscalar(struct jparser *jp, struct doc_node **out)
{
	unsigned char c = jp->b[jp->i];
	struct doc_node *v;
	int err;

	v = jnode(jp, DOC_NULL, jp->i);
	if (!v)
		return -ENOMEM;
	*out = v;
	if (c == '"') {
		v->type = DOC_STR;
		return jstring(jp, &v->str.s, &v->str.len);
	}
	if (c == '-' || is_digit(c))
		return jnumber(jp, v);
	if (c == 't' || c == 'f' || c == 'n') {
		if (jword(jp, "null", 4))
			return 0;
		v->type = DOC_BOOL;
		if (jword(jp, "true", 4)) {
			v->b = true;
			return 0;
		}
		if (jword(jp, "false", 5))
			return 0;
		return jerr(jp, jp->i, "invalid literal, expected true, false or null");
	}
	err = jerr_unexpected(jp, "a value");
	return err;
}

/* Duplicate-key messages show the key, shortened when long. */
static int jerr_dup(struct jparser *jp, size_t off, const char *key, size_t len)
{
	if (len > KEY_QUOTE_MAX)
		return jerr(jp, off, "duplicate key '%.*s...'", KEY_QUOTE_MAX, key);
	return jerr(jp, off, "duplicate key " ERRBUF_Q, ERRBUF_QARG(key));
}

/* Reads `"key" :` at jp->i (white space skipped) and opens its pair in frame f. */
static int jkey(struct jparser *jp, struct jframe *f)
{
	struct doc_pair *pair;
	size_t at = jp->i, len, n;
	unsigned line, col;
	char *key;
	int err;

	if (jp->i >= jp->len)
		return jerr(jp, jp->i, "unexpected end of input, expected a string key");
	if (jp->b[jp->i] != '"')
		return jerr_unexpected(jp, "a string key");
	doc_pos_at(&jp->pos, at, &line, &col);
	err = jstring(jp, &key, &len);
	if (err)
		return err;
	n = jp->kids.n - f->first;
	err = doc_key_dup(&jp->keys, f->serial, n ? jp->kids.v + f->first : NULL, n, key, len);
	if (err < 0)
		return err;
	if (err)
		return jerr_dup(jp, at, key, len);
	skip_ws(jp);
	if (jp->i >= jp->len)
		return jerr(jp, jp->i, "unexpected end of input, expected ':'");
	if (jp->b[jp->i] != ':')
		return jerr_unexpected(jp, "':' after the key");
	jp->i++;
	pair = vec_push_zero(&jp->kids);
	if (!pair)
		return -ENOMEM;
	pair->key = key;
	pair->line = line;
	pair->col = col;
	return 0;
}

/* Opens the child slot that the next value fills: a key for a map, an item for a list. */
static int jopen_child(struct jparser *jp, struct jframe *f)
{
	if (f->node->type == DOC_MAP)
		return jkey(jp, f);
	return vec_push_zero(&jp->kids) ? 0 : -ENOMEM;
}

/*
 * Attaches the finished value v to the innermost open collection and closes
 * every collection that ends right after it. Returns 1 when v completed the
 * top-level value (*root set), 0 when another value follows, or an error.
 */
static int jafter_value(struct jparser *jp, struct doc_node *v, struct doc_node **root)
{
	struct jframe *f;
	char close;
	int err;

	for (;;) {
		if (!jp->depth) {
			*root = v;
			return 1;
		}
		f = &jp->stack[jp->depth - 1];
		close = f->node->type == DOC_MAP ? '}' : ']';
		jp->kids.v[jp->kids.n - 1].value = v;
		skip_ws(jp);
		if (jp->i >= jp->len)
			return jerr(jp, jp->i, "unexpected end of input, expected ',' or '%c'",
				    close);
		if (jp->b[jp->i] == ',') {
			jp->i++;
			skip_ws(jp);
			if (jp->i < jp->len && (jp->b[jp->i] == '}' || jp->b[jp->i] == ']'))
				return jerr(jp, jp->i, "trailing comma before '%c'", jp->b[jp->i]);
			return jopen_child(jp, f);
		}
		if (jp->b[jp->i] != close)
			return jerr_unexpected(jp, close == '}' ? "',' or '}'" : "',' or ']'");
		jp->i++;
		err = doc_node_fill(jp->a, f->node, jp->kids.v + f->first, jp->kids.n - f->first);
		if (err)
			return err;
		jp->kids.n = f->first;
		v = f->node;
		jp->depth--;
	}
}

static int jparse(struct jparser *jp, struct doc_node **root)
{
	struct doc_node *v;
	struct jframe *f;
	unsigned char c;
	int err;

	for (;;) {
		skip_ws(jp);
		if (jp->i >= jp->len)
			return jerr(jp, jp->i, "unexpected end of input, expected a value");
		c = jp->b[jp->i];
		if (c == '{' || c == '[') {
			if (jp->depth == DOC_MAX_DEPTH)
				return jerr(jp, jp->i, "nesting deeper than %d levels",
					    DOC_MAX_DEPTH);
			v = jnode(jp, c == '{' ? DOC_MAP : DOC_SEQ, jp->i);
			if (!v)
				return -ENOMEM;
			jp->i++;
			skip_ws(jp);
			if (jp->i < jp->len && jp->b[jp->i] == (c == '{' ? '}' : ']')) {
				jp->i++;
			} else {
				f = &jp->stack[jp->depth++];
				f->node = v;
				f->first = jp->kids.n;
				f->serial = ++jp->serials;
				err = jopen_child(jp, f);
				if (err)
					return err;
				continue;
			}
		} else {
			err = jscalar(jp, &v);
			if (err)
				return err;
		}
		err = jafter_value(jp, v, root);
		if (err < 0)
			return err;
		if (err == 1)
			break;
	}
	skip_ws(jp);
	if (jp->i < jp->len)
		return jp->b[jp->i] == '/' ?
			       jerr(jp, jp->i, "comments are not allowed in JSON") :
			       jerr(jp, jp->i, "unexpected data after the top-level value");
	return 0;
}

int doc_parse_json(const char *buf, size_t len, struct doc_stream *out, struct errbuf *eb)
{
	struct jparser jp = {
		.b = (const unsigned char *)buf,
		.len = len,
		.a = out->arena,
		.eb = eb,
	};
	struct doc_node *root = NULL;
	int err;

	doc_pos_init(&jp.pos, buf, len);
	err = jparse(&jp, &root);
	if (!err) {
		out->docs = doc_arena_alloc(jp.a, sizeof(*out->docs));
		if (out->docs) {
			out->docs[0] = root;
			out->n = 1;
		} else {
			err = -ENOMEM;
		}
	}
	vec_free(&jp.kids);
	doc_htab_free(&jp.keys);
	return err;
}
