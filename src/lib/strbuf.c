/* SPDX-License-Identifier: Apache-2.0 */
/* strbuf: growable output strings with latched allocation failure. */
#include "lib/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool strbuf_reserve(struct strbuf *sb, size_t extra)
{
	size_t need, ncap;
	char *np;

	if (sb->oom)
		return false;
	need = sb->len + extra + 1;
	if (need <= sb->cap)
		return true;
	ncap = sb->cap ? sb->cap : 64;
	while (ncap < need)
		ncap *= 2;
	np = realloc(sb->p, ncap);
	if (!np) {
		sb->oom = true;
		return false;
	}
	sb->p = np;
	sb->cap = ncap;
	return true;
}

void strbuf_append(struct strbuf *sb, const char *s, size_t n)
{
	if (!strbuf_reserve(sb, n))
		return;
	memcpy(sb->p + sb->len, s, n);
	sb->len += n;
	sb->p[sb->len] = '\0';
}

void strbuf_puts(struct strbuf *sb, const char *s)
{
	strbuf_append(sb, s, strlen(s));
}

void strbuf_putc(struct strbuf *sb, char c)
{
	strbuf_append(sb, &c, 1);
}

void strbuf_printf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !strbuf_reserve(sb, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(sb->p + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

void strbuf_json_str(struct strbuf *sb, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	strbuf_putc(sb, '"');
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		switch (c) {
		case '"':
			strbuf_puts(sb, "\\\"");
			break;
		case '\\':
			strbuf_puts(sb, "\\\\");
			break;
		case '\n':
			strbuf_puts(sb, "\\n");
			break;
		case '\r':
			strbuf_puts(sb, "\\r");
			break;
		case '\t':
			strbuf_puts(sb, "\\t");
			break;
		default:
			if (c < 0x20 || c == 0x7f) {
				char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

				strbuf_append(sb, esc, sizeof(esc));
			} else {
				strbuf_putc(sb, (char)c);
			}
		}
	}
	strbuf_putc(sb, '"');
}

const char *strbuf_str(const struct strbuf *sb)
{
	return sb->p ? sb->p : "";
}

char *strbuf_detach(struct strbuf *sb)
{
	char *p = sb->oom ? NULL : sb->p;

	if (sb->oom)
		free(sb->p);
	else if (!p)
		p = calloc(1, 1);
	sb->p = NULL;
	sb->len = sb->cap = 0;
	sb->oom = false;
	return p;
}

void strbuf_reset(struct strbuf *sb)
{
	sb->len = 0;
	if (sb->p)
		sb->p[0] = '\0';
}

void strbuf_free(struct strbuf *sb)
{
	free(sb->p);
	sb->p = NULL;
	sb->len = sb->cap = 0;
	sb->oom = false;
}
