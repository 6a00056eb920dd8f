/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Label selectors (Kubernetes LabelSelector as Cilium uses it) compiled into
 * a list of requirements that all must hold. Requirement keys carry a label
 * source; the source "any" matches a key from any source, which is what a
 * selector key without a source means ("org: empire" is any:org=empire).
 *
 * A selector with no requirements selects every identity. CIDR requirements
 * select identities whose prefix lies within the given one; 0.0.0.0/0 and
 * ::/0 also select the world identities.
 *
 * Each selector has a canonical text form (requirements sorted, values
 * sorted), used as its identity in the selector cache and shown to users.
 */
#ifndef VELUM_POLICY_SELECTOR_H
#define VELUM_POLICY_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/errbuf.h"
#include "lib/strbuf.h"
#include "labels/labels.h"
#include "labels/prefix.h"

enum pol_sel_op {
	POL_SEL_IN,
	POL_SEL_NOT_IN,
	POL_SEL_EXISTS,
	POL_SEL_DOES_NOT_EXIST,
	POL_SEL_CIDR,
};

struct pol_sel_req {
	enum pol_sel_op op;
	char *source; /* "any" matches every source; unused for CIDR */
	char *key;
	char **values; /* IN / NOT_IN: sorted, unique */
	size_t nvalues;
	struct pol_prefix cidr; /* CIDR only */
};

struct pol_selector {
	struct pol_sel_req *reqs;
	size_t n;
};

/* What a selector sees of an identity. */
struct pol_sel_target {
	const struct pol_labels *labels;
	const struct pol_prefix *cidr; /* CIDR identities only, else NULL */
};

/*
 * Adds a requirement (copies strings). "source:key" keys are split; keys
 * without a known source get source "any". For IN/NOT_IN, values (n >= 1) are
 * copied, sorted and de-duplicated. Returns 0, -EINVAL (eb) or -ENOMEM.
 */
int pol_selector_add(struct pol_selector *s, enum pol_sel_op op, const char *key,
		     const char *const *values, size_t nvalues, struct errbuf *eb);
int pol_selector_add_cidr(struct pol_selector *s, const struct pol_prefix *p);

/* True if some requirement is on key (exact source, or any source when source is NULL). */
bool pol_selector_has_key(const struct pol_selector *s, const char *source, const char *key);
/* True if some requirement's key starts with prefix. */
bool pol_selector_has_key_prefix(const struct pol_selector *s, const char *prefix);
/* True if some requirement uses the reserved source. */
bool pol_selector_has_reserved(const struct pol_selector *s);

bool pol_selector_match(const struct pol_selector *s, const struct pol_sel_target *t);

/* Sorts requirements into canonical order; call once after the last add. */
void pol_selector_canonicalize(struct pol_selector *s);

/*
 * Appends the canonical text: "{}" for match-all, else requirements joined
 * by ", ": "any:org=empire", "k8s:app in (a,b)", "k8s:x notin (a)",
 * "any:x", "!any:x", "cidr:10.0.0.0/8".
 */
void pol_selector_format(const struct pol_selector *s, struct strbuf *sb);

int pol_selector_copy(struct pol_selector *dst, const struct pol_selector *src);
void pol_selector_free(struct pol_selector *s);

#endif
