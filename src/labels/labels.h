/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Labels and label sets, Cilium's way: a label is `source:key=value`, with
 * sources such as k8s, reserved, cidr; a label set is what identifies a
 * workload. Sets are kept sorted by (key, source) so equal sets compare equal
 * byte for byte and a key is found by binary search.
 *
 * Only security-relevant labels make an identity. pol_labels_security()
 * applies Cilium's default label filter (io.kubernetes.* and friends out,
 * namespace, service account, cluster and app.kubernetes.io labels in).
 */
#ifndef VELUM_LABELS_LABELS_H
#define VELUM_LABELS_LABELS_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/errbuf.h"
#include "lib/strbuf.h"

/* Label keys velum derives from trusted metadata; users cannot set them. */
#define POL_LABEL_NAMESPACE   "io.kubernetes.pod.namespace"
#define POL_LABEL_CLUSTER     "io.cilium.k8s.policy.cluster"
#define POL_LABEL_NS_LABELS   "io.cilium.k8s.namespace.labels."
#define POL_LABEL_SVC_ACCOUNT "io.cilium.k8s.policy.serviceaccount"
#define POL_CLUSTER_NAME      "default"
#define POL_SOURCE_K8S	      "k8s"
#define POL_SOURCE_RESERVED   "reserved"
#define POL_SOURCE_ANY	      "any"
#define POL_SOURCE_CIDR	      "cidr"

struct pol_label {
	char *source; /* never NULL */
	char *key;
	char *value; /* "" when the label has no value */
};

struct pol_labels {
	struct pol_label *v; /* sorted by key, then source; no two equal (source, key) */
	size_t n, cap;
};

/* True if s names a label source Cilium knows (k8s, reserved, any, cidr, ...). */
bool pol_label_source_known(const char *s, size_t len);

/*
 * Parses "source:key=value", "source:key", "key=value" or "key" ("$x" is
 * "reserved:x") into *out (returns new strings; free with pol_label_free()).
 * A missing source becomes default_source. Validates the key and value
 * characters (Kubernetes label syntax; keys may carry a DNS prefix "a.b/c").
 * Returns 0, or -EINVAL with a message in eb, or -ENOMEM.
 */
int pol_label_parse(const char *s, const char *default_source, struct pol_label *out,
		    struct errbuf *eb);

/* Validates a label key / value as Kubernetes does. On error fills eb. */
int pol_label_key_check(const char *key, struct errbuf *eb);
int pol_label_value_check(const char *value, struct errbuf *eb);

void pol_label_free(struct pol_label *l);

/*
 * Adds source:key=value (copies the strings), replacing the value of an
 * existing (source, key). Returns 0 or -ENOMEM (set unchanged).
 */
int pol_labels_set(struct pol_labels *ls, const char *source, const char *key, const char *value);

/* Returns the label with exactly this source and key, or NULL. */
const struct pol_label *pol_labels_find(const struct pol_labels *ls, const char *source,
					const char *key);

/*
 * Returns the index of the first label with this key (any source) and stores
 * the count of such labels in *count; with none, *count is 0.
 */
size_t pol_labels_find_key(const struct pol_labels *ls, const char *key, size_t *count);

/* Deep copy into *dst (initially empty). Returns 0 or -ENOMEM (dst left empty). */
int pol_labels_copy(struct pol_labels *dst, const struct pol_labels *src);

/* Copies only the security-relevant labels of src into *dst (initially empty). */
int pol_labels_security(struct pol_labels *dst, const struct pol_labels *src);

/* Total order; 0 iff the sets are equal. */
int pol_labels_cmp(const struct pol_labels *a, const struct pol_labels *b);

/* 64-bit hash consistent with pol_labels_cmp(). */
unsigned long long pol_labels_hash(const struct pol_labels *ls);

/* Appends "source:key=value" items joined by sep (value and '=' omitted when empty). */
void pol_labels_format(const struct pol_labels *ls, const char *sep, struct strbuf *sb);
void pol_label_format(const struct pol_label *l, struct strbuf *sb);

void pol_labels_free(struct pol_labels *ls);

#endif
