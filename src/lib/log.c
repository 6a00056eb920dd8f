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
struct log_count {
	char name[24];
	unsigned long long n;
};

/* by level (0 errors, 1 warnings) and subsystem; the last of each: "other" */
static struct log_count counts[2][LOG_SUBSYSTEMS + 1];

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

static void count_message(enum log_level lvl, const char *msg)
{
	char sub[24] = "velumd";
	size_t i;
	struct log_count *c = counts[lvl == LOG_LVL_ERR ? 0 : 1];

	if (word_colon(msg, sub, sizeof(sub)) && !strcmp(sub, "velumd"))
		word_colon(msg + 8, sub, sizeof(sub));
	pthread_mutex_lock(&count_lock);
	for (i = 0; i < LOG_SUBSYSTEMS && c[i].name[0]; i++)
		if (!strcmp(c[i].name, sub))
			break;
	if (i == LOG_SUBSYSTEMS && strcmp(c[i].name, "other"))
		snprintf(c[i].name, sizeof(c[i].name), "other");
	else if (!c[i].name[0])
		snprintf(c[i].name, sizeof(c[i].name), "%s", sub);
	c[i].n++;
	pthread_mutex_unlock(&count_lock);
}

void log_counts_foreach(void (*fn)(void *ctx, const char *level, const char *subsystem,
				   unsigned long long n),
			void *ctx)
{
	static const char *const levels[2] = { "error", "warning" };
	char names[2][LOG_SUBSYSTEMS + 1][24];
	unsigned long long n[2][LOG_SUBSYSTEMS + 1];
	size_t i, k[2] = { 0, 0 }, l;

	pthread_mutex_lock(&count_lock);
	for (l = 0; l < 2; l++)
		for (i = 0; i <= LOG_SUBSYSTEMS; i++) {
			if (!counts[l][i].name[0])
				continue;
			memcpy(names[l][k[l]], counts[l][i].name, sizeof(names[l][k[l]]));
			n[l][k[l]++] = counts[l][i].n;
		}
	pthread_mutex_unlock(&count_lock);
	for (l = 0; l < 2; l++)
		for (i = 0; i < k[l]; i++)
			fn(ctx, levels[l], names[l][i], n[l][i]);
}

void log_print(enum log_level lvl, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	va_list ap;

	if (lvl <= LOG_LVL_WARN) {
		char buf[64];

		va_start(ap, fmt);
		vsnprintf(buf, sizeof(buf), fmt, ap);
		va_end(ap);
		count_message(lvl, buf);
	}
	if (lvl > log_threshold)
		return;
	fprintf(stderr, "%s: ", names[lvl]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}
