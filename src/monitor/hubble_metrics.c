/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Hubble's flow metrics and per-rule hits (see hubble_metrics.h). Label
 * values follow Cilium's handlers: type Drop/PolicyVerdict/L7/Trace,
 * subtype HTTP for L7, verdict and drop reason as flow.proto names them,
 * direction, match and action in lower case, reporter server for a
 * proxy on the ingress side.
 */
#include "monitor/hubble_metrics.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "velum/events.h"
#include "velum/policy.h"

static const char *const type_names[MON_HM_TYPES] = { "Drop", "PolicyVerdict", "L7", "Trace" };
static const char *const proto_names[MON_HM_PROTOS] = {
	"TCP", "UDP", "ICMPv4", "SCTP", "HTTP", ""
};
static const char *const match_names[MON_HM_MATCHES] = {
	[VELUM_MATCH_NONE] = "none",	     [VELUM_MATCH_L3_L4] = "l3-l4",
	[VELUM_MATCH_L3_PROTO] = "l3-proto", [VELUM_MATCH_L3_ONLY] = "l3-only",
	[VELUM_MATCH_L4_ONLY] = "l4-only",   [VELUM_MATCH_PROTO_ONLY] = "proto-only",
	[VELUM_MATCH_ALL] = "all",	     [7] = "l7/http",
};
/* Prometheus' default buckets, as Hubble's HTTP histogram uses them */
static const double http_bounds[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };

static int type_index(uint8_t type)
{
	return type == VELUM_EVENT_DROP ? 0 :
	       type == MON_FLOW_L7	? 2 :
	       type == MON_FLOW_TRACE	? 3 :
					  1;
}

static const uint8_t trace_points[MON_HM_POINTS] = { VELUM_TRACE_TO_ENDPOINT, VELUM_TRACE_TO_PROXY,
						     VELUM_TRACE_FROM_ENDPOINT };

static int point_index(uint8_t point)
{
	for (int i = 0; i < MON_HM_POINTS; i++)
		if (trace_points[i] == point)
			return i;
	return -1;
}

/* Hubble's FlowProtocol: the L7 protocol, else the L4 one. */
static int proto_index(const struct mon_flow *f)
{
	if (f->l7)
		return 4;
	switch (f->protocol) {
	case IPPROTO_TCP:
		return 0;
	case IPPROTO_UDP:
		return 1;
	case IPPROTO_ICMP:
		return 2;
	case IPPROTO_SCTP:
		return 3;
	default:
		return 5;
	}
}

static void observe_http(struct mon_hubble_metrics *m, const struct mon_flow *f)
{
	const struct mon_l7 *l7 = f->l7;
	/* the proxy answers for the server on ingress, for the client on egress */
	uint8_t reporter = f->dir == VELUM_DIR_EGRESS;
	size_t i;
	void *nv;

	if (l7->type != MON_L7_RESPONSE)
		return;
	for (i = 0; i < m->nhttp; i++) {
		struct mon_hm_http *h = &m->http[i];

		if (h->code == l7->code && h->reporter == reporter && h->major == l7->http_major &&
		    h->minor == l7->http_minor &&
		    !strncmp(h->method, l7->method, sizeof(h->method)))
			break;
	}
	if (i == m->nhttp) {
		nv = realloc(m->http, (m->nhttp + 1) * sizeof(*m->http));
		if (!nv)
			return;
		m->http = nv;
		memset(&m->http[i], 0, sizeof(m->http[i]));
		snprintf(m->http[i].method, sizeof(m->http[i].method), "%s", l7->method);
		m->http[i].code = l7->code;
		m->http[i].reporter = reporter;
		m->http[i].major = l7->http_major;
		m->http[i].minor = l7->http_minor;
		m->nhttp++;
	}
	m->http[i].n++;
	for (i = 0; i < m->ndurations; i++)
		if (m->durations[i].reporter == reporter &&
		    !strncmp(m->durations[i].method, l7->method, sizeof(m->durations[i].method)))
			break;
	if (i == m->ndurations) {
		nv = realloc(m->durations, (m->ndurations + 1) * sizeof(*m->durations));
		if (!nv)
			return;
		m->durations = nv;
		memset(&m->durations[i], 0, sizeof(m->durations[i]));
		snprintf(m->durations[i].method, sizeof(m->durations[i].method), "%s", l7->method);
		m->durations[i].reporter = reporter;
		mon_hist_init(&m->durations[i].h, http_bounds,
			      sizeof(http_bounds) / sizeof(http_bounds[0]));
		m->ndurations++;
	}
	mon_hist_observe(&m->durations[i].h, (double)l7->latency_ns / 1e9);
}

/* The counters of rule id, grown as needed; NULL for an id that is no rule's, or on ENOMEM. */
static struct mon_hm_rule *rule_slot(struct mon_hubble_metrics *m, uint32_t id)
{
	size_t i;

	if (id < VELUM_RULE_FIRST || id - VELUM_RULE_FIRST >= (1u << 24))
		return NULL;
	i = id - VELUM_RULE_FIRST;
	if (i >= m->nrules) {
		size_t n = i + 64;
		struct mon_hm_rule *nv = realloc(m->rules, n * sizeof(*nv));

		if (!nv)
			return NULL;
		memset(nv + m->nrules, 0, (n - m->nrules) * sizeof(*nv));
		m->rules = nv;
		m->nrules = n;
	}
	return &m->rules[i];
}

/* A policy verdict's rule: allowed (forwarded, redirected) or denied (dropped, audited). */
static void observe_rule(struct mon_hubble_metrics *m, const struct mon_flow *f)
{
	struct mon_hm_rule *r = rule_slot(m, f->rule ? f->rule->id : f->rule_id);

	if (!r)
		return;
	if (f->verdict == VELUM_FLOW_DROPPED || f->verdict == VELUM_FLOW_AUDIT)
		r->denied++;
	else if (f->verdict == VELUM_FLOW_FORWARDED || f->verdict == VELUM_FLOW_REDIRECTED)
		r->allowed++;
}

int mon_hubble_rule_add(struct mon_hubble_metrics *m, uint32_t rule_id, struct mon_hm_rule h)
{
	struct mon_hm_rule *r;

	if (rule_id < VELUM_RULE_FIRST)
		return -EINVAL;
	r = rule_slot(m, rule_id);
	if (!r)
		return -ENOMEM;
	r->allowed += h.allowed;
	r->denied += h.denied;
	return 0;
}

void mon_hubble_observe(struct mon_hubble_metrics *m, const struct mon_flow *f)
{
	int t = type_index(f->type), p = proto_index(f);
	uint8_t v = f->verdict < MON_HM_VERDICTS ? f->verdict : 0;
	bool host_or_health = (f->src && (f->src->identity == 1 || f->src->identity == 4)) ||
			      (f->dst && f->dst->identity == 4);

	if (f->type == MON_FLOW_TRACE && point_index(f->point) >= 0)
		m->traces[point_index(f->point)][v][p]++;
	else
		m->flows[t][v][p]++;
	if (f->verdict == VELUM_FLOW_DROPPED)
		m->drops[f->reason < MON_HM_REASONS && !f->l7 ? f->reason : 0][p]++;
	/* Hubble leaves out verdicts of the host's own traffic and of health checks */
	if ((f->type == VELUM_EVENT_POLICY_VERDICT || f->l7) && !host_or_health) {
		int match = f->l7 ? 7 : f->match < 7 ? f->match : 0;

		if (!f->l7 || f->l7->type == MON_L7_REQUEST)
			m->verdicts[f->dir == VELUM_DIR_EGRESS][match][v]++;
	}
	if (f->verdict == VELUM_FLOW_FORWARDED && f->protocol == IPPROTO_TCP && !f->l7) {
		if (f->tcp_flags & 0x01)
			m->tcp_flags[0]++;
		if ((f->tcp_flags & 0x12) == 0x02)
			m->tcp_flags[1]++;
		if ((f->tcp_flags & 0x12) == 0x12)
			m->tcp_flags[2]++;
		if (f->tcp_flags & 0x04)
			m->tcp_flags[3]++;
	}
	if (f->l7)
		observe_http(m, f);
	if (f->type == VELUM_EVENT_POLICY_VERDICT || (f->l7 && f->l7->type == MON_L7_REQUEST))
		observe_rule(m, f);
}

struct mon_hm_rule mon_hubble_rule_hits(const struct mon_hubble_metrics *m, uint32_t rule_id)
{
	struct mon_hm_rule none = { 0, 0 };

	if (rule_id < VELUM_RULE_FIRST || rule_id - VELUM_RULE_FIRST >= m->nrules)
		return none;
	return m->rules[rule_id - VELUM_RULE_FIRST];
}

static const char *lower_verdict(uint8_t v, char *buf, size_t len)
{
	size_t i;

	snprintf(buf, len, "%s", mon_verdict_name(v));
	for (i = 0; buf[i]; i++)
		buf[i] = (char)(buf[i] >= 'A' && buf[i] <= 'Z' ? buf[i] + 32 : buf[i]);
	return buf;
}

void mon_hubble_format(const struct mon_hubble_metrics *m, struct strbuf *sb)
{
	char code[8], proto[16], act[16];
	size_t t, v, p, i;

	mon_metric_header(sb, "hubble_flows_processed_total", "counter",
			  "Total number of flows processed");
	for (t = 0; t < MON_HM_TYPES; t++)
		for (v = 1; v < MON_HM_VERDICTS; v++)
			for (p = 0; p < MON_HM_PROTOS; p++) {
				if (!m->flows[t][v][p])
					continue;
				mon_metric_sample(
					sb, "hubble_flows_processed_total",
					(const char *const[]){ "protocol", proto_names[p], "type",
							       type_names[t], "subtype",
							       t == 2 ? "HTTP" : "", "verdict",
							       mon_verdict_name((uint8_t)v), NULL },
					(double)m->flows[t][v][p]);
			}
	for (t = 0; t < MON_HM_POINTS; t++)
		for (v = 1; v < MON_HM_VERDICTS; v++)
			for (p = 0; p < MON_HM_PROTOS; p++) {
				if (!m->traces[t][v][p])
					continue;
				mon_metric_sample(
					sb, "hubble_flows_processed_total",
					(const char *const[]){
						"protocol", proto_names[p], "type", "Trace",
						"subtype", mon_trace_point_name(trace_points[t]),
						"verdict", mon_verdict_name((uint8_t)v), NULL },
					(double)m->traces[t][v][p]);
			}
	mon_metric_header(sb, "hubble_drop_total", "counter", "Number of drops");
	for (i = 0; i < MON_HM_REASONS; i++)
		for (p = 0; p < MON_HM_PROTOS; p++) {
			if (!m->drops[i][p])
				continue;
			mon_metric_sample(sb, "hubble_drop_total",
					  (const char *const[]){ "reason",
								 mon_drop_reason_desc((uint16_t)i),
								 "protocol", proto_names[p], NULL },
					  (double)m->drops[i][p]);
		}
	mon_metric_header(sb, "hubble_policy_verdicts_total", "counter",
			  "Total number of Cilium network policy verdicts");
	for (t = 0; t < 2; t++)
		for (i = 0; i < MON_HM_MATCHES; i++)
			for (v = 1; v < MON_HM_VERDICTS; v++) {
				if (!m->verdicts[t][i][v])
					continue;
				mon_metric_sample(
					sb, "hubble_policy_verdicts_total",
					(const char *const[]){
						"direction", t ? "egress" : "ingress", "match",
						match_names[i], "action",
						lower_verdict((uint8_t)v, act, sizeof(act)), NULL },
					(double)m->verdicts[t][i][v]);
			}
	mon_metric_header(sb, "hubble_tcp_flags_total", "counter", "TCP flag occurrences");
	for (i = 0; i < 4; i++) {
		static const char *const flags[] = { "FIN", "SYN", "SYN-ACK", "RST" };

		if (m->tcp_flags[i])
			mon_metric_sample(
				sb, "hubble_tcp_flags_total",
				(const char *const[]){ "flag", flags[i], "family", "IPv4", NULL },
				(double)m->tcp_flags[i]);
	}
	mon_metric_header(sb, "hubble_http_requests_total", "counter",
			  "Count of HTTP requests (counted at their response)");
	for (i = 0; i < m->nhttp; i++) {
		const struct mon_hm_http *h = &m->http[i];

		snprintf(code, sizeof(code), "%u", h->code);
		snprintf(proto, sizeof(proto), "HTTP/%u.%u", h->major, h->minor);
		mon_metric_sample(sb, "hubble_http_requests_total",
				  (const char *const[]){ "method", h->method, "protocol", proto,
							 "status", code, "reporter",
							 h->reporter ? "client" : "server", NULL },
				  (double)h->n);
	}
	mon_metric_header(sb, "hubble_http_request_duration_seconds", "histogram",
			  "Quantiles of HTTP request duration in seconds");
	for (i = 0; i < m->ndurations; i++)
		mon_hist_format(sb, "hubble_http_request_duration_seconds",
				(const char *const[]){
					"method", m->durations[i].method, "reporter",
					m->durations[i].reporter ? "client" : "server", NULL },
				&m->durations[i].h);
}

void mon_hubble_free(struct mon_hubble_metrics *m)
{
	free(m->http);
	free(m->durations);
	free(m->rules);
	memset(m, 0, sizeof(*m));
}
