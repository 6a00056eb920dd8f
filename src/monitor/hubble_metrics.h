/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Hubble's flow metrics, counted from velum's flows with Hubble's names and
 * labels (Cilium's pkg/hubble/metrics handlers), and velum's per-rule hit
 * counts:
 *   hubble_flows_processed_total{protocol,type,subtype,verdict}
 *     (subtype: HTTP for L7, the observation point for Trace: to-endpoint...)
 *   hubble_drop_total{reason,protocol}         (every DROPPED flow)
 *   hubble_policy_verdicts_total{direction,match,action}
 *   hubble_tcp_flags_total{flag,family}        (FORWARDED TCP flows, traces too)
 *   hubble_http_requests_total{method,protocol,status,reporter}   (responses)
 *   hubble_http_request_duration_seconds{method,reporter}        (histogram)
 * Rule hits: per rule id, the policy verdicts (kernel and L7) it decided,
 * allowed or denied.
 *
 * Pure computation, no locking: the caller serialises observations and
 * output (velumd: under flow_lock).
 */
#ifndef VELUM_MONITOR_HUBBLE_METRICS_H
#define VELUM_MONITOR_HUBBLE_METRICS_H

#include <stdint.h>

#include "lib/strbuf.h"
#include "monitor/flow.h"
#include "monitor/metrics.h"

#define MON_HM_TYPES	4   /* Drop, PolicyVerdict, L7, Trace */
#define MON_HM_VERDICTS 6   /* VELUM_FLOW_* and MON_VERDICT_ERROR, 0 unused */
#define MON_HM_PROTOS	6   /* TCP, UDP, ICMPv4, SCTP, HTTP, other */
#define MON_HM_REASONS	256 /* drop reason magnitudes (0: none or out of range) */
#define MON_HM_MATCHES	8   /* enum velum_match, and l7/http */
#define MON_HM_POINTS	3   /* trace observation points */

struct mon_hm_http {
	char method[16];
	uint16_t code;
	uint8_t reporter; /* 0 server (ingress), 1 client (egress) */
	uint8_t major, minor;
	uint64_t n;
};

struct mon_hm_duration {
	char method[16];
	uint8_t reporter;
	struct mon_hist h;
};

struct mon_hm_rule {
	uint64_t allowed, denied;
};

struct mon_hubble_metrics {
	uint64_t flows[MON_HM_TYPES][MON_HM_VERDICTS][MON_HM_PROTOS];
	/* Trace flows by observation point (to-endpoint, to-proxy, from-endpoint) */
	uint64_t traces[MON_HM_POINTS][MON_HM_VERDICTS][MON_HM_PROTOS];
	uint64_t drops[MON_HM_REASONS][MON_HM_PROTOS];
	uint64_t verdicts[2][MON_HM_MATCHES][MON_HM_VERDICTS];
	uint64_t tcp_flags[4]; /* FIN, SYN, SYN-ACK, RST */
	struct mon_hm_http *http;
	size_t nhttp;
	struct mon_hm_duration *durations;
	size_t ndurations;
	struct mon_hm_rule *rules; /* by rule id - VELUM_RULE_FIRST */
	size_t nrules;
};

/* Counts one flow (borrowed). Allocation failures lose that count, nothing else. */
void mon_hubble_observe(struct mon_hubble_metrics *m, const struct mon_flow *f);

/* Appends the hubble_* families (HELP, TYPE, samples) in Prometheus text. */
void mon_hubble_format(const struct mon_hubble_metrics *m, struct strbuf *sb);

/* The hits of a rule id (0, 0 for one never counted). */
struct mon_hm_rule mon_hubble_rule_hits(const struct mon_hubble_metrics *m, uint32_t rule_id);
/*
 * Adds hits to a rule id's (velumd: the counts a previous run kept).
 * Returns 0, -EINVAL for an id that is not a rule's, or -ENOMEM.
 */
int mon_hubble_rule_add(struct mon_hubble_metrics *m, uint32_t rule_id, struct mon_hm_rule h);

void mon_hubble_free(struct mon_hubble_metrics *m);

#endif
