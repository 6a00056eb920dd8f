/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The policy decoder: walks the document tree (doc.h) of a policy file and
 * builds the policy model (rule.h), validating as it goes.
 *
 * Every decoder function receives the node and the decoding context; the
 * context carries the field path ("spec.ingress[0].toPorts[0]") that error
 * messages print. Paths grow with path_key()/path_idx() and shrink back with
 * path_restore() on every return path, including errors (messages are
 * formatted at the point of the error, so a stale path is only cosmetic, but
 * the code keeps it exact).
 *
 * Cilium semantics applied here (not later) so that every consumer sees the
 * same normalised rules:
 *  - selector keys without a source get "any:", Kubernetes NetworkPolicy
 *    keys get "k8s:";
 *  - namespaced policies (CNP, NetworkPolicy) AND their namespace into the
 *    subject selector, and into peer selectors that name no namespace, no
 *    namespace label and no reserved label; clusterwide policies require a
 *    namespace to exist on such peers (pods only, never reserved
 *    identities); raw rules are not scoped;
 *  - enableDefaultDeny defaults per direction to "the rule has entries in
 *    that direction" (allow or deny).
 */
#include "policy/parse.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/file.h"
#include "policy/doc.h"

#define MAX_PORTS	 40
#define MAX_ICMP_FIELDS	 40
#define MAX_FILE_SIZE	 (16u << 20)
#define AUDIT_ANNOTATION "policy.velum.io/audit-mode"

struct dctx {
	const char *file;
	struct errbuf *eb;
	char path[512];
	size_t plen;
	struct pol_policy *pol; /* being built */
	struct strbuf warnings;
};

static int derr(struct dctx *c, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int derr(struct dctx *c, unsigned line, const char *fmt, ...)
{
	char msg[ERRBUF_SIZE];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->plen)
		return errbuf_set(c->eb, "%s:%u: %s: %s", c->file, line, c->path, msg);
	return errbuf_set(c->eb, "%s:%u: %s", c->file, line, msg);
}

static size_t path_key(struct dctx *c, const char *key)
{
	size_t old = c->plen;
	int n = snprintf(c->path + c->plen, sizeof(c->path) - c->plen, "%s%s", c->plen ? "." : "",
			 key);

	if (n > 0)
		c->plen = c->plen + (size_t)n < sizeof(c->path) ? c->plen + (size_t)n :
								  sizeof(c->path) - 1;
	return old;
}

static size_t path_idx(struct dctx *c, size_t i)
{
	size_t old = c->plen;
	int n = snprintf(c->path + c->plen, sizeof(c->path) - c->plen, "[%zu]", i);

	if (n > 0)
		c->plen = c->plen + (size_t)n < sizeof(c->path) ? c->plen + (size_t)n :
								  sizeof(c->path) - 1;
	return old;
}

static void path_restore(struct dctx *c, size_t old)
{
	c->plen = old;
	c->path[old] = '\0';
}

static void warn(struct dctx *c, unsigned line, const char *msg)
{
	strbuf_printf(&c->warnings, "%s:%u: %s: %s\n", c->file, line, c->path, msg);
}

/* ---- generic field handling ------------------------------------------------ */

enum field_kind {
	FLD_OK,		 /* decoded by the caller */
	FLD_IGNORED,	 /* accepted and not interpreted (metadata bookkeeping, status) */
	FLD_UNSUPPORTED, /* a Cilium field velum does not implement: error when non-empty */
};

struct field {
	const char *name;
	enum field_kind kind;
	const char *why; /* FLD_UNSUPPORTED: appended to the error */
};

static bool node_empty(const struct doc_node *n)
{
	return !n || n->type == DOC_NULL || (n->type == DOC_SEQ && n->seq.n == 0) ||
	       (n->type == DOC_MAP && n->map.n == 0);
}

/* Checks that a mapping has only known keys and no unsupported content. */
static int check_fields(struct dctx *c, const struct doc_node *map, const struct field *fields)
{
	size_t i, k;

	for (i = 0; i < map->map.n; i++) {
		const struct doc_pair *p = &map->map.pairs[i];
		const struct field *f = NULL;
		struct strbuf sb = STRBUF_INIT;
		size_t old;
		int err;

		for (k = 0; fields[k].name; k++) {
			if (!strcmp(fields[k].name, p->key)) {
				f = &fields[k];
				break;
			}
		}
		if (f && (f->kind != FLD_UNSUPPORTED || node_empty(p->value)))
			continue;
		old = path_key(c, p->key);
		if (f) {
			err = derr(c, p->line, "not supported by velum%s%s", f->why ? ": " : "",
				   f->why ? f->why : "");
			path_restore(c, old);
			return err;
		}
		for (k = 0; fields[k].name; k++)
			if (fields[k].kind == FLD_OK)
				strbuf_printf(&sb, "%s%s", sb.len ? ", " : "", fields[k].name);
		err = derr(c, p->line, "unknown field (expected one of: %s)", strbuf_str(&sb));
		strbuf_free(&sb);
		path_restore(c, old);
		return err;
	}
	return 0;
}

static int expect(struct dctx *c, const struct doc_node *n, enum doc_type t)
{
	if (n->type == t)
		return 0;
	return derr(c, n->line, "expected %s %s, got %s",
		    (t == DOC_INT || t == DOC_MAP) ? "an" : "a", doc_type_name(t),
		    doc_type_name(n->type));
}

/* An object with only the given fields (the common prologue of every decoder). */
static int expect_fields(struct dctx *c, const struct doc_node *n, const struct field *fields)
{
	int err = expect(c, n, DOC_MAP);

	return err ? err : check_fields(c, n, fields);
}

/* The value of an optional field, or NULL when absent or null. */
static const struct doc_node *opt(const struct doc_node *map, const char *key)
{
	const struct doc_node *n = doc_map_get(map, key);

	return n && n->type != DOC_NULL ? n : NULL;
}

/* Line of a key in a map (for errors about missing or conflicting fields). */
static unsigned key_line(const struct doc_node *map, const char *key)
{
	size_t i;

	for (i = 0; i < map->map.n; i++)
		if (!strcmp(map->map.pairs[i].key, key))
			return map->map.pairs[i].line;
	return map->line;
}

static int str_dup(char **dst, const char *s)
{
	*dst = strdup(s);
	return *dst ? 0 : -ENOMEM;
}

/* ---- selectors ------------------------------------------------------------- */

enum sel_scope {
	SCOPE_NONE,	     /* raw rules: as written */
	SCOPE_NAMESPACE,     /* CNP / NetworkPolicy peers: own namespace unless one is named */
	SCOPE_ANY_NAMESPACE, /* CCNP peers: pods of any namespace unless one is named */
};

static bool selector_names_namespace(const struct pol_selector *s)
{
	return pol_selector_has_key(s, POL_SOURCE_K8S, POL_LABEL_NAMESPACE) ||
	       pol_selector_has_key(s, POL_SOURCE_ANY, POL_LABEL_NAMESPACE) ||
	       pol_selector_has_key_prefix(s, POL_LABEL_NS_LABELS);
}

static int scope_selector(struct pol_selector *s, enum sel_scope scope, const char *ns)
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
static int decode_selector(struct dctx *c, const struct doc_node *n, struct pol_selector *s,
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
						   "'%s' is not an operator (In, NotIn, Exists, "
						   "DoesNotExist)",
						   op->str.s);
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

static int push_sel(struct pol_peer_rule *e, struct pol_selector **out)
{
	struct pol_selector *nv = realloc(e->sels, (e->nsels + 1) * sizeof(*nv));

	if (!nv)
		return -ENOMEM;
	e->sels = nv;
	memset(&nv[e->nsels], 0, sizeof(nv[0]));
	*out = &nv[e->nsels++];
	return 0;
}

static int add_reserved_sel(struct pol_peer_rule *e, const char *name)
{
	struct pol_selector *s;
	char key[64];
	int err = push_sel(e, &s);

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
static int add_entity(struct dctx *c, struct pol_peer_rule *e, const struct doc_node *n)
{
	const char *name = n->str.s;
	struct pol_selector *s;
	size_t i;
	int err;

	if (!strcmp(name, "all"))
		return push_sel(e, &s); /* {} selects every identity */
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
		err = push_sel(e, &s);
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
		    "unsupported entity '%s' (all, world, cluster, host, remote-node, init, "
		    "health, unmanaged, kube-apiserver, ingress, none)",
		    name);
}

static int add_cidr_sel(struct pol_peer_rule *e, const struct pol_prefix *p)
{
	struct pol_selector *s;
	int err = push_sel(e, &s);

	return err ? err : pol_selector_add_cidr(s, p);
}

/* fromCIDR / toCIDR: prefixes, or bare addresses as host prefixes (Cilium accepts both). */
static int decode_cidrs(struct dctx *c, const struct doc_node *n, struct pol_peer_rule *e)
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
static int decode_cidr_set(struct dctx *c, const struct doc_node *n, struct pol_peer_rule *e)
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

/* IANA service name (RFC 6335): 1-15 chars, [a-z0-9-], a letter, no leading/trailing/double '-'. */
static bool is_svc_name(const char *s)
{
	size_t i, n = strlen(s);
	bool letter = false;

	if (n == 0 || n > 15 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (i = 0; i < n; i++) {
		char ch = (char)tolower((unsigned char)s[i]);

		if (ch == '-' && s[i + 1] == '-')
			return false;
		if (ch >= 'a' && ch <= 'z')
			letter = true;
		else if (!(ch >= '0' && ch <= '9') && ch != '-')
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
		if (is_svc_name(n->str.s)) {
			size_t i;

			pp->name = strdup(n->str.s);
			if (!pp->name)
				return -ENOMEM;
			for (i = 0; pp->name[i]; i++)
				pp->name[i] = (char)tolower((unsigned char)pp->name[i]);
			return 0;
		}
		errno = 0;
		v = strtoll(n->str.s, &end, 10);
		if (errno || *end || !isdigit((unsigned char)n->str.s[0]))
			return derr(c, n->line, "'%s' is not a port number or port name", n->str.s);
	} else {
		return derr(c, n->line, "expected a port (string or integer), got %s",
			    doc_type_name(n->type));
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

	if (!n) {
		*proto = knp ? IPPROTO_TCP : POL_PROTO_ANY;
		return 0;
	}
	if (expect(c, n, DOC_STR))
		return -EINVAL;
	s = n->str.s;
	if (!strcasecmp(s, "TCP"))
		*proto = IPPROTO_TCP;
	else if (!strcasecmp(s, "UDP"))
		*proto = IPPROTO_UDP;
	else if (!strcasecmp(s, "SCTP"))
		*proto = IPPROTO_SCTP;
	else if (!knp && !strcasecmp(s, "ANY"))
		*proto = POL_PROTO_ANY;
	else if (!strcasecmp(s, "ICMP") || !strcasecmp(s, "ICMPv6"))
		return derr(c, n->line, "protocol %s is not allowed in ports; use icmps", s);
	else
		return derr(c, n->line, "'%s' is not a protocol (%s)", s,
			    knp ? "TCP, UDP, SCTP" : "TCP, UDP, SCTP, ANY");
	return 0;
}

/*
 * One {port, endPort, protocol}. knp: Kubernetes NetworkPolicy form (port
 * optional, protocol default TCP, integer or string port).
 */
static int decode_port(struct dctx *c, const struct doc_node *n, struct pol_port *pp, bool knp,
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

static int decode_http_rule(struct dctx *c, const struct doc_node *n, struct pol_http_rule *hr)
{
	static const struct field fields[] = {
		{ "method", FLD_OK },  { "path", FLD_OK },	    { "host", FLD_OK },
		{ "headers", FLD_OK }, { "headerMatches", FLD_OK }, { NULL },
	};
	static const char *const names[] = { "method", "path", "host" };
	char **texts[] = { &hr->method, &hr->path, &hr->host };
	const struct doc_node *h, *hm;
	size_t i, old, nh = 0;
	int err;

	hr->line = n->line;
	err = expect_fields(c, n, fields);
	for (i = 0; !err && i < 3; i++) {
		const struct doc_node *v = opt(n, names[i]);
		struct errbuf eb;

		if (!v)
			continue;
		old = path_key(c, names[i]);
		err = expect(c, v, DOC_STR);
		/* An empty expression constrains nothing, as in Cilium. */
		if (!err && v->str.len) {
			err = pol_http_regex_check(v->str.s, &eb);
			if (err == -EINVAL)
				err = derr(c, v->line, "%s", eb.msg);
			if (!err)
				err = str_dup(texts[i], v->str.s);
		}
		path_restore(c, old);
	}
	if (err)
		return err;
	h = opt(n, "headers");
	hm = opt(n, "headerMatches");
	if (h && (err = expect(c, h, DOC_SEQ)))
		return err;
	if (hm && (err = expect(c, hm, DOC_SEQ)))
		return err;
	nh = (h ? h->seq.n : 0) + (hm ? hm->seq.n : 0);
	if (!nh)
		return 0;
	hr->headers = calloc(nh, sizeof(*hr->headers));
	if (!hr->headers)
		return -ENOMEM;
	for (i = 0; h && i < h->seq.n; i++) {
		const struct doc_node *it = h->seq.items[i];
		struct errbuf eb;

		old = path_key(c, "headers");
		path_idx(c, i);
		err = expect(c, it, DOC_STR);
		if (!err) {
			err = pol_http_header_parse(it->str.s, &hr->headers[hr->nheaders], &eb);
			if (err == -EINVAL)
				err = derr(c, it->line, "%s", eb.msg);
			if (!err)
				hr->nheaders++;
		}
		path_restore(c, old);
		if (err)
			return err;
	}
	for (i = 0; hm && i < hm->seq.n; i++) {
		static const struct field hfields[] = {
			{ "name", FLD_OK },
			{ "value", FLD_OK },
			{ "mismatch", FLD_OK },
			{ "secret", FLD_UNSUPPORTED,
			  "values from Kubernetes secrets need a cluster" },
			{ NULL },
		};
		const struct doc_node *it = hm->seq.items[i], *nm, *val, *mm;
		struct pol_http_header *hh = &hr->headers[hr->nheaders];

		old = path_key(c, "headerMatches");
		path_idx(c, i);
		err = expect_fields(c, it, hfields);
		nm = err ? NULL : opt(it, "name");
		if (!err && !nm)
			err = derr(c, it->line, "name is required");
		if (!err)
			err = expect(c, nm, DOC_STR);
		if (!err && !nm->str.len)
			err = derr(c, nm->line, "name is required");
		if (!err)
			err = str_dup(&hh->name, nm->str.s);
		val = err ? NULL : opt(it, "value");
		if (val && !(err = expect(c, val, DOC_STR)))
			err = str_dup(&hh->value, val->str.s);
		mm = err ? NULL : opt(it, "mismatch");
		if (mm && !(err = expect(c, mm, DOC_STR))) {
			static const char *const acts[] = { "", "LOG", "ADD", "DELETE", "REPLACE" };
			size_t k;

			for (k = 0; k < 5 && strcmp(acts[k], mm->str.s); k++)
				;
			if (k == 5)
				err = derr(
					c, mm->line,
					"'%s' is not a mismatch action (LOG, ADD, DELETE, REPLACE)",
					mm->str.s);
			else
				hh->mismatch = (enum pol_hdr_mismatch)k;
		}
		if (!err || hh->name)
			hr->nheaders++;
		path_restore(c, old);
		if (err)
			return err;
	}
	return 0;
}

static int decode_l7(struct dctx *c, const struct doc_node *n, struct pol_port_rule *pr)
{
	static const struct field fields[] = {
		{ "http", FLD_OK },
		{ "dns", FLD_UNSUPPORTED, "DNS rules need the DNS proxy" },
		{ "kafka", FLD_UNSUPPORTED, "Kafka rules were removed from Cilium" },
		{ "l7proto", FLD_UNSUPPORTED, "generic L7 parsers are not implemented" },
		{ "l7", FLD_UNSUPPORTED, "generic L7 parsers are not implemented" },
		{ NULL },
	};
	const struct doc_node *http;
	size_t i, old;
	int err;

	err = expect_fields(c, n, fields);
	http = err ? NULL : opt(n, "http");
	if (!http)
		return err;
	old = path_key(c, "http");
	err = expect(c, http, DOC_SEQ);
	if (!err && http->seq.n) {
		pr->http = calloc(http->seq.n, sizeof(*pr->http));
		if (!pr->http)
			err = -ENOMEM;
	}
	for (i = 0; !err && i < http->seq.n; i++) {
		size_t o2 = path_idx(c, i);

		err = decode_http_rule(c, http->seq.items[i], &pr->http[i]);
		pr->nhttp = i + 1;
		path_restore(c, o2);
	}
	if (!err && pr->nhttp) {
		struct errbuf eb;

		/* Compiled once here; map states and L7 snapshots share it by reference. */
		pr->matcher = pol_http_matcher__new(pr->http, pr->nhttp, &eb);
		if (!pr->matcher)
			err = errno == EINVAL ? derr(c, http->line, "%s", eb.msg) : -ENOMEM;
	}
	path_restore(c, old);
	return err;
}

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

			err = decode_port(c, ports->seq.items[i], &pr->ports[i], false, &z);
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
		err = decode_l7(c, rules, pr);
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
				struct pol_icmp *nv;
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
								   "'%s' is not an ICMPv%c type",
								   ty->str.s,
								   ic.family == 4 ? '4' : '6');
					} else {
						err = derr(
							c, ty->line,
							"expected an ICMP type (integer or name), "
							"got %s",
							doc_type_name(ty->type));
					}
					if (!err && (v < 0 || v > 255))
						err = derr(c, ty->line, "%lld is not an ICMP type",
							   v);
					ic.type = (uint8_t)v;
					path_restore(c, o4);
				}
				if (!err) {
					nv = realloc(e->icmps, (e->nicmps + 1) * sizeof(*nv));
					if (!nv)
						err = -ENOMEM;
					else {
						e->icmps = nv;
						nv[e->nicmps++] = ic;
					}
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

				err = push_sel(e, &s);
				if (!err)
					err = decode_selector(c, l3n->seq.items[i], s, NULL);
				if (!err)
					err = scope_selector(s, scope, ns);
				path_restore(c, o2);
			}
			break;
		case L3_CIDR:
			err = decode_cidrs(c, l3n, e);
			break;
		case L3_CIDRSET:
			err = decode_cidr_set(c, l3n, e);
			break;
		case L3_ENTITIES:
			err = expect(c, l3n, DOC_SEQ);
			for (i = 0; !err && i < l3n->seq.n; i++) {
				size_t o2 = path_idx(c, i);

				err = expect(c, l3n->seq.items[i], DOC_STR);
				if (!err)
					err = add_entity(c, e, l3n->seq.items[i]);
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

static int push_entry(struct pol_rule *r, enum pol_dir d, bool deny, unsigned index,
		      struct pol_peer_rule **out)
{
	struct pol_peer_rule *nv = realloc(r->entries[d], (r->nentries[d] + 1) * sizeof(*nv));

	if (!nv)
		return -ENOMEM;
	r->entries[d] = nv;
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
			err = derr(c, s->line, "'%s' is not a label source", s->str.s);
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
static int decode_rule(struct dctx *c, const struct doc_node *n, struct pol_rule *r,
		       enum pol_kind kind, const char *ns)
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
	err = decode_selector(c, es, &r->subject, NULL);
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

			err = push_entry(r, d, deny, (unsigned)i, &e);
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
		err = decode_cidr_set(c, &seq, e);
		path_restore(c, old);
		return err;
	}
	if (!ps && !nss)
		return derr(c, n->line, "a peer needs podSelector, namespaceSelector or ipBlock");
	err = push_sel(e, &s);
	if (err)
		return err;
	if (ps) {
		old = path_key(c, "podSelector");
		err = decode_selector(c, ps, s, POL_SOURCE_K8S);
		path_restore(c, old);
		if (err)
			return err;
	}
	if (nss) {
		/* Namespace labels become k8s:io.cilium.k8s.namespace.labels.<key>. */
		struct pol_selector tmp = { 0 };

		old = path_key(c, "namespaceSelector");
		err = decode_selector(c, nss, &tmp, POL_SOURCE_K8S);
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
	return scope_selector(s, SCOPE_NAMESPACE, ns);
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

				err = decode_port(c, ports->seq.items[i], &pr->ports[i], true, &z);
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
	err = decode_selector(c, ps, &r->subject, POL_SOURCE_K8S);
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
					   "'%s' is not a policy type (Ingress, Egress)", t->str.s);
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

			err = push_entry(r, (enum pol_dir)d, false, (unsigned)i, &e);
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

/* ---- objects ------------------------------------------------------------------ */

/* DNS-1123 subdomain (names) or label (namespaces). */
static bool dns_name_ok(const char *s, size_t max, bool dots)
{
	size_t i, n = strlen(s);

	if (!n || n > max || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return false;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (!(islower(ch) || isdigit(ch) || ch == '-' || (dots && ch == '.')))
			return false;
	}
	return true;
}

static int decode_metadata(struct dctx *c, const struct doc_node *n, struct pol_policy *p)
{
	static const struct field fields[] = {
		{ "name", FLD_OK },
		{ "namespace", FLD_OK },
		{ "labels", FLD_OK },
		{ "annotations", FLD_OK },
		{ "uid", FLD_IGNORED },
		{ "resourceVersion", FLD_IGNORED },
		{ "generation", FLD_IGNORED },
		{ "creationTimestamp", FLD_IGNORED },
		{ "deletionTimestamp", FLD_IGNORED },
		{ "deletionGracePeriodSeconds", FLD_IGNORED },
		{ "managedFields", FLD_IGNORED },
		{ "selfLink", FLD_IGNORED },
		{ "finalizers", FLD_IGNORED },
		{ "ownerReferences", FLD_IGNORED },
		{ "generateName", FLD_IGNORED },
		{ NULL },
	};
	const struct doc_node *name, *ns, *ann;
	size_t old = path_key(c, "metadata"), i;
	int err;

	err = expect_fields(c, n, fields);
	if (err)
		goto out;
	name = opt(n, "name");
	if (!name) {
		err = derr(c, n->line, "name is required");
		goto out;
	}
	path_key(c, "name");
	err = expect(c, name, DOC_STR);
	if (!err && !dns_name_ok(name->str.s, 253, true))
		err = derr(c, name->line,
			   "'%s' is not a valid name (lower-case letters, digits, '-' and '.')",
			   name->str.s);
	if (!err)
		err = str_dup(&p->name, name->str.s);
	path_restore(c, old);
	path_key(c, "metadata");
	if (err)
		goto out;
	ns = opt(n, "namespace");
	if (ns) {
		path_key(c, "namespace");
		err = expect(c, ns, DOC_STR);
		if (!err && (p->kind == POL_KIND_CCNP))
			err = derr(c, ns->line, "a %s is not namespaced", pol_kind_name(p->kind));
		if (!err && !dns_name_ok(ns->str.s, 63, false))
			err = derr(c, ns->line, "'%s' is not a valid namespace", ns->str.s);
		if (!err)
			err = str_dup(&p->namespace, ns->str.s);
		path_restore(c, old);
		path_key(c, "metadata");
		if (err)
			goto out;
	}
	if (!p->namespace && p->kind != POL_KIND_CCNP) {
		err = str_dup(&p->namespace, "default");
		if (err)
			goto out;
	}
	for (i = 0; i < 2 && !err; i++) {
		const char *key = i ? "annotations" : "labels";
		const struct doc_node *m = opt(n, key);
		size_t j;

		if (!m)
			continue;
		path_key(c, key);
		err = expect(c, m, DOC_MAP);
		for (j = 0; !err && j < m->map.n; j++) {
			size_t o2 = path_key(c, m->map.pairs[j].key);

			err = expect(c, m->map.pairs[j].value, DOC_STR);
			path_restore(c, o2);
		}
		path_restore(c, old);
		path_key(c, "metadata");
	}
	ann = opt(n, "annotations");
	if (!err && ann) {
		const struct doc_node *a = opt(ann, AUDIT_ANNOTATION);

		if (a) {
			path_key(c, "annotations");
			path_key(c, AUDIT_ANNOTATION);
			if (!strcmp(a->str.s, "true") || !strcmp(a->str.s, "enabled"))
				p->audit = true;
			else if (strcmp(a->str.s, "false") && strcmp(a->str.s, "disabled"))
				err = derr(c, a->line, "'%s' is not true or false", a->str.s);
		}
	}
out:
	path_restore(c, old);
	return err;
}

static struct pol_policy *policy_new(struct dctx *c, enum pol_kind kind, unsigned line)
{
	struct pol_policy *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->kind = kind;
	p->line = line;
	p->file = strdup(c->file);
	if (!p->file) {
		free(p);
		return NULL;
	}
	return p;
}

static int rules_alloc(struct pol_policy *p, size_t n)
{
	size_t i;

	p->rules = calloc(n ? n : 1, sizeof(*p->rules));
	if (!p->rules)
		return -ENOMEM;
	p->nrules = n;
	for (i = 0; i < n; i++) {
		p->rules[i].policy = p;
		p->rules[i].index = (unsigned)i;
	}
	return 0;
}

/* Fixes entries' back-pointers once the rules array no longer moves. */
static void link_rules(struct pol_policy *p)
{
	size_t i, j;
	int d;

	for (i = 0; i < p->nrules; i++)
		for (d = 0; d < 2; d++)
			for (j = 0; j < p->rules[i].nentries[d]; j++)
				p->rules[i].entries[d][j].rule = &p->rules[i];
}

static int decode_cilium_object(struct dctx *c, const struct doc_node *n, enum pol_kind kind,
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
	const struct doc_node *spec, *specs, *md;
	size_t i, old;
	int err;

	err = check_fields(c, n, fields);
	if (err)
		return err;
	md = opt(n, "metadata");
	if (!md)
		return derr(c, n->line, "metadata is required");
	err = decode_metadata(c, md, p);
	if (err)
		return err;
	spec = opt(n, "spec");
	specs = opt(n, "specs");
	if (spec && specs)
		return derr(c, key_line(n, "specs"), "spec and specs cannot both be set");
	if (!spec && !specs)
		return derr(c, n->line, "spec or specs is required");
	if (spec) {
		err = rules_alloc(p, 1);
		if (err)
			return err;
		old = path_key(c, "spec");
		err = decode_rule(c, spec, &p->rules[0], kind, p->namespace);
		path_restore(c, old);
		return err;
	}
	old = path_key(c, "specs");
	err = expect(c, specs, DOC_SEQ);
	if (!err && !specs->seq.n)
		err = derr(c, specs->line, "specs is empty");
	if (!err)
		err = rules_alloc(p, specs->seq.n);
	p->specs = true;
	for (i = 0; !err && i < specs->seq.n; i++) {
		size_t o2 = path_idx(c, i);

		err = decode_rule(c, specs->seq.items[i], &p->rules[i], kind, p->namespace);
		path_restore(c, o2);
	}
	path_restore(c, old);
	return err;
}

static int decode_knp_object(struct dctx *c, const struct doc_node *n, struct pol_policy *p)
{
	static const struct field fields[] = {
		{ "apiVersion", FLD_OK }, { "kind", FLD_OK },	     { "metadata", FLD_OK },
		{ "spec", FLD_OK },	  { "status", FLD_IGNORED }, { NULL },
	};
	const struct doc_node *spec, *md;
	size_t old;
	int err;

	err = check_fields(c, n, fields);
	if (err)
		return err;
	md = opt(n, "metadata");
	if (!md)
		return derr(c, n->line, "metadata is required");
	err = decode_metadata(c, md, p);
	if (err)
		return err;
	spec = opt(n, "spec");
	if (!spec)
		return derr(c, n->line, "spec is required");
	err = rules_alloc(p, 1);
	if (err)
		return err;
	old = path_key(c, "spec");
	err = decode_knp_spec(c, spec, &p->rules[0], p->namespace);
	path_restore(c, old);
	return err;
}

static bool looks_like_raw_rule(const struct doc_node *n)
{
	return n->type == DOC_MAP && !doc_map_get(n, "apiVersion") && !doc_map_get(n, "kind") &&
	       (doc_map_get(n, "endpointSelector") || doc_map_get(n, "nodeSelector") ||
		doc_map_get(n, "ingress") || doc_map_get(n, "egress") ||
		doc_map_get(n, "ingressDeny") || doc_map_get(n, "egressDeny"));
}

/* Name of a raw rule policy: the file's base name without its extension. */
static int raw_policy_name(struct dctx *c, char **out)
{
	const char *base = strrchr(c->file, '/');
	char *dot, *s;
	size_t i;

	base = base ? base + 1 : c->file;
	s = strdup(base);
	if (!s)
		return -ENOMEM;
	dot = strrchr(s, '.');
	if (dot && dot != s)
		*dot = '\0';
	for (i = 0; s[i]; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.')
			s[i] = '-';
		else
			s[i] = (char)tolower((unsigned char)s[i]);
	if (!s[0]) {
		free(s);
		s = strdup("rules");
		if (!s)
			return -ENOMEM;
	}
	*out = s;
	return 0;
}

/* A raw rule array (or a single raw rule) as one policy. */
static int decode_raw_rules(struct dctx *c, const struct doc_node *const *items, size_t n,
			    bool array, unsigned line, struct pol_set *out)
{
	struct pol_policy *p = policy_new(c, POL_KIND_RULES, line);
	size_t i;
	int err;

	if (!p)
		return -ENOMEM;
	c->pol = p;
	p->specs = true;
	err = raw_policy_name(c, &p->name);
	if (!err)
		err = rules_alloc(p, n);
	for (i = 0; !err && i < n; i++) {
		size_t old = array ? path_idx(c, i) : c->plen;

		err = decode_rule(c, items[i], &p->rules[i], POL_KIND_RULES, NULL);
		path_restore(c, old);
	}
	if (!err) {
		link_rules(p);
		err = pol_set_push(out, p);
	}
	if (err)
		pol_policy_free(p);
	c->pol = NULL;
	return err;
}

static int decode_object(struct dctx *c, const struct doc_node *n, struct pol_set *out);

static int decode_list(struct dctx *c, const struct doc_node *items, struct pol_set *out)
{
	size_t i;
	int err = 0;

	for (i = 0; !err && i < items->seq.n; i++) {
		size_t old = path_idx(c, i);

		err = decode_object(c, items->seq.items[i], out);
		path_restore(c, old);
	}
	return err;
}

static int decode_object(struct dctx *c, const struct doc_node *n, struct pol_set *out)
{
	const struct doc_node *kind, *api;
	struct pol_policy *p;
	enum pol_kind k;
	const char *want_api;
	int err;

	if (looks_like_raw_rule(n)) {
		const struct doc_node *one[1] = { n };

		return decode_raw_rules(c, one, 1, false, n->line, out);
	}
	err = expect(c, n, DOC_MAP);
	if (err)
		return err;
	kind = opt(n, "kind");
	api = opt(n, "apiVersion");
	if (!kind)
		return derr(c, n->line,
			    "kind is required (CiliumNetworkPolicy, "
			    "CiliumClusterwideNetworkPolicy, NetworkPolicy, List), or a raw rule "
			    "with endpointSelector");
	if (expect(c, kind, DOC_STR))
		return -EINVAL;
	if (!strcmp(kind->str.s, "List")) {
		static const struct field fields[] = {
			{ "apiVersion", FLD_OK },    { "kind", FLD_OK }, { "items", FLD_OK },
			{ "metadata", FLD_IGNORED }, { NULL },
		};
		const struct doc_node *items;
		size_t old;

		err = check_fields(c, n, fields);
		if (err)
			return err;
		items = opt(n, "items");
		if (!items)
			return derr(c, n->line, "items is required");
		old = path_key(c, "items");
		err = expect(c, items, DOC_SEQ);
		if (!err)
			err = decode_list(c, items, out);
		path_restore(c, old);
		return err;
	}
	if (!strcmp(kind->str.s, "CiliumNetworkPolicy")) {
		k = POL_KIND_CNP;
		want_api = "cilium.io/v2";
	} else if (!strcmp(kind->str.s, "CiliumClusterwideNetworkPolicy")) {
		k = POL_KIND_CCNP;
		want_api = "cilium.io/v2";
	} else if (!strcmp(kind->str.s, "NetworkPolicy")) {
		k = POL_KIND_KNP;
		want_api = "networking.k8s.io/v1";
	} else {
		size_t old = path_key(c, "kind");

		err = derr(c, kind->line,
			   "'%s' is not a policy kind (CiliumNetworkPolicy, "
			   "CiliumClusterwideNetworkPolicy, NetworkPolicy, List)",
			   kind->str.s);
		path_restore(c, old);
		return err;
	}
	if (!api)
		return derr(c, n->line, "apiVersion is required (%s)", want_api);
	if (expect(c, api, DOC_STR))
		return -EINVAL;
	if (strcmp(api->str.s, want_api)) {
		size_t old = path_key(c, "apiVersion");

		err = derr(c, api->line, "'%s' is not the apiVersion of %s (%s)", api->str.s,
			   kind->str.s, want_api);
		path_restore(c, old);
		return err;
	}
	p = policy_new(c, k, n->line);
	if (!p)
		return -ENOMEM;
	c->pol = p;
	if (k == POL_KIND_KNP)
		err = decode_knp_object(c, n, p);
	else
		err = decode_cilium_object(c, n, k, p);
	if (!err) {
		link_rules(p);
		err = pol_set_push(out, p);
	}
	if (err)
		pol_policy_free(p);
	c->pol = NULL;
	return err;
}

static int decode_doc(struct dctx *c, const struct doc_node *n, struct pol_set *out)
{
	size_t i;

	if (n->type == DOC_SEQ) {
		bool raw = n->seq.n > 0;

		for (i = 0; i < n->seq.n; i++)
			raw = raw && looks_like_raw_rule(n->seq.items[i]);
		if (raw)
			return decode_raw_rules(c, (const struct doc_node *const *)n->seq.items,
						n->seq.n, true, n->line, out);
		return decode_list(c, n, out);
	}
	if (n->type != DOC_MAP)
		return derr(c, n->line, "expected a policy object or a list of them, got %s",
			    doc_type_name(n->type));
	return decode_object(c, n, out);
}

int pol_set_push(struct pol_set *s, struct pol_policy *p)
{
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 4;
		struct pol_policy **nv = realloc(s->v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->cap = ncap;
	}
	s->v[s->n++] = p;
	return 0;
}

void pol_set_free(struct pol_set *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->n; i++)
		pol_policy_free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

/* Two objects of one file with the same kind, namespace and name: the second would silently win. */
static int check_duplicates(struct dctx *c, const struct pol_set *s, size_t from)
{
	size_t i, j;

	for (i = from; i < s->n; i++) {
		for (j = from; j < i; j++) {
			const struct pol_policy *a = s->v[j], *b = s->v[i];

			if (a->kind == b->kind && !strcmp(a->name, b->name) &&
			    !strcmp(a->namespace ? a->namespace : "",
				    b->namespace ? b->namespace : ""))
				return errbuf_set(
					c->eb, "%s:%u: %s %s is defined twice (also at line %u)",
					c->file, b->line, pol_kind_name(b->kind), b->name, a->line);
		}
	}
	return 0;
}

int pol_parse_buf(const char *name, const char *buf, size_t len, struct pol_set *out,
		  struct errbuf *eb)
{
	struct dctx c = { .file = name, .eb = eb };
	struct doc_stream ds = { 0 };
	enum doc_format fmt = DOC_FMT_AUTO;
	const char *dot = strrchr(name, '.');
	size_t start = out->n, i;
	bool had_array = out->v != NULL;
	int err;

	if (dot && !strcasecmp(dot, ".json"))
		fmt = DOC_FMT_JSON;
	else if (dot && (!strcasecmp(dot, ".yaml") || !strcasecmp(dot, ".yml")))
		fmt = DOC_FMT_YAML;
	err = doc_parse(buf, len, fmt, &ds, eb);
	if (err) {
		errbuf_prefix(eb, "%s:", name);
		return err;
	}
	if (!ds.n) {
		doc_stream_free(&ds);
		return errbuf_set(eb, "%s: no policy in file", name);
	}
	for (i = 0; !err && i < ds.n; i++)
		err = decode_doc(&c, ds.docs[i], out);
	if (!err)
		err = check_duplicates(&c, out, start);
	if (!err && c.warnings.len) {
		/* attach the file's notes to its first policy */
		out->v[start]->warnings = strbuf_detach(&c.warnings);
	}
	strbuf_free(&c.warnings);
	doc_stream_free(&ds);
	if (err) {
		for (i = start; i < out->n; i++)
			pol_policy_free(out->v[i]);
		out->n = start;
		if (!had_array) {
			/* leave the set exactly as it was: no array the caller never asked for */
			free(out->v);
			out->v = NULL;
			out->cap = 0;
		}
		if (err == -ENOMEM)
			errbuf_set(eb, "%s: out of memory", name);
	}
	return err;
}

int pol_parse_file(const char *path, struct pol_set *out, struct errbuf *eb)
{
	size_t len;
	char *buf;
	int err = file_read_all(path, MAX_FILE_SIZE, &buf, &len, eb);

	if (err)
		return err;
	err = pol_parse_buf(path, buf, len, out, eb);
	free(buf);
	return err;
}
