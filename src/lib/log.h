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

#define pr_warn(...)  log_print(LOG_LVL_WARN, __VA_ARGS__)
#define pr_info(...)  log_print(LOG_LVL_INFO, __VA_ARGS__)
#define pr_debug(...) log_print(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
