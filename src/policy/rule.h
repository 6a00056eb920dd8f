/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The policy model: what parse.c produces from CiliumNetworkPolicy,
 * CiliumClusterwideNetworkPolicy, Kubernetes NetworkPolicy and raw Cilium
 * rule files, after validation and Cilium's normalisation (label sources,
 * namespace scoping of selectors, default-deny defaults). Everything
 * downstream (resolution, trace, the agent's store) works on this model,
 * never on the files.
 *
 * A policy holds rules (a CNP's `spec`, each of its `specs`, each raw rule,
 * the one rule a NetworkPolicy becomes). A rule holds, per direction, peer
 * rules: the entries of ingress/ingressDeny (egress/egressDeny), each an L3
 * peer set AND an optional L4/L7 part. Entries are OR-ed; deny entries win.
 */
#ifndef VELUM_POLICY_RULE_H
#define VELUM_POLICY_RULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "labels/labels.h"
#include "lib/proto.h"
#include "policy/http.h"
#include "policy/selector.h"

enum pol_kind {
	POL_KIND_CNP,	/* CiliumNetworkPolicy: namespaced */
	POL_KIND_CCNP,	/* CiliumClusterwideNetworkPolicy */
	POL_KIND_KNP,	/* Kubernetes NetworkPolicy: namespaced */
	POL_KIND_RULES, /* raw rules as `cilium policy import` takes them: not namespaced */
};

enum pol_dir { POL_INGRESS = 0, POL_EGRESS = 1 };

enum pol_peer_kind {
	POL_PEER_ALL,	    /* no L3 field but ports/icmps: every peer, world included */
	POL_PEER_NONE,	    /* selects nothing: `[]`, entity none, an empty entry */
	POL_PEER_SELECTORS, /* OR of sels (endpoints, entities, CIDRs) */
};

/* Protocol numbers (IPPROTO_*); 0 means ANY = TCP, UDP and SCTP. */
#define POL_PROTO_ANY PROTO_ANY

struct pol_port {
	uint8_t proto;
	uint16_t lo, hi; /* inclusive; 0..0 = every port */
	char *name;	 /* named port (lower case): resolved per endpoint; lo/hi unused */
};

struct pol_port_rule {
	struct pol_port *ports;
	size_t nports; /* 0: every port, any protocol (TCP/UDP/SCTP) */
	struct pol_http_rule *http;
	size_t nhttp;			  /* > 0: L7, the port is redirected to the proxy */
	struct pol_http_matcher *matcher; /* http compiled (a reference) when nhttp > 0 */
};

struct pol_icmp {
	uint8_t family; /* 4 or 6 */
	uint8_t type;
};

struct pol_rule;

struct pol_peer_rule {
	struct pol_rule *rule; /* back-pointer */
	uint32_t id;	       /* unique while the policy is loaded; VELUM_RULE_FIRST and up */
	enum pol_dir dir;
	bool deny;	/* from ingressDeny / egressDeny */
	unsigned index; /* position in its list */
	unsigned line;
	enum pol_peer_kind peer_kind;
	const char *peer_field; /* "fromEndpoints", "toCIDRSet", ... or NULL */
	struct pol_selector *sels;
	size_t nsels;
	struct pol_port_rule *to_ports;
	size_t nto_ports; /* 0 and no icmps: L3 only (every port and protocol) */
	struct pol_icmp *icmps;
	size_t nicmps;
};

struct pol_policy;

struct pol_rule {
	struct pol_policy *policy; /* back-pointer */
	unsigned index;		   /* in `specs` (0 for `spec`), or in the raw array */
	unsigned line;
	struct pol_selector subject;	  /* the endpoints the rule applies to */
	struct pol_peer_rule *entries[2]; /* per pol_dir: allow entries, then deny */
	size_t nentries[2];
	bool default_deny[2]; /* resolved enableDefaultDeny per pol_dir */
	char *description;
	struct pol_labels labels;
};

struct pol_policy {
	enum pol_kind kind;
	char *name;
	char *namespace; /* NULL unless CNP / KNP */
	char *file;	 /* where it was read from, for messages */
	unsigned line;
	struct pol_rule *rules;
	size_t nrules;
	bool specs; /* rules came from `specs` (not `spec`) */
	/*
	 * First rule id of the policy's entries (numbered in order: rule, then
	 * ingress before egress, allow before deny entries, then index). Set by
	 * the engine on load; a caller restoring saved state sets it before
	 * loading so that ids stay what the kernel's maps and past events say.
	 */
	uint32_t first_rule_id;
	bool audit;	/* per-policy audit mode: denials are reported, not enforced */
	char *warnings; /* newline-separated notes for the user (accepted but odd input), or NULL */
};

/* "CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy", "NetworkPolicy", "CiliumRules". */
const char *pol_kind_name(enum pol_kind k);
/* Parses a kind name as pol_kind_name() prints it, or a short name (cnp, ccnp, netpol). */
int pol_kind_parse(const char *s, enum pol_kind *out);

/*
 * "TCP", "UDP", "SCTP", "ICMP", "ICMPv6"; POL_PROTO_ANY is "ANY"; any other
 * number is "?".
 */
const char *pol_proto_name(uint8_t proto);

/* "ingress" / "egress". */
const char *pol_dir_name(enum pol_dir d);

/*
 * Appends a reference to the entry, as trace and flow logs print it:
 * "CiliumNetworkPolicy default/rule1 specs[0] ingress[0]"
 * ("ingressDeny[1]" for deny entries; "spec" when the policy has one rule
 * from `spec`; no namespace for clusterwide kinds).
 */
struct strbuf;
void pol_peer_rule_format(const struct pol_peer_rule *pr, struct strbuf *sb);

/*
 * If the policy has an HTTP (L7) rule, appends where the first one is,
 * "file:line: spec.ingress[0].toPorts[0].rules.http[0]", and returns true.
 */
bool pol_policy_first_l7(const struct pol_policy *p, struct strbuf *sb);

/* Frees a policy and everything it owns. Accepts NULL. */
void pol_policy_free(struct pol_policy *p);

#endif
