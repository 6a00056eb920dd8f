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
#include <time.h>

#include "identity/identity.h"
#include "l7/regex.h"
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
	return type == VELUM_EVENT_DROP ? "drop" : type == MON_FLOW_L7 ? "l7" : "policy-verdict";
}

_Static_assert(MON_FLOW_L7 != VELUM_EVENT_DROP && MON_FLOW_L7 != VELUM_EVENT_POLICY_VERDICT,
	       "the L7 flow type collides with a kernel event type");
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
	if (f->rule)
		return f->rule->ref;
	if (f->l7) /* the proxy's reason: no HTTP rule matched, a bad request... */
		return f->l7->reason[0] ? f->l7->reason : NULL;
	if (f->rule_id == VELUM_RULE_DEFAULT_ALLOW)
		return "no policy";
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

/* ,"is_reply":..,"l7":{...}: Hubble's l7 object (headers: what the proxy reports, the Host). */
static void json_l7(const struct mon_l7 *l7, struct strbuf *sb)
{
	bool resp = l7->type == MON_L7_RESPONSE;

	strbuf_printf(sb, ",\"is_reply\":%s,\"l7\":{\"type\":\"%s\",\"latency_ns\":%llu,",
		      resp ? "true" : "false", resp ? "RESPONSE" : "REQUEST",
		      (unsigned long long)l7->latency_ns);
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
	compact_side(f->src, f->saddr, f->sport, ports, sb);
	strbuf_puts(sb, " -> ");
	compact_side(f->dst, f->daddr, f->dport, ports, sb);
	if (f->type == VELUM_EVENT_DROP) {
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

/* ---- filters ------------------------------------------------------------------------------ */

static void spec_free(struct mon_peer_spec *s)
{
	free(s->text);
	free(s->source);
	free(s->value);
}

/* "[source:]key[=value]" into a label spec; a missing source matches any. */
static int parse_label_spec(const char *v, struct mon_peer_spec *s, struct errbuf *eb)
{
	const char *colon = strchr(v, ':'), *eq, *key = v;

	s->kind = MON_PEER_LABEL;
	if (colon && (!strchr(v, '=') || colon < strchr(v, '='))) {
		s->source = strndup(v, (size_t)(colon - v));
		key = colon + 1;
	} else {
		s->source = strdup("any");
	}
	eq = strchr(key, '=');
	s->text = eq ? strndup(key, (size_t)(eq - key)) : strdup(key);
	s->value = strdup(eq ? eq + 1 : "");
	if (!s->source || !s->text || !s->value)
		return -ENOMEM;
	if (!*s->text)
		return errbuf_set(eb, -EINVAL, "'%s': a label needs a key", v);
	return 0;
}

static int parse_peer(const char *v, struct mon_peer_spec *s, struct errbuf *eb)
{
	char buf[64];
	const char *slash = strchr(v, '/');
	char *end;
	unsigned long n;

	memset(s, 0, sizeof(*s));
	if (!*v)
		return errbuf_set(eb, -EINVAL, "empty value");
	/* an identity number */
	errno = 0;
	n = strtoul(v, &end, 10);
	if (!*end && !errno && isdigit((unsigned char)*v) && n <= UINT32_MAX) {
		s->kind = MON_PEER_IDENTITY;
		s->identity = (uint32_t)n;
		return 0;
	}
	/* an address or prefix */
	if (strlen(v) < sizeof(buf)) {
		struct in_addr a;
		int plen = 32;

		snprintf(buf, sizeof(buf), "%s", v);
		if (slash) {
			buf[slash - v] = '\0';
			errno = 0;
			plen = (int)strtol(slash + 1, &end, 10);
			if (*end || errno || plen < 0 || plen > 32)
				plen = -1;
		}
		if (plen >= 0 && inet_pton(AF_INET, buf, &a) == 1) {
			s->kind = MON_PEER_IP;
			s->mask = plen ? htonl(0xffffffffu << (32 - plen)) : 0;
			s->addr = a.s_addr & s->mask;
			return 0;
		}
	}
	if (!strcmp(v, "host") || !strcmp(v, "world")) {
		s->kind = MON_PEER_IDENTITY;
		s->identity = v[0] == 'h' ? ID_HOST : ID_WORLD;
		return 0;
	}
	/* a label: has '=' or a source prefix */
	if (strchr(v, '=') || strchr(v, ':'))
		return parse_label_spec(v, s, eb);
	/* an endpoint name; a bare name is in "default" */
	s->kind = MON_PEER_ENDPOINT;
	if (slash) {
		s->text = strdup(v);
	} else {
		s->text = malloc(strlen(v) + sizeof("default/"));
		if (s->text)
			sprintf(s->text, "default/%s", v);
	}
	return s->text ? 0 : -ENOMEM;
}

static int push_spec(struct mon_peer_spec **v, size_t *n, const struct mon_peer_spec *s)
{
	struct mon_peer_spec *nv = realloc(*v, (*n + 1) * sizeof(**v));

	if (!nv)
		return -ENOMEM;
	nv[(*n)++] = *s;
	*v = nv;
	return 0;
}

static int add_type(struct mon_filter *f, const char *value, struct errbuf *eb)
{
	uint8_t t;

	if (!strcmp(value, "drop"))
		t = VELUM_EVENT_DROP;
	else if (!strcmp(value, "policy-verdict"))
		t = VELUM_EVENT_POLICY_VERDICT;
	else if (!strcmp(value, "l7"))
		t = MON_FLOW_L7;
	else
		return errbuf_set(eb, -EINVAL, "'%s': expected drop, policy-verdict or l7", value);
	if (f->ntypes < sizeof(f->types))
		f->types[f->ntypes++] = t;
	return 0;
}

/* "404" (a code), or a prefix of one to three digits and '+': "4+" is 400-499, "40+" 400-409. */
static int add_status(struct mon_filter *f, const char *value, struct errbuf *eb)
{
	size_t nd = strspn(value, "0123456789"), i;
	bool prefix = value[nd] == '+' && !value[nd + 1];
	unsigned lo = 0, scale = 1;
	void *nv;

	if (!nd || nd > 3 || (!prefix && (value[nd] || nd != 3)) || value[0] < '1' ||
	    value[0] > '5')
		return errbuf_set(eb, -EINVAL,
				  "'%s': expected an HTTP status code 100-599 (404) or a prefix of "
				  "one (4+, 40+)",
				  value);
	for (i = 0; i < 3; i++)
		lo = lo * 10 + (i < nd ? (unsigned)(value[i] - '0') : 0);
	for (i = nd; i < 3; i++)
		scale *= 10;
	nv = realloc(f->statuses, (f->nstatuses + 1) * sizeof(*f->statuses));
	if (!nv)
		return -ENOMEM;
	f->statuses = nv;
	f->statuses[f->nstatuses].lo = (uint16_t)lo;
	f->statuses[f->nstatuses].hi = (uint16_t)(lo + scale - 1);
	f->nstatuses++;
	return 0;
}

static int push_str(char ***v, size_t *n, const char *s)
{
	char **nv = realloc(*v, (*n + 1) * sizeof(**v));

	if (!nv)
		return -ENOMEM;
	*v = nv;
	nv[*n] = strdup(s);
	if (!nv[*n])
		return -ENOMEM;
	(*n)++;
	return 0;
}

/* An HTTP method is a token (RFC 9110): letters, digits and !#$%&'*+-.^_`|~. */
static int add_method(struct mon_filter *f, const char *value, struct errbuf *eb)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~";
	const char *p;

	for (p = value; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr(tchar, *p))
			break;
	if (!*value || *p || p - value > 32)
		return errbuf_set(eb, -EINVAL, "'%s': expected an HTTP method (GET, PUT, ...)",
				  value);
	return push_str(&f->methods, &f->nmethods, value);
}

/*
 * A path regex, found anywhere in the path as Hubble's Go regexp does:
 * RE2 sets match whole subjects, so each pattern is compiled as
 * (?s:.*)(?:pattern)(?s:.*). The set is rebuilt with every pattern added.
 */
static int add_path(struct mon_filter *f, const char *value, struct errbuf *eb)
{
	struct l7_reset *set;
	const char **pats;
	uint32_t *ids;
	size_t i;
	int err;

	err = l7_regex_check(value, eb);
	if (err)
		return err;
	err = push_str(&f->paths, &f->npaths, value);
	if (err)
		return err;
	pats = calloc(f->npaths, sizeof(*pats));
	ids = calloc(f->npaths, sizeof(*ids));
	for (i = 0; pats && ids && i < f->npaths; i++) {
		size_t len = strlen(f->paths[i]) + 32;
		char *p = malloc(len);

		if (!p)
			break;
		snprintf(p, len, "(?s:.*)(?:%s)(?s:.*)", f->paths[i]);
		pats[i] = p;
	}
	set = pats && ids && i == f->npaths ? l7_reset__new(pats, ids, f->npaths, 0, eb) : NULL;
	err = set ? 0 : (errno == ENOMEM || !pats || !ids || i < f->npaths) ? -ENOMEM : -errno;
	for (i = 0; pats && i < f->npaths; i++)
		free((void *)pats[i]);
	free(pats);
	free(ids);
	if (err) {
		free(f->paths[--f->npaths]);
		return err;
	}
	l7_reset__free(f->path_set);
	f->path_set = set;
	return 0;
}

int mon_filter_add(struct mon_filter *f, const char *key, const char *value, int64_t now_ns,
		   struct errbuf *eb)
{
	struct mon_peer_spec s;
	int err;

	if (!strcmp(key, "from") || !strcmp(key, "to") || !strcmp(key, "label")) {
		memset(&s, 0, sizeof(s));
		err = key[0] == 'l' ? parse_label_spec(value, &s, eb) : parse_peer(value, &s, eb);
		if (!err)
			err = key[0] == 'f' ? push_spec(&f->from, &f->nfrom, &s) :
			      key[0] == 't' ? push_spec(&f->to, &f->nto, &s) :
					      push_spec(&f->either, &f->neither, &s);
		if (err)
			spec_free(&s);
		return err;
	}
	if (!strcmp(key, "verdict")) {
		uint8_t v = mon_verdict_parse(value);

		if (!v)
			return errbuf_set(
				eb, -EINVAL,
				"'%s': expected FORWARDED, DROPPED, AUDIT, REDIRECTED or ERROR",
				value);
		if (f->nverdicts < sizeof(f->verdicts))
			f->verdicts[f->nverdicts++] = v;
		return 0;
	}
	if (!strcmp(key, "port")) {
		char *end;
		long p;
		uint16_t *nv;

		errno = 0;
		p = strtol(value, &end, 10);
		if (errno || end == value || *end || p < 0 || p > 65535)
			return errbuf_set(eb, -EINVAL, "'%s': expected a port 0-65535", value);
		nv = realloc(f->ports, (f->nports + 1) * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		nv[f->nports++] = (uint16_t)p;
		f->ports = nv;
		return 0;
	}
	if (!strcmp(key, "since")) {
		int64_t d;

		if (!mon_parse_duration(value, &d)) {
			f->since_ns = now_ns - d;
			return 0;
		}
		if (!mon_parse_time(value, &f->since_ns))
			return 0;
		return errbuf_set(eb, -EINVAL,
				  "'%s': expected a duration (30s, 5m, 2h) or an RFC 3339 time",
				  value);
	}
	if (!strcmp(key, "type"))
		return add_type(f, value, eb);
	if (!strcmp(key, "http-status"))
		return add_status(f, value, eb);
	if (!strcmp(key, "http-method"))
		return add_method(f, value, eb);
	if (!strcmp(key, "http-path"))
		return add_path(f, value, eb);
	return errbuf_set(eb, -EINVAL, "unknown filter '%s'", key);
}

static bool label_match(const struct mon_peer_spec *s, const struct mon_ident *id)
{
	size_t i, kl = strlen(s->text);

	for (i = 0; id && i < id->nlabels; i++) {
		const char *l = id->labels[i], *colon = strchr(l, ':'), *k, *eq;

		if (!colon)
			continue;
		if (strcmp(s->source, "any") && (strlen(s->source) != (size_t)(colon - l) ||
						 strncmp(s->source, l, (size_t)(colon - l))))
			continue;
		k = colon + 1;
		eq = strchr(k, '=');
		if ((eq ? (size_t)(eq - k) : strlen(k)) != kl || strncmp(k, s->text, kl))
			continue;
		if (!*s->value || (eq && !strcmp(eq + 1, s->value)))
			return true;
	}
	return false;
}

static bool peer_match(const struct mon_peer_spec *s, const struct mon_ident *id, uint32_t addr)
{
	switch (s->kind) {
	case MON_PEER_ENDPOINT:
		return id && id->endpoint && !strcmp(id->endpoint, s->text);
	case MON_PEER_IP:
		return (addr & s->mask) == s->addr;
	case MON_PEER_IDENTITY:
		if (id && s->identity == ID_WORLD &&
		    (id->identity == ID_WORLD_IPV4 || id->identity == ID_WORLD_IPV6))
			return true;
		return id && id->identity == s->identity;
	case MON_PEER_LABEL:
		return label_match(s, id);
	}
	return false;
}

static bool any_peer(const struct mon_peer_spec *v, size_t n, const struct mon_ident *id,
		     uint32_t addr)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (peer_match(&v[i], id, addr))
			return true;
	return false;
}

/* The path of an absolute URL "scheme://authority/path?query" (or of "/path?query"). */
static struct sv url_path(const char *url)
{
	const char *p = strstr(url, "://"), *end;

	p = p ? strchr(p + 3, '/') : url;
	if (!p)
		return (struct sv){ "", 0 };
	end = p + strcspn(p, "?#");
	return (struct sv){ p, (size_t)(end - p) };
}

static bool http_match(const struct mon_filter *f, const struct mon_l7 *l7)
{
	size_t i;
	bool ok;

	if (!l7)
		return false;
	if (f->nstatuses) {
		for (ok = false, i = 0; i < f->nstatuses && !ok; i++)
			ok = l7->code && l7->code >= f->statuses[i].lo &&
			     l7->code <= f->statuses[i].hi;
		if (!ok)
			return false;
	}
	if (f->nmethods) {
		for (ok = false, i = 0; i < f->nmethods && !ok; i++)
			ok = !strcasecmp(f->methods[i], l7->method);
		if (!ok)
			return false;
	}
	if (f->npaths) {
		uint64_t bits = 0;

		/* an engine failure (DFA out of memory) selects nothing rather than everything */
		if (!f->path_set || l7_reset_match(f->path_set, url_path(l7->url), &bits) <= 0)
			return false;
	}
	return true;
}

bool mon_filter_match(const struct mon_filter *f, const struct mon_flow *fl)
{
	size_t i;
	bool ok;

	if (f->since_ns && fl->time_ns < f->since_ns)
		return false;
	if (f->nfrom && !any_peer(f->from, f->nfrom, fl->src, fl->saddr))
		return false;
	if (f->nto && !any_peer(f->to, f->nto, fl->dst, fl->daddr))
		return false;
	if (f->neither && !any_peer(f->either, f->neither, fl->src, fl->saddr) &&
	    !any_peer(f->either, f->neither, fl->dst, fl->daddr))
		return false;
	if (f->nverdicts) {
		for (ok = false, i = 0; i < f->nverdicts && !ok; i++)
			ok = f->verdicts[i] == fl->verdict;
		if (!ok)
			return false;
	}
	if (f->ntypes) {
		for (ok = false, i = 0; i < f->ntypes && !ok; i++)
			ok = f->types[i] == fl->type;
		if (!ok)
			return false;
	}
	if ((f->nstatuses || f->nmethods || f->npaths) && !http_match(f, fl->l7))
		return false;
	if (f->nports) {
		bool ports = fl->protocol != IPPROTO_ICMP;

		for (ok = false, i = 0; i < f->nports && !ok && ports; i++)
			ok = f->ports[i] == fl->sport || f->ports[i] == fl->dport;
		if (!ok)
			return false;
	}
	return true;
}

void mon_filter_free(struct mon_filter *f)
{
	size_t i;

	for (i = 0; i < f->nfrom; i++)
		spec_free(&f->from[i]);
	for (i = 0; i < f->nto; i++)
		spec_free(&f->to[i]);
	for (i = 0; i < f->neither; i++)
		spec_free(&f->either[i]);
	free(f->from);
	free(f->to);
	free(f->either);
	free(f->ports);
	free(f->statuses);
	for (i = 0; i < f->nmethods; i++)
		free(f->methods[i]);
	free(f->methods);
	for (i = 0; i < f->npaths; i++)
		free(f->paths[i]);
	free(f->paths);
	l7_reset__free(f->path_set);
	memset(f, 0, sizeof(*f));
}

/* ---- ring ------------------------------------------------------------------------------------ */

void mon_ring_init(struct mon_ring *r, size_t cap)
{
	memset(r, 0, sizeof(*r));
	r->cap = cap ? cap : 1;
	r->next_seq = 1;
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
