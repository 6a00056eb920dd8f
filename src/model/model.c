/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's model: endpoints, identities, ipcache, CIDR identities and the
 * policy engine kept consistent with each other.
 */
#include "model/model.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity/peer.h"
#include "lib/hmap.h"
#include "lib/vec.h"
#include "policy/parse.h"

struct cidr_ref {
	struct hnode node; /* in model.cidrs, by prefix */
	struct pol_prefix p;
	uint32_t identity;
	unsigned refs; /* uses by loaded policies (a prefix given twice counts twice) */
};

struct model {
	struct id_alloc *ids;
	struct ipcache *ipc;
	struct pol_engine *eng;
	VEC(struct model_ep *) eps; /* sorted by id */
	VEC(struct model_ns *) nss; /* sorted by name */
	struct hmap cidrs;	    /* struct cidr_ref: the CIDR identities policies use */
};

struct model *model__new(void)
{
	struct model *m = calloc(1, sizeof(*m));
	const struct id_entry **all;
	long n, i;

	if (!m)
		return NULL;
	m->ids = id_alloc__new();
	m->ipc = ipcache__new();
	m->eng = pol_engine__new();
	if (!m->ids || !m->ipc || !m->eng)
		goto err_free;
	/* the engine knows the reserved identities from the start */
	n = id_alloc_list(m->ids, &all);
	if (n < 0)
		goto err_free;
	for (i = 0; i < n; i++) {
		if (pol_engine_identity_add(m->eng, all[i]->id, &all[i]->labels, NULL)) {
			free(all);
			goto err_free;
		}
	}
	free(all);
	return m;

err_free:
	model__free(m);
	errno = ENOMEM;
	return NULL;
}

static void ep_free(struct model_ep *ep)
{
	size_t i;

	if (!ep)
		return;
	free(ep->name);
	free(ep->ns);
	pol_labels_free(&ep->labels);
	free(ep->ips);
	for (i = 0; i < ep->nports; i++)
		free((char *)ep->ports[i].name);
	free(ep->ports);
	free(ep);
}

static void ns_free(struct model_ns *n)
{
	if (!n)
		return;
	free(n->name);
	pol_labels_free(&n->labels);
	free(n);
}

void model__free(struct model *m)
{
	struct hnode *it, *nx;
	size_t i, b;

	if (!m)
		return;
	pol_engine__free(m->eng);
	for (i = 0; i < m->eps.n; i++)
		ep_free(m->eps.v[i]);
	vec_free(&m->eps);
	for (i = 0; i < m->nss.n; i++)
		ns_free(m->nss.v[i]);
	vec_free(&m->nss);
	hmap_for_each_safe(&m->cidrs, b, it, nx) free(container_of(it, struct cidr_ref, node));
	hmap_destroy(&m->cidrs);
	ipcache__free(m->ipc);
	id_alloc__free(m->ids);
	free(m);
}

struct pol_engine *model_engine(const struct model *m)
{
	return m->eng;
}

struct id_alloc *model_ids(const struct model *m)
{
	return m->ids;
}

struct ipcache *model_ipcache(const struct model *m)
{
	return m->ipc;
}

const struct model_ep *model_endpoint(const struct model *m, const char *name)
{
	size_t i;

	for (i = 0; i < m->eps.n; i++)
		if (!strcmp(m->eps.v[i]->name, name))
			return m->eps.v[i];
	return NULL;
}

const struct model_ep *model_endpoint_by_id(const struct model *m, uint32_t id)
{
	size_t i;

	for (i = 0; i < m->eps.n; i++)
		if (m->eps.v[i]->id == id)
			return m->eps.v[i];
	return NULL;
}

size_t model_endpoints(const struct model *m, const struct model_ep *const **out)
{
	*out = (const struct model_ep *const *)m->eps.v;
	return m->eps.n;
}

/* Index of namespace name in m->nss, or of its insertion point; *found set. */
static size_t ns_search(const struct model *m, const char *name, bool *found)
{
	size_t lo = 0, hi = m->nss.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, m->nss.v[mid]->name);

		if (!c) {
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

const struct model_ns *model_namespace(const struct model *m, const char *ns)
{
	bool found;
	size_t i = ns_search(m, ns, &found);

	return found ? m->nss.v[i] : NULL;
}

size_t model_namespaces(const struct model *m, const struct model_ns *const **out)
{
	*out = (const struct model_ns *const *)m->nss.v;
	return m->nss.n;
}

size_t model_namespace_endpoints(const struct model *m, const char *ns)
{
	size_t i, n = 0;

	for (i = 0; i < m->eps.n; i++)
		n += !strcmp(m->eps.v[i]->ns, ns);
	return n;
}

/* Namespace name, made (without labels) if unknown; *created says so. NULL: -ENOMEM. */
static struct model_ns *ns_get(struct model *m, const char *name, bool *created)
{
	bool found;
	size_t at = ns_search(m, name, &found);
	struct model_ns *n;

	*created = false;
	if (found)
		return m->nss.v[at];
	n = calloc(1, sizeof(*n));
	if (!n || !(n->name = strdup(name)) || vec_reserve(&m->nss, m->nss.n + 1)) {
		ns_free(n);
		return NULL;
	}
	memmove(&m->nss.v[at + 1], &m->nss.v[at], (m->nss.n - at) * sizeof(*m->nss.v));
	m->nss.v[at] = n;
	m->nss.n++;
	*created = true;
	return n;
}

static void ns_drop(struct model *m, const char *name)
{
	bool found;
	size_t at = ns_search(m, name, &found);

	if (!found)
		return;
	ns_free(m->nss.v[at]);
	memmove(&m->nss.v[at], &m->nss.v[at + 1], (m->nss.n - at - 1) * sizeof(*m->nss.v));
	m->nss.n--;
}

static bool reserved_key(const char *key)
{
	return !strcmp(key, POL_LABEL_NAMESPACE) || !strcmp(key, POL_LABEL_CLUSTER) ||
	       !strncmp(key, POL_LABEL_NS_LABELS, strlen(POL_LABEL_NS_LABELS));
}

/* The labels velum derives from the namespace (ns, its labels nsl, or NULL) into *out. */
static int add_derived(struct pol_labels *out, const char *ns, const struct pol_labels *nsl)
{
	char key[512];
	size_t i;
	int err = pol_labels_set(out, POL_SOURCE_K8S, POL_LABEL_NAMESPACE, ns);

	if (!err)
		err = pol_labels_set(out, POL_SOURCE_K8S, POL_LABEL_CLUSTER, POL_CLUSTER_NAME);
	if (!err)
		err = pol_labels_set(out, POL_SOURCE_K8S, POL_LABEL_NS_LABELS MODEL_NS_NAME_LABEL,
				     ns);
	for (i = 0; nsl && i < nsl->n && !err; i++) {
		/* keys are at most 317 bytes (Kubernetes' 253 prefix + '/' + 63 name) */
		snprintf(key, sizeof(key), "%s%s", POL_LABEL_NS_LABELS, nsl->v[i].key);
		err = pol_labels_set(out, POL_SOURCE_K8S, key, nsl->v[i].value);
	}
	return err;
}

struct parsed_label {
	struct pol_label l;
	size_t i; /* position in the request */
};

static int parsed_cmp(const void *pa, const void *pb)
{
	const struct parsed_label *a = pa, *b = pb;
	int c = strcmp(a->l.key, b->l.key);

	return c ? c : (a->i > b->i) - (a->i < b->i);
}

/*
 * User labels plus the derived ones into *out. Parsed into an array and
 * sorted once (a label set inserts in order: n labels in random order would
 * move O(n^2) bytes), so a request's labels cost O(n log n).
 */
static int build_labels(const char *ns, const struct pol_labels *nsl, const char *const *labels,
			size_t n, struct pol_labels *out, struct errbuf *eb)
{
	struct parsed_label *v;
	size_t i, nv = 0, dup = n, bad;
	int err = 0;

	/*
	 * Labels not known yet (a runtime's container before it says them):
	 * Cilium's init identity, without the namespace's labels.
	 */
	if (n == 1 && !strcmp(labels[0], MODEL_LABEL_INIT))
		return pol_labels_set(out, POL_SOURCE_RESERVED, "init", "");
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < n && !err; i++) {
		struct pol_label l;

		/* next to real labels it means nothing: `velum endpoint label` adds to it */
		if (!strcmp(labels[i], MODEL_LABEL_INIT))
			continue;

		err = pol_label_parse(labels[i], POL_SOURCE_K8S, &l, eb);
		if (err) {
			errbuf_prefix(eb, "label " ERRBUF_Q ": ", ERRBUF_QARG(labels[i]));
			break;
		}
		if (!strcmp(l.source, POL_SOURCE_RESERVED) || reserved_key(l.key)) {
			err = errbuf_set(eb, -EINVAL,
					 "label '%s': %s labels are set by velum, not by endpoints",
					 labels[i],
					 strcmp(l.source, POL_SOURCE_RESERVED) ?
						 "namespace and cluster" :
						 "reserved");
			pol_label_free(&l);
			break;
		}
		v[nv].l = l;
		v[nv++].i = i;
	}
	bad = err ? i : n; /* the first refused label */
	qsort(v, nv, sizeof(*v), parsed_cmp);
	/* one value per key, whatever the source (as Cilium's labels): the first repeat named */
	for (i = 1; i < nv; i++)
		if (!strcmp(v[i].l.key, v[i - 1].l.key) && (dup == n || v[i].i < v[dup].i))
			dup = i;
	if (dup != n && v[dup].i < bad)
		err = errbuf_set(eb, -EINVAL, "label " ERRBUF_Q ": key " ERRBUF_Q " is given twice",
				 ERRBUF_QARG(labels[v[dup].i]), ERRBUF_QARG(v[dup].l.key));
	for (i = 0; i < nv && !err; i++)
		err = pol_labels_set(out, v[i].l.source, v[i].l.key, v[i].l.value);
	for (i = 0; i < nv; i++)
		pol_label_free(&v[i].l);
	free(v);
	if (!err)
		err = add_derived(out, ns, nsl);
	if (err)
		pol_labels_free(out);
	return err;
}

/* Takes a reference on the identity of labels and makes sure the engine knows it. */
static int identity_get(struct model *m, const struct pol_labels *labels, uint32_t *id)
{
	const struct id_entry *ie;
	bool created;
	int err = id_alloc_acquire(m->ids, labels, id, &created);

	if (err || !created)
		return err;
	ie = id_alloc_get(m->ids, *id);
	err = pol_engine_identity_add(m->eng, *id, &ie->labels, NULL);
	if (err)
		id_alloc_release(m->ids, *id, NULL);
	return err;
}

static void identity_put(struct model *m, uint32_t id)
{
	bool freed;

	if (!id_alloc_release(m->ids, id, &freed) && freed)
		pol_engine_identity_remove(m->eng, id);
}

static bool ip_taken(const struct model *m, uint32_t ip)
{
	size_t i, j;

	for (i = 0; i < m->eps.n; i++)
		for (j = 0; j < m->eps.v[i]->nips; j++)
			if (m->eps.v[i]->ips[j] == ip)
				return true;
	return false;
}

/* Named ports: valid names (as Kubernetes' container ports), each name once. */
static int check_ports(const struct pol_named_port *ports, size_t n, struct errbuf *eb)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		if (!pol_port_name_valid(ports[i].name))
			return errbuf_set(eb, -EINVAL,
					  "port name " ERRBUF_Q
					  ": expected 1-15 lower-case letters, "
					  "digits and '-' (at least one letter, no '--', not "
					  "starting or ending with '-')",
					  ERRBUF_QARG(ports[i].name));
		for (j = 0; j < i; j++)
			if (!strcmp(ports[i].name, ports[j].name))
				return errbuf_set(
					eb, -EINVAL,
					"port name " ERRBUF_Q " is given twice (ports %u and %u)",
					ERRBUF_QARG(ports[i].name), ports[j].port, ports[i].port);
	}
	return 0;
}

int model_endpoint_add(struct model *m, uint32_t id, const char *name, const char *ns,
		       const char *const *labels, size_t nlabels, const uint32_t *ips, size_t nips,
		       const struct pol_named_port *ports, size_t nports, bool audit,
		       const struct model_ep **out, struct errbuf *eb)
{
	struct model_ep *ep;
	struct model_ns *nsobj;
	bool ns_created = false;
	size_t i, at;
	int err;

	if (model_endpoint(m, name))
		return errbuf_set(eb, -EEXIST, "endpoint '%s' already exists", name);
	for (i = 0; i < nips; i++) {
		char a[INET_ADDRSTRLEN];

		if (ip_taken(m, ips[i])) {
			inet_ntop(AF_INET, &ips[i], a, sizeof(a));
			return errbuf_set(eb, -EEXIST, "address %s already belongs to an endpoint",
					  a);
		}
	}
	if (id && model_endpoint_by_id(m, id))
		return errbuf_set(eb, -EEXIST, "endpoint id %u is taken", id);
	err = check_ports(ports, nports, eb);
	if (err)
		return err;
	if (!id) {
		/* lowest free id: eps is sorted by id */
		for (id = 1, i = 0; i < m->eps.n && m->eps.v[i]->id == id; i++)
			id++;
	}
	ep = calloc(1, sizeof(*ep));
	if (!ep)
		return -ENOMEM;
	ep->id = id;
	ep->audit = audit;
	ep->name = strdup(name);
	ep->ns = strdup(ns);
	if (!ep->name || !ep->ns)
		goto err_nomem;
	nsobj = ns_get(m, ns, &ns_created);
	if (!nsobj)
		goto err_nomem;
	err = build_labels(ns, &nsobj->labels, labels, nlabels, &ep->labels, eb);
	if (err)
		goto err_free;
	if (nips) {
		ep->ips = malloc(nips * sizeof(*ep->ips));
		if (!ep->ips)
			goto err_nomem;
		memcpy(ep->ips, ips, nips * sizeof(*ips));
		ep->nips = nips;
	}
	if (nports) {
		ep->ports = calloc(nports, sizeof(*ep->ports));
		if (!ep->ports)
			goto err_nomem;
		for (i = 0; i < nports; i++) {
			ep->ports[i] = ports[i];
			ep->ports[i].name = strdup(ports[i].name);
			if (!ep->ports[i].name)
				goto err_nomem;
			ep->nports = i + 1;
		}
	}
	err = identity_get(m, &ep->labels, &ep->identity);
	if (err)
		goto err_free;
	err = pol_engine_endpoint_set(m->eng, ep->id, ep->identity, ep->ports, ep->nports, audit);
	if (err)
		goto err_identity;
	for (i = 0; i < nips; i++) {
		struct pol_prefix p = pol_prefix_v4(ips[i], 32);

		err = ipcache_upsert(m->ipc, &p, ep->identity);
		if (err)
			goto err_ipcache;
	}
	for (at = 0; at < m->eps.n && m->eps.v[at]->id < id; at++)
		;
	err = vec_reserve(&m->eps, m->eps.n + 1);
	if (err)
		goto err_ipcache;
	memmove(&m->eps.v[at + 1], &m->eps.v[at], (m->eps.n - at) * sizeof(*m->eps.v));
	m->eps.v[at] = ep;
	m->eps.n++;
	if (out)
		*out = ep;
	return 0;

err_ipcache:
	for (i = 0; i < nips; i++) {
		struct pol_prefix p = pol_prefix_v4(ips[i], 32);

		ipcache_delete(m->ipc, &p);
	}
	pol_engine_endpoint_remove(m->eng, ep->id);
err_identity:
	identity_put(m, ep->identity);
err_free:
	if (ns_created)
		ns_drop(m, ns);
	ep_free(ep);
	return err;
err_nomem:
	if (ns_created)
		ns_drop(m, ns);
	ep_free(ep);
	return -ENOMEM;
}

static const struct pol_labels *ns_labels(const struct model *m, const char *ns)
{
	const struct model_ns *n = model_namespace(m, ns);

	return n ? &n->labels : NULL;
}

static struct model_ep *ep_find(struct model *m, const char *name, size_t *idx)
{
	size_t i;

	for (i = 0; i < m->eps.n; i++) {
		if (!strcmp(m->eps.v[i]->name, name)) {
			if (idx)
				*idx = i;
			return m->eps.v[i];
		}
	}
	return NULL;
}

int model_endpoint_relabel(struct model *m, const char *name, const char *const *labels,
			   size_t nlabels, struct errbuf *eb)
{
	struct model_ep *ep = ep_find(m, name, NULL);
	struct pol_labels nl = { 0 };
	uint32_t nid;
	size_t i;
	int err;

	if (!ep)
		return errbuf_set(eb, -ENOENT, "no endpoint '%s'", name);
	err = build_labels(ep->ns, ns_labels(m, ep->ns), labels, nlabels, &nl, eb);
	if (err)
		return err;
	err = identity_get(m, &nl, &nid);
	if (!err)
		err = pol_engine_endpoint_set(m->eng, ep->id, nid, ep->ports, ep->nports,
					      ep->audit);
	if (err) {
		pol_labels_free(&nl);
		return err;
	}
	for (i = 0; i < ep->nips; i++) {
		struct pol_prefix p = pol_prefix_v4(ep->ips[i], 32);

		ipcache_upsert(m->ipc, &p, nid); /* replaces in place: cannot fail */
	}
	identity_put(m, ep->identity);
	ep->identity = nid;
	pol_labels_free(&ep->labels);
	ep->labels = nl;
	return 0;
}

/* A namespace name as Kubernetes takes it: an RFC 1123 label. */
static int ns_name_check(const char *ns, struct errbuf *eb)
{
	size_t i, len = strlen(ns);

	for (i = 0; i < len; i++)
		if (!((ns[i] >= 'a' && ns[i] <= 'z') || (ns[i] >= '0' && ns[i] <= '9') ||
		      ns[i] == '-'))
			break;
	if (!len || len > 63 || i < len || ns[0] == '-' || ns[len - 1] == '-')
		return errbuf_set(eb, -EINVAL,
				  "namespace name " ERRBUF_Q
				  ": expected 1-63 lower-case letters, digits and '-', "
				  "starting and ending with a letter or digit",
				  ERRBUF_QARG(ns));
	return 0;
}

/* "key=value" strings into *out (k8s source); refuses repeated keys and the name label. */
static int ns_parse_labels(const char *ns, const char *const *labels, size_t n,
			   struct pol_labels *out, struct errbuf *eb)
{
	size_t i;
	int err = 0;

	for (i = 0; i < n && !err; i++) {
		const char *eq = strchr(labels[i], '=');
		size_t klen = eq ? (size_t)(eq - labels[i]) : strlen(labels[i]);
		const char *value = eq ? eq + 1 : "";
		char *key = strndup(labels[i], klen);

		if (!key)
			return -ENOMEM;
		if (strchr(key, ':'))
			err = errbuf_set(eb, -EINVAL,
					 "label " ERRBUF_Q
					 ": a namespace label has no source, only key=value",
					 ERRBUF_QARG(labels[i]));
		if (!err && (err = pol_label_key_check(key, eb)))
			errbuf_prefix(eb, "label " ERRBUF_Q ": ", ERRBUF_QARG(labels[i]));
		if (!err && (err = pol_label_value_check(value, eb)))
			errbuf_prefix(eb, "label " ERRBUF_Q ": ", ERRBUF_QARG(labels[i]));
		if (!err && pol_labels_find(out, POL_SOURCE_K8S, key))
			err = errbuf_set(eb, -EINVAL,
					 "label " ERRBUF_Q ": key " ERRBUF_Q " is given twice",
					 ERRBUF_QARG(labels[i]), ERRBUF_QARG(key));
		if (!err && !strcmp(key, MODEL_NS_NAME_LABEL)) {
			/* Kubernetes sets it to the name; a manifest may repeat it */
			if (strcmp(value, ns))
				err = errbuf_set(eb, -EINVAL,
						 "label " ERRBUF_Q ": " MODEL_NS_NAME_LABEL
						 " is the namespace's name ('%s'), set by velum",
						 ERRBUF_QARG(labels[i]), ns);
		} else if (!err) {
			err = pol_labels_set(out, POL_SOURCE_K8S, key, value);
		}
		free(key);
	}
	if (err)
		pol_labels_free(out);
	return err;
}

/* ep's labels with its namespace's labels replaced by nsl, into *out. */
static int relabel_ns(const struct model_ep *ep, const struct pol_labels *nsl,
		      struct pol_labels *out)
{
	size_t i;
	int err = 0;

	for (i = 0; i < ep->labels.n && !err; i++)
		if (!reserved_key(ep->labels.v[i].key))
			err = pol_labels_set(out, ep->labels.v[i].source, ep->labels.v[i].key,
					     ep->labels.v[i].value);
	if (!err)
		err = add_derived(out, ep->ns, nsl);
	if (err)
		pol_labels_free(out);
	return err;
}

int model_namespace_relabel(struct model *m, const char *ns, const char *const *labels,
			    size_t nlabels, struct errbuf *eb)
{
	struct pol_labels nsl = { 0 };
	int err;

	err = model_namespace(m, ns) ? 0 : ns_name_check(ns, eb);
	if (!err)
		err = ns_parse_labels(ns, labels, nlabels, &nsl, eb);
	if (!err)
		err = model_namespace_set(m, ns, &nsl, eb);
	pol_labels_free(&nsl);
	return err;
}

int model_namespace_set(struct model *m, const char *ns, const struct pol_labels *labels,
			struct errbuf *eb)
{
	struct pol_labels nsl = { 0 }, *sets = NULL;
	struct model_ns *n;
	struct model_ep **eps = NULL;
	uint32_t *ids = NULL;
	size_t i, k, ne = 0, got = 0, set = 0;
	bool created;
	int err;

	err = model_namespace(m, ns) ? 0 : ns_name_check(ns, eb);
	if (!err)
		err = pol_labels_copy(&nsl, labels);
	if (err)
		return err;
	n = ns_get(m, ns, &created);
	eps = calloc(m->eps.n + 1, sizeof(*eps));
	sets = calloc(m->eps.n + 1, sizeof(*sets));
	ids = calloc(m->eps.n + 1, sizeof(*ids));
	if (!n || !eps || !sets || !ids) {
		err = -ENOMEM;
		goto out;
	}
	/* endpoints still on the init identity have no namespace labels yet */
	for (i = 0; i < m->eps.n; i++)
		if (!strcmp(m->eps.v[i]->ns, ns) &&
		    !pol_labels_find(&m->eps.v[i]->labels, POL_SOURCE_RESERVED, "init"))
			eps[ne++] = m->eps.v[i];
	/* every new label set and identity first: an error changes nothing */
	for (got = 0; got < ne; got++) {
		err = relabel_ns(eps[got], &nsl, &sets[got]);
		if (!err)
			err = identity_get(m, &sets[got], &ids[got]);
		if (err) {
			pol_labels_free(&sets[got]);
			goto out;
		}
	}
	for (set = 0; set < ne; set++) {
		err = pol_engine_endpoint_set(m->eng, eps[set]->id, ids[set], eps[set]->ports,
					      eps[set]->nports, eps[set]->audit);
		if (err)
			goto out;
	}
	for (i = 0; i < ne; i++) {
		struct pol_labels tmp = eps[i]->labels;
		uint32_t old = eps[i]->identity;

		for (k = 0; k < eps[i]->nips; k++) {
			struct pol_prefix p = pol_prefix_v4(eps[i]->ips[k], 32);

			ipcache_upsert(m->ipc, &p, ids[i]); /* replaces in place: cannot fail */
		}
		eps[i]->labels = sets[i];
		eps[i]->identity = ids[i];
		/* what `out` releases: the old labels and identity */
		sets[i] = tmp;
		ids[i] = old;
	}
	pol_labels_free(&n->labels);
	n->labels = nsl;
	nsl = (struct pol_labels){ 0 };
	created = false;
	set = 0;
out:
	/* an engine error: back to the old identities (their states are still there) */
	while (set-- > 0)
		pol_engine_endpoint_set(m->eng, eps[set]->id, eps[set]->identity, eps[set]->ports,
					eps[set]->nports, eps[set]->audit);
	for (i = 0; i < got; i++) {
		identity_put(m, ids[i]);
		pol_labels_free(&sets[i]);
	}
	if (created)
		ns_drop(m, ns);
	pol_labels_free(&nsl);
	free(ids);
	free(sets);
	free(eps);
	return err;
}

int model_namespace_remove(struct model *m, const char *ns, struct errbuf *eb)
{
	size_t n;

	if (!model_namespace(m, ns))
		return errbuf_set(eb, -ENOENT, "no namespace '%s'", ns);
	n = model_namespace_endpoints(m, ns);
	if (n)
		return errbuf_set(eb, -EBUSY,
				  "namespace '%s' has %zu endpoint(s): delete them first", ns, n);
	ns_drop(m, ns);
	return 0;
}

int model_endpoint_set_audit(struct model *m, const char *name, bool audit)
{
	struct model_ep *ep = ep_find(m, name, NULL);
	int err;

	if (!ep)
		return -ENOENT;
	err = pol_engine_endpoint_set(m->eng, ep->id, ep->identity, ep->ports, ep->nports, audit);
	if (!err)
		ep->audit = audit;
	return err;
}

int model_endpoint_remove(struct model *m, const char *name)
{
	size_t idx, i;
	struct model_ep *ep = ep_find(m, name, &idx);

	if (!ep)
		return -ENOENT;
	for (i = 0; i < ep->nips; i++) {
		struct pol_prefix p = pol_prefix_v4(ep->ips[i], 32);

		ipcache_delete(m->ipc, &p);
	}
	pol_engine_endpoint_remove(m->eng, ep->id);
	identity_put(m, ep->identity);
	memmove(&m->eps.v[idx], &m->eps.v[idx + 1], (m->eps.n - idx - 1) * sizeof(*m->eps.v));
	m->eps.n--;
	ep_free(ep);
	return 0;
}

int model_endpoint_set_ips(struct model *m, const char *name, const uint32_t *ips, size_t nips,
			   struct errbuf *eb)
{
	struct model_ep *ep = ep_find(m, name, NULL);
	uint32_t *nv = NULL;
	size_t i, j;

	if (!ep)
		return errbuf_set(eb, -ENOENT, "no endpoint '%s'", name);
	for (i = 0; i < nips; i++) {
		const struct model_ep *owner = model_endpoint_by_ip(m, ips[i]);
		char a[INET_ADDRSTRLEN];

		if (owner && owner != ep) {
			inet_ntop(AF_INET, &ips[i], a, sizeof(a));
			return errbuf_set(eb, -EEXIST, "address %s already belongs to an endpoint",
					  a);
		}
	}
	if (nips) {
		nv = malloc(nips * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		memcpy(nv, ips, nips * sizeof(*nv));
	}
	/* new entries first: an upsert can fail, a delete cannot */
	for (i = 0; i < nips; i++) {
		struct pol_prefix p = pol_prefix_v4(ips[i], 32);
		int err = ipcache_upsert(m->ipc, &p, ep->identity);

		if (err) {
			for (j = 0; j < i; j++) {
				bool old = false;
				size_t k;

				for (k = 0; k < ep->nips; k++)
					old |= ep->ips[k] == ips[j];
				p = pol_prefix_v4(ips[j], 32);
				if (!old)
					ipcache_delete(m->ipc, &p);
			}
			free(nv);
			return err;
		}
	}
	for (i = 0; i < ep->nips; i++) {
		bool kept = false;

		for (j = 0; j < nips; j++)
			kept |= ips[j] == ep->ips[i];
		if (!kept) {
			struct pol_prefix p = pol_prefix_v4(ep->ips[i], 32);

			ipcache_delete(m->ipc, &p);
		}
	}
	free(ep->ips);
	ep->ips = nv;
	ep->nips = nips;
	return 0;
}

const struct model_ep *model_endpoint_by_ip(const struct model *m, uint32_t ip)
{
	size_t i, j;

	for (i = 0; i < m->eps.n; i++)
		for (j = 0; j < m->eps.v[i]->nips; j++)
			if (m->eps.v[i]->ips[j] == ip)
				return m->eps.v[i];
	return NULL;
}

int model_identity_restore(struct model *m, uint32_t id, const struct pol_labels *labels)
{
	const struct id_entry *ie;
	int err = id_alloc_restore(m->ids, id, labels);

	if (err)
		return err;
	ie = id_alloc_get(m->ids, id);
	err = pol_engine_identity_add(m->eng, id, &ie->labels, NULL);
	if (err)
		id_alloc_release(m->ids, id, NULL);
	return err;
}

int model_identity_release(struct model *m, uint32_t id)
{
	bool freed;
	int err = id_alloc_release(m->ids, id, &freed);

	if (!err && freed)
		pol_engine_identity_remove(m->eng, id);
	return err;
}

/* ---- CIDR identities ---------------------------------------------------------- */

static uint64_t cidr_hash(const struct pol_prefix *p)
{
	return hash_bytes(p, sizeof(*p), 23);
}

static struct cidr_ref *cidr_find(const struct model *m, const struct pol_prefix *p)
{
	struct hnode *it;

	hmap_for_each_hash(&m->cidrs, cidr_hash(p), it)
	{
		struct cidr_ref *r = container_of(it, struct cidr_ref, node);

		if (pol_prefix_eq(&r->p, p))
			return r;
	}
	return NULL;
}

/* One more use of prefix p: its identity and ipcache entry are made on the first. */
static int cidr_get(void *ctx, const struct pol_prefix *p)
{
	struct model *m = ctx;
	struct cidr_ref *r = cidr_find(m, p);
	const struct id_entry *ie;
	int err;

	if (r) {
		r->refs++;
		return 0;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->p = *p;
	r->refs = 1;
	err = id_alloc_acquire_cidr(m->ids, p, &r->identity, NULL);
	if (err)
		goto err_free;
	ie = id_alloc_get(m->ids, r->identity);
	err = pol_engine_identity_add(m->eng, r->identity, &ie->labels, p);
	if (err)
		goto err_release;
	err = ipcache_upsert(m->ipc, p, r->identity);
	if (!err)
		err = hmap_insert(&m->cidrs, &r->node, cidr_hash(p));
	if (!err)
		return 0;
	ipcache_delete(m->ipc, p);
	pol_engine_identity_remove(m->eng, r->identity);
err_release:
	id_alloc_release(m->ids, r->identity, NULL);
err_free:
	free(r);
	return err;
}

/* One use of prefix p less: the last one releases its identity and ipcache entry. */
static int cidr_put(void *ctx, const struct pol_prefix *p)
{
	struct model *m = ctx;
	struct cidr_ref *r = cidr_find(m, p);

	if (!r || --r->refs)
		return 0;
	ipcache_delete(m->ipc, &r->p);
	pol_engine_identity_remove(m->eng, r->identity);
	id_alloc_release(m->ids, r->identity, NULL);
	hmap_remove(&m->cidrs, &r->node);
	free(r);
	return 0;
}

/* ---- capacity planning ---------------------------------------------------------- */

struct plan_prefix {
	struct hnode node;
	struct pol_prefix p;
};

struct plan_key {
	struct hnode node;
	const struct pol_policy *p;
};

struct plan_ctx {
	struct hmap seen;
	struct plan_prefix *v; /* preallocated: one per prefix counted */
	size_t n, cap;
	size_t n4, n6;
};

static uint64_t key_hash(enum pol_kind kind, const char *ns, const char *name)
{
	uint64_t h = hash_bytes(name, strlen(name), kind);

	return hash_bytes(ns ? ns : "", ns ? strlen(ns) : 0, h);
}

static bool same_policy_key(const struct pol_policy *a, const struct pol_policy *b)
{
	return a->kind == b->kind && !strcmp(a->name, b->name) &&
	       !strcmp(a->namespace ? a->namespace : "", b->namespace ? b->namespace : "");
}

static int plan_count(void *ctx, const struct pol_prefix *p)
{
	size_t *n = ctx;

	(void)p;
	(*n)++;
	return 0;
}

static int plan_add(void *ctx, const struct pol_prefix *p)
{
	struct plan_ctx *c = ctx;
	uint64_t h = cidr_hash(p);
	struct hnode *it;

	hmap_for_each_hash(&c->seen, h, it)
	{
		if (pol_prefix_eq(&container_of(it, struct plan_prefix, node)->p, p))
			return 0;
	}
	if (c->n == c->cap)
		return -EOVERFLOW; /* cannot happen: counted first */
	c->v[c->n].p = *p;
	if (hmap_insert(&c->seen, &c->v[c->n].node, h))
		return -ENOMEM;
	c->n++;
	if (p->family == 4)
		c->n4++;
	else
		c->n6++;
	return 0;
}

int model_cidr_plan(struct model *m, const struct pol_set *add,
		    bool (*gone)(void *ctx, const struct pol_policy *p), void *ctx, size_t *n4,
		    size_t *n6)
{
	const struct pol_policy *const *ps;
	size_t np = pol_engine_policies(m->eng, &ps), i, total = 0;
	struct plan_key *keys = calloc(add->n ? add->n : 1, sizeof(*keys));
	bool *stay = calloc(np ? np : 1, sizeof(*stay));
	struct plan_ctx c = { 0 };
	struct hmap added = { 0 };
	int err = keys && stay && ps ? 0 : -ENOMEM;

	for (i = 0; !err && i < add->n; i++) {
		keys[i].p = add->v[i];
		err = hmap_insert(&added, &keys[i].node,
				  key_hash(add->v[i]->kind, add->v[i]->namespace, add->v[i]->name));
	}
	/* loaded policies that stay: not replaced by one of add, not gone */
	for (i = 0; !err && i < np; i++) {
		uint64_t h = key_hash(ps[i]->kind, ps[i]->namespace, ps[i]->name);
		struct hnode *it;
		bool replaced = false;

		hmap_for_each_hash(&added, h, it)
		{
			replaced |=
				same_policy_key(container_of(it, struct plan_key, node)->p, ps[i]);
		}
		stay[i] = !replaced && !(gone && gone(ctx, ps[i]));
	}
	for (i = 0; !err && i < np; i++)
		if (stay[i])
			pol_policy_foreach_cidr(ps[i], plan_count, &total);
	for (i = 0; !err && i < add->n; i++)
		pol_policy_foreach_cidr(add->v[i], plan_count, &total);
	c.v = err ? NULL : calloc(total ? total : 1, sizeof(*c.v));
	c.cap = total;
	if (!c.v)
		err = -ENOMEM;
	for (i = 0; !err && i < np; i++)
		if (stay[i])
			err = pol_policy_foreach_cidr(ps[i], plan_add, &c);
	for (i = 0; !err && i < add->n; i++)
		err = pol_policy_foreach_cidr(add->v[i], plan_add, &c);
	*n4 = c.n4;
	*n6 = c.n6;
	hmap_destroy(&c.seen);
	hmap_destroy(&added);
	free(c.v);
	free(keys);
	free(stay);
	return err;
}

int model_policies_load(struct model *m, struct pol_set *set)
{
	size_t i;
	int err = 0;

	/*
	 * Identities first, so that selectors see the CIDR identities when
	 * interned; the prefixes of a replaced policy are released after the new
	 * one's are taken, so shared ones stay. Each policy costs its own
	 * prefixes only: loading or deleting n policies is O(n).
	 */
	for (i = 0; i < set->n && !err; i++)
		err = pol_policy_foreach_cidr(set->v[i], cidr_get, m);
	for (i = 0; i < set->n; i++) {
		const struct pol_policy *old;

		if (err) {
			pol_policy_free(set->v[i]);
			continue;
		}
		old = pol_engine_policy(m->eng, set->v[i]->kind, set->v[i]->namespace,
					set->v[i]->name);
		if (old)
			pol_policy_foreach_cidr(old, cidr_put, m);
		err = pol_engine_policy_upsert(m->eng, set->v[i]);
	}
	set->n = 0;
	return err;
}

int model_policy_delete(struct model *m, enum pol_kind kind, const char *ns, const char *name)
{
	const struct pol_policy *p = pol_engine_policy(m->eng, kind, ns, name);

	if (!p)
		return -ENOENT;
	pol_policy_foreach_cidr(p, cidr_put, m);
	return pol_engine_policy_delete(m->eng, kind, ns, name);
}

int model_regenerate(struct model *m, uint32_t **changed, size_t *nchanged)
{
	return pol_engine_regenerate(m->eng, changed, nchanged);
}

/* ---- trace peers ---------------------------------------------------------------- */

static void peer_from_ep(const struct model *m, const struct model_ep *ep,
			 struct pol_trace_peer *out, char *addrbuf)
{
	out->name = ep->name;
	out->identity = ep->identity;
	out->labels = &ep->labels;
	out->state = pol_engine_endpoint_state(m->eng, ep->id);
	out->addr = NULL;
	if (ep->nips && inet_ntop(AF_INET, &ep->ips[0], addrbuf, INET_ADDRSTRLEN))
		out->addr = addrbuf;
}

int model_peer(const struct model *m, const char *spec, struct pol_trace_peer *out, char *addrbuf,
	       struct errbuf *eb)
{
	const struct model_ep *ep = NULL;
	struct id_peer p;
	size_t i, j;
	int err;

	memset(out, 0, sizeof(*out));
	err = id_peer_parse(spec, &p, eb);
	if (err)
		return err;
	switch (p.kind) {
	case ID_PEER_EPID:
		ep = model_endpoint_by_id(m, p.num);
		if (!ep)
			return errbuf_set(eb, -ENOENT, "no endpoint with id %u", p.num);
		break;
	case ID_PEER_NAME:
		ep = model_endpoint(m, p.name);
		break;
	case ID_PEER_IDENTITY: {
		char full[sizeof("default/") + 32];

		/* an endpoint "default/host" takes precedence over the bare word */
		snprintf(full, sizeof(full), "default/%s", spec);
		if (p.word && (ep = model_endpoint(m, full)))
			break;
		/* an identity stands for its endpoints (they share one policy) */
		for (i = 0; i < m->eps.n && !ep; i++)
			if (m->eps.v[i]->identity == p.num)
				ep = m->eps.v[i];
		if (ep)
			break;
		out->labels = pol_engine_identity_labels(m->eng, p.num);
		if (!out->labels && !id_reserved_name(p.num))
			return errbuf_set(eb, -ENOENT, "no identity %u", p.num);
		out->identity = p.num;
		out->name = id_reserved_name(p.num);
		if (!out->name) {
			snprintf(addrbuf, INET_ADDRSTRLEN, "ID:%u", p.num);
			out->name = addrbuf;
		}
		return 0;
	}
	case ID_PEER_ADDR: {
		char a[INET_ADDRSTRLEN];

		if (p.plen != 32)
			return errbuf_set(eb, -EINVAL,
					  "'%s' is a prefix: a trace needs one address", spec);
		inet_ntop(AF_INET, &p.addr, a, sizeof(a));
		for (i = 0; i < m->eps.n; i++)
			for (j = 0; j < m->eps.v[i]->nips; j++)
				if (m->eps.v[i]->ips[j] == p.addr) {
					peer_from_ep(m, m->eps.v[i], out, addrbuf);
					snprintf(addrbuf, INET_ADDRSTRLEN, "%s", a);
					out->addr = addrbuf;
					return 0;
				}
		snprintf(addrbuf, INET_ADDRSTRLEN, "%s", a);
		out->name = addrbuf;
		out->addr = addrbuf;
		out->identity = ipcache_lookup(m->ipc, 4, (const uint8_t *)&p.addr, NULL);
		out->labels = pol_engine_identity_labels(m->eng, out->identity);
		return 0;
	}
	case ID_PEER_LABEL:
		return errbuf_set(
			eb, -EINVAL,
			"'%s' is a label: a trace needs one peer (an endpoint, an endpoint "
			"id, an identity ID:N, host, world or an IPv4 address)",
			spec);
	}
	if (!ep)
		return errbuf_set(eb, -ENOENT,
				  "'%s' is not an endpoint, an endpoint id, an identity (ID:N), "
				  "'host', 'world' or an IPv4 address",
				  spec);
	peer_from_ep(m, ep, out, addrbuf);
	return 0;
}
