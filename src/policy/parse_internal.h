/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The policy decoder's private interface (src/policy/parse*.c): the
 * decoding context with its field path and error helpers, the field tables
 * every decoder checks a mapping against, and the decoders one part of it
 * shares with another. parse.c dispatches objects; parse_common.c decodes
 * selectors, peers and ports, which both the Cilium (parse_cilium.c) and
 * the Kubernetes NetworkPolicy decoder (parse_knp.c) use; parse_http.c
 * decodes L7 HTTP rules.
 *
 * Every decoder function receives the node and the decoding context; the
 * context carries the field path ("spec.ingress[0].toPorts[0]") that error
 * messages print. Paths grow with path_key()/path_idx() and shrink back with
 * path_restore() on every return path, including errors (messages are
 * formatted at the point of the error, so a stale path is only cosmetic, but
 * the code keeps it exact).
 */
#ifndef VELUM_POLICY_PARSE_INTERNAL_H
#define VELUM_POLICY_PARSE_INTERNAL_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/errbuf.h"
#include "lib/strbuf.h"
#include "policy/doc.h"
#include "policy/parse.h"

#define MAX_FILE_SIZE (16u << 20)

struct dctx {
	const char *file;
	struct errbuf *eb;
	char path[512];
	size_t plen;
	struct pol_policy *pol; /* being built */
	struct strbuf warnings;
	size_t ndocs;	/* documents in the file */
	size_t ns_from; /* the file's first namespace in the set */
};

static inline int derr(struct dctx *c, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static inline int derr(struct dctx *c, unsigned line, const char *fmt, ...)
{
	char msg[ERRBUF_SIZE];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->plen)
		return errbuf_set(c->eb, -EINVAL, "%s:%u: %s: %s", c->file, line, c->path, msg);
	return errbuf_set(c->eb, -EINVAL, "%s:%u: %s", c->file, line, msg);
}

static inline size_t path_key(struct dctx *c, const char *key)
{
	size_t old = c->plen;
	int n = snprintf(c->path + c->plen, sizeof(c->path) - c->plen, "%s%s", c->plen ? "." : "",
			 key);

	if (n > 0)
		c->plen = c->plen + (size_t)n < sizeof(c->path) ? c->plen + (size_t)n :
								  sizeof(c->path) - 1;
	return old;
}

static inline size_t path_idx(struct dctx *c, size_t i)
{
	size_t old = c->plen;
	int n = snprintf(c->path + c->plen, sizeof(c->path) - c->plen, "[%zu]", i);

	if (n > 0)
		c->plen = c->plen + (size_t)n < sizeof(c->path) ? c->plen + (size_t)n :
								  sizeof(c->path) - 1;
	return old;
}

static inline void path_restore(struct dctx *c, size_t old)
{
	c->plen = old;
	c->path[old] = '\0';
}

static inline void warn(struct dctx *c, unsigned line, const char *msg)
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

static inline bool node_empty(const struct doc_node *n)
{
	return !n || n->type == DOC_NULL || (n->type == DOC_SEQ && n->seq.n == 0) ||
	       (n->type == DOC_MAP && n->map.n == 0);
}

/* Checks that a mapping has only known keys and no unsupported content. */
static inline int check_fields(struct dctx *c, const struct doc_node *map,
			       const struct field *fields)
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

/* What n is, for "got ...": a number too large for a 64-bit integer says so. */
static inline const char *got_name(const struct doc_node *n)
{
	if (n->type == DOC_FLOAT &&
	    (n->f >= 9223372036854775808.0 || n->f < -9223372036854775808.0))
		return "a number beyond the 64-bit integer range";
	return doc_type_name(n->type);
}

static inline int expect(struct dctx *c, const struct doc_node *n, enum doc_type t)
{
	if (n->type == t)
		return 0;
	return derr(c, n->line, "expected %s %s, got %s",
		    (t == DOC_INT || t == DOC_MAP) ? "an" : "a", doc_type_name(t), got_name(n));
}

/* expect() on the value of field key (named in the message). */
static inline int expect_key(struct dctx *c, const struct doc_node *n, const char *key,
			     enum doc_type t)
{
	size_t old = path_key(c, key);
	int err = expect(c, n, t);

	path_restore(c, old);
	return err;
}

/* An object with only the given fields (the common prologue of every decoder). */
static inline int expect_fields(struct dctx *c, const struct doc_node *n,
				const struct field *fields)
{
	int err = expect(c, n, DOC_MAP);

	return err ? err : check_fields(c, n, fields);
}

/* The value of an optional field, or NULL when absent or null. */
static inline const struct doc_node *opt(const struct doc_node *map, const char *key)
{
	const struct doc_node *n = doc_map_get(map, key);

	return n && n->type != DOC_NULL ? n : NULL;
}

/* Line of a key in a map (for errors about missing or conflicting fields). */
static inline unsigned key_line(const struct doc_node *map, const char *key)
{
	size_t i;

	for (i = 0; i < map->map.n; i++)
		if (!strcmp(map->map.pairs[i].key, key))
			return map->map.pairs[i].line;
	return map->line;
}

static inline int str_dup(char **dst, const char *s)
{
	*dst = strdup(s);
	return *dst ? 0 : -ENOMEM;
}

/* ---- shared decoders --------------------------------------------------------- */

enum sel_scope {
	SCOPE_NONE,	     /* raw rules: as written */
	SCOPE_NAMESPACE,     /* CNP / NetworkPolicy peers: own namespace unless one is named */
	SCOPE_ANY_NAMESPACE, /* CCNP peers: pods of any namespace unless one is named */
};

/*
 * Scopes a peer selector of a namespaced (SCOPE_NAMESPACE: ns) or
 * clusterwide policy unless it names a namespace or a reserved identity.
 * Returns 0 or -ENOMEM.
 */
int pol_dec_scope_selector(struct pol_selector *s, enum sel_scope scope, const char *ns);

/*
 * Decodes a Kubernetes LabelSelector {matchLabels, matchExpressions} into
 * *s (initially empty). default_source (NULL: none) is the source given to
 * keys without one ("k8s" for NetworkPolicy). Returns 0, -EINVAL (derr) or
 * -ENOMEM.
 */
int pol_dec_selector(struct dctx *c, const struct doc_node *n, struct pol_selector *s,
		     const char *default_source);

/* Appends an empty selector to e; *out points at it until the next push. -ENOMEM. */
int pol_dec_push_sel(struct pol_peer_rule *e, struct pol_selector **out);

/* Entities as Cilium maps them to reserved labels (pkg/policy/api/entity.go). */
int pol_dec_add_entity(struct dctx *c, struct pol_peer_rule *e, const struct doc_node *n);

/* fromCIDR / toCIDR: prefixes, or bare addresses as host prefixes (Cilium accepts both). */
int pol_dec_cidrs(struct dctx *c, const struct doc_node *n, struct pol_peer_rule *e);

/* fromCIDRSet / toCIDRSet: {cidr, except}; the excepts are subtracted here. */
int pol_dec_cidr_set(struct dctx *c, const struct doc_node *n, struct pol_peer_rule *e);

/*
 * One {port, endPort, protocol}. knp: Kubernetes NetworkPolicy form (port
 * optional, protocol default TCP, integer or string port).
 */
int pol_dec_port(struct dctx *c, const struct doc_node *n, struct pol_port *pp, bool knp,
		 bool *is_zero);

/* A toPorts entry's `rules` object into pr (only `http` is supported). */
int pol_dec_l7(struct dctx *c, const struct doc_node *n, struct pol_port_rule *pr);

/* Appends an empty entry (direction d, deny, index) to r; *out as pol_dec_push_sel(). */
int pol_dec_push_entry(struct pol_rule *r, enum pol_dir d, bool deny, unsigned index,
		       struct pol_peer_rule **out);

/* A Cilium Rule object (spec, one of specs, or one raw rule). */
int pol_dec_rule(struct dctx *c, const struct doc_node *n, struct pol_rule *r, enum pol_kind kind,
		 const char *ns);

/* A CiliumNetworkPolicy or CiliumClusterwideNetworkPolicy object (kind) into p. */
int pol_dec_cilium_object(struct dctx *c, const struct doc_node *n, enum pol_kind kind,
			  struct pol_policy *p);

/* A Kubernetes NetworkPolicy object into p. */
int pol_dec_knp_object(struct dctx *c, const struct doc_node *n, struct pol_policy *p);

/* A Namespace object (v1) into out->nss; a name given twice in one file is an error. */
int pol_dec_namespace(struct dctx *c, const struct doc_node *n, struct pol_set *out);
/* Frees the namespaces of s from index from on (s->nns becomes from). */
void pol_namespaces_free(struct pol_set *s, size_t from);

/*
 * The head every policy object shares: only the given top-level fields, and
 * the metadata (name, namespace, annotations) decoded into p.
 */
int pol_dec_object_head(struct dctx *c, const struct doc_node *n, const struct field *fields,
			struct pol_policy *p);

/* The document format a file's name implies (.json, .yaml/.yml, else detected). */
enum doc_format pol_dec_format(const char *name);

/* Gives p n empty rules pointing back at it. -ENOMEM. */
int pol_dec_rules_alloc(struct pol_policy *p, size_t n);

#endif
