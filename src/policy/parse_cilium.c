/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Cilium decoder: CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy
 * objects and their rules (also raw rules), with their ingress/egress
 * (deny) entries, toPorts, ICMP fields and defaults.
 */
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/vec.h"
#include "policy/parse_internal.h"

#define MAX_PORTS	40
#define MAX_ICMP_FIELDS 40

/* One toPorts entry. deny: PortDenyRule (ports only). */
static int decode_port_rule(struct dctx *c, const struct doc_node *n, struct pol_port_rule *pr,
			    bool deny)
{
	static const struct field fields[] = {
		{ "ports", FLD_OK },
		{ "rules", FLD_OK },
		{ "serverNames", FLD_UNSUPPORTED, "TLS SNI matching is not implemented" },
		{ "terminatingTLS", FLD_UNSUPPORTED, "TLS interception is not implemented" },
		{ "originatingTLS", FLD_UNSUPPORTED, "TLS interception is not implemented" },
		{ "listener", FLD_UNSUPPORTED, "Envoy listeners do not exist in velum" },
		{ NULL },
	};
	static const struct field deny_fields[] = { { "ports", FLD_OK }, { NULL } };
	const struct doc_node *ports, *rules;
	bool zero_port = false;
	size_t i, old;
	int err;

	err = expect_fields(c, n, deny ? deny_fields : fields);
	if (err)
		return err;
	ports = opt(n, "ports");
	if (ports) {
		old = path_key(c, "ports");
		err = expect(c, ports, DOC_SEQ);
		if (!err && ports->seq.n > MAX_PORTS)
			err = derr(c, ports->line, "too many ports, the max is %d", MAX_PORTS);
		if (!err && ports->seq.n) {
			pr->ports = calloc(ports->seq.n, sizeof(*pr->ports));
			if (!pr->ports)
				err = -ENOMEM;
		}
		for (i = 0; !err && i < ports->seq.n; i++) {
			size_t o2 = path_idx(c, i);
			bool z;

			err = pol_dec_port(c, ports->seq.items[i], &pr->ports[i], false, &z);
			pr->nports = i + 1;
			zero_port |= z;
			path_restore(c, o2);
		}
		path_restore(c, old);
		if (err)
			return err;
	}
	rules = opt(n, "rules");
	if (rules) {
		old = path_key(c, "rules");
		err = pol_dec_l7(c, rules, pr);
		path_restore(c, old);
		if (err || !pr->nhttp)
			return err;
		old = path_key(c, "rules");
		if (!pr->nports)
			err = derr(c, rules->line, "L7 rules need at least one port");
		else if (zero_port)
			err = derr(c, rules->line, "L7 rules can not be used when a port is 0");
		for (i = 0; !err && i < pr->nports; i++)
			if (pr->ports[i].proto != IPPROTO_TCP)
				err = derr(c, rules->line,
					   "L7 rules can only apply to TCP (not %s); ports[%zu] "
					   "is %s",
					   pol_proto_name(pr->ports[i].proto), i,
					   pol_proto_name(pr->ports[i].proto));
		path_restore(c, old);
	}
	return err;
}

/* ---- ICMP ---------------------------------------------------------------- */

struct icmp_name {
	const char *name;
	uint8_t type;
};

static const struct icmp_name icmp4_names[] = {
	{ "EchoReply", 0 },
	{ "DestinationUnreachable", 3 },
	{ "Redirect", 5 },
	{ "Echo", 8 },
	{ "EchoRequest", 8 },
	{ "RouterAdvertisement", 9 },
	{ "RouterSelection", 10 },
	{ "TimeExceeded", 11 },
	{ "ParameterProblem", 12 },
	{ "Timestamp", 13 },
	{ "TimestampReply", 14 },
	{ "Photuris", 40 },
	{ "ExtendedEchoRequest", 42 },
	{ "ExtendedEchoReply", 43 },
	{ NULL, 0 },
};

static const struct icmp_name icmp6_names[] = {
	{ "DestinationUnreachable", 1 },
	{ "PacketTooBig", 2 },
	{ "TimeExceeded", 3 },
	{ "ParameterProblem", 4 },
	{ "EchoRequest", 128 },
	{ "EchoReply", 129 },
	{ "MulticastListenerQuery", 130 },
	{ "MulticastListenerReport", 131 },
	{ "MulticastListenerDone", 132 },
	{ "RouterSolicitation", 133 },
	{ "RouterAdvertisement", 134 },
	{ "NeighborSolicitation", 135 },
	{ "NeighborAdvertisement", 136 },
	{ "RedirectMessage", 137 },
	{ "ExtendedEchoRequest", 160 },
	{ "ExtendedEchoReply", 161 },
	{ NULL, 0 },
};

static int decode_icmps(struct dctx *c, const struct doc_node *n, struct pol_peer_rule *e)
{
	static const struct field fields[] = { { "fields", FLD_OK }, { NULL } };
	static const struct field ffields[] = { { "family", FLD_OK },
						{ "type", FLD_OK },
						{ NULL } };
	size_t i, j;
	int err = expect(c, n, DOC_SEQ);

	for (i = 0; !err && i < n->seq.n; i++) {
		const struct doc_node *it = n->seq.items[i], *f;
		size_t old = path_idx(c, i);

		err = expect_fields(c, it, fields);
		f = err ? NULL : opt(it, "fields");
		if (f) {
			size_t o2 = path_key(c, "fields");

			err = expect(c, f, DOC_SEQ);
			if (!err && f->seq.n > MAX_ICMP_FIELDS)
				err = derr(c, f->line, "too many types, the max is %d",
					   MAX_ICMP_FIELDS);
			for (j = 0; !err && j < f->seq.n; j++) {
				const struct doc_node *x = f->seq.items[j], *fam, *ty;
				struct pol_icmp ic = { .family = 4 };
				size_t o3 = path_idx(c, j);

				err = expect_fields(c, x, ffields);
				fam = err ? NULL : opt(x, "family");
				if (fam && !(err = expect(c, fam, DOC_STR))) {
					if (!strcmp(fam->str.s, "IPv6"))
						ic.family = 6;
					else if (strcmp(fam->str.s, "IPv4"))
						err = derr(c, fam->line,
							   "wrong family: %s (IPv4 or IPv6)",
							   fam->str.s);
				}
				ty = err ? NULL : opt(x, "type");
				if (!err && !ty)
					err = derr(c, x->line, "type is required");
				if (!err) {
					size_t o4 = path_key(c, "type");
					long long v = -1;

					if (ty->type == DOC_INT) {
						v = ty->i;
					} else if (ty->type == DOC_STR) {
						const struct icmp_name *t =
							ic.family == 4 ? icmp4_names : icmp6_names;
						char *end;

						for (; t->name; t++)
							if (!strcmp(t->name, ty->str.s))
								v = t->type;
						if (v < 0 && isdigit((unsigned char)ty->str.s[0])) {
							v = strtoll(ty->str.s, &end, 10);
							if (*end)
								v = -1;
						}
						if (v < 0)
							err = derr(c, ty->line,
								   ERRBUF_Q
								   " is not an ICMPv%c type",
								   ERRBUF_QARG(ty->str.s),
								   ic.family == 4 ? '4' : '6');
					} else {
						err = derr(
							c, ty->line,
							"expected an ICMP type (integer or name), "
							"got %s",
							got_name(ty));
					}
					if (!err && (v < 0 || v > 255))
						err = derr(c, ty->line, "%lld is not an ICMP type",
							   v);
					ic.type = (uint8_t)v;
					path_restore(c, o4);
				}
				if (!err) {
					if (vec_room_pow2(e->icmps, e->nicmps))
						err = -ENOMEM;
					else
						e->icmps[e->nicmps++] = ic;
				}
				path_restore(c, o3);
			}
			path_restore(c, o2);
		}
		path_restore(c, old);
	}
	return err;
}

/* ---- ingress / egress entries ------------------------------------------------ */

struct l3_field {
	const char *name;
	enum { L3_ENDPOINTS, L3_CIDR, L3_CIDRSET, L3_ENTITIES } kind;
};

/*
 * Decodes one entry of ingress/ingressDeny/egress/egressDeny into e.
 * scope: how endpoint selectors are namespaced.
 */
static int decode_entry(struct dctx *c, const struct doc_node *n, struct pol_peer_rule *e,
			enum sel_scope scope, const char *ns)
{
	static const struct l3_field in_l3[] = {
		{ "fromEndpoints", L3_ENDPOINTS },
		{ "fromCIDR", L3_CIDR },
		{ "fromCIDRSet", L3_CIDRSET },
		{ "fromEntities", L3_ENTITIES },
		{ NULL, 0 },
	};
	static const struct l3_field out_l3[] = {
		{ "toEndpoints", L3_ENDPOINTS }, { "toCIDR", L3_CIDR }, { "toCIDRSet", L3_CIDRSET },
		{ "toEntities", L3_ENTITIES },	 { NULL, 0 },
	};
#define COMMON_UNSUPPORTED(dir)                                                                 \
	{ dir "Requires", FLD_UNSUPPORTED, "removed from Cilium (deprecated in 1.17)" },        \
		{ dir "Groups", FLD_UNSUPPORTED, "cloud provider groups are not implemented" }, \
	{                                                                                       \
		dir "Nodes", FLD_UNSUPPORTED, "node selectors are not implemented"              \
	}
	static const struct field in_fields[] = {
		{ "fromEndpoints", FLD_OK },
		{ "fromCIDR", FLD_OK },
		{ "fromCIDRSet", FLD_OK },
		{ "fromEntities", FLD_OK },
		{ "toPorts", FLD_OK },
		{ "icmps", FLD_OK },
		COMMON_UNSUPPORTED("from"),
		{ "authentication", FLD_UNSUPPORTED, "mutual authentication is not implemented" },
		{ NULL },
	};
	static const struct field out_fields[] = {
		{ "toEndpoints", FLD_OK },
		{ "toCIDR", FLD_OK },
		{ "toCIDRSet", FLD_OK },
		{ "toEntities", FLD_OK },
		{ "toPorts", FLD_OK },
		{ "icmps", FLD_OK },
		COMMON_UNSUPPORTED("to"),
		{ "toServices", FLD_UNSUPPORTED, "Kubernetes services do not exist in velum" },
		{ "toFQDNs", FLD_UNSUPPORTED, "FQDN rules need the DNS proxy" },
		{ "authentication", FLD_UNSUPPORTED, "mutual authentication is not implemented" },
		{ NULL },
	};
	static const struct field in_deny_fields[] = {
		{ "fromEndpoints", FLD_OK }, { "fromCIDR", FLD_OK },
		{ "fromCIDRSet", FLD_OK },   { "fromEntities", FLD_OK },
		{ "toPorts", FLD_OK },	     { "icmps", FLD_OK },
		COMMON_UNSUPPORTED("from"),  { NULL },
	};
	static const struct field out_deny_fields[] = {
		{ "toEndpoints", FLD_OK },
		{ "toCIDR", FLD_OK },
		{ "toCIDRSet", FLD_OK },
		{ "toEntities", FLD_OK },
		{ "toPorts", FLD_OK },
		{ "icmps", FLD_OK },
		COMMON_UNSUPPORTED("to"),
		{ "toServices", FLD_UNSUPPORTED, "Kubernetes services do not exist in velum" },
		{ NULL },
	};
#undef COMMON_UNSUPPORTED
	const struct l3_field *l3 = e->dir == POL_INGRESS ? in_l3 : out_l3, *seen = NULL;
	const struct field *fields = e->dir == POL_INGRESS ?
					     (e->deny ? in_deny_fields : in_fields) :
					     (e->deny ? out_deny_fields : out_fields);
	const struct doc_node *tp, *ic, *l3n = NULL;
	size_t i, old;
	int err;

	e->line = n->line;
	err = expect_fields(c, n, fields);
	if (err)
		return err;

	/* One L3 peer kind per entry, as Cilium requires. */
	for (i = 0; l3[i].name; i++) {
		const struct doc_node *v = opt(n, l3[i].name);

		if (!v)
			continue;
		if (seen)
			return derr(c, key_line(n, l3[i].name),
				    "combining %s and %s is not supported", seen->name, l3[i].name);
		seen = &l3[i];
		l3n = v;
	}
	tp = opt(n, "toPorts");
	ic = opt(n, "icmps");
	if (tp && ic && !node_empty(tp) && !node_empty(ic))
		return derr(c, key_line(n, "icmps"),
			    "the icmps block may only be present without toPorts; define a "
			    "separate rule to use toPorts");

	if (seen) {
		e->peer_field = seen->name;
		old = path_key(c, seen->name);
		switch (seen->kind) {
		case L3_ENDPOINTS:
			err = expect(c, l3n, DOC_SEQ);
			for (i = 0; !err && i < l3n->seq.n; i++) {
				struct pol_selector *s;
				size_t o2 = path_idx(c, i);

				err = pol_dec_push_sel(e, &s);
				if (!err)
					err = pol_dec_selector(c, l3n->seq.items[i], s, NULL);
				if (!err)
					err = pol_dec_scope_selector(s, scope, ns);
				path_restore(c, o2);
			}
			break;
		case L3_CIDR:
			err = pol_dec_cidrs(c, l3n, e);
			break;
		case L3_CIDRSET:
			err = pol_dec_cidr_set(c, l3n, e);
			break;
		case L3_ENTITIES:
			err = expect(c, l3n, DOC_SEQ);
			for (i = 0; !err && i < l3n->seq.n; i++) {
				size_t o2 = path_idx(c, i);

				err = expect(c, l3n->seq.items[i], DOC_STR);
				if (!err)
					err = pol_dec_add_entity(c, e, l3n->seq.items[i]);
				path_restore(c, o2);
			}
			break;
		}
		path_restore(c, old);
		if (err)
			return err;
		/* A present but empty list (or only `none`) selects nothing. */
		e->peer_kind = e->nsels ? POL_PEER_SELECTORS : POL_PEER_NONE;
	}

	if (tp) {
		old = path_key(c, "toPorts");
		err = expect(c, tp, DOC_SEQ);
		if (!err && tp->seq.n) {
			e->to_ports = calloc(tp->seq.n, sizeof(*e->to_ports));
			if (!e->to_ports)
				err = -ENOMEM;
		}
		for (i = 0; !err && i < tp->seq.n; i++) {
			size_t o2 = path_idx(c, i);

			err = decode_port_rule(c, tp->seq.items[i], &e->to_ports[i], e->deny);
			e->nto_ports = i + 1;
			path_restore(c, o2);
		}
		path_restore(c, old);
		if (err)
			return err;
	}
	if (ic) {
		old = path_key(c, "icmps");
		err = decode_icmps(c, ic, e);
		path_restore(c, old);
		if (err)
			return err;
	}
	if (!seen)
		e->peer_kind = (e->nto_ports || e->nicmps) ? POL_PEER_ALL : POL_PEER_NONE;
	return 0;
}

int pol_dec_push_entry(struct pol_rule *r, enum pol_dir d, bool deny, unsigned index,
		       struct pol_peer_rule **out)
{
	struct pol_peer_rule *nv;

	if (vec_room_pow2(r->entries[d], r->nentries[d]))
		return -ENOMEM;
	nv = r->entries[d];
	memset(&nv[r->nentries[d]], 0, sizeof(nv[0]));
	*out = &nv[r->nentries[d]++];
	(*out)->dir = d;
	(*out)->deny = deny;
	(*out)->index = index;
	return 0;
}

/* ---- rules ------------------------------------------------------------------ */

static int decode_rule_labels(struct dctx *c, const struct doc_node *n, struct pol_labels *ls)
{
	static const struct field fields[] = {
		{ "key", FLD_OK },
		{ "value", FLD_OK },
		{ "source", FLD_OK },
		{ NULL },
	};
	size_t i;
	int err = expect(c, n, DOC_SEQ);

	for (i = 0; !err && i < n->seq.n; i++) {
		const struct doc_node *it = n->seq.items[i], *k, *v, *s;
		size_t old = path_idx(c, i);
		struct errbuf eb;

		err = expect_fields(c, it, fields);
		k = err ? NULL : opt(it, "key");
		v = err ? NULL : opt(it, "value");
		s = err ? NULL : opt(it, "source");
		if (!err && !k)
			err = derr(c, it->line, "key is required");
		if (!err)
			err = expect(c, k, DOC_STR);
		if (!err && v)
			err = expect(c, v, DOC_STR);
		if (!err && s)
			err = expect(c, s, DOC_STR);
		if (!err && s && !pol_label_source_known(s->str.s, s->str.len))
			err = derr(c, s->line, ERRBUF_Q " is not a label source",
				   ERRBUF_QARG(s->str.s));
		if (!err && pol_label_key_check(k->str.s, &eb))
			err = derr(c, k->line, "%s", eb.msg);
		if (!err)
			err = pol_labels_set(ls, s ? s->str.s : "unspec", k->str.s,
					     v ? v->str.s : "");
		path_restore(c, old);
	}
	return err;
}

static int decode_bool(struct dctx *c, const struct doc_node *n, bool *out)
{
	int err = expect(c, n, DOC_BOOL);

	if (!err)
		*out = n->b;
	return err;
}

/* A Cilium Rule object (spec, one of specs, or one raw rule). */
int pol_dec_rule(struct dctx *c, const struct doc_node *n, struct pol_rule *r, enum pol_kind kind,
		 const char *ns)
{
	static const struct field fields[] = {
		{ "endpointSelector", FLD_OK },
		{ "ingress", FLD_OK },
		{ "ingressDeny", FLD_OK },
		{ "egress", FLD_OK },
		{ "egressDeny", FLD_OK },
		{ "enableDefaultDeny", FLD_OK },
		{ "labels", FLD_OK },
		{ "description", FLD_OK },
		{ "log", FLD_IGNORED },
		{ "nodeSelector", FLD_UNSUPPORTED, "host firewall policies are not implemented" },
		{ NULL },
	};
	static const char *const sections[4] = { "ingress", "ingressDeny", "egress", "egressDeny" };
	enum sel_scope scope = kind == POL_KIND_CNP  ? SCOPE_NAMESPACE :
			       kind == POL_KIND_CCNP ? SCOPE_ANY_NAMESPACE :
						       SCOPE_NONE;
	const struct doc_node *es, *edd, *v;
	bool has[2] = { false, false };
	size_t i, k, old;
	int err;

	r->line = n->line;
	err = expect_fields(c, n, fields);
	if (err)
		return err;

	es = opt(n, "endpointSelector");
	if (!es)
		return derr(c, n->line, "endpointSelector is required");
	old = path_key(c, "endpointSelector");
	err = pol_dec_selector(c, es, &r->subject, NULL);
	if (!err && kind == POL_KIND_CNP) {
		/*
		 * A namespaced policy only ever selects its own namespace. Cilium
		 * drops a namespace the user wrote here (with a warning); so do we.
		 */
		const char *nsv[1] = { ns };
		size_t j, w;

		for (j = w = 0; j < r->subject.n; j++) {
			struct pol_sel_req *q = &r->subject.reqs[j];

			if (q->op != POL_SEL_CIDR && !strcmp(q->key, POL_LABEL_NAMESPACE) &&
			    (!strcmp(q->source, "k8s") || !strcmp(q->source, "any"))) {
				warn(c, es->line,
				     "a namespace in the endpointSelector of a namespaced policy "
				     "is ignored: it selects only its own namespace");
				free(q->source);
				free(q->key);
				for (k = 0; k < q->nvalues; k++)
					free(q->values[k]);
				free(q->values);
				continue;
			}
			r->subject.reqs[w++] = *q;
		}
		r->subject.n = w;
		err = pol_selector_add(&r->subject, POL_SEL_IN, "k8s:" POL_LABEL_NAMESPACE, nsv, 1,
				       NULL);
	}
	path_restore(c, old);
	if (err)
		return err;
	pol_selector_canonicalize(&r->subject);

	for (k = 0; k < 4; k++) {
		enum pol_dir d = k < 2 ? POL_INGRESS : POL_EGRESS;
		bool deny = k & 1;
		const struct doc_node *list = opt(n, sections[k]);

		if (!list)
			continue;
		old = path_key(c, sections[k]);
		err = expect(c, list, DOC_SEQ);
		for (i = 0; !err && i < list->seq.n; i++) {
			struct pol_peer_rule *e;
			size_t o2 = path_idx(c, i);

			err = pol_dec_push_entry(r, d, deny, (unsigned)i, &e);
			if (!err)
				err = decode_entry(c, list->seq.items[i], e, scope, ns);
			for (size_t s = 0; !err && s < e->nsels; s++)
				pol_selector_canonicalize(&e->sels[s]);
			path_restore(c, o2);
		}
		path_restore(c, old);
		if (err)
			return err;
		if (list->seq.n)
			has[d] = true;
	}
	r->default_deny[POL_INGRESS] = has[POL_INGRESS];
	r->default_deny[POL_EGRESS] = has[POL_EGRESS];

	edd = opt(n, "enableDefaultDeny");
	if (edd) {
		static const struct field dfields[] = {
			{ "ingress", FLD_OK },
			{ "egress", FLD_OK },
			{ NULL },
		};
		old = path_key(c, "enableDefaultDeny");
		err = expect_fields(c, edd, dfields);
		if (!err && (v = opt(edd, "ingress"))) {
			size_t o2 = path_key(c, "ingress");

			err = decode_bool(c, v, &r->default_deny[POL_INGRESS]);
			path_restore(c, o2);
		}
		if (!err && (v = opt(edd, "egress"))) {
			size_t o2 = path_key(c, "egress");

			err = decode_bool(c, v, &r->default_deny[POL_EGRESS]);
			path_restore(c, o2);
		}
		path_restore(c, old);
		if (err)
			return err;
	}
	v = opt(n, "description");
	if (v) {
		old = path_key(c, "description");
		err = expect(c, v, DOC_STR);
		if (!err)
			err = str_dup(&r->description, v->str.s);
		path_restore(c, old);
		if (err)
			return err;
	}
	v = opt(n, "labels");
	if (v) {
		old = path_key(c, "labels");
		err = decode_rule_labels(c, v, &r->labels);
		path_restore(c, old);
	}
	return err;
}

int pol_dec_cilium_object(struct dctx *c, const struct doc_node *n, enum pol_kind kind,
			  struct pol_policy *p)
{
	static const struct field fields[] = {
		{ "apiVersion", FLD_OK },
		{ "kind", FLD_OK },
		{ "metadata", FLD_OK },
		{ "spec", FLD_OK },
		{ "specs", FLD_OK },
		{ "status", FLD_IGNORED },
		/* Cilium's own examples put description here; Kubernetes keeps it. */
		{ "description", FLD_OK },
		{ NULL },
	};
	const struct doc_node *spec, *specs;
	size_t i, old;
	int err;

	err = pol_dec_object_head(c, n, fields, p);
	if (err)
		return err;
	spec = opt(n, "spec");
	specs = opt(n, "specs");
	if (spec && specs)
		return derr(c, key_line(n, "specs"), "spec and specs cannot both be set");
	if (!spec && !specs)
		return derr(c, n->line, "spec or specs is required");
	if (spec) {
		err = pol_dec_rules_alloc(p, 1);
		if (err)
			return err;
		old = path_key(c, "spec");
		err = pol_dec_rule(c, spec, &p->rules[0], kind, p->namespace);
		path_restore(c, old);
		return err;
	}
	old = path_key(c, "specs");
	err = expect(c, specs, DOC_SEQ);
	if (!err && !specs->seq.n)
		err = derr(c, specs->line, "specs is empty");
	if (!err)
		err = pol_dec_rules_alloc(p, specs->seq.n);
	p->specs = true;
	for (i = 0; !err && i < specs->seq.n; i++) {
		size_t o2 = path_idx(c, i);

		err = pol_dec_rule(c, specs->seq.items[i], &p->rules[i], kind, p->namespace);
		path_restore(c, o2);
	}
	path_restore(c, old);
	return err;
}
