/* SPDX-License-Identifier: Apache-2.0 */
/* Label selector compilation, matching and canonical form. */
#include "policy/selector.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/vec.h"

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void req_free(struct pol_sel_req *r)
{
	size_t i;

	free(r->source);
	free(r->key);
	for (i = 0; i < r->nvalues; i++)
		free(r->values[i]);
	free(r->values);
	memset(r, 0, sizeof(*r));
}

/* Appends a zeroed requirement; amortised growth (a selector may have 100,000s). */
static struct pol_sel_req *push_req(struct pol_selector *s)
{
	if (vec_room_pow2(s->reqs, s->n))
		return NULL;
	memset(&s->reqs[s->n], 0, sizeof(s->reqs[0]));
	return &s->reqs[s->n++];
}

int pol_selector_add(struct pol_selector *s, enum pol_sel_op op, const char *key,
		     const char *const *values, size_t nvalues, struct errbuf *eb)
{
	const char *colon = strchr(key, ':'), *k = key;
	struct pol_sel_req *r;
	size_t i, j;
	int err;

	if (key[0] == '$') {
		colon = NULL;
		k = key + 1;
	} else if (colon) {
		if (!pol_label_source_known(key, (size_t)(colon - key)))
			return errbuf_set(eb, -EINVAL,
					  "'%.*s' is not a label source (in key " ERRBUF_Q ")",
					  (int)(colon - key), key, ERRBUF_QARG(key));
		k = colon + 1;
	}
	err = pol_label_key_check(k, eb);
	if (err)
		return err;
	r = push_req(s);
	if (!r)
		return -ENOMEM;
	r->op = op;
	if (key[0] == '$')
		r->source = strdup(POL_SOURCE_RESERVED);
	else
		r->source = colon ? strndup(key, (size_t)(colon - key)) : strdup(POL_SOURCE_ANY);
	r->key = strdup(k);
	if (!r->source || !r->key)
		goto err_nomem;
	if (nvalues) {
		r->values = calloc(nvalues, sizeof(char *));
		if (!r->values)
			goto err_nomem;
		for (i = 0; i < nvalues; i++) {
			err = pol_label_value_check(values[i], eb);
			if (err) {
				r->nvalues = i;
				req_free(r);
				s->n--;
				return err;
			}
			r->values[i] = strdup(values[i]);
			r->nvalues = i + 1;
			if (!r->values[i])
				goto err_nomem;
		}
		qsort(r->values, nvalues, sizeof(char *), str_cmp);
		for (i = j = 0; i < nvalues; i++) {
			if (j && !strcmp(r->values[j - 1], r->values[i]))
				free(r->values[i]);
			else
				r->values[j++] = r->values[i];
		}
		r->nvalues = j;
	}
	return 0;

err_nomem:
	req_free(r);
	s->n--;
	return -ENOMEM;
}

int pol_selector_add_cidr(struct pol_selector *s, const struct pol_prefix *p)
{
	struct pol_sel_req *r = push_req(s);

	if (!r)
		return -ENOMEM;
	r->op = POL_SEL_CIDR;
	r->cidr = *p;
	return 0;
}

bool pol_selector_has_key(const struct pol_selector *s, const char *source, const char *key)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		if (s->reqs[i].op == POL_SEL_CIDR || strcmp(s->reqs[i].key, key))
			continue;
		if (!source || !strcmp(s->reqs[i].source, source))
			return true;
	}
	return false;
}

bool pol_selector_has_key_prefix(const struct pol_selector *s, const char *prefix)
{
	size_t i, n = strlen(prefix);

	for (i = 0; i < s->n; i++)
		if (s->reqs[i].op != POL_SEL_CIDR && !strncmp(s->reqs[i].key, prefix, n))
			return true;
	return false;
}

bool pol_selector_has_reserved(const struct pol_selector *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->reqs[i].op != POL_SEL_CIDR &&
		    !strcmp(s->reqs[i].source, POL_SOURCE_RESERVED))
			return true;
	return false;
}

static bool value_in(const struct pol_sel_req *r, const char *v)
{
	size_t lo = 0, hi = r->nvalues;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(v, r->values[mid]);

		if (!c)
			return true;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return false;
}

static bool is_world(const struct pol_labels *ls, unsigned family)
{
	if (pol_labels_find(ls, POL_SOURCE_RESERVED, "world"))
		return true;
	return pol_labels_find(ls, POL_SOURCE_RESERVED, family == 4 ? "world-ipv4" : "world-ipv6");
}

/*
 * One requirement against one label set. With source "any" the requirement
 * considers every label with that key: IN/EXISTS need one such label to
 * satisfy it, NOT_IN/DOES_NOT_EXIST need all of them to.
 */
static bool req_match(const struct pol_sel_req *r, const struct pol_sel_target *t)
{
	const struct pol_labels *ls = t->labels;
	size_t first, count, i;
	bool any_src;

	if (r->op == POL_SEL_CIDR) {
		if (t->cidr)
			return pol_prefix_contains(&r->cidr, t->cidr);
		return r->cidr.len == 0 && is_world(ls, r->cidr.family);
	}
	any_src = !strcmp(r->source, POL_SOURCE_ANY);
	first = pol_labels_find_key(ls, r->key, &count);
	for (i = first; i < first + count; i++) {
		const struct pol_label *l = &ls->v[i];

		if (!any_src && strcmp(l->source, r->source))
			continue;
		switch (r->op) {
		case POL_SEL_IN:
			if (value_in(r, l->value))
				return true;
			break;
		case POL_SEL_EXISTS:
			return true;
		case POL_SEL_NOT_IN:
			if (value_in(r, l->value))
				return false;
			break;
		case POL_SEL_DOES_NOT_EXIST:
			return false;
		case POL_SEL_CIDR:
			break;
		}
	}
	return r->op == POL_SEL_NOT_IN || r->op == POL_SEL_DOES_NOT_EXIST;
}

bool pol_selector_match(const struct pol_selector *s, const struct pol_sel_target *t)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (!req_match(&s->reqs[i], t))
			return false;
	return true;
}

static int req_cmp(const void *pa, const void *pb)
{
	const struct pol_sel_req *a = pa, *b = pb;
	size_t i;
	int c;

	if (a->op == POL_SEL_CIDR || b->op == POL_SEL_CIDR) {
		if (a->op != b->op)
			return a->op == POL_SEL_CIDR ? 1 : -1;
		c = a->cidr.family - b->cidr.family;
		if (!c)
			c = memcmp(a->cidr.addr, b->cidr.addr, 16);
		return c ? c : a->cidr.len - b->cidr.len;
	}
	c = strcmp(a->key, b->key);
	if (!c)
		c = strcmp(a->source, b->source);
	if (!c)
		c = (int)a->op - (int)b->op;
	for (i = 0; !c && i < a->nvalues && i < b->nvalues; i++)
		c = strcmp(a->values[i], b->values[i]);
	if (!c)
		c = (a->nvalues > b->nvalues) - (a->nvalues < b->nvalues);
	return c;
}

void pol_selector_canonicalize(struct pol_selector *s)
{
	size_t i, j;

	if (s->n > 1)
		qsort(s->reqs, s->n, sizeof(*s->reqs), req_cmp);
	/* drop exact duplicates (e.g. an injected namespace the user also wrote) */
	for (i = j = 0; i < s->n; i++) {
		if (j && !req_cmp(&s->reqs[j - 1], &s->reqs[i]))
			req_free(&s->reqs[i]);
		else
			s->reqs[j++] = s->reqs[i];
	}
	s->n = j;
}

void pol_selector_format(const struct pol_selector *s, struct strbuf *sb)
{
	size_t i, k;

	if (!s->n) {
		strbuf_puts(sb, "{}");
		return;
	}
	for (i = 0; i < s->n; i++) {
		const struct pol_sel_req *r = &s->reqs[i];
		char buf[64];

		if (i)
			strbuf_puts(sb, ", ");
		switch (r->op) {
		case POL_SEL_CIDR:
			strbuf_printf(sb, "cidr:%s", pol_prefix_format(&r->cidr, buf, sizeof(buf)));
			continue;
		case POL_SEL_EXISTS:
			strbuf_printf(sb, "%s:%s", r->source, r->key);
			continue;
		case POL_SEL_DOES_NOT_EXIST:
			strbuf_printf(sb, "!%s:%s", r->source, r->key);
			continue;
		case POL_SEL_IN:
			if (r->nvalues == 1) {
				strbuf_printf(sb, "%s:%s", r->source, r->key);
				if (r->values[0][0])
					strbuf_printf(sb, "=%s", r->values[0]);
				continue;
			}
			strbuf_printf(sb, "%s:%s in (", r->source, r->key);
			break;
		case POL_SEL_NOT_IN:
			strbuf_printf(sb, "%s:%s notin (", r->source, r->key);
			break;
		}
		for (k = 0; k < r->nvalues; k++)
			strbuf_printf(sb, "%s%s", k ? "," : "", r->values[k]);
		strbuf_putc(sb, ')');
	}
}

int pol_selector_copy(struct pol_selector *dst, const struct pol_selector *src)
{
	size_t i;

	memset(dst, 0, sizeof(*dst));
	for (i = 0; i < src->n; i++) {
		const struct pol_sel_req *r = &src->reqs[i];
		int err;

		if (r->op == POL_SEL_CIDR) {
			err = pol_selector_add_cidr(dst, &r->cidr);
		} else {
			struct pol_sel_req *nr = push_req(dst);
			size_t k;

			err = -ENOMEM;
			if (nr) {
				nr->op = r->op;
				nr->source = strdup(r->source);
				nr->key = strdup(r->key);
				nr->values = r->nvalues ? calloc(r->nvalues, sizeof(char *)) : NULL;
				err = (!nr->source || !nr->key || (r->nvalues && !nr->values)) ?
					      -ENOMEM :
					      0;
				for (k = 0; !err && k < r->nvalues; k++) {
					nr->values[k] = strdup(r->values[k]);
					nr->nvalues = k + 1;
					if (!nr->values[k])
						err = -ENOMEM;
				}
			}
		}
		if (err) {
			pol_selector_free(dst);
			return err;
		}
	}
	return 0;
}

void pol_selector_free(struct pol_selector *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->n; i++)
		req_free(&s->reqs[i]);
	free(s->reqs);
	s->reqs = NULL;
	s->n = 0;
}
