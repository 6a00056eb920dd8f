/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Map state queries: the kernel's policy lookup in user space, the L7
 * decision, comparison and text form.
 */
#include "policy/mapstate.h"

#include <velum/events.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Key bytes after prefixlen, in the order the LPM trie compares them. */
static int key_cmp(const struct velum_policy_key *a, const struct velum_policy_key *b)
{
	int c = memcmp(&a->identity, &b->identity, 8);

	if (c)
		return c;
	return (a->prefixlen > b->prefixlen) - (a->prefixlen < b->prefixlen);
}

static const struct pol_mapentry *find_exact(const struct pol_mapstate *ms,
					     const struct velum_policy_key *k)
{
	size_t lo = 0, hi = ms->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = key_cmp(k, &ms->entries[mid].key);

		if (!c)
			return &ms->entries[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* Longest match for one identity, as BPF_MAP_TYPE_LPM_TRIE answers it. */
static const struct pol_mapentry *lpm(const struct pol_mapstate *ms, uint32_t id, uint8_t dir,
				      uint8_t proto, uint16_t dport)
{
	int plen;

	for (plen = 24; plen >= 0; plen--) {
		struct velum_policy_key k = {
			.prefixlen = VELUM_POLICY_PREFIX_FIXED + (uint32_t)plen,
			.identity = htonl(id),
			.egress = dir,
		};
		const struct pol_mapentry *e;

		if (plen >= 8) {
			k.protocol = proto;
			k.dport =
				htons(plen == 8 ? 0 : (uint16_t)(dport & (0xffffu << (24 - plen))));
		} else if (plen > 0) {
			continue; /* partial protocol prefixes are never generated */
		}
		e = find_exact(ms, &k);
		if (e)
			return e;
	}
	return NULL;
}

void pol_mapstate_lookup(const struct pol_mapstate *ms, enum pol_dir dir, uint32_t peer,
			 uint8_t proto, uint16_t dport, struct pol_verdict *out)
{
	const struct pol_mapentry *e1 = lpm(ms, peer, (uint8_t)dir, proto, dport);
	const struct pol_mapentry *e0 = peer ? lpm(ms, 0, (uint8_t)dir, proto, dport) : NULL;
	const struct pol_mapentry *w;

	memset(out, 0, sizeof(*out));
	if (!e1)
		w = e0;
	else if (!e0)
		w = e1;
	else if (e0->val.verdict != e1->val.verdict)
		w = e0->val.verdict > e1->val.verdict ? e0 : e1;
	else if (e0->val.port_prefix != e1->val.port_prefix)
		w = e0->val.port_prefix > e1->val.port_prefix ? e0 : e1;
	else
		w = e1;
	if (!w) {
		out->verdict = VELUM_VERDICT_NONE;
		out->rule_id = VELUM_RULE_NONE;
		return;
	}
	out->verdict = (enum velum_verdict)w->val.verdict;
	out->flags = w->val.flags;
	out->port_prefix = w->val.port_prefix;
	out->specific_peer = w->key.identity != 0;
	out->proxy_port = ntohs(w->val.proxy_port);
	out->rule_id = w->val.rule_id;
}

bool pol_verdict_passes(const struct pol_verdict *v)
{
	return v->verdict == VELUM_VERDICT_ALLOW || v->verdict == VELUM_VERDICT_REDIRECT ||
	       v->verdict == VELUM_VERDICT_AUDIT;
}

const char *pol_verdict_match_type(const struct pol_verdict *v)
{
	enum velum_match m;

	if (v->verdict == VELUM_VERDICT_NONE)
		m = VELUM_MATCH_NONE;
	else if (v->port_prefix == 0)
		m = v->specific_peer ? VELUM_MATCH_L3_ONLY : VELUM_MATCH_ALL;
	else if (v->port_prefix == 8)
		m = v->specific_peer ? VELUM_MATCH_L3_PROTO : VELUM_MATCH_PROTO_ONLY;
	else
		m = v->specific_peer ? VELUM_MATCH_L3_L4 : VELUM_MATCH_L4_ONLY;
	return velum_match_name(m);
}

const char *pol_verdict_name(enum velum_verdict v)
{
	switch (v) {
	case VELUM_VERDICT_ALLOW:
		return "ALLOW";
	case VELUM_VERDICT_REDIRECT:
		return "REDIRECT";
	case VELUM_VERDICT_AUDIT:
		return "AUDIT";
	case VELUM_VERDICT_DENY:
		return "DENY";
	case VELUM_VERDICT_NONE:
		break;
	}
	return "NONE";
}

static bool peer_in(const struct pol_l7_item *it, uint32_t peer)
{
	size_t lo = 0, hi = it->npeers;

	if (it->any_peer)
		return true;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (it->peers[mid] == peer)
			return true;
		if (it->peers[mid] < peer)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

const char *pol_l7_reason_name(enum pol_l7_reason r)
{
	switch (r) {
	case POL_L7_NOT_FILTERED:
		return "not L7-filtered";
	case POL_L7_MATCHED:
		return "matched";
	case POL_L7_NO_MATCH:
		return "no HTTP rule matched";
	case POL_L7_ENGINE_ERROR:
		return "engine error";
	}
	return "?";
}

void pol_l7_items_decide(const struct pol_l7_item *items, size_t n, enum pol_dir dir, uint32_t peer,
			 uint16_t port, const struct pol_http_request *req,
			 struct pol_l7_verdict *out)
{
	bool covered = false;
	size_t i, k;
	int err = 0, r;

	memset(out, 0, sizeof(*out));
	out->http_index = -1;
	for (i = 0; i < n; i++) {
		const struct pol_l7_item *it = &items[i];

		if (it->dir != dir || port < it->lo || port > it->hi ||
		    (it->proto && it->proto != IPPROTO_TCP) || !peer_in(it, peer))
			continue;
		covered = true;
		r = it->matcher ? pol_http_matcher_match(it->matcher, req, &k) : 1;
		if (r < 0 && !err)
			err = r;
		if (r <= 0)
			continue;
		out->allowed = true;
		out->reason = POL_L7_MATCHED;
		out->rule_id = it->rule_id;
		out->http_index = it->matcher ? (int)k : -1;
		out->matcher = it->matcher;
		return;
	}
	if (!covered) {
		out->allowed = true;
		out->reason = POL_L7_NOT_FILTERED;
	} else if (err) {
		out->reason = POL_L7_ENGINE_ERROR;
		out->error = err;
	} else {
		out->reason = POL_L7_NO_MATCH;
	}
}

void pol_mapstate_l7_decide(const struct pol_mapstate *ms, enum pol_dir dir, uint32_t peer,
			    uint16_t port, const struct pol_http_request *req,
			    struct pol_l7_verdict *out)
{
	pol_l7_items_decide(ms->l7, ms->nl7, dir, peer, port, req, out);
}

bool pol_mapstate_entries_equal(const struct pol_mapstate *a, const struct pol_mapstate *b)
{
	return a->n == b->n && !memcmp(a->entries, b->entries, a->n * sizeof(*a->entries));
}

static void format_ports(const struct velum_policy_key *k, uint8_t pp, struct strbuf *sb)
{
	uint16_t port = ntohs(k->dport);

	if (pp == 0) {
		strbuf_puts(sb, "ANY");
	} else if (pp == 8) {
		strbuf_printf(sb, "%s/ANY", pol_proto_name(k->protocol));
	} else if (k->protocol == IPPROTO_ICMP || k->protocol == IPPROTO_ICMPV6) {
		strbuf_printf(sb, "%s/type=%u", pol_proto_name(k->protocol), port);
	} else if (pp == 24) {
		strbuf_printf(sb, "%s/%u", pol_proto_name(k->protocol), port);
	} else {
		unsigned span = 1u << (24 - pp);

		strbuf_printf(sb, "%s/%u-%u", pol_proto_name(k->protocol), port, port + span - 1);
	}
}

static void format_l7(const struct pol_mapstate *ms, enum pol_dir d, struct strbuf *sb,
		      void (*name_rule)(void *ctx, uint32_t rule_id, struct strbuf *sb), void *ctx)
{
	size_t i, k;

	for (i = 0; i < ms->nl7; i++) {
		const struct pol_l7_item *it = &ms->l7[i];

		if (it->dir != d)
			continue;
		strbuf_printf(sb, "  L7 %s/", it->proto ? pol_proto_name(it->proto) : "ANY");
		if (it->lo == 0 && it->hi == 65535)
			strbuf_puts(sb, "ANY");
		else if (it->lo == it->hi)
			strbuf_printf(sb, "%u", it->lo);
		else
			strbuf_printf(sb, "%u-%u", it->lo, it->hi);
		strbuf_puts(sb, " peers ");
		if (it->any_peer)
			strbuf_puts(sb, "any");
		for (k = 0; !it->any_peer && k < it->npeers; k++)
			strbuf_printf(sb, "%s%u", k ? "," : "", it->peers[k]);
		if (!it->matcher) {
			strbuf_puts(sb, ": any request");
		} else {
			for (k = 0; k < pol_http_matcher_count(it->matcher); k++) {
				const struct pol_http_rule *h =
					pol_http_matcher_rule(it->matcher, k);

				strbuf_printf(sb, "%s{", k ? " " : ": ");
				strbuf_printf(sb, "%s%s%s%s%s%s", h->method ? "method=" : "",
					      h->method ? h->method : "",
					      h->path ? (h->method ? " path=" : "path=") : "",
					      h->path ? h->path : "", h->host ? " host=" : "",
					      h->host ? h->host : "");
				if (h->nheaders)
					strbuf_printf(sb, " +%zu header(s)", h->nheaders);
				strbuf_putc(sb, '}');
			}
		}
		strbuf_puts(sb, " ");
		if (name_rule)
			name_rule(ctx, it->rule_id, sb);
		else
			strbuf_printf(sb, "rule %u", it->rule_id);
		strbuf_putc(sb, '\n');
	}
}

void pol_mapstate_format(const struct pol_mapstate *ms, struct strbuf *sb,
			 void (*name_rule)(void *ctx, uint32_t rule_id, struct strbuf *sb),
			 void *ctx)
{
	int d;
	size_t i;

	for (d = 0; d < 2; d++) {
		strbuf_printf(sb, "%s: %s%s\n", pol_dir_name((enum pol_dir)d),
			      ms->enforced[d] ? "default deny" : "default allow",
			      ms->audit[d] ? " (audit)" : "");
		for (i = 0; i < ms->n; i++) {
			const struct pol_mapentry *e = &ms->entries[i];
			struct strbuf port = STRBUF_INIT;
			char peer[16];
			uint32_t id = ntohl(e->key.identity);

			if (e->key.egress != d)
				continue;
			if (id)
				snprintf(peer, sizeof(peer), "%u", id);
			else
				snprintf(peer, sizeof(peer), "any");
			format_ports(&e->key,
				     (uint8_t)(e->key.prefixlen - VELUM_POLICY_PREFIX_FIXED),
				     &port);
			strbuf_printf(sb, "  %-8s%s peer %-9s %-16s",
				      pol_verdict_name(e->val.verdict),
				      (e->val.flags & VELUM_POLICY_F_AUDIT) ? "*" : " ", peer,
				      strbuf_str(&port));
			strbuf_free(&port);
			if (e->val.verdict == VELUM_VERDICT_REDIRECT)
				strbuf_printf(sb, " proxy %u", ntohs(e->val.proxy_port));
			strbuf_puts(sb, " ");
			if (name_rule)
				name_rule(ctx, e->val.rule_id, sb);
			else
				strbuf_printf(sb, "rule %u", e->val.rule_id);
			strbuf_putc(sb, '\n');
		}
		format_l7(ms, (enum pol_dir)d, sb, name_rule, ctx);
	}
}

void pol_mapstate_free(struct pol_mapstate *ms)
{
	size_t i;

	if (!ms)
		return;
	for (i = 0; i < ms->nl7; i++)
		free(ms->l7[i].peers);
	free(ms->l7);
	free(ms->entries);
	free(ms);
}
