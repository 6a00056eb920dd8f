/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Growable arrays. VEC(T) declares an anonymous struct { T *v; size_t n, cap; };
 * name it in a struct member or declare a named struct with VEC_DECLARE.
 * Growth doubles; a failed growth leaves the vector unchanged and returns
 * -ENOMEM. Elements move on growth: keep indices, not pointers, across pushes.
 */
#ifndef VELUM_LIB_VEC_H
#define VELUM_LIB_VEC_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define VEC(T)                 \
	struct {               \
		T *v;          \
		size_t n, cap; \
	}

#define VEC_DECLARE(name, T)   \
	struct name {          \
		T *v;          \
		size_t n, cap; \
	}

/* Makes room for at least `need` elements. Returns 0 or -ENOMEM. */
static inline int vec_grow_(void **v, size_t *cap, size_t need, size_t elsz)
{
	size_t ncap;
	void *nv;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 8;
	while (ncap < need)
		ncap *= 2;
	if (ncap > ((size_t)-1) / elsz)
		return -ENOMEM;
	nv = realloc(*v, ncap * elsz);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}

#define vec_reserve(vec, need) vec_grow_((void **)&(vec)->v, &(vec)->cap, (need), sizeof(*(vec)->v))

/* Appends val; returns 0 or -ENOMEM. */
#define vec_push(vec, val) \
	(vec_reserve((vec), (vec)->n + 1) ? -ENOMEM : ((vec)->v[(vec)->n++] = (val), 0))

/* Appends one zeroed element and returns a pointer to it, or NULL. */
#define vec_push_zero(vec)                  \
	(vec_reserve((vec), (vec)->n + 1) ? \
		 NULL :                     \
		 (memset(&(vec)->v[(vec)->n], 0, sizeof(*(vec)->v)), &(vec)->v[(vec)->n++]))

/*
 * For arrays that keep only a count (no capacity field): makes room for
 * element n of *v, an array of n elements of elsz bytes grown only by this
 * function, so it holds at least the power of two above n. Reallocates when n
 * is 0 or a power of two (doubling), so n appends cost O(n) in all.
 * Returns 0 or -ENOMEM (*v unchanged).
 */
static inline int vec_grow_pow2_(void **v, size_t n, size_t elsz)
{
	size_t cap = n; /* what such an array holds when n is 0 or a power of two */

	return n & (n - 1) ? 0 : vec_grow_(v, &cap, n + 1, elsz);
}

/* vec_grow_pow2_() on a pointer and its count: room for one more element. */
#define vec_room_pow2(ptr, n) vec_grow_pow2_((void **)&(ptr), (n), sizeof(*(ptr)))

#define vec_free(vec)                      \
	do {                               \
		free((vec)->v);            \
		(vec)->v = NULL;           \
		(vec)->n = (vec)->cap = 0; \
	} while (0)

#define vec_foreach(vec, it) for ((it) = (vec)->v; (it) < (vec)->v + (vec)->n; (it)++)

#endif
