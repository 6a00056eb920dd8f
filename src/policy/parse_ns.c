/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kubernetes Namespace object (v1) as it stands among policies in a
 * manifest: its name and labels are what velum uses; annotations, spec and
 * status are accepted and ignored. Labels are checked as Kubernetes does
 * (key and value syntax, string values); kubernetes.io/metadata.name may
 * only repeat the name (the API server sets it so).
 */
#include "policy/parse_internal.h"

#define NS_NAME_LABEL "kubernetes.io/metadata.name"

void pol_namespaces_free(struct pol_set *s, size_t from)
{
	size_t i;

	for (i = from; i < s->nns; i++) {
		free(s->nss[i].name);
		pol_labels_free(&s->nss[i].labels);
	}
	s->nns = from;
	if (!from) {
		free(s->nss);
		s->nss = NULL;
	}
}

void pol_set_namespaces_free(struct pol_set *s)
{
	if (s)
		pol_namespaces_free(s, 0);
}

/* DNS-1123 label: 1-63 of [a-z0-9-], alphanumeric at both ends. */
static bool ns_name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (!n || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

static int dec_labels(struct dctx *c, const struct doc_node *n, const char *name,
		      struct pol_labels *out)
{
	size_t i;
	int err = expect(c, n, DOC_MAP);

	for (i = 0; !err && i < n->map.n; i++) {
		const struct doc_pair *p = &n->map.pairs[i];
		size_t old = path_key(c, p->key);
		struct errbuf leb;

		errbuf_clear(&leb);
		err = expect(c, p->value, DOC_STR);
		if (!err && pol_label_key_check(p->key, &leb))
			err = derr(c, p->line, "%s", leb.msg);
		if (!err && pol_label_value_check(p->value->str.s, &leb))
			err = derr(c, p->value->line, "%s", leb.msg);
		if (!err && !strcmp(p->key, NS_NAME_LABEL) && strcmp(p->value->str.s, name))
			err = derr(c, p->value->line,
				   "must be the namespace's name '%s' (Kubernetes sets it)", name);
		if (!err && strcmp(p->key, NS_NAME_LABEL))
			err = pol_labels_set(out, POL_SOURCE_K8S, p->key, p->value->str.s);
		path_restore(c, old);
	}
	return err;
}

int pol_dec_namespace(struct dctx *c, const struct doc_node *n, struct pol_set *out)
{
	static const struct field fields[] = {
		{ "apiVersion", FLD_OK }, { "kind", FLD_OK },	     { "metadata", FLD_OK },
		{ "spec", FLD_IGNORED },  { "status", FLD_IGNORED }, { NULL },
	};
	static const struct field meta_fields[] = {
		{ "name", FLD_OK },
		{ "labels", FLD_OK },
		{ "annotations", FLD_IGNORED },
		{ "uid", FLD_IGNORED },
		{ "resourceVersion", FLD_IGNORED },
		{ "generation", FLD_IGNORED },
		{ "creationTimestamp", FLD_IGNORED },
		{ "deletionTimestamp", FLD_IGNORED },
		{ "managedFields", FLD_IGNORED },
		{ "selfLink", FLD_IGNORED },
		{ "finalizers", FLD_IGNORED },
		{ "ownerReferences", FLD_IGNORED },
		{ NULL },
	};
	const struct doc_node *api = opt(n, "apiVersion"), *meta, *name, *labels;
	struct pol_namespace ns = { .line = n->line };
	struct pol_namespace *nv;
	size_t old, i;
	int err = check_fields(c, n, fields);

	if (err)
		return err;
	if (!api)
		return derr(c, n->line, "apiVersion is required (v1)");
	if (expect_key(c, api, "apiVersion", DOC_STR))
		return -EINVAL;
	if (strcmp(api->str.s, "v1")) {
		old = path_key(c, "apiVersion");
		err = derr(c, api->line, ERRBUF_Q " is not the apiVersion of Namespace (v1)",
			   ERRBUF_QARG(api->str.s));
		path_restore(c, old);
		return err;
	}
	meta = opt(n, "metadata");
	if (!meta)
		return derr(c, n->line, "metadata is required");
	old = path_key(c, "metadata");
	err = expect_fields(c, meta, meta_fields);
	name = err ? NULL : opt(meta, "name");
	if (!err && !name)
		err = derr(c, meta->line, "name is required");
	if (!err)
		err = expect_key(c, name, "name", DOC_STR);
	if (!err && !ns_name_ok(name->str.s)) {
		path_key(c, "name");
		err = derr(c, name->line,
			   ERRBUF_Q " is not a valid namespace name (1-63 lower-case letters, "
				    "digits and '-', starting and ending with a letter or digit)",
			   ERRBUF_QARG(name->str.s));
		path_restore(c, old);
		path_key(c, "metadata");
	}
	for (i = c->ns_from; !err && i < out->nns; i++)
		if (!strcmp(out->nss[i].name, name->str.s)) {
			path_key(c, "name");
			err = derr(c, name->line,
				   "namespace '%s' is given twice in this file (line %u)",
				   name->str.s, out->nss[i].line);
			path_restore(c, old);
			path_key(c, "metadata");
		}
	labels = err ? NULL : opt(meta, "labels");
	if (labels) {
		size_t o2 = path_key(c, "labels");

		err = dec_labels(c, labels, name->str.s, &ns.labels);
		path_restore(c, o2);
	}
	path_restore(c, old);
	if (!err)
		err = str_dup(&ns.name, name->str.s);
	if (!err) {
		nv = realloc(out->nss, (out->nns + 1) * sizeof(*nv));
		if (!nv) {
			err = -ENOMEM;
		} else {
			out->nss = nv;
			out->nss[out->nns++] = ns;
			return 0;
		}
	}
	free(ns.name);
	pol_labels_free(&ns.labels);
	return err;
}
