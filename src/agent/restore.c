/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Restore: the model rebuilt from the store (identities with their old
 * numbers, namespaces, endpoints, policy files in load order), then the kernel made
 * equal to it. Runs on start and after a change failed half-way. The same
 * load builds the writer's copy of the model (agent_model_load()).
 */
#include "agent/agent_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "lib/log.h"
#include "lib/strbuf.h"
#include "velum/endpoint.h"

/* ---- restore --------------------------------------------------------------------------- */

/* A policy parsed from a stored file, found by its key (hash over key and file id). */
struct stored_pol {
	struct hnode node;
	size_t file, idx;
};

struct stored_file {
	int64_t id;
	char *name;
	struct pol_set set;	 /* taken policies become NULL */
	struct stored_pol *refs; /* one per set entry */
};

/*
 * A CiliumRules policy stored under its file's name whose rules carry name
 * labels (stored before such rules were named by them): the file's policies
 * by those names load in its place, and the store is told (store_renamed).
 */
struct renamed {
	char *old, *imported;
	int64_t file_id;
	bool audit;
	VEC(char *) names;
};

struct load_ctx {
	struct agent *a;
	struct model *m;
	struct errbuf *eb;
	VEC(uint32_t) restored; /* numbers restored: their extra reference is dropped */
	VEC(uint32_t) stored;	/* every identity row */
	VEC(struct agent_epx) epx;
	/* every stored file parsed once, in id order; the set of policies to load in order */
	VEC(struct stored_file) files;
	struct hmap index;
	struct pol_set load;
	uint64_t revision;
	VEC(struct renamed) renamed;
};

static int load_identity(void *ctx, uint32_t id, const char *labels)
{
	struct load_ctx *c = ctx;
	struct pol_labels ls = { 0 };
	json_t *j;
	size_t i;
	int err = vec_push(&c->stored, id);

	if (err)
		return err;
	j = json_loads(labels, 0, NULL);
	if (!json_is_array(j)) {
		json_decref(j);
		pr_warn("velumd: store: identity %u: unreadable labels; it gets a new number\n",
			id);
		return 0;
	}
	for (i = 0; i < json_array_size(j) && !err; i++) {
		const char *s = NULL, *k = NULL, *v = NULL;

		if (json_unpack(json_array_get(j, i), "[sss]", &s, &k, &v))
			err = -EINVAL;
		else
			err = pol_labels_set(&ls, s, k, v);
	}
	json_decref(j);
	if (!err)
		err = model_identity_restore(c->m, id, &ls);
	pol_labels_free(&ls);
	if (err == -ENOMEM)
		return err;
	if (err) {
		pr_warn("velumd: store: identity %u cannot keep its number: %s\n", id,
			strerror(-err));
		return 0;
	}
	return vec_push(&c->restored, id);
}

static int load_namespace(void *ctx, const char *name, const char *labels)
{
	struct load_ctx *c = ctx;
	json_t *lj = json_loads(labels, 0, NULL);
	struct pol_labels ls = { 0 };
	int err = lj ? agent_ns_labels_from_json(lj, &ls, c->eb) :
		       errbuf_set(c->eb, -EINVAL, "labels unreadable");

	if (!err)
		err = model_namespace_set(c->m, name, &ls, c->eb);
	if (err && err != -ENOMEM)
		errbuf_prefix(c->eb, "namespace %s: ", name);
	pol_labels_free(&ls);
	json_decref(lj);
	return err;
}

static int load_endpoint(void *ctx, const struct agent_store_ep *e)
{
	struct load_ctx *c = ctx;
	json_t *lj = json_loads(e->labels, 0, NULL), *pj = json_loads(e->ports, 0, NULL);
	const char **labels = NULL;
	struct pol_named_port *ports = NULL;
	size_t nl = 0, np = 0;
	struct in_addr ip;
	struct agent_epx x = { .id = e->id };
	int err;

	char full[256];

	/* every field checked before anything (the kernel above all) is touched */
	err = agent_ep_fullname(e->name, e->ns, full, sizeof(full), c->eb);
	if (!err && strcmp(full, e->name))
		err = errbuf_set(c->eb, -EINVAL, "name: not in namespace " ERRBUF_Q,
				 ERRBUF_QARG(e->ns));
	if (!err)
		err = agent_labels_from_json(lj, &labels, &nl, c->eb);
	if (!err)
		err = agent_ports_from_json(pj, &ports, &np, c->eb);
	if (!err && inet_pton(AF_INET, e->ipv4, &ip) != 1)
		err = errbuf_set(c->eb, -EINVAL, "address " ERRBUF_Q " unreadable",
				 ERRBUF_QARG(e->ipv4));
	if (!err && ip.s_addr && !dp_pool_contains(c->a->dp, ip.s_addr))
		err = errbuf_set(c->eb, -EINVAL, "address %s: outside the pool", e->ipv4);
	if (!err)
		err = model_endpoint_add(c->m, e->id, e->name, e->ns, labels, nl,
					 ip.s_addr ? &ip.s_addr : NULL, ip.s_addr ? 1 : 0, ports,
					 np, e->audit, NULL, c->eb);
	if (!err) {
		x.adopted = e->netns != NULL;
		x.netns = e->netns ? strdup(e->netns) : NULL;
		x.ifname = e->ifname ? strdup(e->ifname) : NULL;
		x.container_id = e->container_id ? strdup(e->container_id) : NULL;
		snprintf(x.created, sizeof(x.created), "%s", e->created ? e->created : "");
		if ((e->netns && !x.netns) || (e->ifname && !x.ifname) ||
		    (e->container_id && !x.container_id))
			err = -ENOMEM;
		else
			err = vec_push(&c->epx, x);
		if (err)
			agent_epx_free(&x);
	}
	if (err && err != -ENOMEM)
		errbuf_prefix(c->eb, "endpoint %s: ", e->name);
	free(labels);
	free(ports);
	json_decref(lj);
	json_decref(pj);
	return err;
}

static uint64_t stored_pol_hash(int64_t file_id, const char *kind, const char *ns, const char *name)
{
	return agent_policy_key_hash(kind, ns, name) ^ hash_mix64((uint64_t)file_id);
}

static int load_file(void *ctx, int64_t id, const char *name, const char *content, size_t len)
{
	struct load_ctx *c = ctx;
	struct stored_file f = { .id = id };
	size_t i;
	int err;

	if (atomic_load(&c->a->stopping))
		return errbuf_set(c->eb, -EINTR, "stopped by a signal");
	err = pol_parse_buf(name, content, len, &f.set, c->eb);
	if (err) {
		errbuf_prefix(c->eb, "policy file %s (stored): ", name);
		return err;
	}
	/*
	 * Its Namespace objects were applied when it was imported; the
	 * namespaces table holds their labels since (later relabels included).
	 */
	pol_set_namespaces_free(&f.set);
	f.name = strdup(name);
	f.refs = calloc(f.set.n ? f.set.n : 1, sizeof(*f.refs));
	err = f.name && f.refs ? vec_push(&c->files, f) : -ENOMEM;
	if (err) {
		free(f.name);
		free(f.refs);
		pol_set_free(&f.set);
		return err;
	}
	for (i = 0; i < f.set.n && !err; i++) {
		const struct pol_policy *p = f.set.v[i];

		f.refs[i].file = c->files.n - 1;
		f.refs[i].idx = i;
		err = hmap_insert(
			&c->index, &f.refs[i].node,
			stored_pol_hash(id, pol_kind_name(p->kind), p->namespace, p->name));
	}
	return err;
}

static struct stored_file *stored_file(struct load_ctx *c, int64_t id)
{
	size_t lo = 0, hi = c->files.n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (c->files.v[mid].id == id)
			return &c->files.v[mid];
		if (c->files.v[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void renamed_free(struct renamed *r)
{
	size_t i;

	for (i = 0; i < r->names.n; i++)
		free(r->names.v[i]);
	vec_free(&r->names);
	free(r->old);
	free(r->imported);
}

/*
 * The stored row of CiliumRules `row` is not in its file under that name:
 * a file stored when raw rules were all named after the file, whose rules
 * now name themselves. Its CiliumRules policies not taken by other rows
 * load instead, with new rule ids (the old ones were the whole file's).
 */
static int load_renamed(struct load_ctx *c, struct stored_file *f,
			const struct agent_store_policy *row)
{
	struct renamed r = { .file_id = row->file_id, .audit = row->audit };
	size_t i, nrules = 0;
	int err = 0;

	r.old = strdup(row->name);
	r.imported = strdup(row->imported);
	if (!r.old || !r.imported)
		err = -ENOMEM;
	for (i = 0; !err && i < f->set.n; i++) {
		struct pol_policy *p = f->set.v[i];
		char *name;

		int64_t other_file;
		bool other_audit;

		if (!p || p->kind != POL_KIND_RULES)
			continue;
		nrules++;
		/* a name a later import stored a row of its own for is that row's */
		err = agent_store_policy_get(c->a->st, row->kind, "", p->name, &other_file,
					     &other_audit, c->eb);
		if (!err)
			continue;
		if (err != -ENOENT)
			break;
		err = 0;
		name = strdup(p->name);
		if (!name || vec_push(&r.names, name)) {
			free(name);
			err = -ENOMEM;
			break;
		}
		p->first_rule_id = 0;
		p->audit = p->audit || row->audit;
		f->set.v[i] = NULL;
		err = pol_set_push(&c->load, p);
		if (err)
			pol_policy_free(p);
	}
	if (!err && !nrules)
		err = errbuf_set(c->eb, -EINVAL, "policy %s %s: not found in its stored file %s",
				 row->kind, row->name, f->name);
	if (!err)
		err = vec_push(&c->renamed, r);
	if (err)
		renamed_free(&r);
	return err;
}

/* The store's rows of the renamed policies: the old one goes, one per new name. */
static void store_renamed(struct agent *a, struct load_ctx *c)
{
	const char *kind = pol_kind_name(POL_KIND_RULES);
	struct errbuf eb;
	size_t i, j;
	int err;

	errbuf_clear(&eb);
	err = agent_store_begin(a->st, &eb);
	for (i = 0; !err && i < c->renamed.n; i++) {
		struct renamed *r = &c->renamed.v[i];

		err = agent_store_policy_delete(a->st, kind, "", r->old, &eb);
		for (j = 0; !err && j < r->names.n; j++) {
			const struct pol_policy *p = pol_engine_policy(
				model_engine(a->wm), POL_KIND_RULES, NULL, r->names.v[j]);
			struct agent_store_policy row = {
				.kind = kind,
				.ns = "",
				.name = r->names.v[j],
				.file_id = r->file_id,
				.first_rule_id = p ? p->first_rule_id : 0,
				.audit = r->audit,
				.imported = r->imported,
			};

			err = agent_store_policy_put(a->st, &row, &eb);
		}
		if (!err && r->names.n)
			pr_info("velumd: CiliumRules %s: its rules are named by their name labels "
				"now: %zu polic%s (%s%s)\n",
				r->old, r->names.n, r->names.n == 1 ? "y" : "ies", r->names.v[0],
				r->names.n > 1 ? ", ..." : "");
		else if (!err)
			pr_info("velumd: CiliumRules %s: its rules are named by their name labels "
				"now, each loaded from a later import\n",
				r->old);
	}
	if (!err)
		err = agent_store_commit(a->st, &eb);
	if (err) {
		agent_store_rollback(a->st);
		pr_warn("velumd: store: renaming raw rule policies: %s\n", eb.msg);
	}
}

static int load_policy(void *ctx, const struct agent_store_policy *row)
{
	struct load_ctx *c = ctx;
	struct stored_file *f = stored_file(c, row->file_id);
	struct hnode *it;
	int err;

	if (atomic_load(&c->a->stopping))
		return errbuf_set(c->eb, -EINTR, "stopped by a signal");
	if (!f)
		return errbuf_set(c->eb, -EINVAL, "policy %s %s%s%s: its file %lld is not stored",
				  row->kind, row->ns, *row->ns ? "/" : "", row->name,
				  (long long)row->file_id);
	hmap_for_each_hash(&c->index, stored_pol_hash(row->file_id, row->kind, row->ns, row->name),
			   it)
	{
		struct stored_pol *r = container_of(it, struct stored_pol, node);
		struct pol_policy *p = c->files.v[r->file].set.v[r->idx];

		if (r->file != (size_t)(f - c->files.v) || !p ||
		    strcmp(pol_kind_name(p->kind), row->kind) || strcmp(p->name, row->name) ||
		    strcmp(ns_or_empty(p->namespace), row->ns))
			continue;
		p->first_rule_id = row->first_rule_id;
		p->audit = p->audit || row->audit;
		f->set.v[r->idx] = NULL;
		err = pol_set_push(&c->load, p);
		if (err)
			pol_policy_free(p);
		return err;
	}
	if (!strcmp(row->kind, pol_kind_name(POL_KIND_RULES)))
		return load_renamed(c, f, row);
	return errbuf_set(c->eb, -EINVAL, "policy %s %s%s%s: not found in its stored file %s",
			  row->kind, row->ns, *row->ns ? "/" : "", row->name, f->name);
}

static void load_ctx_free(struct load_ctx *c)
{
	size_t i, j;

	for (i = 0; i < c->files.n; i++) {
		struct stored_file *f = &c->files.v[i];

		for (j = 0; j < f->set.n; j++)
			pol_policy_free(f->set.v[j]);
		free(f->set.v);
		free(f->refs);
		free(f->name);
	}
	vec_free(&c->files);
	hmap_destroy(&c->index);
	pol_set_free(&c->load);
	for (i = 0; i < c->epx.n; i++)
		agent_epx_free(&c->epx.v[i]);
	vec_free(&c->epx);
	vec_free(&c->restored);
	vec_free(&c->stored);
	for (i = 0; i < c->renamed.n; i++)
		renamed_free(&c->renamed.v[i]);
	vec_free(&c->renamed);
}

/* A new model from the store, regenerated; *epx gets the extras. */
static int load_model(struct agent *a, struct model **out, struct load_ctx *c, struct errbuf *eb)
{
	size_t i;
	int err;

	memset(c, 0, sizeof(*c));
	c->a = a;
	c->eb = eb;
	c->m = model__new();
	if (!c->m)
		return -ENOMEM;
	pol_engine_set_proxy_ports(model_engine(c->m), a->proxy_port_in, a->proxy_port_eg);
	err = agent_store_revision(a->st, &c->revision, eb);
	if (!err)
		err = agent_store_id_foreach(a->st, load_identity, c, eb);
	/* namespaces before their endpoints: the identities stored carry their labels */
	if (!err)
		err = agent_store_ns_foreach(a->st, load_namespace, c, eb);
	if (!err)
		err = agent_store_ep_foreach(a->st, load_endpoint, c, eb);
	if (!err)
		err = agent_store_file_foreach(a->st, true, load_file, c, eb);
	if (!err)
		err = agent_store_policy_foreach(a->st, load_policy, c, eb);
	if (!err && atomic_load(&a->stopping))
		err = errbuf_set(eb, -EINTR, "stopped by a signal");
	if (!err) {
		err = model_policies_load(c->m, &c->load);
		if (err)
			errbuf_set(eb, err, "loading stored policies: %s", strerror(-err));
	}
	for (i = 0; i < c->restored.n; i++)
		model_identity_release(c->m, c->restored.v[i]);
	if (!err && atomic_load(&a->stopping))
		err = errbuf_set(eb, -EINTR, "stopped by a signal");
	if (!err) {
		err = model_regenerate(c->m, NULL, NULL);
		if (err)
			errbuf_set(eb, err, "resolving stored policies: %s", strerror(-err));
	}
	if (err) {
		if (err == -ENOMEM && errbuf_empty(eb))
			errbuf_set(eb, -ENOMEM, "out of memory");
		model__free(c->m);
		c->m = NULL;
		return err;
	}
	*out = c->m;
	return 0;
}

/*
 * Makes the kernel equal to the model: endpoints (re-create lost ones,
 * remove unknown ones, fix identities), every endpoint's policy map, the
 * ipcache. Errors are per endpoint (state "error") or logged; returns the
 * first one.
 */
static int kernel_sync_all(struct agent *a)
{
	struct dp_endpoint *dpe = calloc(VELUM_MAX_ENDPOINTS, sizeof(*dpe));
	const struct model_ep *const *eps;
	size_t n = model_endpoints(a->wm, &eps), i;
	int ndp, j, first = 0, err;
	VEC(uint32_t) ok = { 0 };
	struct errbuf eb;

	if (!dpe)
		return -ENOMEM;
	ndp = dp_endpoint_list(a->dp, dpe, VELUM_MAX_ENDPOINTS);
	if (ndp < 0) {
		free(dpe);
		return ndp;
	}
	if (ndp > VELUM_MAX_ENDPOINTS)
		ndp = VELUM_MAX_ENDPOINTS;
	/* endpoints the store does not know: a crash between create and commit */
	for (j = 0; j < ndp; j++) {
		if (model_endpoint_by_id(a->wm, dpe[j].ep_id))
			continue;
		errbuf_clear(&eb);
		pr_info("velumd: removing endpoint %u: in the datapath but not in the store\n",
			dpe[j].ep_id);
		err = dp_endpoint_remove(a->dp, dpe[j].ep_id, &eb);
		if (err && err != -ENOENT)
			pr_err("velumd: remove endpoint %u: %s\n", dpe[j].ep_id, eb.msg);
	}
	for (i = 0; i < n; i++) {
		const struct model_ep *ep = eps[i];
		struct agent_epx *x = agent_epx(a, ep->id);
		struct dp_endpoint *have = NULL, made;

		if (atomic_load(&a->stopping)) {
			/* each map swap is atomic; the next start finishes the work */
			free(dpe);
			vec_free(&ok);
			return -EINTR;
		}
		for (j = 0; j < ndp && !have; j++)
			if (dpe[j].ep_id == ep->id)
				have = &dpe[j];
		errbuf_clear(&eb);
		err = 0;
		if (!have) {
			struct dp_endpoint_opts eo = {
				.ep_id = ep->id,
				.identity = ep->identity,
				.netns_path = x && x->adopted ? x->netns : NULL,
				.ifname = x ? x->ifname : NULL,
				.ipv4 = ep->nips ? ep->ips[0] : 0,
			};

			pr_info("velumd: endpoint %s: not in the datapath, re-creating it\n",
				ep->name);
			err = dp_endpoint_add(a->dp, &eo, &made, &eb);
			if (!err)
				have = &made;
		} else if (have->identity != ep->identity) {
			err = dp_endpoint_set_identity(a->dp, ep->id, ep->identity);
			if (err)
				errbuf_set(&eb, err, "set identity: %s", strerror(-err));
		}
		if (have && ep->nips && have->ipv4 != ep->ips[0])
			pr_warn("velumd: endpoint %s: the datapath has another address than the "
				"store\n",
				ep->name);
		if (have && x) {
			struct stat st;

			snprintf(x->host_ifname, sizeof(x->host_ifname), "%s", have->host_ifname);
			if (!x->adopted && have->netns[0]) {
				free(x->netns);
				x->netns = strdup(have->netns);
			}
			/* removed behind velumd's back: say so rather than "ready" */
			if (!err && x->netns && stat(x->netns, &st) == -1)
				err = errbuf_set(&eb, -EINVAL,
						 "namespace %s is gone (%s); delete the endpoint",
						 x->netns, strerror(errno));
			if (!err && (int)if_nametoindex(have->host_ifname) != have->host_ifindex)
				err = errbuf_set(&eb, -ENODEV,
						 "host interface %s (index %d) is gone; delete the "
						 "endpoint",
						 have->host_ifname, have->host_ifindex);
		}
		if (!err)
			err = vec_push(&ok, ep->id);
		if (x)
			agent_epx_set_error(x, err ? eb.msg : NULL);
		if (err) {
			pr_err("velumd: endpoint %s: %s\n", ep->name, eb.msg);
			if (!first)
				first = err;
		}
	}
	free(dpe);
	/* every present endpoint's map, in parallel; on failure one by one, to say which */
	errbuf_clear(&eb);
	if (agent_apply_many(a, ok.v, ok.n, &eb)) {
		for (i = 0; i < ok.n; i++) {
			struct agent_epx *x = agent_epx(a, ok.v[i]);

			errbuf_clear(&eb);
			err = agent_apply_ep(a, ok.v[i], &eb);
			if (x)
				agent_epx_set_error(x, err ? eb.msg : NULL);
			if (err) {
				pr_err("velumd: endpoint %u: %s\n", ok.v[i], eb.msg);
				if (!first)
					first = err;
			}
		}
	}
	vec_free(&ok);
	return first;
}

/* Reads the kernel's CIDR entries into a->pushed so that agent_sync_ipcache() can diff. */
static void pushed_from_kernel(struct agent *a)
{
	struct dp_ipcache_entry *v;
	size_t n, i;

	a->pushed.n = 0;
	a->ipcache_host = 0;
	if (dp_ipcache_list(a->dp, &v, &n))
		return;
	for (i = 0; i < n; i++) {
		struct ipcache_entry e = { .identity = v[i].val.identity };

		a->ipcache_host += v[i].val.identity == ID_HOST;
		if (v[i].val.flags & VELUM_IPCACHE_F_LOCAL_EP || v[i].val.identity == ID_HOST)
			continue;
		e.prefix = pol_prefix_v4(v[i].key.addr, (uint8_t)v[i].key.prefixlen);
		if (vec_push(&a->pushed, e))
			break;
	}
	free(v);
	/* agent_sync_ipcache() merges sorted lists */
	if (a->pushed.n > 1)
		qsort(a->pushed.v, a->pushed.n, sizeof(*a->pushed.v), agent_ipcache_cmp);
}

int agent_model_load(struct agent *a, struct model **out, struct errbuf *eb)
{
	struct load_ctx c;
	int err = load_model(a, out, &c, eb);

	load_ctx_free(&c);
	return err;
}

int agent_restore(struct agent *a, struct errbuf *eb)
{
	struct model *m;
	struct load_ctx c;
	size_t i;
	int err;

	err = load_model(a, &m, &c, eb);
	if (err) {
		load_ctx_free(&c);
		return err;
	}
	/*
	 * from here the kernel changes: a stop ends it between endpoints
	 * (-EINTR). The new model is the committed one; the helpers below
	 * work on a->wm, so it is that too until the end (the writer's copy
	 * is made at the next change).
	 */
	if (a->wm != a->m)
		model__free(a->wm);
	model__free(a->m);
	a->m = a->wm = m;
	a->m_fresh = true;
	agent_epx_clear(a);
	for (i = 0; i < c.epx.n; i++) {
		if (agent_epx_put(a, &c.epx.v[i])) {
			agent_epx_free(&c.epx.v[i]);
			continue;
		}
	}
	c.epx.n = 0;
	a->revision = c.revision;
	/* the identity rows: drop numbers nothing uses any more, add missing ones */
	vec_free(&a->stored_ids);
	a->stored_ids.v = c.stored.v;
	a->stored_ids.n = c.stored.n;
	a->stored_ids.cap = c.stored.cap;
	memset(&c.stored, 0, sizeof(c.stored));
	if (a->stored_ids.n)
		qsort(a->stored_ids.v, a->stored_ids.n, sizeof(uint32_t), cmp_u32);
	{
		struct errbuf ieb;

		errbuf_clear(&ieb);
		if (agent_store_begin(a->st, &ieb) || agent_save_identities(a, &ieb) ||
		    agent_store_commit(a->st, &ieb)) {
			agent_store_rollback(a->st);
			pr_warn("velumd: store: identities: %s\n", ieb.msg);
		}
	}
	if (c.renamed.n)
		store_renamed(a, &c);
	load_ctx_free(&c);
	pushed_from_kernel(a);
	{
		struct errbuf leb;

		errbuf_clear(&leb);
		if (agent_l7_publish(a, a->revision, &leb))
			pr_warn("velumd: restore: %s\n", leb.msg);
	}
	err = kernel_sync_all(a);
	if (err == -EINTR) {
		a->wm = NULL;
		return errbuf_set(eb, -EINTR, "stopped by a signal");
	}
	if (!err)
		err = agent_sync_ipcache(a, false, eb);
	else
		agent_sync_ipcache(a, false, NULL);
	if (err)
		pr_err("velumd: restore: the datapath is not fully in sync (see above)\n");
	a->cache_rev = 0;
	a->wm = NULL;
	agent_summary_publish(a);
	return 0;
}
