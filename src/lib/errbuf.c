/* SPDX-License-Identifier: Apache-2.0 */
/*
 * errbuf: fixed-size error messages with prepended context. Truncates rather
 * than fails: an over-long message still names its outermost context first.
 */
#include "lib/errbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int errbuf_set(struct errbuf *eb, int err, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (!eb)
		return err;
	va_start(ap, fmt);
	vsnprintf(eb->msg, sizeof(eb->msg), fmt, ap);
	va_end(ap);
	errno = saved;
	return err;
}

void errbuf_prefix(struct errbuf *eb, const char *fmt, ...)
{
	char old[ERRBUF_SIZE];
	va_list ap;
	int n;

	if (!eb)
		return;
	memcpy(old, eb->msg, sizeof(old));
	va_start(ap, fmt);
	n = vsnprintf(eb->msg, sizeof(eb->msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n < sizeof(eb->msg))
		snprintf(eb->msg + n, sizeof(eb->msg) - n, "%s", old);
}
