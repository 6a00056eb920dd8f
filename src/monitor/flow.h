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
/*
 * Hubble's trace events: forwarded packets the datapath reports as
 * Cilium's "medium" monitor aggregation does (VELUM_EVENT_TRACE).
 */
#define MON_FLOW_TRACE 4
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
	uint8_t type;	 /* VELUM_EVENT_DROP, _POLICY_VERDICT, MON_FLOW_L7 or MON_FLOW_TRACE */
	uint8_t verdict; /* VELUM_FLOW_*, or MON_VERDICT_ERROR (L7) */
	/*
	 * VELUM_DIR_* of the deciding endpoint's policy; of a reply (a trace,
	 * a drop), the direction of the connection for its endpoint (the
	 * opposite of the packet's, as Hubble's traffic_direction)
	 */
	uint8_t dir;
	uint8_t match;	 /* enum velum_match */
	uint16_t reason; /* drop reason magnitude, 0 if none */
	uint8_t protocol;
	uint8_t tcp_flags;
	uint32_t ep_id;	       /* the endpoint whose policy decided */
	uint32_t rule_id;      /* as the kernel reported it */
	uint32_t saddr, daddr; /* network byte order */
	uint16_t sport, dport; /* host order; ICMP: echo id and type */
	uint16_t proxy_port;
	uint8_t point; /* enum velum_trace_point (MON_FLOW_TRACE), else 0 */
	bool is_reply; /* a reply of its connection (trace, drop); L7: false, see l7->type */
	uint32_t len;
	uint8_t uuid[16];	     /* random per flow (mon_ring_push()); all zero: none */
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
 * direction no policy enforces, "allow-localhost always" for the host let
 * in by that mode alone; NULL for drops that are not policy
 * decisions (the reason says everything). Returns a pointer into f or a
 * static string.
 */
const char *mon_flow_policy_text(const struct mon_flow *f);

/* "policy-verdict" / "drop" / "l7" / "trace". */
const char *mon_flow_type_name(uint8_t type);
/* A trace's observation point as Hubble's compact output names it: "to-endpoint"; "" if none. */
const char *mon_trace_point_name(uint8_t point);
/* As flow.proto's TraceObservationPoint names it: "TO_ENDPOINT"; "UNKNOWN_POINT" if none. */
const char *mon_trace_point_enum(uint8_t point);
/* Inverse of mon_trace_point_enum() and mon_trace_point_name(); 0 if unknown. */
uint8_t mon_trace_point_parse(const char *s);
/* Cilium's monitor sub type of a trace point (to-endpoint 0, to-proxy 1, from-endpoint 5). */
uint8_t mon_trace_point_subtype(uint8_t point);
/* The endpoint of f (f->ep_id) is its source (else its destination). */
bool mon_flow_ep_is_src(const struct mon_flow *f);
/* Writes the flow's uuid as "8-4-4-4-12" lower-case hex (37 bytes with the NUL). */
void mon_uuid_format(const uint8_t uuid[16], char out[37]);
/* Parses mon_uuid_format()'s text; -EINVAL if it is not one. */
int mon_uuid_parse(const char *s, uint8_t uuid[16]);
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

struct velum_policy_key;

/*
 * A policy map key's port as `velum bpf policy get` prints it: "ANY",
 * "TCP/ANY", "TCP/80", "TCP/8080-8087", "ICMP/type=8".
 */
void mon_policy_port_text(const struct velum_policy_key *k, char *buf, size_t len);

/* ---- Hubble's formats -------------------------------------------------------------------- */

/*
 * Appends the flow as Hubble's jsonpb line (what `hubble observe -o jsonpb`
 * prints, flow.proto's field names), no newline:
 * {"flow": {"time", "verdict", "drop_reason", "IP": {"source",
 * "destination", "ipVersion"}, "l4": {"TCP": {"source_port",
 * "destination_port", "flags"}}, "source"/"destination": {"ID"?,
 * "identity", "namespace", "labels", "pod_name"}, "Type", "node_name",
 * "l7"?, "event_type", "traffic_direction", "policy_match_type",
 * "is_reply", "drop_reason_desc", "ingress_denied_by"/"egress_allowed_by"/...
 * (the rule, with velum:rule and velum:rule-id labels), "Summary"},
 * "node_name", "time"}. node: the node's name (borrowed).
 */
void mon_flow_format_hubble(const struct mon_flow *f, const char *node, struct strbuf *sb);
/* Hubble's dict block: "------------" and "  TIMESTAMP: ..." lines, each ending in '\n'. */
void mon_flow_format_dict(const struct mon_flow *f, const char *node, struct strbuf *sb);
/* The cells of Hubble's table but the node: time, source, destination, type, verdict, summary. */
void mon_flow_table_cells(const struct mon_flow *f, struct strbuf cells[6]);
/* "TCP Flags: SYN", "HTTP/1.1 GET http://h/p". */
void mon_flow_summary(const struct mon_flow *f, struct strbuf *sb);
/* enum velum_match <-> Cilium's PolicyMatchType numbers. */
uint8_t mon_match_to_cilium(uint8_t match);
uint8_t mon_match_from_cilium(uint8_t n);
/* A flow type's Cilium monitor message type (drop 1, trace 4, policy verdict 5, L7 129). */
uint8_t mon_type_to_cilium(uint8_t type);

/* ---- filters (filter.c) ------------------------------------------------------------- */

/*
 * Hubble's filter model. A filter value belongs to a flag (its category) and
 * a side: the source, the destination, or either ("--pod", "--ip", "-l",
 * "--port", "-n"). Values of one flag and side are alternatives (OR);
 * different flags must all match (AND). A set with "either" values matches
 * when it matches with them all on the source side, or all on the
 * destination side (Hubble's pair of FlowFilters). A filter is an allow set
 * and a deny set (the values given after "not"): a flow passes if it
 * matches the allow set (empty: every flow) and does not match the deny set
 * (empty: no flow).
 */
enum mon_side { MON_SIDE_SRC, MON_SIDE_DST, MON_SIDE_EITHER };

/* The flags whose values name a side of the flow. */
enum mon_fcat {
	MON_FC_PEER,	 /* --from/--to: any peer form */
	MON_FC_POD,	 /* --pod: "[ns/]name-prefix" */
	MON_FC_NS,	 /* -n/--namespace */
	MON_FC_IP,	 /* --ip: address or prefix */
	MON_FC_IDENTITY, /* --identity */
	MON_FC_LABEL,	 /* -l/--label */
	MON_FC_PORT,	 /* --port */
	MON_FC_MAX,
};

enum mon_peer_kind {
	MON_PEER_ENDPOINT, /* text: "ns/name", exact */
	MON_PEER_POD,	   /* text: "ns/name-prefix" */
	MON_PEER_NS,	   /* text: the namespace */
	MON_PEER_IP,
	MON_PEER_IDENTITY,
	MON_PEER_LABEL,
	MON_PEER_PORT,
	MON_PEER_EPID, /* --from/--to "N": an endpoint id the agent turns into its name */
};

/* One requirement of a label selector (Kubernetes' syntax, as Hubble's -l takes it). */
enum mon_label_op {
	MON_LBL_EXISTS,
	MON_LBL_NOT_EXISTS,
	MON_LBL_EQ,
	MON_LBL_NEQ,
	MON_LBL_IN,
	MON_LBL_NOTIN
};

struct mon_label_req {
	uint8_t op;   /* enum mon_label_op */
	char *source; /* "k8s", ...; "any" matches every source */
	char *key;
	char **values; /* EQ, NEQ: one; IN, NOTIN: the set */
	size_t nvalues;
};

struct mon_peer_spec {
	uint8_t kind; /* enum mon_peer_kind */
	uint8_t cat;  /* enum mon_fcat */
	uint8_t side; /* enum mon_side */
	uint16_t port;
	char *text;		    /* endpoint name or prefix, or namespace */
	struct mon_label_req *reqs; /* label: requirements, all must hold */
	size_t nreqs;
	uint32_t addr, mask; /* IP: network byte order */
	uint32_t identity;   /* IDENTITY: the identity; EPID: the endpoint id */
};

#define MON_FILTER_VALUES 16

/* A pseudo protocol of --protocol: L7 HTTP flows. */
#define MON_PROTO_HTTP 255

struct l7_reset;

/* One set of values (Hubble's FlowFilter, or its pair with "either" values). */
struct mon_fset {
	bool used;
	struct mon_peer_spec *peers;
	size_t npeers;
	uint8_t verdicts[MON_FILTER_VALUES];
	size_t nverdicts;
	uint8_t types[MON_FILTER_VALUES]; /* VELUM_EVENT_*, MON_FLOW_L7, MON_FLOW_TRACE */
	size_t ntypes;
	uint8_t protos[MON_FILTER_VALUES]; /* IPPROTO_*, MON_PROTO_HTTP */
	size_t nprotos;
	uint8_t dirs;			      /* bit 1 << VELUM_DIR_*; 0: any */
	uint8_t tcp_flags[MON_FILTER_VALUES]; /* each: flags that must all be set */
	size_t ntcp_flags;
	uint16_t reasons[MON_FILTER_VALUES]; /* drop reason magnitudes */
	size_t nreasons;
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

struct mon_filter {
	struct mon_fset allow, deny;
	int64_t since_ns, until_ns; /* 0: no bound (wall clock ns) */
};

/*
 * Adds one filter value. Keys (hubble observe's flags without the dashes):
 * "from", "to" (a peer in the forms `velum policy trace` takes,
 * identity/peer.h: an endpoint name with an optional namespace, an
 * endpoint id, "host", "world", an identity "ID:N", an IPv4 address or
 * prefix, or a label "[source:]key[=value]"), "pod", "from-pod", "to-pod" ("[ns/]prefix" of
 * an endpoint's name; namespace "default" if none), "namespace",
 * "from-namespace", "to-namespace", "ip", "from-ip", "to-ip" (an IPv4
 * address or prefix), "identity", "from-identity", "to-identity" (a number
 * or a reserved name: host, world, ...), "label", "from-label", "to-label"
 * (a label selector as Hubble's -l takes it: requirements separated by
 * commas, all of which must hold: "[source:]key=value", "key==value",
 * "key!=value", "key", "!key", "key in (a,b)", "key notin (a,b)"; no
 * source: any), "port", "from-port", "to-port", "protocol" (tcp, udp, icmp, sctp, http),
 * "verdict", "type" (drop, policy-verdict, trace, l7), "drop-reason-desc"
 * (Hubble's DropReason name: POLICY_DENIED), "traffic-direction" (ingress,
 * egress), "tcp-flags" (syn,ack: all set), "since", "until" (RFC 3339 time
 * or a duration "30s", "5m", "2h", "1d" before now_ns), "http-status" (a
 * code "404" or a prefix "4+", "40+"), "http-method", "http-path" (an RE2
 * regular expression found anywhere in the URL's path, as Hubble's;
 * matched in linear time). A key "not-KEY" adds to the deny set. Returns 0
 * or -EINVAL with eb set ("--from 'x': ..." style context is the caller's),
 * or -ENOMEM.
 */
int mon_filter_add(struct mon_filter *f, const char *key, const char *value, int64_t now_ns,
		   struct errbuf *eb);
/* True if f lets the flow through. */
bool mon_filter_match(const struct mon_filter *f, const struct mon_flow *fl);
/* True if the value s matches the side id (endpoint name, identity, labels) of a flow. */
bool mon_peer_match_ident(const struct mon_peer_spec *s, const struct mon_ident *id);
void mon_filter_free(struct mon_filter *f);

/* Hubble's DropReason name of a drop reason: "POLICY_DENIED"; static. */
const char *mon_drop_reason_desc(uint16_t reason);

/* ---- the ring -------------------------------------------------------------------- */

/* The last `cap` flows, oldest evicted first. */
struct mon_ring {
	struct mon_flow *v; /* alloc slots, growing up to cap */
	size_t cap, alloc, n;
	size_t head;	      /* index of the oldest once full (n == cap) */
	uint64_t next_seq;    /* seq of the next pushed flow (from 1) */
	uint64_t uuid_key[2]; /* random at init: the flows' uuids derive from it and seq */
};

/* Initialises an empty ring of capacity cap (> 0), with a random uuid key. */
void mon_ring_init(struct mon_ring *r, size_t cap);
/*
 * Appends f (takes its references) and gives it the next seq and a uuid
 * (version 4 form, unique per ring and flow). Returns 0 or -ENOMEM (f
 * released).
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
