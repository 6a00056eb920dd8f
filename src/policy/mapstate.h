/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Map state: what one endpoint's datapath enforces, in both directions, as
 * computed by the engine (resolve.h). Its entries are exactly the policy-map
 * entries of include/velum/policy.h, and pol_mapstate_lookup() is the
 * kernel's lookup in user space, so a trace answers with the verdict the
 * kernel gives.
 *
 * The L7 part lists, per direction, every allow contribution (peer set,
 * protocol, port range, HTTP rules or "anything"): the proxy decides a
 * request redirected on (peer, port) by the first item that covers it and
 * whose HTTP rules match. An L3/L4 rule covering the same peer and port is an
 * "anything" item, which is how an L4-only rule makes the L7 rules of that
 * port allow-all for the peers it covers.
 */
#ifndef VELUM_POLICY_MAPSTATE_H
#define VELUM_POLICY_MAPSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <velum/policy.h>

#include "lib/strbuf.h"
#include "policy/http.h"
#include "policy/rule.h"

struct pol_mapentry {
	struct velum_policy_key key; /* identity and dport in network byte order */
	struct velum_policy_value val;
};

struct pol_l7_item {
	uint8_t dir;	 /* enum pol_dir */
	uint8_t proto;	 /* 0 = any */
	uint16_t lo, hi; /* port range, inclusive */
	bool any_peer;
	uint32_t *peers; /* sorted identities when !any_peer */
	size_t npeers;
	const struct pol_port_rule *pr; /* HTTP rules; NULL = any request (engine's, borrowed) */
	/*
	 * pr's compiled rules, NULL = any request: borrowed from the engine in
	 * a map state, a counted reference in an L7 snapshot (whose pr is NULL).
	 */
	struct pol_http_matcher *matcher;
	uint32_t rule_id;
};

struct pol_mapstate {
	struct pol_mapentry *entries; /* sorted by key bytes (direction after identity) */
	size_t n;
	struct pol_l7_item *l7;
	size_t nl7;
	bool enforced[2]; /* per pol_dir: default deny in force */
	bool audit[2];	  /* per pol_dir: denials only reported */
};

/* Result of a lookup; the match type is derived from it. */
struct pol_verdict {
	enum velum_verdict verdict; /* NONE: no entry, i.e. default deny */
	uint8_t flags;
	uint8_t port_prefix;
	bool specific_peer; /* the entry names the peer identity (not "any") */
	uint16_t proxy_port;
	uint32_t rule_id;
};

/*
 * The kernel's lookup: the peer's entry and the any-peer entry, each the
 * longest match on (protocol, port); the higher verdict class wins, then the
 * longer port prefix, then the specific peer. ICMP: proto IPPROTO_ICMP and
 * dport = the ICMP type.
 */
void pol_mapstate_lookup(const struct pol_mapstate *ms, enum pol_dir dir, uint32_t peer,
			 uint8_t proto, uint16_t dport, struct pol_verdict *out);

/* True if the verdict lets the packet through (ALLOW, REDIRECT, AUDIT). */
bool pol_verdict_passes(const struct pol_verdict *v);

/*
 * Cilium's match type names: "L3-L4", "L3-Proto", "L3-Only", "L4-Only",
 * "Proto-Only", "all", or "none" for no entry.
 */
const char *pol_verdict_match_type(const struct pol_verdict *v);

enum pol_l7_reason {
	POL_L7_NOT_FILTERED, /* no L7 rule covers (peer, port) in this direction: allowed */
	POL_L7_MATCHED,	     /* allowed by an HTTP rule, or an L3/L4 rule on the same port */
	POL_L7_NO_MATCH,     /* denied: no HTTP rule matched */
	POL_L7_ENGINE_ERROR, /* denied: the regex engine gave no answer (count as an error) */
};

/* "not L7-filtered", "matched", "no HTTP rule matched", "engine error". */
const char *pol_l7_reason_name(enum pol_l7_reason r);

struct pol_l7_verdict {
	bool allowed;
	enum pol_l7_reason reason;
	uint32_t rule_id; /* the rule that allowed, or 0 */
	int http_index;	  /* the HTTP rule that matched; -1 for "any request" or denied */
	int error;	  /* ENGINE_ERROR: the engine's negative errno */
	/* The list http_index is in (borrowed from the items), or NULL. */
	const struct pol_http_matcher *matcher;
};

/*
 * Decides an HTTP request that arrived redirected in direction dir from
 * (or to) peer on TCP port, by the items: the first item covering (peer,
 * port) whose HTTP rules match allows (an item without rules allows any
 * request); none covering: not filtered. An engine error on one item is
 * not a "no match": unless another item allows, the verdict is
 * POL_L7_ENGINE_ERROR. The one decision the proxy, the L7 snapshot and the
 * trace all make. req's path must be normalized (l7/normalize.h) as the
 * proxy forwards it. Borrows everything.
 */
void pol_l7_items_decide(const struct pol_l7_item *items, size_t n, enum pol_dir dir, uint32_t peer,
			 uint16_t port, const struct pol_http_request *req,
			 struct pol_l7_verdict *out);

/* pol_l7_items_decide() on the map state's L7 items. */
void pol_mapstate_l7_decide(const struct pol_mapstate *ms, enum pol_dir dir, uint32_t peer,
			    uint16_t port, const struct pol_http_request *req,
			    struct pol_l7_verdict *out);

/* True if a and b hold the same entries (L7 items are not compared). */
bool pol_mapstate_entries_equal(const struct pol_mapstate *a, const struct pol_mapstate *b);

/*
 * Appends the entries as text, one per line, for golden tests and `velum
 * bpf policy get`: "ingress ALLOW   id 257       TCP/80       rule 16".
 * name_rule (optional) turns a rule id into text.
 */
void pol_mapstate_format(const struct pol_mapstate *ms, struct strbuf *sb,
			 void (*name_rule)(void *ctx, uint32_t rule_id, struct strbuf *sb),
			 void *ctx);

const char *pol_verdict_name(enum velum_verdict v);

void pol_mapstate_free(struct pol_mapstate *ms);

#endif
