/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the Cilium and the Kubernetes NetworkPolicy decoders share:
 * label selectors (and how a namespaced policy scopes them), peers
 * (endpoints, entities, CIDRs) and ports.
 */
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/proto.h"
#include "lib/vec.h"
#include "policy/parse_internal.h"

static bool selector_names_namespace(const struct pol_selector *s)
{
	return pol_selector_has_key(s, POL_SOURCE_K8S, POL_LABEL_NAMESPACE) ||
	       pol_selector_has_key(s, POL_SOURCE_ANY, POL_LABEL_NAMESPACE) ||
	       pol_selector_has_key_prefix(s, POL_LABEL_NS_LABELS);
}

int pol_dec_scope_selector(struct pol_selector *s, enum sel_scope scope, const char *ns)
{
	const char *nsv[1] = { ns };

	if (scope == SCOPE_NONE || selector_names_namespace(s) || pol_selector_has_reserved(s))
		return 0;
	if (scope == SCOPE_NAMESPACE)
		return pol_selector_add(s, POL_SEL_IN, POL_SOURCE_K8S ":" POL_LABEL_NAMESPACE, nsv,
					1, NULL);
	return pol_selector_add(s, POL_SEL_EXISTS, POL_SOURCE_K8S ":" POL_LABEL_NAMESPACE, NULL, 0,
				NULL);
}

/* Prefixes a key without a source with default_source ("k8s" for NetworkPolicy). */
static int sel_add(struct dctx *c, struct pol_selector *s, const struct doc_node *at,
		   enum pol_sel_op op, const char *key, const char *const *vals, size_t nvals,
		   const char *default_source)
{
	char kbuf[512];
	const char *colon = strchr(key, ':');
	struct errbuf eb;
	int err;

	if (default_source && key[0] != '$' &&
	    !(colon && pol_label_source_known(key, (size_t)(colon - key)))) {
		if ((size_t)snprintf(kbuf, sizeof(kbuf), "%s:%s", default_source, key) >=
		    sizeof(kbuf))
			return derr(c, at->line, "label key too long");
		key = kbuf;
	}
	errbuf_clear(&eb);
	err = pol_selector_add(s, op, key, vals, nvals, &eb);
	if (err == -EINVAL)
		return derr(c, at->line, "%s", eb.msg);
	return err;
}

/*
 * Decodes a Kubernetes LabelSelector {matchLabels, matchExpressions} into
 * *s (initially empty). default_source as for sel_add().
 */
int pol_dec_selector(struct dctx *c, const struct doc_node *n, struct pol_selector *s,
		     const char *default_source)
{
	static const struct field fields[] = {
		{ "matchLabels", FLD_OK },
		{ "matchExpressions", FLD_OK },
		{ NULL },
	};
	const struct doc_node *ml, *me;
	size_t i, old;
	int err;

	err = expect_fields(c, n, fields);
	if (err)
		return err;
	ml = opt(n, "matchLabels");
	if (ml) {
		old = path_key(c, "matchLabels");
		err = expect(c, ml, DOC_MAP);
		for (i = 0; !err && i < ml->map.n; i++) {
			const struct doc_pair *p = &ml->map.pairs[i];
			const char *v[1];
			size_t o2 = path_key(c, p->key);

			err = expect(c, p->value, DOC_STR);
			if (!err) {
				v[0] = p->value->str.s;
				err = sel_add(c, s, p->value, POL_SEL_IN, p->key, v, 1,
					      default_source);
			}
			path_restore(c, o2);
		}
		path_restore(c, old);
		if (err)
			return err;
	}
	me = opt(n, "matchExpressions");
	if (me) {
		static const struct field efields[] = {
			{ "key", FLD_OK },
			{ "operator", FLD_OK },
			{ "values", FLD_OK },
			{ NULL },
		};
		old = path_key(c, "matchExpressions");
		err = expect(c, me, DOC_SEQ);
		for (i = 0; !err && i < me->seq.n; i++) {
			const struct doc_node *e = me->seq.items[i], *k, *op, *vals;
			const char **v = NULL;
			enum pol_sel_op sop = POL_SEL_IN;
			size_t o2 = path_idx(c, i), j, nv = 0;

			err = expect_fields(c, e, efields);
			if (err) {
				path_restore(c, o2);
				break;
			}
			k = opt(e, "key");
			op = opt(e, "operator");
			vals = opt(e, "values");
			if (!k)
				err = derr(c, e->line, "key is required");
			else if (!op)
				err = derr(c, e->line, "operator is required");
			else if (!(err = expect(c, k, DOC_STR)) &&
				 !(err = expect(c, op, DOC_STR))) {
				if (!strcmp(op->str.s, "In"))
					sop = POL_SEL_IN;
				else if (!strcmp(op->str.s, "NotIn"))
					sop = POL_SEL_NOT_IN;
				else if (!strcmp(op->str.s, "Exists"))
					sop = POL_SEL_EXISTS;
				else if (!strcmp(op->str.s, "DoesNotExist"))
					sop = POL_SEL_DOES_NOT_EXIST;
				else {
					size_t o3 = path_key(c, "operator");

					err = derr(c, op->line,
						   ERRBUF_Q
						   " is not an operator (In, NotIn, Exists, "
						   "DoesNotExist)",
						   ERRBUF_QARG(op->str.s));
					path_restore(c, o3);
				}
			}
			if (!err && vals) {
				size_t o3 = path_key(c, "values");

				err = expect(c, vals, DOC_SEQ);
				nv = err ? 0 : vals->seq.n;
				v = nv ? calloc(nv, sizeof(*v)) : NULL;
				if (nv && !v)
					err = -ENOMEM;
				for (j = 0; !err && j < nv; j++) {
					size_t o4 = path_idx(c, j);

					err = expect(c, vals->seq.items[j], DOC_STR);
					if (!err)
						v[j] = vals->seq.items[j]->str.s;
					path_restore(c, o4);
				}
				path_restore(c, o3);
			}
			if (!err) {
				bool needs = sop == POL_SEL_IN || sop == POL_SEL_NOT_IN;

				if (needs && !nv)
					err = derr(c, e->line,
						   "values must be non-empty for operator %s",
						   op->str.s);
				else if (!needs && nv)
					err = derr(c, e->line,
						   "values must be empty for operator %s",
						   op->str.s);
				else
					err = sel_add(c, s, k, sop, k->str.s, v, nv,
						      default_source);
			}
			free(v);
			path_restore(c, o2);
		}
		path_restore(c, old);
		if (err)
			return err;
	}
	return 0;
}

/* ---- peers: endpoints, entities, CIDRs ------------------------------------------ */

int pol_dec_push_sel(struct pol_peer_rule *e, struct pol_selector **out)
{
	/* amortised: a toCIDR list of 100,000 prefixes is 100,000 selectors */
	if (vec_room_pow2(e->sels, e->nsels))
		return -ENOMEM;
	memset(&e->sels[e->nsels], 0, sizeof(e->sels[0]));
	*out = &e->sels[e->nsels++];
	return 0;
}

static int add_reserved_sel(struct pol_peer_rule *e, const char *name)
{
	struct pol_selector *s;
	char key[64];
	int err = pol_dec_push_sel(e, &s);

	if (err)
		return err;
	/* reserved labels carry no value: presence is the match */
	snprintf(key, sizeof(key), "reserved:%s", name);
	return pol_selector_add(s, POL_SEL_EXISTS, key, NULL, 0, NULL);
}

static const char *const cluster_reserved[] = {
	"host", "remote-node", "init", "ingress", "health", "unmanaged", "kube-apiserver",
};

/* Entities as Cilium maps them to reserved labels (pkg/policy/api/entity.go). */
int pol_dec_add_entity(struct dctx *c, struct pol_peer_rule *e, const struct doc_node *n)
{
	const char *name = n->str.s;
	struct pol_selector *s;
	size_t i;
	int err;

	if (!strcmp(name, "all"))
		return pol_dec_push_sel(e, &s); /* {} selects every identity */
	if (!strcmp(name, "none"))
		return 0;
	if (!strcmp(name, "world")) {
		err = add_reserved_sel(e, "world");
		if (!err)
			err = add_reserved_sel(e, "world-ipv4");
		if (!err)
			err = add_reserved_sel(e, "world-ipv6");
		return err;
	}
	if (!strcmp(name, "cluster") || !strcmp(name, "cluster-mesh")) {
		const char *v[1] = { POL_CLUSTER_NAME };

		for (i = 0; i < sizeof(cluster_reserved) / sizeof(cluster_reserved[0]); i++) {
			err = add_reserved_sel(e, cluster_reserved[i]);
			if (err)
				return err;
		}
		err = pol_dec_push_sel(e, &s);
		if (err)
			return err;
		if (!strcmp(name, "cluster"))
			return pol_selector_add(s, POL_SEL_IN, "k8s:" POL_LABEL_CLUSTER, v, 1,
						NULL);
		return pol_selector_add(s, POL_SEL_EXISTS, "k8s:" POL_LABEL_CLUSTER, NULL, 0, NULL);
	}
	for (i = 0; i < sizeof(cluster_reserved) / sizeof(cluster_reserved[0]); i++)
		if (!strcmp(name, cluster_reserved[i]))
			return add_reserved_sel(e, name);
	if (!strcmp(name, "world-ipv4") || !strcmp(name, "world-ipv6"))
		return add_reserved_sel(e, name);
	return derr(c, n->line,
		    "unsupported entity " ERRBUF_Q " (all, world, cluster, host, remote-node, "
		    "init, health, unmanaged, kube-apiserver, ingress, none)",
		    ERRBUF_QARG(name));
}

static int add_cidr_sel(struct pol_peer_rule *e, const struct pol_prefix *p)
{
	struct pol_selector *s;
	int err = pol_dec_push_sel(e, &s);

	return err ? err : pol_selector_add_cidr(s, p);
}

/* fromCIDR / toCIDR: prefixes, or bare addresses as host prefixes (Cilium accepts both). */
int pol_dec_cidrs(struct dctx *c, const struct doc_node *n, struct pol_peer_rule *e)
{
	size_t i;
	int err = expect(c, n, DOC_SEQ);

	for (i = 0; !err && i < n->seq.n; i++) {
		const struct doc_node *it = n->seq.items[i];
		struct pol_prefix p;
		struct errbuf eb;
		size_t old = path_idx(c, i);

		err = expect(c, it, DOC_STR);
		if (!err && pol_prefix_parse(it->str.s, true, &p, &eb))
			err = derr(c, it->line, "%s", eb.msg);
		if (!err)
			err = add_cidr_sel(e, &p);
		path_restore(c, old);
	}
	return err;
}

/* fromCIDRSet / toCIDRSet: {cidr, except}; the excepts are subtracted here. */
int pol_dec_cidr_set(struct dctx *c, const struct doc_node *n, struct pol_peer_rule *e)
{
	static const struct field fields[] = {
		{ "cidr", FLD_OK },
		{ "except", FLD_OK },
		{ "cidrGroupRef", FLD_UNSUPPORTED, "CIDR groups are not implemented" },
		{ "cidrGroupSelector", FLD_UNSUPPORTED, "CIDR groups are not implemented" },
		{ NULL },
	};
	size_t i, j;
	int err = expect(c, n, DOC_SEQ);

	for (i = 0; !err && i < n->seq.n; i++) {
		const struct doc_node *it = n->seq.items[i], *cidr, *ex;
		struct pol_prefix base, *excepts = NULL, *parts = NULL;
		size_t old = path_idx(c, i), nex = 0, nparts = 0;
		struct errbuf eb;

		err = expect_fields(c, it, fields);
		if (!err && !(cidr = opt(it, "cidr")))
			err = derr(c, it->line, "cidr is required");
		if (!err) {
			size_t o2 = path_key(c, "cidr");

			err = expect(c, cidr, DOC_STR);
			if (!err && pol_prefix_parse(cidr->str.s, false, &base, &eb))
				err = derr(c, cidr->line, "%s", eb.msg);
			path_restore(c, o2);
		}
		ex = err ? NULL : opt(it, "except");
		if (ex) {
			size_t o2 = path_key(c, "except");

			err = expect(c, ex, DOC_SEQ);
			excepts = (!err && ex->seq.n) ? calloc(ex->seq.n, sizeof(*excepts)) : NULL;
			if (!err && ex->seq.n && !excepts)
				err = -ENOMEM;
			for (j = 0; !err && j < ex->seq.n; j++) {
				const struct doc_node *x = ex->seq.items[j];
				size_t o3 = path_idx(c, j);

				err = expect(c, x, DOC_STR);
				if (!err && pol_prefix_parse(x->str.s, false, &excepts[j], &eb))
					err = derr(c, x->line, "%s", eb.msg);
				if (!err && !pol_prefix_contains(&base, &excepts[j]))
					err = derr(c, x->line,
						   "allow CIDR prefix %s does not contain exclude "
						   "CIDR prefix %s",
						   cidr->str.s, x->str.s);
				nex = j + 1;
				path_restore(c, o3);
			}
			path_restore(c, o2);
		}
		if (!err)
			err = pol_prefix_subtract(&base, excepts, nex, &parts, &nparts);
		for (j = 0; !err && j < nparts; j++)
			err = add_cidr_sel(e, &parts[j]);
		free(parts);
		free(excepts);
		path_restore(c, old);
	}
	return err;
}

/* ---- ports ---------------------------------------------------------------- */

bool pol_port_name_valid(const char *s)
{
	size_t i, n = strlen(s);
	bool letter = false;

	if (n == 0 || n > 15 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] == '-' && s[i + 1] == '-')
			return false;
		if (s[i] >= 'a' && s[i] <= 'z')
			letter = true;
		else if (!(s[i] >= '0' && s[i] <= '9') && s[i] != '-')
			return false;
	}
	return letter;
}

/* A port given as string or number: number 0..65535, or a named port (lower-cased). */
static int decode_port_value(struct dctx *c, const struct doc_node *n, struct pol_port *pp,
			     bool *is_zero)
{
	long long v;
	char *end;

	*is_zero = false;
	if (n->type == DOC_INT) {
		v = n->i;
	} else if (n->type == DOC_STR) {
		if (!n->str.len)
			return derr(c, n->line, "port must be specified");
		if (n->str.len <= 15) {
			/* a named port, compared in lower case */
			char low[16];
			size_t i;

			for (i = 0; i < n->str.len; i++)
				low[i] = (char)tolower((unsigned char)n->str.s[i]);
			low[i] = '\0';
			if (pol_port_name_valid(low)) {
				pp->name = strdup(low);
				return pp->name ? 0 : -ENOMEM;
			}
		}
		errno = 0;
		v = strtoll(n->str.s, &end, 10);
		if (errno || *end || !isdigit((unsigned char)n->str.s[0]))
			return derr(c, n->line, ERRBUF_Q " is not a port number or port name",
				    ERRBUF_QARG(n->str.s));
	} else {
		return derr(c, n->line, "expected a port (string or integer), got %s", got_name(n));
	}
	if (v < 0 || v > 65535)
		return derr(c, n->line, "%lld is not a port", v);
	pp->lo = pp->hi = (uint16_t)v;
	*is_zero = v == 0;
	return 0;
}

static int decode_protocol(struct dctx *c, const struct doc_node *n, uint8_t *proto, bool knp)
{
	const char *s;
	int bad;

	if (!n) {
		*proto = knp ? IPPROTO_TCP : POL_PROTO_ANY;
		return 0;
	}
	if (expect(c, n, DOC_STR))
		return -EINVAL;
	s = n->str.s;
	bad = proto_parse(s, proto);
	if (!bad && (proto_has_ports(*proto) || (!knp && *proto == PROTO_ANY)))
		return 0;
	if (!bad && *proto != PROTO_ANY)
		return derr(c, n->line, "protocol %s is not allowed in ports; use icmps", s);
	return derr(c, n->line, ERRBUF_Q " is not a protocol (%s)", ERRBUF_QARG(s),
		    knp ? "TCP, UDP, SCTP" : "TCP, UDP, SCTP, ANY");
}

/*
 * One {port, endPort, protocol}. knp: Kubernetes NetworkPolicy form (port
 * optional, protocol default TCP, integer or string port).
 */
int pol_dec_port(struct dctx *c, const struct doc_node *n, struct pol_port *pp, bool knp,
		 bool *is_zero)
{
	static const struct field fields[] = {
		{ "port", FLD_OK },
		{ "endPort", FLD_OK },
		{ "protocol", FLD_OK },
		{ NULL },
	};
	const struct doc_node *port, *end;
	size_t old;
	int err;

	*is_zero = false;
	err = expect_fields(c, n, fields);
	if (err)
		return err;
	old = path_key(c, "protocol");
	err = decode_protocol(c, opt(n, "protocol"), &pp->proto, knp);
	path_restore(c, old);
	if (err)
		return err;
	port = opt(n, "port");
	if (!port) {
		if (!knp)
			return derr(c, n->line, "port must be specified");
		*is_zero = true; /* NetworkPolicy: no port = every port of the protocol */
	} else {
		old = path_key(c, "port");
		err = decode_port_value(c, port, pp, is_zero);
		path_restore(c, old);
		if (err)
			return err;
	}
	end = opt(n, "endPort");
	if (end) {
		old = path_key(c, "endPort");
		if (expect(c, end, DOC_INT))
			err = -EINVAL;
		else if (end->i < 0 || end->i > 65535)
			err = derr(c, end->line, "%lld is not a port", end->i);
		else if (end->i == 0)
			; /* Cilium: endPort 0 means no range */
		else if (!port || pp->name)
			err = derr(c, end->line, "endPort needs a numeric port");
		else if (pp->lo == 0)
			err = derr(c, end->line, "endPort cannot be used with port 0");
		else if (end->i < pp->lo)
			err = derr(c, end->line, "endPort %lld is below port %u", end->i, pp->lo);
		else
			pp->hi = (uint16_t)end->i;
		path_restore(c, old);
	}
	return err;
}
