/* SPDX-License-Identifier: Apache-2.0 */
/* Leveled logging to stderr for top-level programs. */
#include "lib/log.h"

#include <stdarg.h>
#include <stdio.h>

enum log_level log_threshold = LOG_LVL_INFO;

void log_print(enum log_level lvl, const char *fmt, ...)
{
	static const char *const names[] = { "warning", "info", "debug" };
	va_list ap;

	if (lvl > log_threshold)
		return;
	fprintf(stderr, "%s: ", names[lvl]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}
