/* SPDX-License-Identifier: Apache-2.0 */
/*
 * String views: a pointer and a length into a buffer someone else owns. A
 * view never owns or outlives its buffer; into buffers that can move, keep
 * offsets instead.
 */
#ifndef VELUM_LIB_SV_H
#define VELUM_LIB_SV_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct sv {
	const char *p;
	size_t len;
};

#define SV(s) ((struct sv){ (s), sizeof(s) - 1 })

static inline struct sv sv_from(const char *s)
{
	return (struct sv){ s, s ? strlen(s) : 0 };
}

static inline bool sv_eq(struct sv a, struct sv b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static inline bool sv_eq_str(struct sv a, const char *s)
{
	return sv_eq(a, sv_from(s));
}

#endif
