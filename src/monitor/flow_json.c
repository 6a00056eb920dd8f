/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading a flow back from its JSON line (the /v1/flows format written by
 * mon_flow_format_json()), so that `velum observe` prints the same compact
 * line velumd would. Uses jansson; only the CLI links this file.
 */
#include "monitor/flow_json.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/proto.h"
#include "velum/events.h"
#include "velum/policy.h"

static uint8_t match_parse(const char *s)
{
	static const char *const names[] = { "none",	"L3-L4",      "L3-Proto", "L3-Only",
					     "L4-Only", "Proto-Only", "all" };
	uint8_t i;

	for (i = 0; s && i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i]))
			return i;
	return VELUM_MATCH_NONE;
}

static uint8_t flags_parse(const char *s)
{
	uint8_t f = 0;

	if (!s)
		return 0;
	if (strstr(s, "FIN"))
		f |= 0x01;
	if (strstr(s, "SYN"))
		f |= 0x02;
	if (strstr(s, "RST"))
		f |= 0x04;
	if (strstr(s, "PSH"))
		f |= 0x08;
	if (strstr(s, "ACK"))
		f |= 0x10;
	return f;
}

/* A new mon_ident of endpoint (may be NULL), j's "identity" and the strings of j's "labels". */
static struct mon_ident *ident_of(json_t *j, const char *endpoint)
{
	json_t *labels = json_object_get(j, "labels");
	size_t n = json_array_size(labels), i;
	const char **v = calloc(n ? n : 1, sizeof(*v));
	struct mon_ident *id;

	if (!v)
		return NULL;
	for (i = 0; i < n; i++) {
		v[i] = json_string_value(json_array_get(labels, i));
		if (!v[i])
			v[i] = "";
	}
	id = mon_ident__new(endpoint, (uint32_t)json_integer_value(json_object_get(j, "identity")),
			    v, n);
	free(v);
	return id;
}

static struct mon_ident *side(json_t *j, uint32_t *addr, uint16_t *port)
{
	const char *ip = json_string_value(json_object_get(j, "ip"));
	struct in_addr a = { 0 };

	if (ip)
		inet_pton(AF_INET, ip, &a);
	*addr = a.s_addr;
	*port = (uint16_t)json_integer_value(json_object_get(j, "port"));
	return ident_of(j, json_string_value(json_object_get(j, "endpoint")));
}

/* "HTTP/1.1" into major and minor; 0 or -EINVAL. */
static int protocol_parse(const char *s, uint8_t *major, uint8_t *minor)
{
	unsigned a, b;
	char end;

	if (!s || sscanf(s, "HTTP/%u.%u%c", &a, &b, &end) != 2 || a > 9 || b > 9)
		return -EINVAL;
	*major = (uint8_t)a;
	*minor = (uint8_t)b;
	return 0;
}

/* The l7 object of an L7 flow (and its reason) into f->l7. */
static int l7_from_json(json_t *j, struct mon_flow *f, struct errbuf *eb)
{
	json_t *l7 = json_object_get(j, "l7"), *http = json_object_get(l7, "http"), *hs, *h;
	const char *type = json_string_value(json_object_get(l7, "type")), *host = NULL;
	json_int_t code = json_integer_value(json_object_get(http, "code"));
	uint8_t t;
	size_t i;

	if (!json_is_object(http) || !type)
		return errbuf_set(eb, -EINVAL, "flow: an l7 flow without its l7.http object");
	if (!strcmp(type, "REQUEST"))
		t = MON_L7_REQUEST;
	else if (!strcmp(type, "RESPONSE"))
		t = MON_L7_RESPONSE;
	else
		return errbuf_set(eb, -EINVAL, "flow: l7.type '%s' is not REQUEST or RESPONSE",
				  type);
	if (code < 0 || code > 999)
		return errbuf_set(eb, -EINVAL, "flow: l7.http.code %lld out of range",
				  (long long)code);
	hs = json_object_get(http, "headers");
	json_array_foreach(hs, i, h)
	{
		const char *k = json_string_value(json_object_get(h, "key"));

		if (k && !strcasecmp(k, "host"))
			host = json_string_value(json_object_get(h, "value"));
	}
	f->l7 = mon_l7__new(t, json_string_value(json_object_get(http, "method")), host,
			    json_string_value(json_object_get(http, "url")),
			    json_string_value(json_object_get(j, "reason")));
	if (!f->l7)
		return -ENOMEM;
	f->l7->code = (uint16_t)code;
	f->l7->latency_ns = (uint64_t)json_integer_value(json_object_get(l7, "latency_ns"));
	if (protocol_parse(json_string_value(json_object_get(http, "protocol")), &f->l7->http_major,
			   &f->l7->http_minor))
		return errbuf_set(eb, -EINVAL, "flow: l7.http.protocol is not HTTP/x.y");
	return 0;
}

/* ---- Hubble's jsonpb ---------------------------------------------------------------------- */

static uint32_t ip_parse(json_t *j)
{
	const char *s = json_string_value(j);
	struct in_addr a = { 0 };

	if (s)
		inet_pton(AF_INET, s, &a);
	return a.s_addr;
}

/* flow.source / flow.destination: "namespace/pod_name" is the endpoint. */
static struct mon_ident *hubble_side(json_t *j)
{
	const char *ns = json_string_value(json_object_get(j, "namespace"));
	const char *pod = json_string_value(json_object_get(j, "pod_name"));
	struct mon_ident *id;
	char *name = NULL;

	if (pod && *pod && asprintf(&name, "%s/%s", ns ? ns : "default", pod) < 0)
		name = NULL;
	id = ident_of(j, name);
	free(name);
	return id;
}

static uint64_t int_or_string(json_t *j)
{
	if (json_is_string(j))
		return strtoull(json_string_value(j), NULL, 10);
	return (uint64_t)json_integer_value(j);
}

/* The label "key=value" of a Policy's labels, or NULL. */
static const char *policy_label(json_t *p, const char *key)
{
	json_t *l;
	size_t i, kl = strlen(key);

	json_array_foreach(json_object_get(p, "labels"), i, l)
	{
		const char *s = json_string_value(l);

		if (s && !strncmp(s, key, kl) && s[kl] == '=')
			return s + kl + 1;
	}
	return NULL;
}

static void hubble_rule(json_t *fl, struct mon_flow *f)
{
	static const char *const keys[] = { "ingress_denied_by", "ingress_allowed_by",
					    "egress_denied_by", "egress_allowed_by" };
	size_t i;

	for (i = 0; i < 4 && !f->rule; i++) {
		json_t *p = json_array_get(json_object_get(fl, keys[i]), 0);
		const char *ref, *id;

		if (!json_is_object(p))
			continue;
		ref = policy_label(p, "velum:rule");
		id = policy_label(p, "velum:rule-id");
		f->rule_id = id ? (uint32_t)strtoul(id, NULL, 10) : 0;
		f->rule = mon_rule__new(f->rule_id, ref ? ref : "",
					json_string_value(json_object_get(p, "kind")),
					json_string_value(json_object_get(p, "namespace")),
					json_string_value(json_object_get(p, "name")));
	}
}

static int hubble_l7(json_t *l7, struct mon_flow *f, struct errbuf *eb)
{
	json_t *http = json_object_get(l7, "http"), *h;
	const char *type = json_string_value(json_object_get(l7, "type")), *host = NULL;
	json_int_t code = json_integer_value(json_object_get(http, "code"));
	size_t i;

	if (!json_is_object(http) || !type)
		return errbuf_set(eb, -EINVAL, "flow.l7: only HTTP, with its type");
	json_array_foreach(json_object_get(http, "headers"), i, h)
	{
		const char *k = json_string_value(json_object_get(h, "key"));

		if (k && !strcasecmp(k, "host"))
			host = json_string_value(json_object_get(h, "value"));
	}
	f->l7 = mon_l7__new(!strcmp(type, "RESPONSE") ? MON_L7_RESPONSE : MON_L7_REQUEST,
			    json_string_value(json_object_get(http, "method")), host,
			    json_string_value(json_object_get(http, "url")),
			    /* the proxy's reason for a denial rides in no Hubble field */
			    f->verdict == VELUM_FLOW_DROPPED && !f->rule ? "no HTTP rule matched" :
									   "");
	if (!f->l7)
		return -ENOMEM;
	f->l7->code = code > 0 && code < 1000 ? (uint16_t)code : 0;
	f->l7->latency_ns = int_or_string(json_object_get(l7, "latency_ns"));
	if (protocol_parse(json_string_value(json_object_get(http, "protocol")), &f->l7->http_major,
			   &f->l7->http_minor)) {
		f->l7->http_major = 1;
		f->l7->http_minor = 1;
	}
	return 0;
}

/* One object of `hubble observe -o jsonpb` ({"flow": {...}, ...}) into *f. */
static int from_hubble(json_t *fl, struct mon_flow *f, struct errbuf *eb)
{
	json_t *l4 = json_object_get(fl, "l4"), *ip = json_object_get(fl, "IP"), *p;
	const char *s;
	uint32_t ev = (uint32_t)json_integer_value(
		json_object_get(json_object_get(fl, "event_type"), "type"));
	int err = 0;

	s = json_string_value(json_object_get(fl, "time"));
	if (!s || mon_parse_time(s, &f->time_ns))
		return errbuf_set(eb, -EINVAL, "flow.time: missing or not RFC 3339");
	s = json_string_value(json_object_get(fl, "verdict"));
	f->verdict = s ? mon_verdict_parse(s) : 0;
	if (!f->verdict)
		return errbuf_set(eb, -EINVAL, "flow.verdict: missing or unknown");
	f->type = ev == 1			     ? VELUM_EVENT_DROP :
		  ev == 129			     ? MON_FLOW_L7 :
		  ev == 4			     ? MON_FLOW_TRACE :
		  json_object_get(fl, "l7")	     ? MON_FLOW_L7 :
		  json_object_get(fl, "drop_reason") ? VELUM_EVENT_DROP :
						       VELUM_EVENT_POLICY_VERDICT;
	s = json_string_value(json_object_get(fl, "traffic_direction"));
	f->dir = s && !strcmp(s, "EGRESS") ? VELUM_DIR_EGRESS : VELUM_DIR_INGRESS;
	if (f->type == MON_FLOW_TRACE)
		f->point = mon_trace_point_parse(
			json_string_value(json_object_get(fl, "trace_observation_point")));
	f->is_reply = json_is_true(json_object_get(fl, "is_reply")) && f->type != MON_FLOW_L7;
	if (mon_uuid_parse(json_string_value(json_object_get(fl, "uuid")), f->uuid))
		memset(f->uuid, 0, sizeof(f->uuid));
	f->match = mon_match_from_cilium(
		(uint8_t)json_integer_value(json_object_get(fl, "policy_match_type")));
	f->reason = (uint16_t)json_integer_value(json_object_get(fl, "drop_reason"));
	f->proxy_port = (uint16_t)json_integer_value(json_object_get(fl, "proxy_port"));
	f->saddr = ip_parse(json_object_get(ip, "source"));
	f->daddr = ip_parse(json_object_get(ip, "destination"));
	if ((p = json_object_get(l4, "TCP")) || (p = json_object_get(l4, "UDP")) ||
	    (p = json_object_get(l4, "SCTP"))) {
		json_t *fs = json_object_get(p, "flags");
		const char *k;
		json_t *v;

		f->protocol = json_object_get(l4, "TCP") ? IPPROTO_TCP :
			      json_object_get(l4, "UDP") ? IPPROTO_UDP :
							   IPPROTO_SCTP;
		f->sport = (uint16_t)json_integer_value(json_object_get(p, "source_port"));
		f->dport = (uint16_t)json_integer_value(json_object_get(p, "destination_port"));
		json_object_foreach(fs, k, v)
		{
			if (json_is_true(v))
				f->tcp_flags |= flags_parse(k);
		}
	} else if ((p = json_object_get(l4, "ICMPv4"))) {
		f->protocol = IPPROTO_ICMP;
		f->dport = (uint16_t)json_integer_value(json_object_get(p, "type"));
	}
	f->src = hubble_side(json_object_get(fl, "source"));
	f->dst = hubble_side(json_object_get(fl, "destination"));
	f->ep_id = (uint32_t)json_integer_value(json_object_get(
		json_object_get(fl, mon_flow_ep_is_src(f) ? "source" : "destination"), "ID"));
	hubble_rule(fl, f);
	/* a verdict no rule decided: forwarded where no policy applies, else default deny */
	if (!f->rule && !f->l7 && f->type != MON_FLOW_TRACE &&
	    (f->verdict == VELUM_FLOW_FORWARDED || f->verdict == VELUM_FLOW_REDIRECTED))
		f->rule_id = VELUM_RULE_DEFAULT_ALLOW;
	if (f->type == MON_FLOW_L7)
		err = hubble_l7(json_object_get(fl, "l7"), f, eb);
	if (!err && (!f->src || !f->dst))
		err = -ENOMEM;
	return err;
}

int mon_flow_from_json(const char *text, size_t len, struct mon_flow *f, struct errbuf *eb)
{
	json_error_t je;
	json_t *j = json_loadb(text, len, 0, &je), *rule;
	const char *s;
	int err = 0;

	memset(f, 0, sizeof(*f));
	if (!json_is_object(j)) {
		json_decref(j);
		return errbuf_set(eb, -EINVAL, "not a flow object: %s", je.text);
	}
	if (json_is_object(json_object_get(j, "flow"))) {
		err = from_hubble(json_object_get(j, "flow"), f, eb);
		json_decref(j);
		if (err)
			mon_flow_release(f);
		return err;
	}
	s = json_string_value(json_object_get(j, "time"));
	if (!s || mon_parse_time(s, &f->time_ns))
		err = errbuf_set(eb, -EINVAL, "flow: bad time");
	s = json_string_value(json_object_get(j, "type"));
	f->type = s && !strcmp(s, "drop")  ? VELUM_EVENT_DROP :
		  s && !strcmp(s, "l7")	   ? MON_FLOW_L7 :
		  s && !strcmp(s, "trace") ? MON_FLOW_TRACE :
					     VELUM_EVENT_POLICY_VERDICT;
	f->point = mon_trace_point_parse(
		json_string_value(json_object_get(j, "trace_observation_point")));
	f->is_reply = json_is_true(json_object_get(j, "is_reply")) && f->type != MON_FLOW_L7;
	if (mon_uuid_parse(json_string_value(json_object_get(j, "uuid")), f->uuid))
		memset(f->uuid, 0, sizeof(f->uuid));
	s = json_string_value(json_object_get(j, "verdict"));
	f->verdict = s ? mon_verdict_parse(s) : 0;
	s = json_string_value(json_object_get(j, "direction"));
	f->dir = s && !strcmp(s, "egress") ? VELUM_DIR_EGRESS : VELUM_DIR_INGRESS;
	f->match = match_parse(json_string_value(json_object_get(j, "match")));
	f->reason = (uint16_t)json_integer_value(json_object_get(j, "reason_code"));
	if (proto_parse(json_string_value(json_object_get(j, "protocol")), &f->protocol))
		f->protocol = 0; /* "IP": a protocol velum does not name */
	f->tcp_flags = flags_parse(json_string_value(json_object_get(j, "tcp_flags")));
	f->ep_id = (uint32_t)json_integer_value(json_object_get(j, "endpoint_id"));
	f->rule_id = (uint32_t)json_integer_value(json_object_get(j, "rule_id"));
	f->proxy_port = (uint16_t)json_integer_value(json_object_get(j, "proxy_port"));
	f->len = (uint32_t)json_integer_value(json_object_get(j, "length"));
	f->src = side(json_object_get(j, "source"), &f->saddr, &f->sport);
	f->dst = side(json_object_get(j, "destination"), &f->daddr, &f->dport);
	if (f->protocol == IPPROTO_ICMP)
		f->dport = (uint16_t)json_integer_value(json_object_get(j, "icmp_type"));
	rule = json_object_get(j, "rule");
	if (json_is_object(rule))
		f->rule = mon_rule__new((uint32_t)json_integer_value(json_object_get(rule, "id")),
					json_string_value(json_object_get(rule, "ref")),
					json_string_value(json_object_get(rule, "kind")),
					json_string_value(json_object_get(rule, "namespace")),
					json_string_value(json_object_get(rule, "name")));
	if (!err && f->type == MON_FLOW_L7)
		err = l7_from_json(j, f, eb);
	json_decref(j);
	if (!err && (!f->src || !f->dst))
		err = -ENOMEM;
	if (err)
		mon_flow_release(f);
	return err;
}
