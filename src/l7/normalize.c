/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request-target normalization: one pass over the path, segment by
 * segment, writing into the caller's buffer. Each kept segment is written
 * followed by the '/' that separated it from the next, so ".." pops back to
 * the '/' before the previous segment, and every output byte stands for at
 * least one input byte already read.
 */
#include "l7/normalize.h"

#include <stdbool.h>

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* Bytes never allowed in a target: controls, space, DEL, and '#' (no fragments in requests). */
static bool forbidden(unsigned char c)
{
	return c <= 0x20 || c == 0x7f || c == '#';
}

/*
 * Classifies a decoded segment by its part before any path parameters:
 * 1 for ".", 2 for "..", 0 otherwise.
 */
static int dots(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && s[i] != ';')
		i++;
	if (i == 1 && s[0] == '.')
		return 1;
	if (i == 2 && s[0] == '.' && s[1] == '.')
		return 2;
	return 0;
}

enum l7_norm l7_path_normalize(struct sv target, char *out, size_t cap, size_t *outlen,
			       const char **why)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)target.p;
	size_t n = target.len, i, o, seg, q;
	bool redirect = false;
	const char *reason;

	if (cap < n) {
		reason = "target longer than the buffer";
		goto reject;
	}
	if (!n || (p[0] != '/' && p[0] != '\\')) {
		reason = "request target does not start with /";
		goto reject;
	}
	for (q = 0; q < n && p[q] != '?'; q++)
		;
	for (i = 0; i < n; i++)
		if (forbidden(p[i])) {
			reason = p[i] == '#' ? "'#' in request target" :
					       "control character or space in request target";
			goto reject;
		}
	out[0] = '/';
	o = 1;
	i = 1;
	while (i <= q) {
		/* One segment: up to the next separator (/, \, %2F, %5C) or the path's end. */
		seg = o;
		while (i < q) {
			unsigned char c = p[i];
			int hi, lo, v;

			if (c == '/' || c == '\\')
				break;
			if (c != '%') {
				out[o++] = (char)c;
				i++;
				continue;
			}
			/* Both hex digits must lie inside the path. */
			hi = i + 2 < q ? hexval(p[i + 1]) : -1;
			lo = i + 2 < q ? hexval(p[i + 2]) : -1;
			if (hi < 0 || lo < 0) {
				reason = "malformed percent-encoding in path";
				goto reject;
			}
			v = hi * 16 + lo;
			if (v == '/' || v == '\\') {
				redirect = true;
				break;
			}
			if (unreserved((unsigned char)v)) {
				out[o++] = (char)v;
			} else {
				out[o++] = '%';
				out[o++] = hex[hi];
				out[o++] = hex[lo];
			}
			i += 3;
		}
		switch (dots(out + seg, o - seg)) {
		case 1:
			o = seg;
			break;
		case 2:
			o = seg;
			/* Pop the previous segment: back to the '/' before it (the root stays). */
			if (o > 1) {
				o--;
				while (o > 1 && out[o - 1] != '/')
					o--;
			}
			break;
		default:
			/*
			 * An empty segment is merged slashes or the trailing one.
			 * A kept segment gets its '/' only when a separator
			 * follows, so the output never outgrows the input.
			 */
			if (o > seg && i < q)
				out[o++] = '/';
		}
		if (i >= q)
			break;
		/* Skip the separator. */
		i += p[i] == '%' ? 3 : 1;
	}
	/* The query string, as is. */
	for (i = q; i < n; i++)
		out[o++] = (char)p[i];
	*outlen = o;
	return redirect ? L7_NORM_REDIRECT : L7_NORM_OK;
reject:
	if (why)
		*why = reason;
	return L7_NORM_REJECT;
}

const char *l7_norm_name(enum l7_norm n)
{
	switch (n) {
	case L7_NORM_OK:
		return "ok";
	case L7_NORM_REDIRECT:
		return "redirect";
	case L7_NORM_REJECT:
		return "reject";
	}
	return "?";
}
