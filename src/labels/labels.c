/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Label parsing, validation, sorted label sets and Cilium's default
 * security-label filter.
 */
#include "labels/labels.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const known_sources[] = {
	"k8s",	"reserved", "any", "unspec", "cidr",	  "cidrgroup",
	"fqdn", "node",	    "cni", "gen",    "directory", "container",
};

bool pol_label_source_known(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(known_sources) / sizeof(known_sources[0]); i++)
		if (strlen(known_sources[i]) == len && !memcmp(known_sources[i], s, len))
			return true;
	return false;
}

static bool is_alnum(char c)
{
	return isalnum((unsigned char)c);
}

/* A Kubernetes "name" segment: [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?, at most 63. */
static bool name_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 63 || !is_alnum(s[0]) || !is_alnum(s[len - 1]))
		return false;
	for (i = 1; i + 1 < len; i++)
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

/* A DNS subdomain prefix: lower-case alnum, '-', '.', at most 253. */
static bool prefix_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 253)
		return false;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!(islower((unsigned char)c) || isdigit((unsigned char)c) || c == '-' ||
		      c == '.'))
			return false;
	}
	return is_alnum(s[0]) && is_alnum(s[len - 1]);
}

int pol_label_key_check(const char *key, struct errbuf *eb)
{
	const char *slash = strchr(key, '/');

	/*
	 * Cilium's own derived keys (io.cilium.k8s.namespace.labels.a.b/c) nest a
	 * prefixed key after a dotted name; accept one slash anywhere, checking
	 * the part after it as a name and the part before as a prefix.
	 */
	if (slash) {
		if (!prefix_ok(key, (size_t)(slash - key)) ||
		    !name_ok(slash + 1, strlen(slash + 1)))
			return errbuf_set(eb, -EINVAL, ERRBUF_Q " is not a valid label key",
					  ERRBUF_QARG(key));
		return 0;
	}
	if (!name_ok(key, strlen(key)))
		return errbuf_set(eb, -EINVAL, ERRBUF_Q " is not a valid label key",
				  ERRBUF_QARG(key));
	return 0;
}

int pol_label_value_check(const char *value, struct errbuf *eb)
{
	size_t len = strlen(value);

	if (len == 0)
		return 0;
	if (!name_ok(value, len))
		return errbuf_set(eb, -EINVAL, ERRBUF_Q " is not a valid label value",
				  ERRBUF_QARG(value));
	return 0;
}

void pol_label_free(struct pol_label *l)
{
	if (!l)
		return;
	free(l->source);
	free(l->key);
	free(l->value);
	l->source = l->key = l->value = NULL;
}

int pol_label_parse(const char *s, const char *default_source, struct pol_label *out,
		    struct errbuf *eb)
{
	const char *src = default_source, *rest = s, *colon, *eq;
	size_t srclen = strlen(default_source);
	int err;

	memset(out, 0, sizeof(*out));
	if (s[0] == '$') {
		src = POL_SOURCE_RESERVED;
		srclen = strlen(src);
		rest = s + 1;
	} else {
		colon = strchr(s, ':');
		eq = strchr(s, '=');
		if (colon && (!eq || colon < eq)) {
			if (!pol_label_source_known(s, (size_t)(colon - s)))
				return errbuf_set(eb, -EINVAL,
						  "'%.*s' is not a label source (in " ERRBUF_Q ")",
						  (int)(colon - s), s, ERRBUF_QARG(s));
			src = s;
			srclen = (size_t)(colon - s);
			rest = colon + 1;
		}
	}
	eq = strchr(rest, '=');
	out->source = strndup(src, srclen);
	out->key = eq ? strndup(rest, (size_t)(eq - rest)) : strdup(rest);
	out->value = strdup(eq ? eq + 1 : "");
	if (!out->source || !out->key || !out->value) {
		pol_label_free(out);
		return -ENOMEM;
	}
	err = pol_label_key_check(out->key, eb);
	if (!err)
		err = pol_label_value_check(out->value, eb);
	if (err)
		pol_label_free(out);
	return err;
}

static int label_cmp3(const char *source, const char *key, const struct pol_label *l)
{
	int c = strcmp(key, l->key);

	return c ? c : strcmp(source, l->source);
}

/* Binary search: index of (source, key) or of the insertion point; *found set. */
static size_t labels_bsearch(const struct pol_labels *ls, const char *source, const char *key,
			     bool *found)
{
	size_t lo = 0, hi = ls->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = label_cmp3(source, key, &ls->v[mid]);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*found = false;
	return lo;
}

int pol_labels_set(struct pol_labels *ls, const char *source, const char *key, const char *value)
{
	struct pol_label nl;
	bool found;
	size_t at = labels_bsearch(ls, source, key, &found);

	if (found) {
		char *v = strdup(value);

		if (!v)
			return -ENOMEM;
		free(ls->v[at].value);
		ls->v[at].value = v;
		return 0;
	}
	if (ls->n == ls->cap) {
		size_t ncap = ls->cap ? ls->cap * 2 : 4;
		struct pol_label *nv = realloc(ls->v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		ls->v = nv;
		ls->cap = ncap;
	}
	nl.source = strdup(source);
	nl.key = strdup(key);
	nl.value = strdup(value);
	if (!nl.source || !nl.key || !nl.value) {
		pol_label_free(&nl);
		return -ENOMEM;
	}
	memmove(&ls->v[at + 1], &ls->v[at], (ls->n - at) * sizeof(*ls->v));
	ls->v[at] = nl;
	ls->n++;
	return 0;
}

const struct pol_label *pol_labels_find(const struct pol_labels *ls, const char *source,
					const char *key)
{
	bool found;
	size_t at = labels_bsearch(ls, source, key, &found);

	return found ? &ls->v[at] : NULL;
}

size_t pol_labels_find_key(const struct pol_labels *ls, const char *key, size_t *count)
{
	size_t lo = 0, hi = ls->n, first, end;

	/* lower bound on key alone: sources sort after "" */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(ls->v[mid].key, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	first = lo;
	for (end = first; end < ls->n && !strcmp(ls->v[end].key, key); end++)
		;
	*count = end - first;
	return first;
}

int pol_labels_copy(struct pol_labels *dst, const struct pol_labels *src)
{
	size_t i;

	for (i = 0; i < src->n; i++) {
		if (pol_labels_set(dst, src->v[i].source, src->v[i].key, src->v[i].value)) {
			pol_labels_free(dst);
			return -ENOMEM;
		}
	}
	return 0;
}

static bool has_prefix(const char *s, const char *p)
{
	return !strncmp(s, p, strlen(p));
}

/*
 * Cilium's default label filter (pkg/labelsfilter): reserved labels and the
 * namespace, namespace-label, service-account, cluster and app.kubernetes.io
 * keys are always in; Kubernetes bookkeeping keys are out; anything else is
 * in.
 */
static bool label_is_security(const struct pol_label *l)
{
	static const char *const include_prefixes[] = {
		POL_LABEL_NAMESPACE, POL_LABEL_NS_LABELS,   "app.kubernetes.io",
		POL_LABEL_CLUSTER,   POL_LABEL_SVC_ACCOUNT,
	};
	static const char *const exclude_prefixes[] = {
		"io.kubernetes",
		"kubernetes.io",
		"statefulset.kubernetes.io/pod-name",
		"apps.kubernetes.io/pod-index",
		"batch.kubernetes.io/job-completion-index",
		"batch.kubernetes.io/controller-uid",
		"k8s.io",
		"pod-template-generation",
		"pod-template-hash",
		"controller-revision-hash",
		"controller-uid",
		"annotation",
		"etcd_node",
		"topology.kubernetes.io",
	};
	size_t i;

	if (!strcmp(l->source, POL_SOURCE_RESERVED) || !strcmp(l->source, POL_SOURCE_CIDR))
		return true;
	for (i = 0; i < sizeof(include_prefixes) / sizeof(include_prefixes[0]); i++)
		if (has_prefix(l->key, include_prefixes[i]))
			return true;
	if (strstr(l->key, "beta.kubernetes.io"))
		return false;
	for (i = 0; i < sizeof(exclude_prefixes) / sizeof(exclude_prefixes[0]); i++)
		if (has_prefix(l->key, exclude_prefixes[i]))
			return false;
	return true;
}

int pol_labels_security(struct pol_labels *dst, const struct pol_labels *src)
{
	size_t i;

	for (i = 0; i < src->n; i++) {
		if (!label_is_security(&src->v[i]))
			continue;
		if (pol_labels_set(dst, src->v[i].source, src->v[i].key, src->v[i].value)) {
			pol_labels_free(dst);
			return -ENOMEM;
		}
	}
	return 0;
}

int pol_labels_cmp(const struct pol_labels *a, const struct pol_labels *b)
{
	size_t i;
	int c;

	for (i = 0; i < a->n && i < b->n; i++) {
		c = strcmp(a->v[i].key, b->v[i].key);
		if (!c)
			c = strcmp(a->v[i].source, b->v[i].source);
		if (!c)
			c = strcmp(a->v[i].value, b->v[i].value);
		if (c)
			return c;
	}
	return (a->n > b->n) - (a->n < b->n);
}

static unsigned long long fnv1a(unsigned long long h, const char *s)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return (h ^ 0xff) * 0x100000001b3ULL;
}

unsigned long long pol_labels_hash(const struct pol_labels *ls)
{
	unsigned long long h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < ls->n; i++) {
		h = fnv1a(h, ls->v[i].source);
		h = fnv1a(h, ls->v[i].key);
		h = fnv1a(h, ls->v[i].value);
	}
	return h;
}

void pol_label_format(const struct pol_label *l, struct strbuf *sb)
{
	strbuf_printf(sb, "%s:%s", l->source, l->key);
	if (l->value[0])
		strbuf_printf(sb, "=%s", l->value);
}

void pol_labels_format(const struct pol_labels *ls, const char *sep, struct strbuf *sb)
{
	size_t i;

	for (i = 0; i < ls->n; i++) {
		if (i)
			strbuf_puts(sb, sep);
		pol_label_format(&ls->v[i], sb);
	}
}

void pol_labels_free(struct pol_labels *ls)
{
	size_t i;

	if (!ls)
		return;
	for (i = 0; i < ls->n; i++)
		pol_label_free(&ls->v[i]);
	free(ls->v);
	ls->v = NULL;
	ls->n = ls->cap = 0;
}
