/* SPDX-License-Identifier: Apache-2.0 */
/* Leveled logging to stderr for top-level programs. */
#include "lib/log.h"

#include <ctype.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum log_level log_threshold = LOG_LVL_INFO;

static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char name[24];
	unsigned long long n;
} counts[LOG_SUBSYSTEMS + 1];

/* The word before s's first ':' into out, if it is one (letters, digits, '-', '_'). */
static bool word_colon(const char *s, char *out, size_t len)
{
	size_t n = 0;

	while (isalnum((unsigned char)s[n]) || s[n] == '-' || s[n] == '_')
		n++;
	if (!n || n >= len || s[n] != ':')
		return false;
	memcpy(out, s, n);
	out[n] = '\0';
	return true;
}

static void count_warning(const char *msg)
{
	char sub[24] = "velumd";
	size_t i;

	if (word_colon(msg, sub, sizeof(sub)) && !strcmp(sub, "velumd"))
		word_colon(msg + 8, sub, sizeof(sub));
	pthread_mutex_lock(&count_lock);
	for (i = 0; i < LOG_SUBSYSTEMS && counts[i].name[0]; i++)
		if (!strcmp(counts[i].name, sub))
			break;
	if (i == LOG_SUBSYSTEMS && strcmp(counts[i].name, "other"))
		snprintf(counts[i].name, sizeof(counts[i].name), "other");
	else if (!counts[i].name[0])
		snprintf(counts[i].name, sizeof(counts[i].name), "%s", sub);
	counts[i].n++;
	pthread_mutex_unlock(&count_lock);
}

void log_warnings_foreach(void (*fn)(void *ctx, const char *subsystem, unsigned long long n),
			  void *ctx)
{
	char names[LOG_SUBSYSTEMS + 1][24];
	unsigned long long n[LOG_SUBSYSTEMS + 1];
	size_t i, k;

	pthread_mutex_lock(&count_lock);
	for (k = i = 0; i <= LOG_SUBSYSTEMS; i++) {
		if (!counts[i].name[0])
			continue;
		memcpy(names[k], counts[i].name, sizeof(names[k]));
		n[k++] = counts[i].n;
	}
	pthread_mutex_unlock(&count_lock);
	for (i = 0; i < k; i++)
		fn(ctx, names[i], n[i]);
}

void log_print(enum log_level lvl, const char *fmt, ...)
{
	static const char *const names[] = { "warning", "info", "debug" };
	va_list ap;

	if (lvl == LOG_LVL_WARN) {
		char buf[64];

		va_start(ap, fmt);
		vsnprintf(buf, sizeof(buf), fmt, ap);
		va_end(ap);
		count_warning(buf);
	}
	if (lvl > log_threshold)
		return;
	fprintf(stderr, "%s: ", names[lvl]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}
