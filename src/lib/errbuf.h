/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Error messages for input errors. Library and parser code never prints: it
 * fills a struct errbuf and returns a negative errno. Each layer that knows
 * more context prepends it, so the message a user finally sees reads
 * outermost-first: "deathstar.yaml:14: spec.ingress[0]...: 70000 is not a port".
 */
#ifndef VELUM_LIB_ERRBUF_H
#define VELUM_LIB_ERRBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define ERRBUF_SIZE 1024

/*
 * A value the input gave, quoted in a message and cut after
 * ERRBUF_QUOTE_MAX bytes (marked "...") so that the reason after it still
 * fits: errbuf_set(eb, -EINVAL, ERRBUF_Q " is not a port", ERRBUF_QARG(s)).
 */
#define ERRBUF_QUOTE_MAX 64
#define ERRBUF_Q	 "'%.*s%s"
#define ERRBUF_QARG(s) \
	ERRBUF_QUOTE_MAX, (s), strnlen((s), ERRBUF_QUOTE_MAX + 1) > ERRBUF_QUOTE_MAX ? "...'" : "'"

struct errbuf {
	char msg[ERRBUF_SIZE];
};

/*
 * Replaces the message (printf format) and returns err, the negative errno
 * the caller fails with: `return errbuf_set(eb, -ENOENT, "no endpoint '%s'",
 * name);`. Keeps errno as it was, so arguments may read it. Accepts NULL eb.
 */
int errbuf_set(struct errbuf *eb, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prepends context to the current message: "<context><msg>". Accepts NULL eb. */
void errbuf_prefix(struct errbuf *eb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline void errbuf_clear(struct errbuf *eb)
{
	if (eb)
		eb->msg[0] = '\0';
}

static inline bool errbuf_empty(const struct errbuf *eb)
{
	return !eb || eb->msg[0] == '\0';
}

#endif
