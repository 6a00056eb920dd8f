/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy files in, policy model out. Accepts what Cilium users already have:
 * CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy (cilium.io/v2,
 * `spec` or `specs`), Kubernetes NetworkPolicy (networking.k8s.io/v1), and
 * raw Cilium rule arrays as `cilium policy import` takes them; several
 * objects per file as a JSON array, a `kind: List`, or multi-document YAML.
 * Kubernetes Namespace objects (v1) may stand among them (a manifest with a
 * namespace and its policies): their names and labels come out beside the
 * policies.
 *
 * Validation is as strict as Cilium's (unknown fields, wrong types, one L3
 * peer kind per rule, at most 40 ports, L7 only on TCP and never on port 0,
 * invalid regexes, out-of-range ports, ...) and every error names
 * "file:line: field.path: what is wrong". A file with any error yields
 * nothing: the caller's state is never half-updated.
 */
#ifndef VELUM_POLICY_PARSE_H
#define VELUM_POLICY_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/errbuf.h"
#include "policy/rule.h"

/* A Kubernetes Namespace object: its name and labels. */
struct pol_namespace {
	char *name;
	struct pol_labels labels; /* k8s:key=value, without kubernetes.io/metadata.name */
	unsigned line;		  /* of the object, in its file */
};

struct pol_set {
	struct pol_policy **v;
	size_t n, cap;
	struct pol_namespace *nss; /* Namespace objects, in file order (no name twice) */
	size_t nns;
};

/*
 * Parses one file's contents. name is used in messages and for the
 * policy name of raw rule arrays (its base name without extension).
 * Appends the policies to *out only if the whole buffer is valid; otherwise
 * returns -EINVAL (or -ENOMEM) with eb set and leaves *out unchanged.
 */
int pol_parse_buf(const char *name, const char *buf, size_t len, struct pol_set *out,
		  struct errbuf *eb);

/* Reads and parses a file; as pol_parse_buf(). Files over 16 MiB are refused. */
int pol_parse_file(const char *path, struct pol_set *out, struct errbuf *eb);

/*
 * A standalone list of Cilium HTTP rules: what a policy's
 * `toPorts[].rules.http` holds (method, path, host, headers,
 * headerMatches), as the L7 proxy loads it with --rules.
 */
struct pol_http_rules {
	struct pol_http_rule *v; /* compiled as in a policy (regexes anchored) */
	size_t n;
};

/*
 * Parses one file's contents: a JSON or YAML list of HTTP rules, or an
 * object {http: [...]} (a policy's `rules` block); one document per file.
 * name is used in messages, which read as for policy files
 * ("rules.yaml:3: http[0].method: missing ) at offset 3"), and its extension
 * picks the format as in pol_parse_buf(). Returns 0 with *out filled (new;
 * free with pol_http_rules_free(); an empty list gives n == 0), or -EINVAL
 * (or -ENOMEM) with eb set and *out empty.
 */
int pol_parse_http_rules_buf(const char *name, const char *buf, size_t len,
			     struct pol_http_rules *out, struct errbuf *eb);

/* Reads and parses a file; as pol_parse_http_rules_buf(). Files over 16 MiB are refused. */
int pol_parse_http_rules_file(const char *path, struct pol_http_rules *out, struct errbuf *eb);

/* Frees the rules and empties r. Accepts NULL. */
void pol_http_rules_free(struct pol_http_rules *r);

/* Takes p into the set. Returns 0 or -ENOMEM (p not taken). */
int pol_set_push(struct pol_set *s, struct pol_policy *p);

/*
 * A port name as Kubernetes takes it (IANA_SVC_NAME, RFC 6335): 1-15 of
 * [a-z0-9-] with at least one letter, no leading, trailing or double '-'.
 */
bool pol_port_name_valid(const char *s);

/* Frees the set's namespaces (nss, nns) and leaves its policies. Accepts NULL. */
void pol_set_namespaces_free(struct pol_set *s);

/* Frees the set and every policy and namespace in it. */
void pol_set_free(struct pol_set *s);

#endif
