/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Flow records: a datapath event (include/velum/events.h) enriched with
 * what the agent knew when it read it (endpoint names, identity labels, the
 * rule that decided), and everything done with them afterwards: the JSON
 * line of /v1/flows, the Hubble-style compact line of `velum observe`,
 * filters, and the bounded ring velumd keeps the last flows in.
 *
 * The enrichment is shared: struct mon_ident (one side: endpoint name,
 * identity, labels) and struct mon_rule (a rule's reference) are immutable
 * and reference-counted (atomically, so the ring and the agent's caches may
 * live in different threads), so the thousands of flows between the same
 * two endpoints hold two pointers, not two copies of their labels.
 *
 * Pure computation: no I/O, no locks (the caller serialises access to a
 * ring).
 */
#ifndef VELUM_MONITOR_FLOW_H
#define VELUM_MONITOR_FLOW_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/errbuf.h"
#include "lib/strbuf.h"

/* One side of a flow as known at the time of the event. */
struct mon_ident {
	atomic_uint refs;
	char *endpoint; /* "namespace/name", or NULL for peers that are not endpoints */
	uint32_t identity;
	char **labels; /* "source:key=value", sorted as the identity holds them */
	size_t nlabels;
};

/* The rule that decided (rule ids VELUM_RULE_FIRST and up). */
struct mon_rule {
	atomic_uint refs;
	uint32_t id;
	char *ref;  /* "CiliumNetworkPolicy default/rule1 spec.ingress[0]" */
	char *kind; /* "CiliumNetworkPolicy", ... */
	char *ns;   /* NULL for clusterwide kinds and raw rules */
	char *name;
};

/*
 * Returns a new mon_ident holding one reference, copying endpoint (may be
 * NULL) and the n labels; NULL on allocation failure.
 */
struct mon_ident *mon_ident__new(const char *endpoint, uint32_t identity, const char *const *labels,
				 size_t n);
/* Takes a reference; returns id. Accepts NULL. */
struct mon_ident *mon_ident_get(struct mon_ident *id);
/* Drops a reference, freeing on the last. Accepts NULL. */
void mon_ident_put(struct mon_ident *id);

/* As mon_ident__new() for a rule; ns may be NULL. */
struct mon_rule *mon_rule__new(uint32_t id, const char *ref, const char *kind, const char *ns,
			       const char *name);
struct mon_rule *mon_rule_get(struct mon_rule *r);
void mon_rule_put(struct mon_rule *r);

/* A flow's type beyond the kernel's VELUM_EVENT_*: an access event of the L7 proxy. */
#define MON_FLOW_L7 3
/* A verdict beyond the kernel's VELUM_FLOW_*: an L7 request the proxy could not judge. */
#define MON_VERDICT_ERROR 5

enum mon_l7_type { MON_L7_REQUEST = 1, MON_L7_RESPONSE = 2 };

/* The L7 part of a proxy's access event (Hubble's `l7` object, HTTP only). */
struct mon_l7 {
	uint8_t type; /* enum mon_l7_type */
	uint8_t http_major, http_minor;
	uint16_t code;	     /* response status; 0 in requests */
	uint64_t latency_ns; /* responses: request decided -> response head */
	char *method;	     /* "GET" */
	char *host;	     /* the Host the request named ("" if none) */
	char *url;	     /* "http://host/path?query", as Hubble writes it */
	char *reason;	     /* the proxy's reason: "no HTTP rule matched", "bad request: ..." */
};

/*
 * Returns a new L7 part copying the strings (NULL taken as ""), or NULL on
 * allocation failure. Freed by mon_l7__free() (accepts NULL).
 */
struct mon_l7 *mon_l7__new(uint8_t type, const char *method, const char *host, const char *url,
			   const char *reason);
void mon_l7__free(struct mon_l7 *l7);

struct mon_flow {
	uint64_t seq;	 /* position in the agent's stream, from 1 */
	int64_t time_ns; /* wall clock (CLOCK_REALTIME) */
	uint8_t type;	 /* VELUM_EVENT_DROP, VELUM_EVENT_POLICY_VERDICT or MON_FLOW_L7 */
	uint8_t verdict; /* VELUM_FLOW_*, or MON_VERDICT_ERROR (L7) */
	uint8_t dir;	 /* VELUM_DIR_* of the deciding endpoint's policy */
	uint8_t match;	 /* enum velum_match */
	uint16_t reason; /* drop reason magnitude, 0 if none */
	uint8_t protocol;
	uint8_t tcp_flags;
	uint32_t ep_id;	       /* the endpoint whose policy decided */
	uint32_t rule_id;      /* as the kernel reported it */
	uint32_t saddr, daddr; /* network byte order */
	uint16_t sport, dport; /* host order; ICMP: echo id and type */
	uint16_t proxy_port;
	uint32_t len;
	struct mon_ident *src, *dst; /* owned references; never NULL in a valid flow */
	struct mon_rule *rule;	     /* owned reference or NULL */
	/*
	 * MON_FLOW_L7 only (owned, else NULL). A response's source is the
	 * server and its destination the client (Hubble's is_reply), printed
	 * "client <- server".
	 */
	struct mon_l7 *l7;
};

struct velum_event;

/*
 * Fills f from a kernel event (include/velum/events.h, borrowed): every
 * field the event carries, ports in host order, time_ns as given (the
 * event's time on CLOCK_REALTIME). src, dst and rule are left NULL for the
 * caller, who knows the names; seq 0.
 */
void mon_flow_fill(struct mon_flow *f, const struct velum_event *ev, int64_t time_ns);

/* Drops the flow's references and zeroes it. */
void mon_flow_release(struct mon_flow *f);

/*
 * The text every decision carries: the rule reference, "default deny" for a
 * policy drop (or audited default deny) without a rule, "no policy" for a
 * direction no policy enforces; NULL for drops that are not policy
 * decisions (the reason says everything). Returns a pointer into f or a
 * static string.
 */
const char *mon_flow_policy_text(const struct mon_flow *f);

/* "policy-verdict" / "drop" / "l7". */
const char *mon_flow_type_name(uint8_t type);
/* "FORWARDED", "DROPPED", "AUDIT", "REDIRECTED", "ERROR". */
const char *mon_verdict_name(uint8_t verdict);
/* Inverse of mon_verdict_name() (case-insensitive); 0 if unknown. */
uint8_t mon_verdict_parse(const char *s);
/* "L3-L4", ... "none" (Cilium's match types). */
const char *mon_match_name(uint8_t match);
/* "Policy denied", ... */
const char *mon_drop_reason_name(uint16_t reason);
/* "TCP", "UDP", "ICMP", "SCTP", or "IP". */
const char *mon_proto_name(uint8_t proto);

/* Appends the flow as one JSON object (docs/api.md), no newline. */
void mon_flow_format_json(const struct mon_flow *f, struct strbuf *sb);

/*
 * Appends the Hubble-style compact line, no newline:
 * "Nov 24 21:03:04.123: default/xwing:41234 (ID:258) -> default/deathstar:80
 * (ID:256) policy-verdict:none INGRESS DENIED (TCP Flags: SYN) BY default deny";
 * L7: "... http-request DROPPED (HTTP/1.1 PUT http://host/v1/exhaust-port) BY no
 * HTTP rule matched", "client <- server http-response FORWARDED (HTTP/1.1 200 1ms
 * (GET http://host/v1)) BY CiliumNetworkPolicy default/rule1 spec.ingress[0]".
 * utc: print the time in UTC instead of local time.
 */
void mon_flow_format_compact(const struct mon_flow *f, bool utc, struct strbuf *sb);

/* ---- filters -------------------------------------------------------------------- */

enum mon_peer_kind { MON_PEER_ENDPOINT, MON_PEER_IP, MON_PEER_IDENTITY, MON_PEER_LABEL };

struct mon_peer_spec {
	enum mon_peer_kind kind;
	char *text;	      /* endpoint name ("ns/name"), or label key */
	char *source, *value; /* label: source ("any" matches every source), value ("" = any) */
	uint32_t addr, mask;  /* IP: network byte order */
	uint32_t identity;
};

struct l7_reset;

/*
 * A conjunction of filters; the values of one filter are alternatives
 * (Hubble's rule: repeat a flag for OR, combine flags for AND).
 */
struct mon_filter {
	struct mon_peer_spec *from, *to, *either; /* either: --label (source or destination) */
	size_t nfrom, nto, neither;
	uint8_t verdicts[8];
	size_t nverdicts;
	uint16_t *ports; /* either side */
	size_t nports;
	int64_t since_ns; /* 0: no bound (wall clock ns) */
	uint8_t types[8]; /* VELUM_EVENT_DROP, VELUM_EVENT_POLICY_VERDICT, MON_FLOW_L7 */
	size_t ntypes;
	/* HTTP filters: each lets only L7 flows through */
	struct {
		uint16_t lo, hi; /* "404": 404-404; "4+": 400-499; "40+": 400-409 */
	} * statuses;
	size_t nstatuses;
	char **methods; /* compared case-insensitively */
	size_t nmethods;
	char **paths; /* RE2 patterns, unanchored, on the URL's path */
	size_t npaths;
	struct l7_reset *path_set; /* the paths compiled into one set */
};

/*
 * Adds one filter value: key "from", "to" (a peer: endpoint name with an
 * optional namespace, "host", "world", an IPv4 address or prefix, an
 * identity number, or a label "[source:]key[=value]"), "label" (a label
 * on either side), "verdict", "port", "since" (RFC 3339 time or a
 * duration "30s", "5m", "2h", "1d" before now_ns), "type" (drop,
 * policy-verdict, l7), "http-status" (a code "404" or a prefix "4+",
 * "40+"), "http-method", "http-path" (an RE2 regular expression found
 * anywhere in the URL's path, as Hubble's; matched in linear time).
 * Returns 0 or -EINVAL with eb set ("--from 'x': ..." style context is the
 * caller's), or -ENOMEM.
 */
int mon_filter_add(struct mon_filter *f, const char *key, const char *value, int64_t now_ns,
		   struct errbuf *eb);
/* True if f lets the flow through. */
bool mon_filter_match(const struct mon_filter *f, const struct mon_flow *fl);
void mon_filter_free(struct mon_filter *f);

/* ---- the ring -------------------------------------------------------------------- */

/* The last `cap` flows, oldest evicted first. */
struct mon_ring {
	struct mon_flow *v; /* alloc slots, growing up to cap */
	size_t cap, alloc, n;
	size_t head;	   /* index of the oldest once full (n == cap) */
	uint64_t next_seq; /* seq of the next pushed flow (from 1) */
};

/* Initialises an empty ring of capacity cap (> 0). */
void mon_ring_init(struct mon_ring *r, size_t cap);
/*
 * Appends f (takes its references) and gives it the next seq. Returns 0 or
 * -ENOMEM (f released).
 */
int mon_ring_push(struct mon_ring *r, struct mon_flow *f);
/* The i-th flow from the oldest (i < r->n); borrowed. */
const struct mon_flow *mon_ring_at(const struct mon_ring *r, size_t i);
/* Index of the first flow with seq > after (r->n if none). */
size_t mon_ring_after(const struct mon_ring *r, uint64_t after);
void mon_ring_free(struct mon_ring *r);

/* Parses "30s", "5m", "2h", "1d" or a plain number of seconds into ns. -EINVAL. */
int mon_parse_duration(const char *s, int64_t *ns);
/* Parses RFC 3339 ("2026-11-24T21:03:04Z", fractional seconds and offsets allowed). */
int mon_parse_time(const char *s, int64_t *ns);
/* Appends RFC 3339 UTC with nanoseconds: "2026-11-24T21:03:04.123456789Z". */
void mon_format_time(int64_t ns, struct strbuf *sb);

#endif
