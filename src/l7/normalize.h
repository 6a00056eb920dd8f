/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request-target normalization as Cilium configures Envoy by default
 * (`http-normalize-path`: normalize_path, merge_slashes, and
 * path_with_escaped_slashes_action UNESCAPE_AND_REDIRECT). The L7 rules
 * match the normalized target and the proxy forwards that same target, so
 * what was judged is what the server sees.
 *
 * On the path (the part before the first `?`):
 * - percent-encoded unreserved characters (ALPHA DIGIT - . _ ~) are decoded
 *   (`%2e` and `%2E` are `.`, `%41` is `A`); other escapes stay, with their
 *   hex digits in upper case (`%3b` becomes `%3B`);
 * - `\` is a slash, as in a browser's URL canonicalization;
 * - runs of slashes merge into one;
 * - dot segments are removed (RFC 3986 5.2.4), spelled plainly, encoded or
 *   with path parameters: `.`, `%2e`, `..;x`, `%2E%2e;jsessionid=1` all
 *   count; `..` above the root stays at the root;
 * - escaped slashes (`%2F`, `%5C`, any case) are unescaped and the result is
 *   normalized, but the request is not forwarded: the outcome is
 *   L7_NORM_REDIRECT to that target (the client asks again, and that request
 *   is judged).
 * The query string is kept byte for byte. Rejected (L7_NORM_REJECT, answer
 * 400): a target not starting with `/` (asterisk and absolute forms are the
 * caller's), a malformed escape (`%` not followed by two hex digits), a
 * control character, space or DEL anywhere, or a `#`.
 */
#ifndef VELUM_L7_NORMALIZE_H
#define VELUM_L7_NORMALIZE_H

#include <stddef.h>

#include "lib/sv.h"

enum l7_norm {
	L7_NORM_OK,	  /* forward (and match) out */
	L7_NORM_REDIRECT, /* escaped slashes: redirect the client to out */
	L7_NORM_REJECT,	  /* malformed target: *why says what and where */
};

/*
 * Normalizes target into out (cap bytes; the result is never longer than
 * target, so cap >= target.len always suffices) and sets *outlen; out is not
 * NUL-terminated. Reads exactly target.len bytes. Never allocates. On
 * L7_NORM_REJECT, *why (if why is not NULL) is a static reason
 * ("malformed percent-encoding") and out is undefined.
 */
enum l7_norm l7_path_normalize(struct sv target, char *out, size_t cap, size_t *outlen,
			       const char **why);

/* "ok", "redirect", "reject". */
const char *l7_norm_name(enum l7_norm n);

#endif
