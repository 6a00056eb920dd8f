/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `policy trace`: would this packet (and this HTTP request) pass, and which
 * rule decided? The trace evaluates the egress check at the source endpoint
 * and the ingress check at the destination endpoint on their map states with
 * the kernel's lookup, then, where a check redirects to the L7 proxy, the
 * proxy's HTTP decision. It needs no kernel state: the caller resolves both
 * peers (endpoint, host, world or address) to identities and map states.
 */
#ifndef VELUM_POLICY_TRACE_H
#define VELUM_POLICY_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/strbuf.h"
#include "l7/normalize.h"
#include "policy/http.h"
#include "policy/mapstate.h"
#include "policy/resolve.h"

struct pol_trace_peer {
	const char *name; /* "default/deathstar", "host", "world", "192.0.2.1" */
	const char *addr; /* an address to show, or NULL */
	uint32_t identity;
	const struct pol_labels *labels;  /* or NULL */
	const struct pol_mapstate *state; /* the endpoint's map state; NULL if not an endpoint */
};

struct pol_trace_query {
	struct pol_trace_peer src, dst;
	uint8_t proto;	/* IPPROTO_TCP, UDP, SCTP, or ICMP */
	uint16_t dport; /* destination port, or the ICMP type */
	bool http;	/* req holds an HTTP request */
	struct pol_http_request req;
	/*
	 * velumd --allow-localhost always: the host's flow into an endpoint
	 * passes where its ingress has only the default deny for it (as the
	 * datapath decides; a rule's verdict stands).
	 */
	bool allow_localhost;
};

struct pol_trace_side {
	bool checked;	/* false when the peer is not an endpoint */
	bool own_rules; /* some rule of a policy contributes to this direction */
	struct pol_verdict v;
	bool passes;	   /* at L3/L4 */
	bool l7_checked;   /* redirected and an HTTP request was given */
	bool norm_stopped; /* redirected, and the proxy refuses or redirects the target */
	struct pol_l7_verdict l7;
};

/* Longest request target the trace normalizes (the proxy refuses longer request lines). */
#define POL_TRACE_TARGET_MAX 8192

struct pol_trace_result {
	struct pol_trace_side egress, ingress;
	bool allowed;
	/*
	 * 403 for an L7 denial, 400 for a target the proxy refuses, 307 for one
	 * it redirects (escaped slashes), else 0 (no response made by policy).
	 */
	int http_status;
	/* With an HTTP request: its path normalized as the proxy forwards and matches it. */
	enum l7_norm norm;
	const char *norm_why; /* L7_NORM_REJECT: why */
	char target[POL_TRACE_TARGET_MAX];
	size_t target_len;
};

/*
 * Checks a request to trace as the proxy would take it off the wire: a
 * method (an HTTP token) and a path, header names that are tokens and
 * values without CR, LF or NUL. Returns 0, or -EINVAL with the reason in eb
 * (the caller prefixes where the request came from).
 */
int pol_trace_request_check(const struct pol_http_request *req, struct errbuf *eb);

/*
 * Runs the trace. Borrows q. Where a check redirects to the proxy, the
 * request's path is normalized (l7/normalize.h) first and the HTTP rules
 * judge the normalized target, exactly as the proxy does.
 */
void pol_trace_run(const struct pol_trace_query *q, struct pol_trace_result *r);

/* Text as `velum policy trace` prints it, ending with "Final verdict: ALLOWED|DENIED". */
void pol_trace_format_text(const struct pol_engine *e, const struct pol_trace_query *q,
			   const struct pol_trace_result *r, struct strbuf *sb);

/* One JSON object (see docs/trace.md for the fields), with a trailing newline. */
void pol_trace_format_json(const struct pol_engine *e, const struct pol_trace_query *q,
			   const struct pol_trace_result *r, struct strbuf *sb);

#endif
