/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging for top levels only (programs, the agent): library code reports
 * through return values and struct errbuf instead. Messages go to stderr
 * with a level prefix; the threshold is set once at start.
 */
#ifndef VELUM_LIB_LOG_H
#define VELUM_LIB_LOG_H

enum log_level { LOG_LVL_WARN = 0, LOG_LVL_INFO = 1, LOG_LVL_DEBUG = 2 };

extern enum log_level log_threshold;

void log_print(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Warnings printed so far, by subsystem: the word before the first ':' of
 * the message, or the one after a "velumd: " prefix ("restore" in
 * "velumd: restore: ..."); "velumd" when there is none. Calls fn for each
 * (at most LOG_SUBSYSTEMS; the rest count under "other"). Thread-safe.
 */
#define LOG_SUBSYSTEMS 32
void log_warnings_foreach(void (*fn)(void *ctx, const char *subsystem, unsigned long long n),
			  void *ctx);

#define pr_warn(...)  log_print(LOG_LVL_WARN, __VA_ARGS__)
#define pr_info(...)  log_print(LOG_LVL_INFO, __VA_ARGS__)
#define pr_debug(...) log_print(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
