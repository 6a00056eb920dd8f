/* SPDX-License-Identifier: Apache-2.0 */
/* Policy trace: evaluation on map states and its text and JSON forms. */
#include "policy/trace.h"

#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "velum/ipcache.h"

static bool dir_has_rules(const struct pol_mapstate *ms, enum pol_dir d)
{
	size_t i;

	for (i = 0; i < ms->n; i++)
		if (ms->entries[i].key.egress == d &&
		    ms->entries[i].val.rule_id >= VELUM_RULE_FIRST)
			return true;
	return ms->enforced[d];
}

static void check(const struct pol_trace_query *q, const struct pol_trace_result *r,
		  const struct pol_http_request *req, enum pol_dir d, struct pol_trace_side *s,
		  bool reached)
{
	const struct pol_trace_peer *self = d == POL_EGRESS ? &q->src : &q->dst;
	const struct pol_trace_peer *peer = d == POL_EGRESS ? &q->dst : &q->src;

	memset(s, 0, sizeof(*s));
	s->l7.http_index = -1;
	if (!self->state) {
		s->passes = true;
		return;
	}
	s->checked = true;
	s->own_rules = dir_has_rules(self->state, d);
	pol_mapstate_lookup(self->state, d, peer->identity, q->proto, q->dport, &s->v);
	/* bpf/lib/policy.h: policy_allow_localhost() */
	if (q->allow_localhost && d == POL_INGRESS && peer->identity == VELUM_ID_HOST &&
	    s->v.rule_id == VELUM_RULE_NONE) {
		s->v = (struct pol_verdict){ .verdict = VELUM_VERDICT_ALLOW,
					     .rule_id = VELUM_RULE_ALLOW_LOCALHOST };
	}
	s->passes = pol_verdict_passes(&s->v);
	if (reached && s->passes && s->v.verdict == VELUM_VERDICT_REDIRECT && q->http) {
		/* The proxy normalizes first: a refused or redirected target meets no rule. */
		if (r->norm != L7_NORM_OK) {
			s->norm_stopped = true;
			return;
		}
		s->l7_checked = true;
		pol_mapstate_l7_decide(self->state, d, peer->identity, q->dport, req, &s->l7);
	}
}

static bool side_ok(const struct pol_trace_side *s)
{
	return s->passes && !s->norm_stopped && (!s->l7_checked || s->l7.allowed);
}

/* True if req carries a header field named name (any case). */
static bool has_header(const struct pol_http_request *req, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < req->nheaders; i++)
		if (req->headers[i].name.len == n && !strncasecmp(req->headers[i].name.p, name, n))
			return true;
	return false;
}

/* RFC 9110 tchar */
static bool is_token(struct sv s)
{
	size_t i;

	if (!s.len)
		return false;
	for (i = 0; i < s.len; i++) {
		unsigned char ch = (unsigned char)s.p[i];

		if (!isalnum(ch) && !strchr("!#$%&'*+-.^_`|~", ch))
			return false;
	}
	return true;
}

int pol_trace_request_check(const struct pol_http_request *req, struct errbuf *eb)
{
	size_t i, j;

	if (!req->method.len)
		return errbuf_set(eb, -EINVAL, "the HTTP method is empty");
	if (!is_token(req->method))
		return errbuf_set(eb, -EINVAL,
				  "HTTP method '%.*s': not a token (letters, digits, "
				  "!#$%%&'*+-.^_`|~)",
				  (int)req->method.len, req->method.p);
	if (!req->path.len)
		return errbuf_set(eb, -EINVAL, "the HTTP path is empty");
	for (i = 0; i < req->path.len; i++)
		if ((unsigned char)req->path.p[i] <= ' ' || req->path.p[i] == 0x7f)
			return errbuf_set(eb, -EINVAL,
					  "HTTP path: a space or control character at byte %zu", i);
	for (i = 0; i < req->host.len; i++)
		if ((unsigned char)req->host.p[i] < ' ' || req->host.p[i] == 0x7f)
			return errbuf_set(eb, -EINVAL, "HTTP host: a control character at byte %zu",
					  i);
	for (i = 0; i < req->nheaders; i++) {
		const struct pol_http_field *f = &req->headers[i];

		if (!is_token(f->name))
			return errbuf_set(eb, -EINVAL, "header '%.*s': the name is not a token",
					  (int)f->name.len, f->name.p);
		for (j = 0; j < f->value.len; j++)
			if (f->value.p[j] == '\r' || f->value.p[j] == '\n' || !f->value.p[j])
				return errbuf_set(eb, -EINVAL,
						  "header '%.*s': %s in the value (byte %zu)",
						  (int)f->name.len, f->name.p,
						  f->value.p[j] ? "CR or LF" : "NUL", j);
	}
	return 0;
}

void pol_trace_run(const struct pol_trace_query *q, struct pol_trace_result *r)
{
	struct pol_http_request req = q->req;
	struct pol_http_field *with_host = NULL;
	bool eg_ok;

	memset(r, 0, sizeof(*r));
	if (q->http) {
		r->norm = l7_path_normalize(q->req.path, r->target, sizeof(r->target),
					    &r->target_len, &r->norm_why);
		req.path = (struct sv){ r->target, r->target_len };
		/*
		 * The request's host is its Host header field, as the proxy sees
		 * it: a rule's `headers: [Host]` (or headerMatches on it) matches.
		 */
		if (req.host.len && !has_header(&req, "host")) {
			with_host = calloc(req.nheaders + 1, sizeof(*with_host));
			if (with_host) {
				if (req.nheaders)
					memcpy(with_host, req.headers,
					       req.nheaders * sizeof(*with_host));
				with_host[req.nheaders].name = (struct sv){ "Host", 4 };
				with_host[req.nheaders].value = req.host;
				req.headers = with_host;
				req.nheaders++;
			}
		}
	}
	check(q, r, &req, POL_EGRESS, &r->egress, true);
	eg_ok = side_ok(&r->egress);
	check(q, r, &req, POL_INGRESS, &r->ingress, eg_ok);
	r->allowed = eg_ok && side_ok(&r->ingress);
	if (r->egress.norm_stopped || r->ingress.norm_stopped)
		r->http_status = r->norm == L7_NORM_REDIRECT ? 307 : 400;
	else if ((r->egress.l7_checked && !r->egress.l7.allowed) ||
		 (r->ingress.l7_checked && !r->ingress.l7.allowed))
		r->http_status = 403;
	free(with_host);
}

static void peer_text(const struct pol_trace_peer *p, struct strbuf *sb)
{
	size_t i, n;

	strbuf_printf(sb, "%s", p->name);
	if (p->addr && strcmp(p->addr, p->name))
		strbuf_printf(sb, " (%s)", p->addr);
	strbuf_printf(sb, ", identity %u", p->identity);
	/* the derived namespace and cluster labels repeat the name: shown in JSON only */
	for (i = 0, n = 0; p->labels && i < p->labels->n; i++) {
		const struct pol_label *l = &p->labels->v[i];

		if (!strcmp(l->key, POL_LABEL_NAMESPACE) || !strncmp(l->key, "io.cilium.k8s.", 14))
			continue;
		strbuf_puts(sb, n++ ? " " : " [");
		pol_label_format(l, sb);
	}
	if (n)
		strbuf_puts(sb, "]");
}

static void port_text(const struct pol_trace_query *q, struct strbuf *sb)
{
	if (q->proto == IPPROTO_ICMP)
		strbuf_printf(sb, "ICMP type %u", q->dport);
	else
		strbuf_printf(sb, "%u/%s", q->dport, pol_proto_name(q->proto));
}

static const char *verdict_word(const struct pol_verdict *v)
{
	switch (v->verdict) {
	case VELUM_VERDICT_ALLOW:
		return (v->flags & VELUM_POLICY_F_AUDIT) ? "AUDIT (would be denied)" : "allowed";
	case VELUM_VERDICT_REDIRECT:
		return "allowed, redirected to the L7 proxy";
	case VELUM_VERDICT_AUDIT:
		return "AUDIT (would be denied)";
	case VELUM_VERDICT_DENY:
		return "DENIED";
	case VELUM_VERDICT_NONE:
		break;
	}
	return "DENIED";
}

static void http_rule_text(const struct pol_http_matcher *m, int idx, struct strbuf *sb)
{
	const struct pol_http_rule *h = pol_http_matcher_rule(m, (size_t)idx);
	size_t i;

	strbuf_printf(sb, "http[%d] {", idx);
	if (h->method)
		strbuf_printf(sb, " method: %s", h->method);
	if (h->path)
		strbuf_printf(sb, " path: %s", h->path);
	if (h->host)
		strbuf_printf(sb, " host: %s", h->host);
	for (i = 0; i < h->nheaders; i++)
		strbuf_printf(sb, " header: %s%s%s", h->headers[i].name,
			      h->headers[i].value ? "=" : "",
			      h->headers[i].value ? h->headers[i].value : "");
	strbuf_puts(sb, " }");
}

/* What the proxy does about the allowing rule's headerMatches that the request fails. */
static void actions_text(const struct pol_http_rule *rule, const struct pol_http_request *req,
			 struct strbuf *sb)
{
	struct pol_http_action acts[POL_HTTP_MAX_ACTIONS];
	size_t i, n = pol_http_rule_actions(rule, req, acts, POL_HTTP_MAX_ACTIONS);

	for (i = 0; i < n && i < POL_HTTP_MAX_ACTIONS; i++) {
		const struct pol_http_header *h = acts[i].header;
		const char *v = h->value ? h->value : "";

		strbuf_printf(sb, "  L7 (HTTP): header %s mismatch (%s): ", h->name,
			      pol_hdr_mismatch_name(acts[i].action));
		switch (acts[i].action) {
		case POL_MISMATCH_ADD:
			strbuf_printf(sb, "the proxy adds '%s: %s'\n", h->name, v);
			break;
		case POL_MISMATCH_DELETE:
			strbuf_printf(sb, "the proxy removes every '%s' line\n", h->name);
			break;
		case POL_MISMATCH_REPLACE:
			strbuf_printf(sb, "the proxy replaces every '%s' line by '%s: %s'\n",
				      h->name, h->name, v);
			break;
		default:
			strbuf_puts(sb, "logged in the access event\n");
		}
	}
}

/* The compiled HTTP rules of the item that allowed (for naming the matching http[i]). */
static const struct pol_http_matcher *l7_item_rules(const struct pol_mapstate *ms, enum pol_dir d,
						    const struct pol_trace_query *q,
						    const struct pol_l7_verdict *l7)
{
	size_t i;

	for (i = 0; i < ms->nl7; i++) {
		const struct pol_l7_item *it = &ms->l7[i];

		if (it->dir == d && it->rule_id == l7->rule_id && it->matcher &&
		    q->dport >= it->lo && q->dport <= it->hi)
			return it->matcher;
	}
	return NULL;
}

/* Names the rules whose HTTP lists a denied request was checked against. */
static void l7_checked_rules(const struct pol_engine *e, const struct pol_mapstate *ms,
			     enum pol_dir d, const struct pol_trace_query *q, struct strbuf *sb)
{
	const struct pol_trace_peer *peer = d == POL_EGRESS ? &q->dst : &q->src;
	size_t i, k, n = 0;

	for (i = 0; i < ms->nl7; i++) {
		const struct pol_l7_item *it = &ms->l7[i];
		bool in = it->any_peer;

		if (it->dir != d || !it->matcher || q->dport < it->lo || q->dport > it->hi)
			continue;
		for (k = 0; !in && k < it->npeers; k++)
			in = it->peers[k] == peer->identity;
		if (!in)
			continue;
		strbuf_puts(sb, n++ ? "; " : "");
		pol_engine_rule_name(e, it->rule_id, sb);
	}
	if (!n)
		strbuf_puts(sb, "any rule (none covers this peer and port)");
}

static void side_text(const struct pol_engine *e, const struct pol_trace_query *q, enum pol_dir d,
		      const struct pol_trace_side *s, bool reached, struct strbuf *sb)
{
	const struct pol_trace_peer *self = d == POL_EGRESS ? &q->src : &q->dst;

	strbuf_printf(sb, "%s %s %s:\n", d == POL_EGRESS ? "Egress from" : "Ingress to", self->name,
		      d == POL_EGRESS ? "(source)" : "(destination)");
	if (!s->checked) {
		strbuf_printf(sb, "  %s is not an endpoint: no %s policy applies\n", self->name,
			      pol_dir_name(d));
		return;
	}
	if (!reached)
		strbuf_puts(sb, "  (not reached: the request is stopped at the source)\n");
	if (s->v.rule_id == VELUM_RULE_DEFAULT_ALLOW) {
		strbuf_printf(sb, "  verdict: allowed: %s\n",
			      s->own_rules ? "no policy enforces this direction on the endpoint" :
					     "no policy selects the endpoint");
	} else if (s->v.rule_id == VELUM_RULE_ALLOW_LOCALHOST) {
		strbuf_puts(sb, "  verdict: allowed: the host reaches every local endpoint "
				"(velumd --allow-localhost always)\n");
	} else if (s->v.verdict == VELUM_VERDICT_NONE) {
		strbuf_puts(sb, "  verdict: DENIED by default deny (no rule allows it)\n");
	} else {
		strbuf_printf(sb, "  verdict: %s by ", verdict_word(&s->v));
		if (s->v.rule_id == VELUM_RULE_NONE)
			strbuf_puts(sb, "default deny (audit mode)");
		else
			pol_engine_rule_name(e, s->v.rule_id, sb);
		strbuf_printf(sb, " (match %s)\n", pol_verdict_match_type(&s->v));
	}
	if (s->v.verdict == VELUM_VERDICT_REDIRECT && reached && !q->http)
		strbuf_puts(sb, "  requests on this port are decided by the L7 proxy; add "
				"--http-method/--http-path to trace one\n");
	if (s->norm_stopped)
		strbuf_puts(sb, "  L7 (HTTP): not judged: the proxy does not accept the request "
				"target as sent\n");
	if (!s->l7_checked)
		return;
	if (s->l7.reason == POL_L7_NOT_FILTERED) {
		strbuf_puts(sb,
			    "  L7 (HTTP): not filtered: no L7 rule covers this peer and port\n");
	} else if (s->l7.reason == POL_L7_ENGINE_ERROR) {
		strbuf_printf(
			sb,
			"  L7 (HTTP): DENIED: the regex engine gave no answer (%s); an error, "
			"not a verdict\n",
			strerror(-s->l7.error));
	} else if (s->l7.allowed) {
		const struct pol_http_matcher *m = l7_item_rules(self->state, d, q, &s->l7);

		strbuf_puts(sb, "  L7 (HTTP): allowed by ");
		pol_engine_rule_name(e, s->l7.rule_id, sb);
		if (m && s->l7.http_index >= 0) {
			strbuf_puts(sb, " ");
			http_rule_text(m, s->l7.http_index, sb);
		} else {
			strbuf_puts(sb, " (an L3/L4 rule: any request)");
		}
		strbuf_putc(sb, '\n');
		if (m && s->l7.http_index >= 0)
			actions_text(pol_http_matcher_rule(m, (size_t)s->l7.http_index), &q->req,
				     sb);
	} else {
		strbuf_puts(sb, "  L7 (HTTP): DENIED: the request matches no HTTP rule of ");
		l7_checked_rules(e, self->state, d, q, sb);
		strbuf_putc(sb, '\n');
	}
}

void pol_trace_format_text(const struct pol_engine *e, const struct pol_trace_query *q,
			   const struct pol_trace_result *r, struct strbuf *sb)
{
	bool eg_ok = side_ok(&r->egress);

	strbuf_puts(sb, "Tracing from: ");
	peer_text(&q->src, sb);
	strbuf_puts(sb, "\n          to: ");
	peer_text(&q->dst, sb);
	strbuf_puts(sb, "\n        port: ");
	port_text(q, sb);
	if (q->http) {
		strbuf_printf(sb, "\n        HTTP: %.*s %.*s", (int)q->req.method.len,
			      q->req.method.p, (int)q->req.path.len, q->req.path.p);
		if (q->req.host.len)
			strbuf_printf(sb, " (host %.*s)", (int)q->req.host.len, q->req.host.p);
		if (r->norm != L7_NORM_REJECT &&
		    !sv_eq(q->req.path, (struct sv){ r->target, r->target_len }))
			strbuf_printf(
				sb,
				"\n  normalized: %.*s (the path the proxy matches and forwards)",
				(int)r->target_len, r->target);
	}
	strbuf_puts(sb, "\n\n");
	side_text(e, q, POL_EGRESS, &r->egress, true, sb);
	side_text(e, q, POL_INGRESS, &r->ingress, eg_ok, sb);
	if (q->http) {
		if (r->http_status == 400)
			strbuf_printf(sb, "\nHTTP: the proxy answers 400 Bad Request: %s\n",
				      r->norm_why);
		else if (r->http_status == 307)
			strbuf_printf(
				sb,
				"\nHTTP: the path has escaped slashes: the proxy redirects the "
				"client (307) to %.*s; this request is not forwarded\n",
				(int)r->target_len, r->target);
		else if (r->http_status == 403)
			strbuf_puts(sb, "\nHTTP: the proxy answers 403 Forbidden, body \"Access "
					"denied\"\n");
		else if (r->allowed)
			strbuf_puts(sb, "\nHTTP: the request is forwarded to the server\n");
		else
			strbuf_puts(sb,
				    "\nHTTP: no response: the connection is dropped (the client "
				    "times out)\n");
	}
	strbuf_printf(sb, "\nFinal verdict: %s\n", r->allowed ? "ALLOWED" : "DENIED");
}

static void json_peer(const struct pol_trace_peer *p, struct strbuf *sb)
{
	size_t i;

	strbuf_puts(sb, "{\"name\":");
	strbuf_json_str(sb, p->name, strlen(p->name));
	if (p->addr) {
		strbuf_puts(sb, ",\"address\":");
		strbuf_json_str(sb, p->addr, strlen(p->addr));
	}
	strbuf_printf(sb, ",\"identity\":%u,\"endpoint\":%s,\"labels\":[", p->identity,
		      p->state ? "true" : "false");
	for (i = 0; p->labels && i < p->labels->n; i++) {
		struct strbuf l = STRBUF_INIT;

		pol_label_format(&p->labels->v[i], &l);
		if (i)
			strbuf_putc(sb, ',');
		strbuf_json_str(sb, strbuf_str(&l), l.len);
		strbuf_free(&l);
	}
	strbuf_puts(sb, "]}");
}

static void json_rule(const struct pol_engine *e, uint32_t id, struct strbuf *sb)
{
	const struct pol_peer_rule *pr = pol_engine_rule(e, id);
	const struct pol_policy *p;
	struct strbuf ref = STRBUF_INIT;

	if (!pr) {
		strbuf_puts(sb, "null");
		return;
	}
	p = pr->rule->policy;
	pol_peer_rule_format(pr, &ref);
	strbuf_puts(sb, "{\"kind\":");
	strbuf_json_str(sb, pol_kind_name(p->kind), strlen(pol_kind_name(p->kind)));
	strbuf_puts(sb, ",\"namespace\":");
	if (p->namespace)
		strbuf_json_str(sb, p->namespace, strlen(p->namespace));
	else
		strbuf_puts(sb, "null");
	strbuf_puts(sb, ",\"name\":");
	strbuf_json_str(sb, p->name, strlen(p->name));
	strbuf_printf(sb,
		      ",\"rule_index\":%u,\"section\":\"%s%s\",\"entry_index\":%u,\"id\":%u,"
		      "\"ref\":",
		      pr->rule->index, pol_dir_name(pr->dir), pr->deny ? "Deny" : "", pr->index,
		      id);
	strbuf_json_str(sb, strbuf_str(&ref), ref.len);
	strbuf_putc(sb, '}');
	strbuf_free(&ref);
}

/* The allowing rule's header actions as a JSON list of {header, action, value}. */
static void json_actions(const struct pol_trace_query *q, enum pol_dir d,
			 const struct pol_trace_side *s, struct strbuf *sb)
{
	const struct pol_trace_peer *self = d == POL_EGRESS ? &q->src : &q->dst;
	const struct pol_http_matcher *m = l7_item_rules(self->state, d, q, &s->l7);
	struct pol_http_action acts[POL_HTTP_MAX_ACTIONS];
	size_t i, n = 0;

	if (m && s->l7.allowed && s->l7.http_index >= 0)
		n = pol_http_rule_actions(pol_http_matcher_rule(m, (size_t)s->l7.http_index),
					  &q->req, acts, POL_HTTP_MAX_ACTIONS);
	strbuf_puts(sb, ",\"header_actions\":[");
	for (i = 0; i < n && i < POL_HTTP_MAX_ACTIONS; i++) {
		const struct pol_http_header *h = acts[i].header;
		const char *a = pol_hdr_mismatch_name(acts[i].action);

		strbuf_puts(sb, i ? ",{\"header\":" : "{\"header\":");
		strbuf_json_str(sb, h->name, strlen(h->name));
		strbuf_puts(sb, ",\"action\":");
		strbuf_json_str(sb, a, strlen(a));
		strbuf_puts(sb, ",\"value\":");
		if (h->value)
			strbuf_json_str(sb, h->value, strlen(h->value));
		else
			strbuf_puts(sb, "null");
		strbuf_putc(sb, '}');
	}
	strbuf_putc(sb, ']');
}

static void json_side(const struct pol_engine *e, const struct pol_trace_query *q, enum pol_dir d,
		      const struct pol_trace_side *s, bool reached, struct strbuf *sb)
{
	const char *reason = NULL;

	if (!s->checked) {
		strbuf_puts(sb, "{\"verdict\":\"allowed\",\"checked\":false,\"reason\":\"not an "
				"endpoint\",\"rule\":null}");
		return;
	}
	if (s->v.rule_id == VELUM_RULE_DEFAULT_ALLOW)
		reason = s->own_rules ? "no policy enforces this direction" :
					"no policy selects the endpoint";
	else if (s->v.rule_id == VELUM_RULE_NONE)
		reason = "default deny";
	else if (s->v.rule_id == VELUM_RULE_ALLOW_LOCALHOST)
		reason = "allow-localhost always";
	strbuf_printf(sb,
		      "{\"verdict\":\"%s\",\"checked\":true,\"reached\":%s,\"action\":\"%s\","
		      "\"audit\":%s,\"match\":\"%s\",\"reason\":",
		      s->passes ? "allowed" : "denied", reached ? "true" : "false",
		      pol_verdict_name(s->v.verdict),
		      (s->v.verdict == VELUM_VERDICT_AUDIT || (s->v.flags & VELUM_POLICY_F_AUDIT)) ?
			      "true" :
			      "false",
		      pol_verdict_match_type(&s->v));
	if (reason)
		strbuf_json_str(sb, reason, strlen(reason));
	else
		strbuf_puts(sb, "null");
	strbuf_puts(sb, ",\"rule\":");
	json_rule(e, s->v.rule_id, sb);
	if (s->l7_checked) {
		strbuf_printf(
			sb, ",\"l7\":{\"verdict\":\"%s\",\"reason\":\"%s\",\"http_rule_index\":",
			s->l7.allowed ? "allowed" : "denied", pol_l7_reason_name(s->l7.reason));
		if (s->l7.http_index >= 0)
			strbuf_printf(sb, "%d", s->l7.http_index);
		else
			strbuf_puts(sb, "null");
		strbuf_puts(sb, ",\"rule\":");
		json_rule(e, s->l7.allowed ? s->l7.rule_id : 0, sb);
		json_actions(q, d, s, sb);
		strbuf_putc(sb, '}');
	}
	strbuf_putc(sb, '}');
}

void pol_trace_format_json(const struct pol_engine *e, const struct pol_trace_query *q,
			   const struct pol_trace_result *r, struct strbuf *sb)
{
	bool eg_ok = side_ok(&r->egress);

	strbuf_printf(sb, "{\"verdict\":\"%s\",\"from\":", r->allowed ? "allowed" : "denied");
	json_peer(&q->src, sb);
	strbuf_puts(sb, ",\"to\":");
	json_peer(&q->dst, sb);
	strbuf_printf(sb, ",\"protocol\":\"%s\",", pol_proto_name(q->proto));
	if (q->proto == IPPROTO_ICMP)
		strbuf_printf(sb, "\"icmp_type\":%u", q->dport);
	else
		strbuf_printf(sb, "\"dport\":%u", q->dport);
	strbuf_puts(sb, ",\"egress\":");
	json_side(e, q, POL_EGRESS, &r->egress, true, sb);
	strbuf_puts(sb, ",\"ingress\":");
	json_side(e, q, POL_INGRESS, &r->ingress, eg_ok, sb);
	if (q->http) {
		strbuf_puts(sb, ",\"http\":{\"method\":");
		strbuf_json_str(sb, q->req.method.p, q->req.method.len);
		strbuf_puts(sb, ",\"path\":");
		strbuf_json_str(sb, q->req.path.p, q->req.path.len);
		strbuf_puts(sb, ",\"host\":");
		strbuf_json_str(sb, q->req.host.p ? q->req.host.p : "", q->req.host.len);
		strbuf_puts(sb, ",\"normalized_path\":");
		if (r->norm == L7_NORM_REJECT)
			strbuf_puts(sb, "null");
		else
			strbuf_json_str(sb, r->target, r->target_len);
		strbuf_puts(sb, "},\"http_status\":");
		if (r->http_status)
			strbuf_printf(sb, "%d", r->http_status);
		else
			strbuf_puts(sb, "null");
		strbuf_printf(sb, ",\"http_outcome\":\"%s\"",
			      r->http_status == 403 ? "access-denied" :
			      r->http_status == 400 ? "bad-request" :
			      r->http_status == 307 ? "redirect" :
			      r->allowed	    ? "forwarded" :
						      "dropped");
	}
	strbuf_puts(sb, "}\n");
}
