/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The policy engine: policies, identities and endpoints in; one map state per
 * endpoint out, recomputed incrementally.
 *
 * The engine knows identities (numbers with label sets, CIDR identities with
 * their prefix) and endpoints (an identity, named ports, audit mode); it does
 * not allocate identity numbers or touch the kernel. Selectors are interned
 * in a selector cache that keeps, for each distinct selector, the sorted list
 * of identities it selects; identity changes update those lists.
 *
 * Endpoints with the same identity, named ports and audit mode share one
 * map state ("subject"). Every change marks the subjects it can affect;
 * pol_engine_regenerate() recomputes only those and reports the endpoints
 * whose entries changed:
 *   - policy added/removed: subjects its endpoint selectors select;
 *   - identity added/removed: subjects of rules whose peer selectors
 *     select it (and subjects with that identity);
 *   - endpoint named ports changed: its own subject, and subjects with
 *     egress rules on named ports.
 *
 * Precedence within a map state (deny, audit, redirect, allow; then the more
 * specific port; then the specific peer) is resolved as documented in
 * include/velum/policy.h. Each entry carries the id of the rule that produced
 * it; on ties the oldest rule (lowest id) is reported.
 */
#ifndef VELUM_POLICY_RESOLVE_H
#define VELUM_POLICY_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "labels/labels.h"
#include "labels/prefix.h"
#include "lib/errbuf.h"
#include "policy/mapstate.h"
#include "policy/rule.h"

struct pol_engine;

struct pol_named_port {
	const char *name; /* lower case */
	uint16_t port;
	uint8_t proto; /* IPPROTO_TCP / UDP / SCTP */
};

struct pol_engine *pol_engine__new(void);
/* Frees the engine and every policy it holds. Accepts NULL. */
void pol_engine__free(struct pol_engine *e);

/* L7 proxy listener ports written into REDIRECT entries (0 until a proxy exists). */
void pol_engine_set_proxy_ports(struct pol_engine *e, uint16_t ingress, uint16_t egress);

/*
 * Makes identity id known with its labels (copied) and, for CIDR identities,
 * its prefix. Re-adding an id replaces its labels. Returns 0 or -ENOMEM.
 */
int pol_engine_identity_add(struct pol_engine *e, uint32_t id, const struct pol_labels *labels,
			    const struct pol_prefix *cidr);
/* Forgets identity id. Returns 0 or -ENOENT. */
int pol_engine_identity_remove(struct pol_engine *e, uint32_t id);

/*
 * Adds or updates endpoint ep (any caller-chosen number) with its identity
 * (which must be known), named ports (copied) and audit mode. Returns 0,
 * -ENOENT (unknown identity) or -ENOMEM.
 */
int pol_engine_endpoint_set(struct pol_engine *e, uint32_t ep, uint32_t identity,
			    const struct pol_named_port *ports, size_t nports, bool audit);
int pol_engine_endpoint_remove(struct pol_engine *e, uint32_t ep);

/*
 * Adds policy p (takes it), replacing the loaded policy of the same kind,
 * namespace and name (which is freed). Assigns rule ids. On error p is
 * freed and nothing changed. Returns 0 or -ENOMEM.
 */
int pol_engine_policy_upsert(struct pol_engine *e, struct pol_policy *p);
/* Removes the policy (kind, namespace or NULL, name). Returns 0 or -ENOENT. */
int pol_engine_policy_delete(struct pol_engine *e, enum pol_kind kind, const char *ns,
			     const char *name);

/*
 * The loaded policies in load order (borrowed until the next change).
 * Returns the count; the array is rebuilt here after a change (0 and *out
 * NULL if that allocation fails; otherwise *out is never NULL).
 */
size_t pol_engine_policies(const struct pol_engine *e, const struct pol_policy *const **out);

/* The loaded policy (kind, namespace or NULL, name), or NULL; borrowed until the next change. */
const struct pol_policy *pol_engine_policy(const struct pol_engine *e, enum pol_kind kind,
					   const char *ns, const char *name);

/*
 * Recomputes every marked subject. *changed (optional, free()) receives the
 * endpoints whose entries changed, *nchanged their count. Returns 0 or
 * -ENOMEM (the marks stay, so a retry redoes the work).
 */
int pol_engine_regenerate(struct pol_engine *e, uint32_t **changed, size_t *nchanged);

/*
 * The map state of endpoint ep after the last regenerate, or NULL for an
 * unknown endpoint. Borrowed: valid until the next engine change.
 */
const struct pol_mapstate *pol_engine_endpoint_state(const struct pol_engine *e, uint32_t ep);

/* The peer rule with this id, or NULL (also for ids below VELUM_RULE_FIRST). */
const struct pol_peer_rule *pol_engine_rule(const struct pol_engine *e, uint32_t rule_id);

/* Appends a human name for a rule id: a rule reference, "default deny", ... */
void pol_engine_rule_name(const struct pol_engine *e, uint32_t rule_id, struct strbuf *sb);

/*
 * Lints the loaded policies as they apply to the current endpoints: appends
 * one line per pair (HTTP rule set, L3/L4 rule) where the L3/L4 rule allows
 * some of the same peers on the same port and protocol, so the HTTP rules
 * have no effect for them (Cilium's documented behaviour, and a classic
 * surprise): "CiliumNetworkPolicy a spec.ingress[0]: its HTTP rules have no
 * effect on ingress TCP/80 for peers also allowed by CiliumNetworkPolicy b
 * spec.ingress[0]". Call after pol_engine_regenerate(). Returns the number
 * of lines.
 */
size_t pol_engine_lint(const struct pol_engine *e, struct strbuf *sb);

/* The labels the engine holds for identity id, or NULL. */
const struct pol_labels *pol_engine_identity_labels(const struct pol_engine *e, uint32_t id);

/* Calls fn for every CIDR prefix a policy's selectors use. Stops at a non-zero return. */
int pol_policy_foreach_cidr(const struct pol_policy *p,
			    int (*fn)(void *ctx, const struct pol_prefix *prefix), void *ctx);

#endif
