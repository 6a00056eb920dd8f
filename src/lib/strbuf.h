/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A growable, always NUL-terminated byte string for building output (text
 * tables, JSON). On allocation failure the buffer latches `oom` and further
 * appends are no-ops, so callers check once at the end.
 */
#ifndef VELUM_LIB_STRBUF_H
#define VELUM_LIB_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct strbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

#define STRBUF_INIT \
	{           \
		0   \
	}

void strbuf_append(struct strbuf *sb, const char *s, size_t n);
void strbuf_puts(struct strbuf *sb, const char *s);
void strbuf_putc(struct strbuf *sb, char c);
void strbuf_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s (n bytes) as a JSON string literal, quotes included. */
void strbuf_json_str(struct strbuf *sb, const char *s, size_t n);
/* Returns the contents ("" when empty); borrowed until the next append or free. */
const char *strbuf_str(const struct strbuf *sb);
/* Returns the buffer and resets sb; the caller frees it. NULL if oom. */
char *strbuf_detach(struct strbuf *sb);
void strbuf_reset(struct strbuf *sb);
void strbuf_free(struct strbuf *sb);

#endif
