/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Linear-time regular expressions in RE2 syntax, matched as sets: the
 * engine under the L7 HTTP rules. A set holds N patterns, each anchored at
 * both ends (a full match, as Envoy's safe_regex gives Cilium), and one scan
 * of a subject answers which of them match, so N rules cost about what one
 * does. The engine is RE2 (a DFA built lazily, bounded memory, no
 * backtracking), reached through a small C++ shim; UTF-8 mode, so `.`
 * matches one UTF-8 character.
 *
 * A match can fail without an answer: RE2::Set has no fallback when its DFA
 * runs out of its memory budget. That is returned as a negative errno,
 * never as "no match", so callers can deny and count it as an error.
 */
#ifndef VELUM_L7_REGEX_H
#define VELUM_L7_REGEX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "lib/errbuf.h"
#include "lib/sv.h"

/* Longest pattern accepted. */
#define L7_REGEX_MAX_LEN 4096

/* Memory budget of one set (RE2's default): program plus DFA cache. */
#define L7_RESET_MAX_MEM (8u << 20)

struct l7_reset;

/*
 * Checks that pattern is valid RE2 syntax (what Cilium's Envoy accepts).
 * Returns 0, or -EINVAL with the reason in eb, naming the pattern and RE2's
 * complaint ("invalid regular expression '(?=x)': invalid perl operator:
 * (?="), or -ENOMEM.
 */
int l7_regex_check(const char *pattern, struct errbuf *eb);

/*
 * Compiles n patterns into one set; pattern i reports id ids[i] (ids need
 * not be distinct or ordered; each must be below 64 * the word count the
 * caller passes to l7_reset_match()). max_mem 0 means L7_RESET_MAX_MEM.
 * Borrows patterns and ids. Returns a new set (l7_reset__free()), or NULL
 * with errno EINVAL (reason in eb: an invalid pattern, or a set too big for
 * max_mem), E2BIG (a pattern over L7_REGEX_MAX_LEN) or ENOMEM.
 */
struct l7_reset *l7_reset__new(const char *const *patterns, const uint32_t *ids, size_t n,
			       size_t max_mem, struct errbuf *eb);

/*
 * Scans subject once and ORs bit ids[i] into bits for each pattern i that
 * matches all of it. Thread-safe (RE2 locks its DFA cache). Returns the
 * number of matching patterns, or a negative errno when the engine gave no
 * answer: -ENOMEM (DFA out of memory, or no memory for the result), -EIO
 * (any other engine failure). bits is unchanged on error.
 */
int l7_reset_match(const struct l7_reset *set, struct sv subject, uint64_t *bits);

/* Number of patterns in the set. */
size_t l7_reset_size(const struct l7_reset *set);

/* Frees the set. Accepts NULL. */
void l7_reset__free(struct l7_reset *set);

#ifdef __cplusplus
}
#endif

#endif
