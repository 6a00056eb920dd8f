/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kubernetes NetworkPolicy decoder (networking.k8s.io/v1): a
 * NetworkPolicy becomes one rule with Cilium's semantics (label keys
 * "k8s:", the policy's namespace scoping peers, default deny per listed
 * policyType).
 */
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy/parse_internal.h"

/* ---- Kubernetes NetworkPolicy ------------------------------------------------ */

/* One NetworkPolicyPeer: podSelector, namespaceSelector, ipBlock. */
static int decode_knp_peer(struct dctx *c, const struct doc_node *n, struct pol_peer_rule *e,
			   const char *ns)
{
	static const struct field fields[] = {
		{ "podSelector", FLD_OK },
		{ "namespaceSelector", FLD_OK },
		{ "ipBlock", FLD_OK },
		{ NULL },
	};
	const struct doc_node *ps, *nss, *ipb;
	struct pol_selector *s;
	size_t old, i;
	int err;

	err = expect_fields(c, n, fields);
	if (err)
		return err;
	ps = opt(n, "podSelector");
	nss = opt(n, "namespaceSelector");
	ipb = opt(n, "ipBlock");
	if (ipb && (ps || nss))
		return derr(c, key_line(n, "ipBlock"),
			    "ipBlock cannot be combined with podSelector or namespaceSelector");
	if (ipb) {
		static const struct field bfields[] = {
			{ "cidr", FLD_OK },
			{ "except", FLD_OK },
			{ NULL },
		};
		struct doc_node seq = { .type = DOC_SEQ, .line = ipb->line };
		struct doc_node *items[1] = { (struct doc_node *)ipb };

		old = path_key(c, "ipBlock");
		err = expect_fields(c, ipb, bfields);
		path_restore(c, old);
		if (err)
			return err;
		/* an ipBlock is a CIDRSet entry; reuse its decoder on a one-item list */
		seq.seq.items = items;
		seq.seq.n = 1;
		old = path_key(c, "ipBlock");
		err = pol_dec_cidr_set(c, &seq, e);
		path_restore(c, old);
		return err;
	}
	if (!ps && !nss)
		return derr(c, n->line, "a peer needs podSelector, namespaceSelector or ipBlock");
	err = pol_dec_push_sel(e, &s);
	if (err)
		return err;
	if (ps) {
		old = path_key(c, "podSelector");
		err = pol_dec_selector(c, ps, s, POL_SOURCE_K8S);
		path_restore(c, old);
		if (err)
			return err;
	}
	if (nss) {
		/* Namespace labels become k8s:io.cilium.k8s.namespace.labels.<key>. */
		struct pol_selector tmp = { 0 };

		old = path_key(c, "namespaceSelector");
		err = pol_dec_selector(c, nss, &tmp, POL_SOURCE_K8S);
		path_restore(c, old);
		for (i = 0; !err && i < tmp.n; i++) {
			struct pol_sel_req *q = &tmp.reqs[i];
			char key[600];

			snprintf(key, sizeof(key), "k8s:%s%s", POL_LABEL_NS_LABELS, q->key);
			err = pol_selector_add(s, q->op, key, (const char *const *)q->values,
					       q->nvalues, c->eb);
			if (err == -EINVAL)
				err = derr(c, nss->line, "%s", c->eb->msg);
		}
		pol_selector_free(&tmp);
		if (!err)
			err = pol_selector_add(s, POL_SEL_EXISTS, "k8s:" POL_LABEL_NAMESPACE, NULL,
					       0, NULL);
		return err;
	}
	return pol_dec_scope_selector(s, SCOPE_NAMESPACE, ns);
}

static int decode_knp_rule(struct dctx *c, const struct doc_node *n, struct pol_peer_rule *e,
			   const char *ns)
{
	static const struct field in_fields[] = { { "from", FLD_OK },
						  { "ports", FLD_OK },
						  { NULL } };
	static const struct field out_fields[] = { { "to", FLD_OK },
						   { "ports", FLD_OK },
						   { NULL } };
	const char *peers_key = e->dir == POL_INGRESS ? "from" : "to";
	const struct doc_node *peers, *ports;
	size_t i, old;
	int err;

	e->line = n->line;
	err = expect_fields(c, n, e->dir == POL_INGRESS ? in_fields : out_fields);
	if (err)
		return err;
	peers = opt(n, peers_key);
	if (peers) {
		old = path_key(c, peers_key);
		err = expect(c, peers, DOC_SEQ);
		for (i = 0; !err && i < peers->seq.n; i++) {
			size_t o2 = path_idx(c, i);

			err = decode_knp_peer(c, peers->seq.items[i], e, ns);
			path_restore(c, o2);
		}
		path_restore(c, old);
		if (err)
			return err;
	}
	/* NetworkPolicy: an empty or missing peer list matches every peer. */
	if (!peers || !peers->seq.n)
		e->peer_kind = POL_PEER_ALL;
	else
		e->peer_kind = e->nsels ? POL_PEER_SELECTORS : POL_PEER_NONE;
	e->peer_field = peers_key;
	for (i = 0; i < e->nsels; i++)
		pol_selector_canonicalize(&e->sels[i]);

	ports = opt(n, "ports");
	if (ports) {
		struct pol_port_rule *pr;

		old = path_key(c, "ports");
		err = expect(c, ports, DOC_SEQ);
		if (!err && ports->seq.n) {
			e->to_ports = calloc(1, sizeof(*e->to_ports));
			pr = e->to_ports;
			err = pr ? 0 : -ENOMEM;
			if (!err) {
				e->nto_ports = 1;
				pr->ports = calloc(ports->seq.n, sizeof(*pr->ports));
				err = pr->ports ? 0 : -ENOMEM;
			}
			for (i = 0; !err && i < ports->seq.n; i++) {
				size_t o2 = path_idx(c, i);
				bool z;

				err = pol_dec_port(c, ports->seq.items[i], &pr->ports[i], true, &z);
				pr->nports = i + 1;
				path_restore(c, o2);
			}
		}
		path_restore(c, old);
	}
	return err;
}

static int decode_knp_spec(struct dctx *c, const struct doc_node *n, struct pol_rule *r,
			   const char *ns)
{
	static const struct field fields[] = {
		{ "podSelector", FLD_OK },
		{ "policyTypes", FLD_OK },
		{ "ingress", FLD_OK },
		{ "egress", FLD_OK },
		{ NULL },
	};
	static const char *const sections[2] = { "ingress", "egress" };
	const struct doc_node *ps, *pt;
	const char *nsv[1] = { ns };
	bool types[2] = { true, false };
	size_t i, old;
	int d, err;

	r->line = n->line;
	err = expect_fields(c, n, fields);
	if (err)
		return err;
	ps = opt(n, "podSelector");
	if (!ps)
		return derr(c, n->line, "podSelector is required");
	old = path_key(c, "podSelector");
	err = pol_dec_selector(c, ps, &r->subject, POL_SOURCE_K8S);
	if (!err)
		err = pol_selector_add(&r->subject, POL_SEL_IN, "k8s:" POL_LABEL_NAMESPACE, nsv, 1,
				       NULL);
	path_restore(c, old);
	if (err)
		return err;
	pol_selector_canonicalize(&r->subject);

	pt = opt(n, "policyTypes");
	if (opt(n, "egress"))
		types[POL_EGRESS] = true;
	if (pt) {
		old = path_key(c, "policyTypes");
		err = expect(c, pt, DOC_SEQ);
		types[0] = types[1] = false;
		for (i = 0; !err && i < pt->seq.n; i++) {
			const struct doc_node *t = pt->seq.items[i];
			size_t o2 = path_idx(c, i);

			err = expect(c, t, DOC_STR);
			if (!err && !strcmp(t->str.s, "Ingress"))
				types[POL_INGRESS] = true;
			else if (!err && !strcmp(t->str.s, "Egress"))
				types[POL_EGRESS] = true;
			else if (!err)
				err = derr(c, t->line,
					   ERRBUF_Q " is not a policy type (Ingress, Egress)",
					   ERRBUF_QARG(t->str.s));
			path_restore(c, o2);
		}
		path_restore(c, old);
		if (err)
			return err;
	}
	for (d = 0; d < 2; d++) {
		const struct doc_node *list = opt(n, sections[d]);

		r->default_deny[d] = types[d];
		if (!list)
			continue;
		old = path_key(c, sections[d]);
		err = expect(c, list, DOC_SEQ);
		for (i = 0; !err && i < list->seq.n; i++) {
			struct pol_peer_rule *e;
			size_t o2 = path_idx(c, i);

			err = pol_dec_push_entry(r, (enum pol_dir)d, false, (unsigned)i, &e);
			if (!err)
				err = decode_knp_rule(c, list->seq.items[i], e, ns);
			path_restore(c, o2);
		}
		path_restore(c, old);
		if (err)
			return err;
		/* Rules of a direction not in policyTypes are ignored, as in Kubernetes. */
		if (!types[d]) {
			for (i = 0; i < r->nentries[d]; i++) {
				struct pol_peer_rule *e = &r->entries[d][i];
				size_t s;

				for (s = 0; s < e->nsels; s++)
					pol_selector_free(&e->sels[s]);
				free(e->sels);
				if (e->to_ports) {
					for (s = 0; s < e->to_ports->nports; s++)
						free(e->to_ports->ports[s].name);
					free(e->to_ports->ports);
				}
				free(e->to_ports);
			}
			free(r->entries[d]);
			r->entries[d] = NULL;
			r->nentries[d] = 0;
		}
	}
	return 0;
}

int pol_dec_knp_object(struct dctx *c, const struct doc_node *n, struct pol_policy *p)
{
	static const struct field fields[] = {
		{ "apiVersion", FLD_OK }, { "kind", FLD_OK },	     { "metadata", FLD_OK },
		{ "spec", FLD_OK },	  { "status", FLD_IGNORED }, { NULL },
	};
	const struct doc_node *spec;
	size_t old;
	int err;

	err = pol_dec_object_head(c, n, fields, p);
	if (err)
		return err;
	spec = opt(n, "spec");
	if (!spec)
		return derr(c, n->line, "spec is required");
	err = pol_dec_rules_alloc(p, 1);
	if (err)
		return err;
	old = path_key(c, "spec");
	err = decode_knp_spec(c, spec, &p->rules[0], p->namespace);
	path_restore(c, old);
	return err;
}
