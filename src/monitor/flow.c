/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Flow records: shared enrichment objects, JSON and compact formatting,
 * filters and the ring (see flow.h).
 */
#include "monitor/flow.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "identity/identity.h"
#include "lib/proto.h"
#include "lib/vec.h"
#include "velum/drop.h"
#include "velum/events.h"
#include "velum/policy.h"

/* ---- shared enrichment ------------------------------------------------------------ */

struct mon_ident *mon_ident__new(const char *endpoint, uint32_t identity, const char *const *labels,
				 size_t n)
{
	struct mon_ident *id = calloc(1, sizeof(*id));
	size_t i;

	if (!id)
		return NULL;
	atomic_init(&id->refs, 1);
	id->identity = identity;
	if (endpoint && !(id->endpoint = strdup(endpoint)))
		goto err_free;
	if (n) {
		id->labels = calloc(n, sizeof(*id->labels));
		if (!id->labels)
			goto err_free;
		for (i = 0; i < n; i++) {
			id->labels[i] = strdup(labels[i]);
			if (!id->labels[i])
				goto err_free;
			id->nlabels = i + 1;
		}
	}
	return id;

err_free:
	mon_ident_put(id);
	errno = ENOMEM;
	return NULL;
}

struct mon_ident *mon_ident_get(struct mon_ident *id)
{
	if (id)
		atomic_fetch_add(&id->refs, 1);
	return id;
}

void mon_ident_put(struct mon_ident *id)
{
	size_t i;

	if (!id || atomic_fetch_sub(&id->refs, 1) != 1)
		return;
	for (i = 0; i < id->nlabels; i++)
		free(id->labels[i]);
	free(id->labels);
	free(id->endpoint);
	free(id);
}

struct mon_rule *mon_rule__new(uint32_t rid, const char *ref, const char *kind, const char *ns,
			       const char *name)
{
	struct mon_rule *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	atomic_init(&r->refs, 1);
	r->id = rid;
	r->ref = strdup(ref ? ref : "");
	r->kind = strdup(kind ? kind : "");
	r->name = strdup(name ? name : "");
	r->ns = ns ? strdup(ns) : NULL;
	if (!r->ref || !r->kind || !r->name || (ns && !r->ns)) {
		mon_rule_put(r);
		errno = ENOMEM;
		return NULL;
	}
	return r;
}

struct mon_rule *mon_rule_get(struct mon_rule *r)
{
	if (r)
		atomic_fetch_add(&r->refs, 1);
	return r;
}

void mon_rule_put(struct mon_rule *r)
{
	if (!r || atomic_fetch_sub(&r->refs, 1) != 1)
		return;
	free(r->ref);
	free(r->kind);
	free(r->ns);
	free(r->name);
	free(r);
}

struct mon_l7 *mon_l7__new(uint8_t type, const char *method, const char *host, const char *url,
			   const char *reason)
{
	struct mon_l7 *l7 = calloc(1, sizeof(*l7));

	if (!l7)
		return NULL;
	l7->type = type;
	l7->method = strdup(method ? method : "");
	l7->host = strdup(host ? host : "");
	l7->url = strdup(url ? url : "");
	l7->reason = strdup(reason ? reason : "");
	if (!l7->method || !l7->host || !l7->url || !l7->reason) {
		mon_l7__free(l7);
		errno = ENOMEM;
		return NULL;
	}
	return l7;
}

void mon_l7__free(struct mon_l7 *l7)
{
	if (!l7)
		return;
	free(l7->method);
	free(l7->host);
	free(l7->url);
	free(l7->reason);
	free(l7);
}

void mon_flow_release(struct mon_flow *f)
{
	mon_ident_put(f->src);
	mon_ident_put(f->dst);
	mon_rule_put(f->rule);
	mon_l7__free(f->l7);
	memset(f, 0, sizeof(*f));
}

/* ---- names ------------------------------------------------------------------------ */

const char *mon_flow_type_name(uint8_t type)
{
	return type == VELUM_EVENT_DROP ? "drop" :
	       type == MON_FLOW_L7	? "l7" :
	       type == MON_FLOW_TRACE	? "trace" :
					  "policy-verdict";
}

_Static_assert(MON_FLOW_L7 != VELUM_EVENT_DROP && MON_FLOW_L7 != VELUM_EVENT_POLICY_VERDICT &&
		       MON_FLOW_L7 != VELUM_EVENT_TRACE,
	       "the L7 flow type collides with a kernel event type");
_Static_assert(MON_FLOW_TRACE == VELUM_EVENT_TRACE, "a trace flow is the kernel's trace event");

static const struct {
	uint8_t point, subtype;
	const char *name, *enum_name;
} trace_points[] = {
	{ VELUM_TRACE_TO_ENDPOINT, 0, "to-endpoint", "TO_ENDPOINT" },
	{ VELUM_TRACE_TO_PROXY, 1, "to-proxy", "TO_PROXY" },
	{ VELUM_TRACE_FROM_ENDPOINT, 5, "from-endpoint", "FROM_ENDPOINT" },
};

const char *mon_trace_point_name(uint8_t point)
{
	for (size_t i = 0; i < sizeof(trace_points) / sizeof(trace_points[0]); i++)
		if (trace_points[i].point == point)
			return trace_points[i].name;
	return "";
}

const char *mon_trace_point_enum(uint8_t point)
{
	for (size_t i = 0; i < sizeof(trace_points) / sizeof(trace_points[0]); i++)
		if (trace_points[i].point == point)
			return trace_points[i].enum_name;
	return "UNKNOWN_POINT";
}

uint8_t mon_trace_point_parse(const char *s)
{
	for (size_t i = 0; s && i < sizeof(trace_points) / sizeof(trace_points[0]); i++)
		if (!strcasecmp(s, trace_points[i].enum_name) || !strcmp(s, trace_points[i].name))
			return trace_points[i].point;
	return 0;
}

uint8_t mon_trace_point_subtype(uint8_t point)
{
	for (size_t i = 0; i < sizeof(trace_points) / sizeof(trace_points[0]); i++)
		if (trace_points[i].point == point)
			return trace_points[i].subtype;
	return 0;
}

bool mon_flow_ep_is_src(const struct mon_flow *f)
{
	/* a reply's direction is its connection's: the packet travels the other way */
	return (f->dir == VELUM_DIR_EGRESS) != f->is_reply;
}

void mon_uuid_format(const uint8_t u[16], char out[37])
{
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
		 u[13], u[14], u[15]);
}

int mon_uuid_parse(const char *s, uint8_t u[16])
{
	size_t i, k = 0;

	if (!s || strlen(s) != 36)
		return -EINVAL;
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return -EINVAL;
			continue;
		}
		if (!isxdigit((unsigned char)s[i]) || !isxdigit((unsigned char)s[i + 1]))
			return -EINVAL;
		u[k++] = (uint8_t)strtoul((char[]){ s[i], s[i + 1], '\0' }, NULL, 16);
		i++;
	}
	return 0;
}
_Static_assert(MON_VERDICT_ERROR > VELUM_FLOW_REDIRECTED,
	       "the L7 error verdict collides with a kernel verdict");

static const char *const verdict_names[] = {
	[VELUM_FLOW_FORWARDED] = "FORWARDED", [VELUM_FLOW_DROPPED] = "DROPPED",
	[VELUM_FLOW_AUDIT] = "AUDIT",	      [VELUM_FLOW_REDIRECTED] = "REDIRECTED",
	[MON_VERDICT_ERROR] = "ERROR",
};

const char *mon_verdict_name(uint8_t verdict)
{
	if (verdict < sizeof(verdict_names) / sizeof(verdict_names[0]) && verdict_names[verdict])
		return verdict_names[verdict];
	return "UNKNOWN";
}

uint8_t mon_verdict_parse(const char *s)
{
	uint8_t v;

	for (v = 1; v < sizeof(verdict_names) / sizeof(verdict_names[0]); v++)
		if (!strcasecmp(s, verdict_names[v]))
			return v;
	return 0;
}

const char *mon_match_name(uint8_t match)
{
	return velum_match_name(match);
}

/*
 * Cilium's numbers for the reasons it has (bpf/lib/common.h DROP_*), which
 * include/velum/drop.h says it uses; velum's own stay out of Cilium's range.
 */
_Static_assert(VELUM_DROP_INVALID_SIP == -132 && VELUM_DROP_POLICY == -133 &&
		       VELUM_DROP_INVALID == -134 && VELUM_DROP_CT_INVALID_HDR == -135 &&
		       VELUM_DROP_UNKNOWN_L3 == -139 && VELUM_DROP_WRITE == -141 &&
		       VELUM_DROP_UNROUTABLE == -151 && VELUM_DROP_CT_MAP_FULL == -155 &&
		       VELUM_DROP_FRAG_NOT_FOUND == -175 && VELUM_DROP_PROXY_LOOKUP == -178 &&
		       VELUM_DROP_PROXY_ASSIGN == -179 && VELUM_DROP_PROXY_PROTO == -180 &&
		       VELUM_DROP_POLICY_DENY == -181 && VELUM_DROP_NO_POLICY == -203,
	       "a drop reason differs from Cilium's number");
_Static_assert(VELUM_DROP_NO_ENDPOINT <= -250, "velum's own drop reasons start at 250");
/* Every reason has its counter (one per magnitude) and stays clear of TC_ACT_*. */
_Static_assert(-VELUM_DROP_NO_ENDPOINT <= VELUM_DROP_MAX &&
		       VELUM_DROP_MAX < VELUM_METRICS_PER_DIR && VELUM_DROP_INVALID_SIP < -129,
	       "drop reasons outside the counters' range");

/* The texts of include/velum/drop.h (Cilium's where one exists). */
const char *mon_drop_reason_name(uint16_t reason)
{
	return velum_drop_name(reason);
}

const char *mon_proto_name(uint8_t proto)
{
	const char *name = proto == PROTO_ANY ? NULL : proto_name(proto);

	return name ? name : "IP";
}

static bool is_policy_drop(uint16_t reason)
{
	return reason == (uint16_t)-VELUM_DROP_POLICY ||
	       reason == (uint16_t)-VELUM_DROP_POLICY_DENY;
}

const char *mon_flow_policy_text(const struct mon_flow *f)
{
	if (f->type == MON_FLOW_TRACE) /* a forwarded packet of a flow decided before */
		return NULL;
	if (f->rule)
		return f->rule->ref;
	if (f->l7) /* the proxy's reason: no HTTP rule matched, a bad request... */
		return f->l7->reason[0] ? f->l7->reason : NULL;
	if (f->rule_id == VELUM_RULE_DEFAULT_ALLOW)
		return "no policy";
	if (f->rule_id == VELUM_RULE_ALLOW_LOCALHOST)
		return "allow-localhost always";
	if (f->rule_id >= VELUM_RULE_FIRST)
		return "a rule no longer loaded";
	/* rule 0: no entry matched; only a policy decision has a "by" */
	if (f->reason && !is_policy_drop(f->reason))
		return NULL;
	return "default deny";
}

static void tcp_flags_text(uint8_t fl, struct strbuf *sb)
{
	static const struct {
		uint8_t bit;
		const char *name;
	} names[] = {
		{ 0x02, "SYN" }, { 0x10, "ACK" }, { 0x01, "FIN" }, { 0x04, "RST" }, { 0x08, "PSH" }
	};
	bool first = true;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(fl & names[i].bit))
			continue;
		strbuf_printf(sb, "%s%s", first ? "" : ", ", names[i].name);
		first = false;
	}
}

static const char *icmp_type_name(unsigned type)
{
	switch (type) {
	case 0:
		return "EchoReply";
	case 3:
		return "DestinationUnreachable";
	case 5:
		return "Redirect";
	case 8:
		return "EchoRequest";
	case 11:
		return "TimeExceeded";
	default:
		return NULL;
	}
}

/* "TCP Flags: SYN", "UDP", "ICMPv4 EchoRequest" */
static void summary(const struct mon_flow *f, struct strbuf *sb)
{
	switch (f->protocol) {
	case IPPROTO_TCP:
		strbuf_puts(sb, "TCP Flags: ");
		tcp_flags_text(f->tcp_flags, sb);
		break;
	case IPPROTO_ICMP: {
		const char *n = icmp_type_name(f->dport);

		if (n)
			strbuf_printf(sb, "ICMPv4 %s", n);
		else
			strbuf_printf(sb, "ICMPv4 type %u", f->dport);
		break;
	}
	default:
		strbuf_puts(sb, mon_proto_name(f->protocol));
	}
}

/* Hubble's response latency: whole milliseconds, truncated ("0ms", "3ms", "1500ms"). */
static void latency_text(uint64_t ns, struct strbuf *sb)
{
	strbuf_printf(sb, "%llums", (unsigned long long)(ns / 1000000));
}

/* Hubble's L7 summaries: "HTTP/1.1 PUT http://h/p", "HTTP/1.1 200 3ms (GET http://h/p)". */
static void l7_summary(const struct mon_l7 *l7, struct strbuf *sb)
{
	strbuf_printf(sb, "HTTP/%u.%u ", l7->http_major, l7->http_minor);
	if (l7->type == MON_L7_RESPONSE) {
		strbuf_printf(sb, "%u ", l7->code);
		latency_text(l7->latency_ns, sb);
		strbuf_printf(sb, " (%s %s)", l7->method, l7->url);
	} else {
		strbuf_printf(sb, "%s %s", l7->method, l7->url);
	}
}

/* ---- time --------------------------------------------------------------------------- */

void mon_format_time(int64_t ns, struct strbuf *sb)
{
	time_t s = (time_t)(ns / 1000000000);
	struct tm tm;
	char buf[32];

	gmtime_r(&s, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	strbuf_printf(sb, "%s.%09lldZ", buf, (long long)(ns % 1000000000));
}

int mon_parse_duration(const char *s, int64_t *ns)
{
	char *end;
	double v;
	int64_t mul = 1000000000;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0)
		return -EINVAL;
	if (!strcmp(end, "ms"))
		mul = 1000000;
	else if (!strcmp(end, "s") || !*end)
		mul = 1000000000;
	else if (!strcmp(end, "m"))
		mul = 60LL * 1000000000;
	else if (!strcmp(end, "h"))
		mul = 3600LL * 1000000000;
	else if (!strcmp(end, "d"))
		mul = 86400LL * 1000000000;
	else
		return -EINVAL;
	if (v > 1e6 * 86400)
		return -EINVAL;
	*ns = (int64_t)(v * (double)mul);
	return 0;
}

int mon_parse_time(const char *s, int64_t *ns)
{
	struct tm tm = { 0 };
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	int64_t frac = 0, scale = 100000000, off = 0;
	time_t t;

	if (!p)
		return -EINVAL;
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++) {
			frac += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int hh, mm;

		if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
			return -EINVAL;
		off = (hh * 3600LL + mm * 60) * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	*ns = ((int64_t)t - off) * 1000000000 + frac;
	return 0;
}

/* ---- JSON ------------------------------------------------------------------------------ */

static void json_side(const struct mon_ident *id, uint32_t addr, uint16_t port, bool ports,
		      struct strbuf *sb)
{
	char a[INET_ADDRSTRLEN];
	size_t i;

	inet_ntop(AF_INET, &addr, a, sizeof(a));
	strbuf_puts(sb, "{\"endpoint\":");
	if (id && id->endpoint)
		strbuf_json_str(sb, id->endpoint, strlen(id->endpoint));
	else
		strbuf_puts(sb, "null");
	strbuf_printf(sb, ",\"identity\":%u,\"ip\":\"%s\",\"port\":", id ? id->identity : 0, a);
	if (ports)
		strbuf_printf(sb, "%u", port);
	else
		strbuf_puts(sb, "null");
	strbuf_puts(sb, ",\"labels\":[");
	for (i = 0; id && i < id->nlabels; i++) {
		if (i)
			strbuf_putc(sb, ',');
		strbuf_json_str(sb, id->labels[i], strlen(id->labels[i]));
	}
	strbuf_puts(sb, "]}");
}

static void json_str_or_null(struct strbuf *sb, const char *s)
{
	if (s)
		strbuf_json_str(sb, s, strlen(s));
	else
		strbuf_puts(sb, "null");
}

/*
 * "l7":{...}: Hubble's l7 object (headers: what the proxy reports, the
 * Host). latency_quoted: as protojson writes a 64-bit number, a string.
 */
static void json_l7_object(const struct mon_l7 *l7, bool latency_quoted, struct strbuf *sb)
{
	const char *q = latency_quoted ? "\"" : "";

	strbuf_printf(sb, "\"l7\":{\"type\":\"%s\",\"latency_ns\":%s%llu%s,",
		      l7->type == MON_L7_RESPONSE ? "RESPONSE" : "REQUEST", q,
		      (unsigned long long)l7->latency_ns, q);
	strbuf_printf(sb, "\"http\":{\"code\":%u,\"method\":", l7->code);
	strbuf_json_str(sb, l7->method, strlen(l7->method));
	strbuf_puts(sb, ",\"url\":");
	strbuf_json_str(sb, l7->url, strlen(l7->url));
	strbuf_printf(sb, ",\"protocol\":\"HTTP/%u.%u\",\"headers\":[", l7->http_major,
		      l7->http_minor);
	if (l7->host[0]) {
		strbuf_puts(sb, "{\"key\":\"host\",\"value\":");
		strbuf_json_str(sb, l7->host, strlen(l7->host));
		strbuf_putc(sb, '}');
	}
	strbuf_puts(sb, "]}}");
}

/* ,"is_reply":..,"l7":{...} of the agent's flow object */
static void json_l7(const struct mon_l7 *l7, struct strbuf *sb)
{
	strbuf_printf(sb, ",\"is_reply\":%s,", l7->type == MON_L7_RESPONSE ? "true" : "false");
	json_l7_object(l7, false, sb);
}

/* "uuid":"...", if the flow has one */
static void json_uuid(const struct mon_flow *f, struct strbuf *sb)
{
	static const uint8_t none[16];
	char u[37];

	if (!memcmp(f->uuid, none, sizeof(none)))
		return;
	mon_uuid_format(f->uuid, u);
	strbuf_printf(sb, "\"uuid\":\"%s\",", u);
}

void mon_flow_format_json(const struct mon_flow *f, struct strbuf *sb)
{
	bool ports = f->protocol != IPPROTO_ICMP;
	struct strbuf tmp = STRBUF_INIT;

	strbuf_puts(sb, "{\"time\":\"");
	mon_format_time(f->time_ns, sb);
	strbuf_printf(sb, "\",\"type\":\"%s\",\"verdict\":\"%s\",\"direction\":\"%s\",",
		      mon_flow_type_name(f->type), mon_verdict_name(f->verdict),
		      f->dir == VELUM_DIR_EGRESS ? "egress" : "ingress");
	strbuf_printf(sb, "\"traffic_direction\":\"%s\",",
		      f->dir == VELUM_DIR_EGRESS ? "EGRESS" : "INGRESS");
	if (f->type == MON_FLOW_TRACE)
		strbuf_printf(sb, "\"trace_observation_point\":\"%s\",",
			      mon_trace_point_enum(f->point));
	if (!f->l7)
		strbuf_printf(sb, "\"is_reply\":%s,", f->is_reply ? "true" : "false");
	json_uuid(f, sb);
	strbuf_puts(sb, "\"source\":");
	json_side(f->src, f->saddr, f->sport, ports, sb);
	strbuf_puts(sb, ",\"destination\":");
	json_side(f->dst, f->daddr, f->dport, ports, sb);
	strbuf_printf(sb, ",\"protocol\":\"%s\",\"tcp_flags\":", mon_proto_name(f->protocol));
	if (f->protocol == IPPROTO_TCP && !f->l7) {
		tcp_flags_text(f->tcp_flags, &tmp);
		json_str_or_null(sb, strbuf_str(&tmp));
		strbuf_reset(&tmp);
	} else {
		strbuf_puts(sb, "null");
	}
	strbuf_puts(sb, ",\"icmp_type\":");
	if (f->protocol == IPPROTO_ICMP)
		strbuf_printf(sb, "%u", f->dport);
	else
		strbuf_puts(sb, "null");
	strbuf_puts(sb, ",\"reason\":");
	if (f->l7)
		json_str_or_null(sb, f->l7->reason[0] ? f->l7->reason : NULL);
	else
		json_str_or_null(sb, f->reason ? mon_drop_reason_name(f->reason) : NULL);
	strbuf_printf(sb, ",\"reason_code\":%u,\"match\":\"%s\",\"rule\":", f->reason,
		      mon_match_name(f->match));
	if (f->rule) {
		strbuf_printf(sb, "{\"id\":%u,\"ref\":", f->rule->id);
		json_str_or_null(sb, f->rule->ref);
		strbuf_puts(sb, ",\"kind\":");
		json_str_or_null(sb, f->rule->kind);
		strbuf_puts(sb, ",\"namespace\":");
		json_str_or_null(sb, f->rule->ns);
		strbuf_puts(sb, ",\"name\":");
		json_str_or_null(sb, f->rule->name);
		strbuf_putc(sb, '}');
	} else {
		strbuf_puts(sb, "null");
	}
	strbuf_printf(sb, ",\"rule_id\":%u,\"policy\":", f->rule_id);
	json_str_or_null(sb, mon_flow_policy_text(f));
	strbuf_printf(sb,
		      ",\"endpoint_id\":%u,\"proxy_port\":%u,\"length\":%u,\"summary\":", f->ep_id,
		      f->proxy_port, f->len);
	if (f->l7)
		l7_summary(f->l7, &tmp);
	else
		summary(f, &tmp);
	json_str_or_null(sb, strbuf_str(&tmp));
	if (f->l7)
		json_l7(f->l7, sb);
	strbuf_putc(sb, '}');
	strbuf_free(&tmp);
}

/* ---- compact ----------------------------------------------------------------------------- */

static void compact_side(const struct mon_ident *id, uint32_t addr, uint16_t port, bool ports,
			 struct strbuf *sb)
{
	char a[INET_ADDRSTRLEN];
	const char *rn = id ? id_reserved_name(id->identity) : NULL;

	if (id && id->endpoint) {
		strbuf_puts(sb, id->endpoint);
	} else {
		inet_ntop(AF_INET, &addr, a, sizeof(a));
		strbuf_puts(sb, a);
	}
	if (ports)
		strbuf_printf(sb, ":%u", port);
	if (rn)
		strbuf_printf(sb, " (%s)", rn);
	else if (!id || !id->identity)
		strbuf_puts(sb, " (unknown)"); /* a packet that did not parse */
	else
		strbuf_printf(sb, " (ID:%u)", id->identity);
}

void mon_flow_fill(struct mon_flow *f, const struct velum_event *ev, int64_t time_ns)
{
	memset(f, 0, sizeof(*f));
	f->time_ns = time_ns;
	f->type = ev->type;
	f->verdict = ev->verdict;
	f->dir = ev->dir;
	f->match = ev->match;
	f->reason = ev->reason;
	f->protocol = ev->protocol;
	f->tcp_flags = ev->tcp_flags;
	f->ep_id = ev->ep_id;
	f->rule_id = ev->rule_id;
	f->saddr = ev->saddr;
	f->daddr = ev->daddr;
	f->sport = ntohs(ev->sport);
	f->dport = ntohs(ev->dport);
	f->proxy_port = ntohs(ev->proxy_port);
	f->point = ev->type == VELUM_EVENT_TRACE ? ev->point : 0;
	f->is_reply = ev->flags & VELUM_EVENT_F_REPLY;
	f->len = ev->len;
}

void mon_flow_format_compact(const struct mon_flow *f, bool utc, struct strbuf *sb)
{
	time_t s = (time_t)(f->time_ns / 1000000000);
	bool ports = f->protocol != IPPROTO_ICMP;
	const char *by = mon_flow_policy_text(f);
	struct tm tm;
	char buf[32];

	if (utc)
		gmtime_r(&s, &tm);
	else
		localtime_r(&s, &tm);
	strftime(buf, sizeof(buf), "%b %e %H:%M:%S", &tm);
	strbuf_printf(sb, "%s.%03d: ", buf, (int)((f->time_ns / 1000000) % 1000));
	if (f->l7) {
		bool resp = f->l7->type == MON_L7_RESPONSE;

		/* a reply is printed the other way round: client <- server */
		if (resp) {
			compact_side(f->dst, f->daddr, f->dport, true, sb);
			strbuf_puts(sb, " <- ");
			compact_side(f->src, f->saddr, f->sport, true, sb);
		} else {
			compact_side(f->src, f->saddr, f->sport, true, sb);
			strbuf_puts(sb, " -> ");
			compact_side(f->dst, f->daddr, f->dport, true, sb);
		}
		strbuf_printf(sb, " http-%s %s (", resp ? "response" : "request",
			      mon_verdict_name(f->verdict));
		l7_summary(f->l7, sb);
		strbuf_putc(sb, ')');
		if (by)
			strbuf_printf(sb, " BY %s", by);
		return;
	}
	if (f->is_reply) {
		/* Hubble prints a reply the other way round: client <- server */
		compact_side(f->dst, f->daddr, f->dport, ports, sb);
		strbuf_puts(sb, " <- ");
		compact_side(f->src, f->saddr, f->sport, ports, sb);
	} else {
		compact_side(f->src, f->saddr, f->sport, ports, sb);
		strbuf_puts(sb, " -> ");
		compact_side(f->dst, f->daddr, f->dport, ports, sb);
	}
	if (f->type == MON_FLOW_TRACE) {
		strbuf_printf(sb, " %s %s (", mon_trace_point_name(f->point),
			      mon_verdict_name(f->verdict));
	} else if (f->type == VELUM_EVENT_DROP) {
		strbuf_printf(sb, " %s DROPPED (", mon_drop_reason_name(f->reason));
	} else {
		const char *v = f->verdict == VELUM_FLOW_DROPPED    ? "DENIED" :
				f->verdict == VELUM_FLOW_AUDIT	    ? "AUDITED" :
				f->verdict == VELUM_FLOW_REDIRECTED ? "REDIRECTED" :
								      "ALLOWED";

		strbuf_printf(sb, " policy-verdict:%s %s %s (", mon_match_name(f->match),
			      f->dir == VELUM_DIR_EGRESS ? "EGRESS" : "INGRESS", v);
	}
	summary(f, sb);
	strbuf_putc(sb, ')');
	if (by)
		strbuf_printf(sb, " BY %s", by);
}

void mon_policy_port_text(const struct velum_policy_key *k, char *buf, size_t len)
{
	unsigned pp = k->prefixlen - VELUM_POLICY_PREFIX_FIXED, port = ntohs(k->dport);
	const char *proto = mon_proto_name(k->protocol);

	if (pp == 0)
		snprintf(buf, len, "ANY");
	else if (pp == 8)
		snprintf(buf, len, "%s/ANY", proto);
	else if (k->protocol == IPPROTO_ICMP)
		snprintf(buf, len, "%s/type=%u", proto, port);
	else if (pp >= 24)
		snprintf(buf, len, "%s/%u", proto, port);
	else
		snprintf(buf, len, "%s/%u-%u", proto, port, port + (1u << (24 - pp)) - 1);
}

/* ---- Hubble's formats ------------------------------------------------------------------- */

/* Cilium's PolicyMatchType numbers (pkg/monitor/api), by velum's enum velum_match. */
static const uint8_t cilium_match[] = {
	[VELUM_MATCH_NONE] = 0,	   [VELUM_MATCH_L3_L4] = 2,   [VELUM_MATCH_L3_PROTO] = 5,
	[VELUM_MATCH_L3_ONLY] = 1, [VELUM_MATCH_L4_ONLY] = 3, [VELUM_MATCH_PROTO_ONLY] = 6,
	[VELUM_MATCH_ALL] = 4,
};

uint8_t mon_match_to_cilium(uint8_t match)
{
	return match < sizeof(cilium_match) ? cilium_match[match] : 0;
}

uint8_t mon_match_from_cilium(uint8_t n)
{
	uint8_t i;

	for (i = 0; i < sizeof(cilium_match); i++)
		if (cilium_match[i] == n)
			return i;
	return VELUM_MATCH_NONE;
}

/* Cilium's monitor message types: drop 1, trace 4, policy verdict 5, access log 129. */
uint8_t mon_type_to_cilium(uint8_t type)
{
	return type == VELUM_EVENT_DROP ? 1 :
	       type == MON_FLOW_L7	? 129 :
	       type == MON_FLOW_TRACE	? 4 :
					  5;
}

void mon_flow_summary(const struct mon_flow *f, struct strbuf *sb)
{
	if (f->l7)
		l7_summary(f->l7, sb);
	else
		summary(f, sb);
}

static void hubble_endpoint(const struct mon_ident *id, uint32_t ep_id, struct strbuf *sb)
{
	const char *slash = id && id->endpoint ? strchr(id->endpoint, '/') : NULL;
	size_t i;

	strbuf_putc(sb, '{');
	if (ep_id)
		strbuf_printf(sb, "\"ID\":%u,", ep_id);
	strbuf_printf(sb, "\"identity\":%u", id ? id->identity : 0);
	if (slash) {
		strbuf_puts(sb, ",\"namespace\":");
		strbuf_json_str(sb, id->endpoint, (size_t)(slash - id->endpoint));
	}
	strbuf_puts(sb, ",\"labels\":[");
	for (i = 0; id && i < id->nlabels; i++) {
		if (i)
			strbuf_putc(sb, ',');
		strbuf_json_str(sb, id->labels[i], strlen(id->labels[i]));
	}
	strbuf_putc(sb, ']');
	if (slash) {
		strbuf_puts(sb, ",\"pod_name\":");
		strbuf_json_str(sb, slash + 1, strlen(slash + 1));
	}
	strbuf_putc(sb, '}');
}

static void json_label(struct strbuf *sb, const char *key, const char *value)
{
	struct strbuf l = STRBUF_INIT;

	strbuf_printf(&l, "%s=%s", key, value);
	strbuf_json_str(sb, strbuf_str(&l), l.len);
	strbuf_free(&l);
}

/*
 * ,"ingress_denied_by":[{Policy}]: Hubble's Policy (name, namespace, kind,
 * Cilium's derived-from labels) of the rule that decided, plus velum's rule
 * reference and id as labels (velum:rule, velum:rule-id).
 */
static void hubble_policy(const struct mon_flow *f, struct strbuf *sb)
{
	const struct mon_rule *r = f->rule;
	bool denied = f->verdict == VELUM_FLOW_DROPPED || f->verdict == VELUM_FLOW_AUDIT;
	char id[16];

	if (!r)
		return;
	strbuf_printf(
		sb, ",\"%s_%s_by\":[{\"name\":", f->dir == VELUM_DIR_EGRESS ? "egress" : "ingress",
		denied ? "denied" : "allowed");
	strbuf_json_str(sb, r->name, strlen(r->name));
	if (r->ns) {
		strbuf_puts(sb, ",\"namespace\":");
		strbuf_json_str(sb, r->ns, strlen(r->ns));
	}
	strbuf_puts(sb, ",\"labels\":[");
	json_label(sb, "k8s:io.cilium.k8s.policy.derived-from", r->kind);
	strbuf_putc(sb, ',');
	json_label(sb, "k8s:io.cilium.k8s.policy.name", r->name);
	if (r->ns) {
		strbuf_putc(sb, ',');
		json_label(sb, "k8s:io.cilium.k8s.policy.namespace", r->ns);
	}
	strbuf_putc(sb, ',');
	json_label(sb, "velum:rule", r->ref);
	snprintf(id, sizeof(id), "%u", r->id);
	strbuf_putc(sb, ',');
	json_label(sb, "velum:rule-id", id);
	strbuf_puts(sb, "],\"kind\":");
	strbuf_json_str(sb, r->kind, strlen(r->kind));
	strbuf_puts(sb, "}]");
}

static void hubble_l4(const struct mon_flow *f, struct strbuf *sb)
{
	static const struct {
		uint8_t bit;
		const char *name;
	} flags[] = { { 0x01, "FIN" }, { 0x02, "SYN" }, { 0x04, "RST" }, { 0x08, "PSH" },
		      { 0x10, "ACK" }, { 0x20, "URG" }, { 0x40, "ECE" }, { 0x80, "CWR" } };
	const char *name = f->protocol == IPPROTO_TCP  ? "TCP" :
			   f->protocol == IPPROTO_UDP  ? "UDP" :
			   f->protocol == IPPROTO_SCTP ? "SCTP" :
			   f->protocol == IPPROTO_ICMP ? "ICMPv4" :
							 NULL;
	bool first = true;
	size_t i;

	if (!name)
		return;
	if (f->protocol == IPPROTO_ICMP) {
		strbuf_printf(sb, ",\"l4\":{\"ICMPv4\":{\"type\":%u}}", f->dport);
		return;
	}
	strbuf_printf(sb, ",\"l4\":{\"%s\":{\"source_port\":%u,\"destination_port\":%u", name,
		      f->sport, f->dport);
	if (f->protocol == IPPROTO_TCP && f->tcp_flags && !f->l7) {
		strbuf_puts(sb, ",\"flags\":{");
		for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
			if (!(f->tcp_flags & flags[i].bit))
				continue;
			strbuf_printf(sb, "%s\"%s\":true", first ? "" : ",", flags[i].name);
			first = false;
		}
		strbuf_putc(sb, '}');
	}
	strbuf_puts(sb, "}}");
}

void mon_flow_format_hubble(const struct mon_flow *f, const char *node, struct strbuf *sb)
{
	struct strbuf t = STRBUF_INIT, tmp = STRBUF_INIT;
	char sa[INET_ADDRSTRLEN], da[INET_ADDRSTRLEN];
	bool egress = f->dir == VELUM_DIR_EGRESS, ep_src = mon_flow_ep_is_src(f);
	char u[37];

	mon_format_time(f->time_ns, &t);
	inet_ntop(AF_INET, &f->saddr, sa, sizeof(sa));
	inet_ntop(AF_INET, &f->daddr, da, sizeof(da));
	strbuf_printf(sb, "{\"flow\":{\"time\":\"%s\"", strbuf_str(&t));
	if (memcmp(f->uuid, (uint8_t[16]){ 0 }, 16)) {
		mon_uuid_format(f->uuid, u);
		strbuf_printf(sb, ",\"uuid\":\"%s\"", u);
	}
	strbuf_printf(sb, ",\"verdict\":\"%s\"", mon_verdict_name(f->verdict));
	if (f->type == VELUM_EVENT_DROP && f->reason)
		strbuf_printf(sb, ",\"drop_reason\":%u", f->reason);
	strbuf_printf(sb,
		      ",\"IP\":{\"source\":\"%s\",\"destination\":\"%s\",\"ipVersion\":\"IPv4\"}",
		      sa, da);
	hubble_l4(f, sb);
	strbuf_puts(sb, ",\"source\":");
	/* the endpoint whose policy decided: the destination's for ingress */
	hubble_endpoint(f->src, ep_src ? f->ep_id : 0, sb);
	strbuf_puts(sb, ",\"destination\":");
	hubble_endpoint(f->dst, ep_src ? 0 : f->ep_id, sb);
	strbuf_printf(sb, ",\"Type\":\"%s\"", f->l7 ? "L7" : "L3_L4");
	strbuf_puts(sb, ",\"node_name\":");
	strbuf_json_str(sb, node, strlen(node));
	if (f->l7) {
		strbuf_putc(sb, ',');
		json_l7_object(f->l7, true, sb);
	}
	strbuf_printf(sb, ",\"event_type\":{\"type\":%u", mon_type_to_cilium(f->type));
	if (f->type == VELUM_EVENT_DROP && f->reason)
		strbuf_printf(sb, ",\"sub_type\":%u", f->reason);
	/* protojson leaves out a zero sub_type (to-endpoint) */
	if (f->type == MON_FLOW_TRACE && mon_trace_point_subtype(f->point))
		strbuf_printf(sb, ",\"sub_type\":%u", mon_trace_point_subtype(f->point));
	strbuf_putc(sb, '}');
	strbuf_printf(sb, ",\"traffic_direction\":\"%s\"", egress ? "EGRESS" : "INGRESS");
	if (f->type == VELUM_EVENT_POLICY_VERDICT && f->match)
		strbuf_printf(sb, ",\"policy_match_type\":%u", mon_match_to_cilium(f->match));
	if (f->type == MON_FLOW_TRACE)
		strbuf_printf(sb, ",\"trace_observation_point\":\"%s\"",
			      mon_trace_point_enum(f->point));
	strbuf_printf(sb, ",\"is_reply\":%s",
		      (f->l7 && f->l7->type == MON_L7_RESPONSE) || (!f->l7 && f->is_reply) ?
			      "true" :
			      "false");
	if (f->type == VELUM_EVENT_DROP && f->reason)
		strbuf_printf(sb, ",\"drop_reason_desc\":\"%s\"", mon_drop_reason_desc(f->reason));
	if (f->proxy_port)
		strbuf_printf(sb, ",\"proxy_port\":%u", f->proxy_port);
	hubble_policy(f, sb);
	mon_flow_summary(f, &tmp);
	strbuf_puts(sb, ",\"Summary\":");
	strbuf_json_str(sb, tmp.p ? tmp.p : "", tmp.len);
	strbuf_puts(sb, "},\"node_name\":");
	strbuf_json_str(sb, node, strlen(node));
	strbuf_printf(sb, ",\"time\":\"%s\"}", strbuf_str(&t));
	strbuf_free(&t);
	strbuf_free(&tmp);
}

/* Hubble's TYPE column: "policy-verdict:none INGRESS", "Policy denied", "http-request". */
static void type_text(const struct mon_flow *f, struct strbuf *sb)
{
	if (f->l7)
		strbuf_printf(sb, "http-%s",
			      f->l7->type == MON_L7_RESPONSE ? "response" : "request");
	else if (f->type == VELUM_EVENT_DROP)
		strbuf_puts(sb, mon_drop_reason_name(f->reason));
	else if (f->type == MON_FLOW_TRACE)
		strbuf_puts(sb, mon_trace_point_name(f->point));
	else
		strbuf_printf(sb, "policy-verdict:%s %s", mon_match_name(f->match),
			      f->dir == VELUM_DIR_EGRESS ? "EGRESS" : "INGRESS");
}

void mon_flow_table_cells(const struct mon_flow *f, struct strbuf cells[6])
{
	bool ports = f->protocol != IPPROTO_ICMP;
	const char *by = mon_flow_policy_text(f);

	mon_format_time(f->time_ns, &cells[0]);
	compact_side(f->src, f->saddr, f->sport, ports, &cells[1]);
	compact_side(f->dst, f->daddr, f->dport, ports, &cells[2]);
	type_text(f, &cells[3]);
	strbuf_puts(&cells[4], mon_verdict_name(f->verdict));
	mon_flow_summary(f, &cells[5]);
	if (by)
		strbuf_printf(&cells[5], " BY %s", by);
}

void mon_flow_format_dict(const struct mon_flow *f, const char *node, struct strbuf *sb)
{
	static const char *const keys[] = { "  TIMESTAMP", "     SOURCE", "DESTINATION",
					    "       TYPE", "    VERDICT", "    SUMMARY" };
	struct strbuf c[6] = { STRBUF_INIT, STRBUF_INIT, STRBUF_INIT,
			       STRBUF_INIT, STRBUF_INIT, STRBUF_INIT };
	size_t i;

	mon_flow_table_cells(f, c);
	strbuf_puts(sb, "------------\n");
	for (i = 0; i < 6; i++) {
		strbuf_printf(sb, "%s: %s\n", keys[i], strbuf_str(&c[i]));
		if (!i)
			strbuf_printf(sb, "       NODE: %s\n", node);
		strbuf_free(&c[i]);
	}
}

/* ---- ring ------------------------------------------------------------------------------------ */

void mon_ring_init(struct mon_ring *r, size_t cap)
{
	memset(r, 0, sizeof(*r));
	r->cap = cap ? cap : 1;
	r->next_seq = 1;
	if (getrandom(r->uuid_key, sizeof(r->uuid_key), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(r->uuid_key)) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		r->uuid_key[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
		r->uuid_key[1] = (uint64_t)ts.tv_sec * 0xbf58476d1ce4e5b9ULL;
	}
}

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/*
 * A version 4 UUID for the flow with seq: each half of the key mixed with
 * seq (a bijection of seq), so a flow keeps its uuid in every answer and
 * flows of one ring or of two agents practically never share one.
 */
static void ring_uuid(const struct mon_ring *r, uint64_t seq, uint8_t u[16])
{
	uint64_t a = splitmix64(r->uuid_key[0] ^ seq), b = splitmix64(r->uuid_key[1] + seq);

	memcpy(u, &a, 8);
	memcpy(u + 8, &b, 8);
	u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
	u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
}

int mon_ring_push(struct mon_ring *r, struct mon_flow *f)
{
	struct mon_flow *slot;

	if (r->n < r->cap) {
		/* grow in steps so that an idle agent does not hold the whole ring */
		if (r->n == r->alloc) {
			size_t na = r->alloc ? r->alloc * 2 : 256;
			struct mon_flow *nv;

			if (na > r->cap)
				na = r->cap;
			nv = realloc(r->v, na * sizeof(*nv));
			if (!nv) {
				mon_flow_release(f);
				return -ENOMEM;
			}
			r->v = nv;
			r->alloc = na;
		}
		slot = &r->v[r->n++];
	} else {
		slot = &r->v[r->head];
		mon_flow_release(slot);
		r->head = (r->head + 1) % r->cap;
	}
	*slot = *f;
	slot->seq = r->next_seq++;
	ring_uuid(r, slot->seq, slot->uuid);
	memset(f, 0, sizeof(*f));
	return 0;
}

const struct mon_flow *mon_ring_at(const struct mon_ring *r, size_t i)
{
	if (r->n < r->cap)
		return &r->v[i];
	return &r->v[(r->head + i) % r->cap];
}

size_t mon_ring_after(const struct mon_ring *r, uint64_t after)
{
	uint64_t first;

	if (!r->n)
		return 0;
	first = mon_ring_at(r, 0)->seq;
	if (after < first)
		return 0;
	if (after - first + 1 >= r->n)
		return r->n;
	return (size_t)(after - first + 1);
}

void mon_ring_free(struct mon_ring *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		mon_flow_release(&r->v[i]);
	free(r->v);
	memset(r, 0, sizeof(*r));
}
