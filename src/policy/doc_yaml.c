/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The YAML reader: libyaml's event parser drives a builder that produces
 * the same doc tree as the JSON reader. libyaml does the syntax; this file
 * adds the data model: YAML 1.2 core-schema resolution of plain scalars,
 * the standard tags (checked, never trusted), scalar-only unique mapping
 * keys, the nesting limit, and alias expansion. Aliases share the anchored
 * subtree (the arena frees everything at once, so sharing is safe) and are
 * charged its full node count against DOC_MAX_NODES, which bounds the tree a
 * consumer walks, however the aliases nest ("billion laughs").
 */
#include "policy/doc.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "lib/errbuf.h"
#include "lib/vec.h"
#include "policy/doc_internal.h"

/* Messages quote at most this many bytes of a key, value, anchor or tag. */
#define QUOTE_MAX 64
#define CORE_TAG  "tag:yaml.org,2002:"

enum ytag { YT_NONE, YT_STR, YT_INT, YT_FLOAT, YT_BOOL, YT_NULL, YT_MAP, YT_SEQ, YT_OTHER };

struct yframe {
	struct doc_node *node;
	size_t first;	     /* index of its first child in yparser.kids */
	size_t serial;	     /* scope of its keys in yparser.keys */
	size_t nodes_before; /* yparser.nodes before this node: its size is the difference */
	const char *anchor;  /* arena copy, or NULL */
	bool want_key;	     /* maps: the next event is a key */
};

/* What an alias refers to. */
struct yanchor {
	struct doc_node *node;
	size_t count;	  /* nodes in the subtree, itself included */
	const char *text; /* scalar source text (usable as a key), or NULL */
};

struct yparser {
	yaml_parser_t p;
	const char *buf;
	size_t len;
	struct doc_arena *a;
	struct errbuf *eb;
	VEC(struct doc_pair) kids; /* children of every open collection, innermost last */
	VEC(struct doc_node *) docs;
	struct doc_htab keys;	 /* keys of big open maps, scoped by frame serial */
	struct doc_htab anchors; /* the current document's, scope 0 */
	size_t serials;
	size_t nodes;	       /* nodes of the stream so far, alias expansions included */
	struct doc_node *root; /* the current document's, NULL while none or empty */
	size_t depth;
	struct yframe stack[DOC_MAX_DEPTH];
};

static unsigned mark_num(size_t zero_based)
{
	return zero_based >= UINT_MAX ? UINT_MAX : (unsigned)zero_based + 1;
}

__attribute__((format(printf, 3, 4))) static int yerr(struct yparser *yp, const yaml_mark_t *m,
						      const char *fmt, ...)
{
	char msg[ERRBUF_SIZE];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return errbuf_set(yp->eb, -EINVAL, "%u:%u: %s", mark_num(m->line), mark_num(m->column),
			  msg);
}

/* Converts libyaml's error state; its marks are 0-based, ours 1-based. */
static int yerr_libyaml(struct yparser *yp)
{
	const yaml_parser_t *p = &yp->p;
	unsigned line, col;
	struct doc_pos pos;
	size_t off;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		return -ENOMEM;
	case YAML_READER_ERROR:
		/* The reader knows only a byte offset into our buffer. */
		off = p->problem_offset < yp->len ? p->problem_offset : yp->len;
		doc_pos_init(&pos, yp->buf, yp->len);
		doc_pos_at(&pos, off, &line, &col);
		if (p->problem_value != -1)
			return errbuf_set(yp->eb, -EINVAL, "%u:%u: %s (0x%X)", line, col,
					  p->problem ? p->problem : "invalid input",
					  (unsigned)p->problem_value);
		return errbuf_set(yp->eb, -EINVAL, "%u:%u: %s", line, col,
				  p->problem ? p->problem : "invalid input");
	default:
		break;
	}
	if (p->context)
		return errbuf_set(yp->eb, -EINVAL, "%u:%u: %s (%s at %u:%u)",
				  mark_num(p->problem_mark.line), mark_num(p->problem_mark.column),
				  p->problem ? p->problem : "syntax error", p->context,
				  mark_num(p->context_mark.line), mark_num(p->context_mark.column));
	return errbuf_set(yp->eb, -EINVAL, "%u:%u: %s", mark_num(p->problem_mark.line),
			  mark_num(p->problem_mark.column),
			  p->problem ? p->problem : "syntax error");
}

static enum ytag ytag_of(const yaml_char_t *tag)
{
	static const struct {
		const char *name;
		enum ytag t;
	} core[] = {
		{ "str", YT_STR },   { "int", YT_INT }, { "float", YT_FLOAT }, { "bool", YT_BOOL },
		{ "null", YT_NULL }, { "map", YT_MAP }, { "seq", YT_SEQ },
	};
	const char *s = (const char *)tag;
	size_t i;

	if (!s)
		return YT_NONE;
	if (strncmp(s, CORE_TAG, sizeof(CORE_TAG) - 1) != 0)
		return YT_OTHER;
	s += sizeof(CORE_TAG) - 1;
	for (i = 0; i < sizeof(core) / sizeof(core[0]); i++)
		if (strcmp(s, core[i].name) == 0)
			return core[i].t;
	return YT_OTHER;
}

/*
 * Reports a tag that is unknown (where NULL) or does not fit the node
 * (where says on what); core tags appear in their short !! form.
 */
static int yerr_tag(struct yparser *yp, const yaml_mark_t *m, const yaml_char_t *tag,
		    const char *where)
{
	const char *s = (const char *)tag, *bang = "";

	if (strncmp(s, CORE_TAG, sizeof(CORE_TAG) - 1) == 0) {
		s += sizeof(CORE_TAG) - 1;
		bang = "!!";
	}
	if (!where)
		return yerr(yp, m, "unsupported tag '%s%.*s'", bang, QUOTE_MAX, s);
	return yerr(yp, m, "tag '%s%.*s' on %s", bang, QUOTE_MAX, s, where);
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool all_of(const char *s, size_t n, const char *set)
{
	size_t i;

	if (!n)
		return false;
	for (i = 0; i < n; i++)
		if (!memchr(set, s[i], strlen(set)))
			return false;
	return true;
}

static bool one_of(const char *s, const char *const *words)
{
	for (; *words; words++)
		if (strcmp(s, *words) == 0)
			return true;
	return false;
}

static const char *const null_words[] = { "", "~", "null", "Null", "NULL", NULL };
static const char *const true_words[] = { "true", "True", "TRUE", NULL };
static const char *const false_words[] = { "false", "False", "FALSE", NULL };
static const char *const inf_words[] = { ".inf", ".Inf", ".INF", NULL };
static const char *const nan_words[] = { ".nan", ".NaN", ".NAN", NULL };

#define DIGITS	   "0123456789"
#define HEX_DIGITS "0123456789abcdefABCDEF"

/* Core schema float syntax: [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
static bool is_float_syntax(const char *s, size_t n)
{
	size_t i = 0, d = 0;

	if (i < n && (s[i] == '-' || s[i] == '+'))
		i++;
	while (i < n && is_digit(s[i])) {
		i++;
		d++;
	}
	if (i < n && s[i] == '.') {
		i++;
		while (i < n && is_digit(s[i])) {
			i++;
			d++;
		}
	}
	if (!d)
		return false;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '-' || s[i] == '+'))
			i++;
		if (!all_of(s + i, n - i, DIGITS))
			return false;
		i = n;
	}
	return i == n;
}

enum yint { YI_NO, YI_OK, YI_RANGE };

/*
 * Core schema integers: [-+]? [0-9]+ (decimal), 0o[0-7]+, 0x[0-9a-fA-F]+.
 * Returns YI_OK with *v, YI_RANGE when the syntax matches but the value does
 * not fit long long, YI_NO when it is not an integer.
 */
static enum yint int_value(const char *s, size_t n, long long *v)
{
	unsigned long long mag = 0, lim = LLONG_MAX;
	unsigned base = 10, dg;
	bool neg = false;
	size_t i = 0;

	if (n > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
		base = s[1] == 'o' ? 8 : 16;
		if (!all_of(s + 2, n - 2, base == 8 ? "01234567" : HEX_DIGITS))
			return YI_NO;
		i = 2;
	} else {
		if (n && (s[0] == '-' || s[0] == '+')) {
			neg = s[0] == '-';
			i = 1;
		}
		if (!all_of(s + i, n - i, DIGITS))
			return YI_NO;
		if (neg)
			lim = (unsigned long long)LLONG_MAX + 1;
	}
	for (; i < n; i++) {
		dg = is_digit(s[i]) ? (unsigned)(s[i] - '0') : (unsigned)((s[i] | 0x20) - 'a' + 10);
		if (mag > (lim - dg) / base)
			return YI_RANGE;
		mag = mag * base + dg;
	}
	if (!neg)
		*v = (long long)mag;
	else
		*v = mag == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)mag;
	return YI_OK;
}

/* Reads a float in any core form (ints included). Returns 1, 0 if not one, or an error. */
static int float_value(struct yparser *yp, const yaml_mark_t *m, const char *s, size_t n, double *d)
{
	long long i;
	int err;

	if (one_of(s, nan_words)) {
		*d = NAN;
		return 1;
	}
	if (one_of(s, inf_words) || ((s[0] == '+' || s[0] == '-') && one_of(s + 1, inf_words))) {
		*d = s[0] == '-' ? -INFINITY : INFINITY;
		return 1;
	}
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
		if (int_value(s, n, &i) != YI_OK)
			return 0;
		*d = (double)i;
		return 1;
	}
	if (!is_float_syntax(s, n))
		return 0;
	err = doc_strtod(s, n, d);
	if (err == -ERANGE)
		return yerr(yp, m, "number out of range");
	return err ? err : 1;
}

/*
 * Gives v (position already set) its type and value from scalar text s[0..n)
 * (NUL-terminated), its style and tag. Strings get no text here: the caller
 * copies it.
 */
static int yresolve(struct yparser *yp, const yaml_event_t *ev, const char *s, size_t n,
		    struct doc_node *v)
{
	const yaml_mark_t *m = &ev->start_mark;
	const yaml_char_t *tag = ev->data.scalar.tag;
	enum ytag t = ytag_of(tag);
	int err;

	if (memchr(s, '\0', n))
		return yerr(yp, m, "strings cannot contain NUL characters");
	if (t == YT_NONE && ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		t = YT_STR;
	switch (t) {
	case YT_STR:
		v->type = DOC_STR;
		return 0;
	case YT_OTHER:
		return yerr_tag(yp, m, tag, NULL);
	case YT_MAP:
	case YT_SEQ:
		return yerr_tag(yp, m, tag, "a scalar");
	default:
		break;
	}

	if ((t == YT_NONE || t == YT_NULL) && one_of(s, null_words)) {
		v->type = DOC_NULL;
		return 0;
	}
	if (t == YT_NONE || t == YT_BOOL) {
		v->type = DOC_BOOL;
		v->b = true;
		if (one_of(s, true_words))
			return 0;
		v->b = false;
		if (one_of(s, false_words))
			return 0;
	}
	if (t == YT_NONE || t == YT_INT) {
		switch (int_value(s, n, &v->i)) {
		case YI_OK:
			v->type = DOC_INT;
			return 0;
		case YI_RANGE:
			/* Like JSON, a big decimal without a tag is still a number. */
			if (t == YT_INT || (s[0] == '0' && (s[1] == 'x' || s[1] == 'o')))
				return yerr(yp, m, "integer out of range");
			break;
		case YI_NO:
			break;
		}
	}
	if (t == YT_NONE || t == YT_FLOAT) {
		err = float_value(yp, m, s, n, &v->f);
		if (err < 0)
			return err;
		if (err) {
			v->type = DOC_FLOAT;
			return 0;
		}
	}
	if (t == YT_NONE) {
		v->type = DOC_STR;
		return 0;
	}
	return yerr(yp, m, "invalid !!%s value '%.*s'",
		    t == YT_INT	  ? "int" :
		    t == YT_FLOAT ? "float" :
		    t == YT_BOOL  ? "bool" :
				    "null",
		    QUOTE_MAX, s);
}

static int ycount(struct yparser *yp, const yaml_mark_t *m, size_t n)
{
	if (n > DOC_MAX_NODES - yp->nodes)
		return yerr(yp, m, "more than %d nodes (aliases expanded)", DOC_MAX_NODES);
	yp->nodes += n;
	return 0;
}

/*
 * Remembers anchor name (arena, it must outlive the table entry) for node; a
 * later definition of the same name wins.
 */
static int yanchor_set(struct yparser *yp, const char *name, struct doc_node *node, size_t count,
		       const char *text)
{
	struct doc_htab_ent *e;
	struct yanchor *an;
	bool found;

	an = doc_arena_alloc(yp->a, sizeof(*an));
	if (!an || !name)
		return -ENOMEM;
	an->node = node;
	an->count = count;
	an->text = text;
	e = doc_htab_upsert(&yp->anchors, 0, name, strlen(name), &found);
	if (!e)
		return -ENOMEM;
	e->val = an;
	return 0;
}

/* Hands a finished value to its parent, or makes it the document root. */
static int ydeliver(struct yparser *yp, struct doc_node *v)
{
	struct yframe *f;

	if (!yp->depth) {
		yp->root = v;
		return 0;
	}
	f = &yp->stack[yp->depth - 1];
	if (f->node->type == DOC_MAP) {
		yp->kids.v[yp->kids.n - 1].value = v;
		f->want_key = true;
		return 0;
	}
	return vec_push(&yp->kids, ((struct doc_pair){ .value = v }));
}

static bool ywant_key(const struct yparser *yp)
{
	return yp->depth && yp->stack[yp->depth - 1].want_key;
}

/* Opens a pair in the innermost map for key text (arena, NUL-terminated). */
static int ykey(struct yparser *yp, const yaml_mark_t *m, const char *key)
{
	struct yframe *f = &yp->stack[yp->depth - 1];
	size_t len = strlen(key), n = yp->kids.n - f->first;
	struct doc_pair *pair;
	int err;

	err = doc_key_dup(&yp->keys, f->serial, n ? yp->kids.v + f->first : NULL, n, key, len);
	if (err < 0)
		return err;
	if (err)
		return yerr(yp, m, "duplicate key '%.*s%s'", QUOTE_MAX, key,
			    len > QUOTE_MAX ? "..." : "");
	pair = vec_push_zero(&yp->kids);
	if (!pair)
		return -ENOMEM;
	pair->key = key;
	pair->line = mark_num(m->line);
	pair->col = mark_num(m->column);
	f->want_key = false;
	return 0;
}

static int yscalar(struct yparser *yp, const yaml_event_t *ev)
{
	const char *val = (const char *)ev->data.scalar.value;
	const char *anchor = (const char *)ev->data.scalar.anchor;
	const yaml_mark_t *m = &ev->start_mark;
	size_t len = ev->data.scalar.length;
	struct doc_node tmp = { 0 }, *v;
	char *text = NULL;
	int err;

	tmp.line = mark_num(m->line);
	tmp.col = mark_num(m->column);
	err = yresolve(yp, ev, val, len, &tmp);
	if (err)
		return err;

	/* A bare `---` or a stream of comments: a document with nothing in it. */
	if (!yp->depth && tmp.type == DOC_NULL && !len && !anchor && !ev->data.scalar.tag) {
		yp->root = NULL;
		return 0;
	}
	if (tmp.type == DOC_STR || ywant_key(yp) || anchor) {
		text = doc_arena_strndup(yp->a, val, len);
		if (!text)
			return -ENOMEM;
		if (tmp.type == DOC_STR) {
			tmp.str.s = text;
			tmp.str.len = len;
		}
	}

	if (ywant_key(yp)) {
		/* Keys stay text: no node, unless an alias may refer to it later. */
		err = ykey(yp, m, text);
		if (err)
			return err;
		if (!anchor)
			return 0;
		v = doc_arena_alloc(yp->a, sizeof(*v));
		if (!v)
			return -ENOMEM;
		*v = tmp;
		return yanchor_set(yp, doc_arena_strndup(yp->a, anchor, strlen(anchor)), v, 1,
				   text);
	}

	err = ycount(yp, m, 1);
	if (err)
		return err;
	v = doc_arena_alloc(yp->a, sizeof(*v));
	if (!v)
		return -ENOMEM;
	*v = tmp;
	if (anchor) {
		err = yanchor_set(yp, doc_arena_strndup(yp->a, anchor, strlen(anchor)), v, 1, text);
		if (err)
			return err;
	}
	return ydeliver(yp, v);
}

static int yalias(struct yparser *yp, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	const yaml_mark_t *m = &ev->start_mark;
	const struct yanchor *an;
	struct doc_htab_ent *e;
	int err;

	e = doc_htab_find(&yp->anchors, 0, name, strlen(name));
	if (!e)
		return yerr(yp, m, "undefined alias '%.*s'", QUOTE_MAX, name);
	an = e->val;
	if (ywant_key(yp)) {
		if (!an->text)
			return yerr(yp, m, "mapping keys must be scalars");
		return ykey(yp, m, an->text);
	}
	err = ycount(yp, m, an->count);
	if (err)
		return err;
	return ydeliver(yp, an->node);
}

static int ystart(struct yparser *yp, const yaml_event_t *ev, enum doc_type type)
{
	const yaml_char_t *tag =
		type == DOC_MAP ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;
	const char *anchor = (const char *)(type == DOC_MAP ? ev->data.mapping_start.anchor :
							      ev->data.sequence_start.anchor);
	const yaml_mark_t *m = &ev->start_mark;
	enum ytag t = ytag_of(tag);
	struct yframe *f;
	size_t before = yp->nodes;
	int err;

	if (ywant_key(yp))
		return yerr(yp, m, "mapping keys must be scalars");
	if (yp->depth == DOC_MAX_DEPTH)
		return yerr(yp, m, "nesting deeper than %d levels", DOC_MAX_DEPTH);
	if (t == YT_OTHER)
		return yerr_tag(yp, m, tag, NULL);
	if (t != YT_NONE && t != (type == DOC_MAP ? YT_MAP : YT_SEQ))
		return yerr_tag(yp, m, tag, type == DOC_MAP ? "a mapping" : "a sequence");
	err = ycount(yp, m, 1);
	if (err)
		return err;
	f = &yp->stack[yp->depth];
	f->node = doc_node__new(yp->a, type, mark_num(m->line), mark_num(m->column));
	if (!f->node)
		return -ENOMEM;
	f->anchor = NULL;
	if (anchor) {
		f->anchor = doc_arena_strndup(yp->a, anchor, strlen(anchor));
		if (!f->anchor)
			return -ENOMEM;
	}
	f->first = yp->kids.n;
	f->serial = ++yp->serials;
	f->nodes_before = before;
	f->want_key = type == DOC_MAP;
	yp->depth++;
	return 0;
}

static int yend(struct yparser *yp)
{
	struct yframe *f = &yp->stack[yp->depth - 1];
	size_t n = yp->kids.n - f->first;
	int err;

	/* An empty collection may come before the scratch list has any memory. */
	err = doc_node_fill(yp->a, f->node, n ? yp->kids.v + f->first : NULL, n);
	if (err)
		return err;
	yp->kids.n = f->first;
	yp->depth--;
	/* Registered only now: an alias inside its own anchor's node would be a cycle. */
	if (f->anchor) {
		err = yanchor_set(yp, f->anchor, f->node, yp->nodes - f->nodes_before, NULL);
		if (err)
			return err;
	}
	return ydeliver(yp, f->node);
}

/* Applies one event. Returns 1 at the end of the stream, 0 to go on, or an error. */
static int yevent(struct yparser *yp, const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_STREAM_END_EVENT:
		return 1;
	case YAML_DOCUMENT_START_EVENT:
		yp->root = NULL;
		/* Anchors do not cross documents. */
		doc_htab_clear(&yp->anchors);
		doc_htab_clear(&yp->keys);
		return 0;
	case YAML_DOCUMENT_END_EVENT:
		if (yp->root)
			return vec_push(&yp->docs, yp->root);
		return 0;
	case YAML_SCALAR_EVENT:
		return yscalar(yp, ev);
	case YAML_ALIAS_EVENT:
		return yalias(yp, ev);
	case YAML_MAPPING_START_EVENT:
		return ystart(yp, ev, DOC_MAP);
	case YAML_SEQUENCE_START_EVENT:
		return ystart(yp, ev, DOC_SEQ);
	case YAML_MAPPING_END_EVENT:
	case YAML_SEQUENCE_END_EVENT:
		return yend(yp);
	default:
		return 0;
	}
}

int doc_parse_yaml(const char *buf, size_t len, struct doc_stream *out, struct errbuf *eb)
{
	struct yparser *yp;
	yaml_event_t ev;
	int err = 0;

	/* The frame stack makes this too big for some thread stacks. */
	yp = calloc(1, sizeof(*yp));
	if (!yp)
		return -ENOMEM;
	yp->buf = buf;
	yp->len = len;
	yp->a = out->arena;
	yp->eb = eb;
	if (!yaml_parser_initialize(&yp->p)) {
		free(yp);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&yp->p, (const unsigned char *)buf, len);
	/* UTF-8 only: doc_parse() has removed a UTF-8 BOM, other BOMs are errors. */
	yaml_parser_set_encoding(&yp->p, YAML_UTF8_ENCODING);

	while (!err) {
		if (!yaml_parser_parse(&yp->p, &ev)) {
			err = yerr_libyaml(yp);
			break;
		}
		err = yevent(yp, &ev);
		yaml_event_delete(&ev);
	}
	if (err == 1) {
		err = 0;
		out->docs = doc_arena_alloc(yp->a, yp->docs.n * sizeof(*out->docs));
		if (out->docs) {
			if (yp->docs.n)
				memcpy(out->docs, yp->docs.v, yp->docs.n * sizeof(*out->docs));
			out->n = yp->docs.n;
		} else {
			err = -ENOMEM;
		}
	}
	yaml_parser_delete(&yp->p);
	vec_free(&yp->kids);
	vec_free(&yp->docs);
	doc_htab_free(&yp->keys);
	doc_htab_free(&yp->anchors);
	free(yp);
	return err;
}
