/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging for top levels only (programs, the agent): library code reports
 * through return values and struct errbuf instead. Messages go to stderr
 * with a level prefix; the threshold is set once at start.
 */
#ifndef VELUM_LIB_LOG_H
#define VELUM_LIB_LOG_H

enum log_level { LOG_LVL_ERR = 0, LOG_LVL_WARN = 1, LOG_LVL_INFO = 2, LOG_LVL_DEBUG = 3 };

extern enum log_level log_threshold;

void log_print(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Errors and warnings printed so far, by level ("error", "warning") and
 * subsystem: the word before the first ':' of the message, or the one
 * after a "velumd: " prefix ("restore" in "velumd: restore: ..."); "velumd"
 * when there is none. Calls fn for each (at most LOG_SUBSYSTEMS per level;
 * the rest count under "other"). Thread-safe.
 */
#define LOG_SUBSYSTEMS 32
void log_counts_foreach(void (*fn)(void *ctx, const char *level, const char *subsystem,
				   unsigned long long n),
			void *ctx);

/*
 * pr_err: something failed that the program gave up on or repaired (a change
 * rolled back, an endpoint left in error, a child restarted); pr_warn:
 * input ignored or a state degraded that needs no repair.
 */
#define pr_err(...)   log_print(LOG_LVL_ERR, __VA_ARGS__)
#define pr_warn(...)  log_print(LOG_LVL_WARN, __VA_ARGS__)
#define pr_info(...)  log_print(LOG_LVL_INFO, __VA_ARGS__)
#define pr_debug(...) log_print(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
