/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The change pipeline of velumd (see agent.h): endpoints and policies in,
 * model, store and kernel kept equal (store rows in rows.c, the kernel in
 * sync.c; after a failed change, restore.c rebuilds all three from the
 * store). Every change here runs with a->wlock held and takes a->lock
 * only for its commit step (see agent.h).
 */
#include "agent/agent.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "lib/log.h"
#include "lib/strbuf.h"
#include "lib/sv.h"
#include "velum/endpoint.h"
#include "agent/agent_internal.h"

/* ---- small helpers ------------------------------------------------------------------ */

int agent_err_status(int err)
{
	switch (err) {
	case -EINVAL:
	case -E2BIG:
	case -ENAMETOOLONG:
		return 400;
	case -ENOENT:
		return 404;
	case -EEXIST:
	case -ENOSPC:
	case -EBUSY:
		return 409;
	case -EAGAIN:
	case -EINTR: /* velumd is stopping */
		return 503;
	default:
		return 500;
	}
}

static void rfc3339_now(char *buf, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void agent_init(struct agent *a, const struct agent_opts *o)
{
	memset(a, 0, sizeof(*a));
	a->o = *o;
	pthread_mutex_init(&a->wlock, NULL);
	pthread_mutex_init(&a->read_lock, NULL);
	pthread_mutex_init(&a->lock, NULL);
	pthread_mutex_init(&a->flow_lock, NULL);
	pthread_mutex_init(&a->sum_lock, NULL);
	pthread_cond_init(&a->flow_cond, NULL);
	mon_ring_init(&a->ring, o->flow_cap ? o->flow_cap : AGENT_FLOWS_DEFAULT);
	mon_hist_init(&a->regen_hist, mon_latency_bounds, mon_latency_nbounds);
	mon_hist_init(&a->import_hist, mon_latency_bounds, mon_latency_nbounds);
	a->started_ns = agent_now_ns(CLOCK_REALTIME);
	atomic_init(&a->stopping, false);
	a->l7_fd = -1;
}

void agent_epx_free(struct agent_epx *x)
{
	free(x->netns);
	free(x->ifname);
	free(x->container_id);
	free(x->error);
}

void agent_epx_clear(struct agent *a)
{
	size_t i;

	for (i = 0; i < a->epx.n; i++)
		agent_epx_free(&a->epx.v[i]);
	a->epx.n = 0;
}

void agent_fini(struct agent *a)
{
	agent_flow_caches_clear(a);
	hmap_destroy(&a->ident_cache);
	hmap_destroy(&a->rule_cache);
	agent_epx_clear(a);
	vec_free(&a->epx);
	vec_free(&a->pushed);
	vec_free(&a->stored_ids);
	if (a->wm != a->m)
		model__free(a->wm);
	model__free(a->m);
	agent_applier__free(a->applier);
	dp__close(a->dp);
	agent_store__close(a->st_read);
	agent_store__close(a->st);
	mon_ring_free(&a->ring);
	mon_hubble_free(&a->hubble);
	pthread_mutex_destroy(&a->lock);
	pthread_mutex_destroy(&a->wlock);
	pthread_mutex_destroy(&a->read_lock);
	pthread_mutex_destroy(&a->flow_lock);
	pthread_mutex_destroy(&a->sum_lock);
	pthread_cond_destroy(&a->flow_cond);
}

void agent_summary_publish(struct agent *a)
{
	struct agent_summary s = { .revision = a->revision };
	const struct model_ep *const *eps;
	const struct pol_policy *const *ps;
	size_t i, k;

	if (!a->m)
		return;
	s.endpoints = model_endpoints(a->m, &eps);
	for (i = 0; i < s.endpoints; i++) {
		const struct pol_mapstate *ms =
			pol_engine_endpoint_state(model_engine(a->m), eps[i]->id);

		for (k = 0; ms && k < ms->n; k++)
			s.redirects += ms->entries[k].val.verdict == VELUM_VERDICT_REDIRECT;
	}
	for (i = 0; i < a->epx.n; i++)
		s.endpoints_failed += a->epx.v[i].error != NULL;
	s.policies = pol_engine_policies(model_engine(a->m), &ps);
	s.identities = id_alloc_count(model_ids(a->m));
	pthread_mutex_lock(&a->sum_lock);
	a->sum = s;
	pthread_mutex_unlock(&a->sum_lock);
}

struct agent_summary agent_summary(struct agent *a)
{
	struct agent_summary s;

	/* no change running: publish what is there now (an error state set since, say) */
	if (!pthread_mutex_trylock(&a->lock)) {
		agent_summary_publish(a);
		pthread_mutex_unlock(&a->lock);
	}
	pthread_mutex_lock(&a->sum_lock);
	s = a->sum;
	pthread_mutex_unlock(&a->sum_lock);
	return s;
}

struct agent_epx *agent_epx(struct agent *a, uint32_t id)
{
	size_t lo = 0, hi = a->epx.n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (a->epx.v[mid].id == id)
			return &a->epx.v[mid];
		if (a->epx.v[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Inserts (or replaces) the extras of x->id; takes x's strings. */
int agent_epx_put(struct agent *a, struct agent_epx *x)
{
	struct agent_epx *old = agent_epx(a, x->id);
	size_t at;

	if (old) {
		agent_epx_free(old);
		*old = *x;
		return 0;
	}
	if (vec_reserve(&a->epx, a->epx.n + 1))
		return -ENOMEM;
	for (at = 0; at < a->epx.n && a->epx.v[at].id < x->id; at++)
		;
	memmove(&a->epx.v[at + 1], &a->epx.v[at], (a->epx.n - at) * sizeof(*a->epx.v));
	a->epx.v[at] = *x;
	a->epx.n++;
	return 0;
}

static void epx_remove(struct agent *a, uint32_t id)
{
	struct agent_epx *x = agent_epx(a, id);
	size_t at;

	if (!x)
		return;
	at = (size_t)(x - a->epx.v);
	agent_epx_free(x);
	memmove(&a->epx.v[at], &a->epx.v[at + 1], (a->epx.n - at - 1) * sizeof(*a->epx.v));
	a->epx.n--;
}

void agent_epx_set_error(struct agent_epx *x, const char *msg)
{
	free(x->error);
	x->error = msg ? strdup(msg) : NULL;
}

/* Kubernetes object names: lower-case alphanumerics, '-' and '.', at most 63. */
static int check_name(const char *what, const char *s, size_t len, struct errbuf *eb)
{
	size_t i;

	if (!len || len > 63)
		return errbuf_set(eb, -EINVAL, "%s '%.*s': must be 1 to 63 characters", what,
				  (int)len, s);
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!(islower((unsigned char)c) || isdigit((unsigned char)c) || c == '-' ||
		      c == '.'))
			return errbuf_set(eb, -EINVAL,
					  "%s '%.*s': only lower-case letters, digits, '-' and "
					  "'.' are allowed",
					  what, (int)len, s);
	}
	if (!isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[len - 1]))
		return errbuf_set(eb, -EINVAL,
				  "%s '%.*s': must start and end with a letter or digit", what,
				  (int)len, s);
	return 0;
}

int agent_ep_fullname(const char *name, const char *ns, char *buf, size_t len, struct errbuf *eb)
{
	const char *slash = name ? strchr(name, '/') : NULL;
	const char *n = name;
	size_t nslen;
	int err;

	if (!name || !*name)
		return errbuf_set(eb, -EINVAL, "an endpoint name is required");
	if (slash) {
		if (ns && (strlen(ns) != (size_t)(slash - name) ||
			   strncmp(ns, name, (size_t)(slash - name))))
			return errbuf_set(eb, -EINVAL,
					  "endpoint '%s': namespace '%s' contradicts the name",
					  name, ns);
		ns = name;
		nslen = (size_t)(slash - name);
		n = slash + 1;
	} else {
		if (!ns)
			ns = "default";
		nslen = strlen(ns);
	}
	err = check_name("namespace", ns, nslen, eb);
	if (!err)
		err = check_name("endpoint name", n, strlen(n), eb);
	if (err)
		return err;
	if ((size_t)snprintf(buf, len, "%.*s/%s", (int)nslen, ns, n) >= len)
		return errbuf_set(eb, -EINVAL, "endpoint name too long");
	return 0;
}

/* ---- endpoints ------------------------------------------------------------------------ */

/* Lowest free endpoint id (the model keeps endpoints sorted by id). */
static uint32_t free_ep_id(struct agent *a)
{
	const struct model_ep *const *eps;
	size_t n = model_endpoints(a->wm, &eps), i;
	uint32_t id = 1;

	for (i = 0; i < n && eps[i]->id == id; i++)
		id++;
	return id;
}

/* An endpoint create's model changes, for the other copy. */
struct ep_create {
	const struct agent_ep_req *r;
	uint32_t id, ipv4;
	const char *full, *ns;
};

static int ep_create_replay(struct agent *a, struct model *m, void *ctx)
{
	const struct ep_create *c = ctx;
	struct errbuf eb;
	int err;

	(void)a;
	errbuf_clear(&eb);
	err = model_endpoint_add(m, c->id, c->full, c->ns, c->r->labels, c->r->nlabels, NULL, 0,
				 c->r->ports, c->r->nports, c->r->audit, NULL, &eb);
	if (!err)
		err = model_endpoint_set_ips(m, c->full, &c->ipv4, 1, &eb);
	return err;
}

int agent_endpoint_create(struct agent *a, const struct agent_ep_req *r,
			  const struct model_ep **out, struct errbuf *eb)
{
	char full[256], ns[128];
	const struct model_ep *ep, *const *all;
	struct dp_endpoint made;
	struct agent_epx x = { 0 };
	struct dp_endpoint_opts eo = { 0 };
	struct velum_policy_key *keys = NULL;
	struct velum_policy_value *vals = NULL;
	struct ep_create ec = { .r = r, .full = full, .ns = ns };
	struct agent_change ch = { .replay = ep_create_replay, .ctx = &ec };
	uint32_t *changed = NULL, id;
	size_t nchanged = 0, nkeys = 0, i, j;
	int64_t t0;
	int err;

	err = agent_ep_fullname(r->name, r->ns, full, sizeof(full), eb);
	if (!err)
		err = agent_writer_begin(a, eb);
	if (err)
		return err;
	snprintf(ns, sizeof(ns), "%.*s", (int)(strchr(full, '/') - full), full);
	if (model_endpoint(a->wm, full))
		return errbuf_set(eb, -EEXIST, "endpoint '%s' already exists", full);
	id = free_ep_id(a);
	if (id > VELUM_EP_ID_MAX || model_endpoints(a->wm, &all) >= VELUM_MAX_ENDPOINTS)
		return errbuf_set(eb, -ENOSPC, "no room for another endpoint (at most %d)",
				  VELUM_MAX_ENDPOINTS);
	/* its address takes an ipcache entry */
	if (a->pushed.n + model_endpoints(a->wm, &all) + a->ipcache_host + 1 > VELUM_IPCACHE_MAX)
		return errbuf_set(
			eb, -ENOSPC,
			"no room for another endpoint's address: the ipcache holds %zu "
			"CIDR prefixes, %zu endpoint and %zu host address(es), at most %d",
			a->pushed.n, model_endpoints(a->wm, &all), a->ipcache_host,
			VELUM_IPCACHE_MAX);
	ec.id = id;
	t0 = agent_now_ns(CLOCK_MONOTONIC);
	err = model_endpoint_add(a->wm, id, full, ns, r->labels, r->nlabels, NULL, 0, r->ports,
				 r->nports, r->audit, &ep, eb);
	if (err == -EINVAL || err == -EEXIST)
		return err; /* refused before anything changed */
	if (err)
		goto fail;

	/*
	 * Its policy depends on its identity and named ports, not on its
	 * address: resolve it now, so the datapath brings the endpoint up with
	 * its real policy instead of an open one (an adopted namespace may
	 * already run processes).
	 */
	err = agent_regenerate(a, &changed, &nchanged, eb);
	if (!err)
		err = agent_build_entries(a, id, &keys, &vals, &nkeys, eb);
	if (!err)
		err = agent_check_sizes(a, changed, nchanged, eb);
	if (err)
		goto fail;

	/* the datapath makes the namespace, the veth and picks the address */
	eo.ep_id = id;
	eo.identity = ep->identity;
	eo.netns_path = r->netns;
	eo.ifname = r->ifname;
	eo.ipv4 = r->ipv4;
	eo.keys = keys;
	eo.vals = vals;
	eo.npolicy = nkeys;
	x.id = id;
	x.adopted = r->netns != NULL;
	x.ifname = r->ifname && strcmp(r->ifname, "eth0") ? strdup(r->ifname) : NULL;
	x.container_id = r->container_id ? strdup(r->container_id) : NULL;
	if ((r->container_id && !x.container_id) ||
	    (r->ifname && strcmp(r->ifname, "eth0") && !x.ifname)) {
		err = -ENOMEM;
		goto fail;
	}
	rfc3339_now(x.created, sizeof(x.created));
	pthread_mutex_lock(&a->lock);
	a->touched = true;
	err = dp_endpoint_add(a->dp, &eo, &made, eb);
	if (err) {
		/* the datapath undid its part: nothing else was touched */
		a->touched = false;
		errbuf_prefix(eb, "endpoint %s: ", full);
		if (err == -ENOENT && r->netns)
			err = -EINVAL;
	} else {
		x.netns = strdup(r->netns ? r->netns : made.netns);
		snprintf(x.host_ifname, sizeof(x.host_ifname), "%s", made.host_ifname);
		err = x.netns ? agent_epx_put(a, &x) : -ENOMEM;
		if (!err)
			memset(&x, 0, sizeof(x));
	}
	pthread_mutex_unlock(&a->lock);
	free(keys);
	free(vals);
	keys = NULL;
	vals = NULL;
	if (err)
		goto fail;
	/* its map is in place (installed with the endpoint): no second swap */
	for (i = j = 0; i < nchanged; i++)
		if (changed[i] != id)
			changed[j++] = changed[i];
	nchanged = j;
	/* the address changes the ipcache only, not any map state */
	ec.ipv4 = made.ipv4;
	err = model_endpoint_set_ips(a->wm, full, &made.ipv4, 1, eb);
	if (!err)
		err = agent_store_begin(a->st, eb);
	if (!err)
		err = agent_save_ep(a, model_endpoint(a->wm, full), eb);
	if (!err)
		err = agent_save_ns(a, ns, eb);
	if (!err)
		err = agent_finish(a, changed, nchanged, t0, &ch, eb);
	if (err)
		goto fail;
	free(changed);
	*out = model_endpoint(a->m, full);
	return 0;

fail:
	agent_epx_free(&x);
	free(keys);
	free(vals);
	free(changed);
	if (err == -ENOMEM && errbuf_empty(eb))
		errbuf_set(eb, -ENOMEM, "out of memory");
	agent_rebuild(a, "endpoint create", eb);
	return err;
}

/* The endpoint NAME (or NS/NAME) names, with its full name in full[256]; NULL with *err set. */
static const struct model_ep *endpoint_named(struct agent *a, const char *name, char full[256],
					     int *err, struct errbuf *eb)
{
	const struct model_ep *ep;

	*err = agent_ep_fullname(name, NULL, full, 256, eb);
	if (*err)
		return NULL;
	ep = model_endpoint(a->wm, full);
	if (!ep) {
		*err = errbuf_set(eb, -ENOENT, "no endpoint '%s'", full);
	}
	return ep;
}

/* An endpoint delete: its datapath part (a->lock held) and its model change again. */
struct ep_delete {
	uint32_t id;
	const char *full;
};

static int ep_delete_kernel(struct agent *a, void *ctx, struct errbuf *eb)
{
	const struct ep_delete *d = ctx;
	int err = dp_endpoint_remove(a->dp, d->id, eb);

	if (err && err != -ENOENT)
		return err;
	epx_remove(a, d->id);
	return 0;
}

static int ep_delete_replay(struct agent *a, struct model *m, void *ctx)
{
	const struct ep_delete *d = ctx;

	(void)a;
	return model_endpoint_remove(m, d->full);
}

int agent_endpoint_delete(struct agent *a, const char *name, struct errbuf *eb)
{
	char full[256];
	const struct model_ep *ep;
	struct ep_delete d = { .full = full };
	struct agent_change ch = { ep_delete_kernel, ep_delete_replay, &d };
	uint32_t *changed = NULL;
	size_t nchanged = 0;
	int64_t t0 = agent_now_ns(CLOCK_MONOTONIC);
	int err = agent_writer_begin(a, eb);

	if (err)
		return err;
	ep = endpoint_named(a, name, full, &err, eb);
	if (!ep)
		return err;
	d.id = ep->id;
	err = agent_store_begin(a->st, eb);
	if (err)
		return err;
	err = agent_store_ep_delete(a->st, d.id, eb);
	if (!err)
		err = model_endpoint_remove(a->wm, full);
	if (!err)
		err = agent_regenerate(a, &changed, &nchanged, eb);
	if (!err)
		err = agent_finish(a, changed, nchanged, t0, &ch, eb);
	free(changed);
	if (err)
		agent_rebuild(a, "endpoint delete", eb);
	return err;
}

/* Endpoint identities to set in the datapath (a->lock held): ep id, identity pairs. */
struct idset {
	VEC(uint32_t) v;
};

/* Records every endpoint of a->wm whose identity differs from old (ep_identities() order). */
static int idset_diff(struct agent *a, const uint32_t *old, const char *ns, struct idset *out)
{
	const struct model_ep *const *eps;
	size_t n = model_endpoints(a->wm, &eps), i;
	int err = 0;

	for (i = 0; i < n && !err; i++) {
		if ((ns && strcmp(eps[i]->ns, ns)) || eps[i]->identity == old[i])
			continue;
		err = vec_push(&out->v, eps[i]->id);
		if (!err)
			err = vec_push(&out->v, eps[i]->identity);
	}
	return err;
}

/* struct agent_change's kernel(): ctx starts with the struct idset to set (a->lock held). */
static int ids_kernel(struct agent *a, void *ctx, struct errbuf *eb)
{
	const struct idset *s = ctx;
	size_t i;
	int err = 0;

	for (i = 0; i + 1 < s->v.n && !err; i += 2) {
		err = dp_endpoint_set_identity(a->dp, s->v.v[i], s->v.v[i + 1]);
		if (err == -ENOENT)
			err = 0; /* not in the datapath (state error): restore re-creates it */
		if (err)
			errbuf_set(eb, err, "datapath: endpoint %u: set identity: %s", s->v.v[i],
				   strerror(-err));
	}
	return err;
}

/* An endpoint update's model changes again, and its identity in the datapath. */
struct ep_update {
	struct idset ids; /* first: ids_kernel() */
	const char *full;
	const char *const *labels;
	size_t nlabels;
	int audit;
};

static int ep_update_replay(struct agent *a, struct model *m, void *ctx)
{
	const struct ep_update *u = ctx;
	struct errbuf eb;
	int err = 0;

	(void)a;
	errbuf_clear(&eb);
	if (u->labels)
		err = model_endpoint_relabel(m, u->full, u->labels, u->nlabels, &eb);
	if (!err && u->audit >= 0)
		err = model_endpoint_set_audit(m, u->full, u->audit > 0);
	return err;
}

int agent_endpoint_update(struct agent *a, const char *name, const char *const *labels,
			  size_t nlabels, int audit, struct errbuf *eb)
{
	char full[256];
	const struct model_ep *ep;
	struct ep_update u = { { { 0 } }, full, labels, nlabels, audit };
	struct agent_change ch = { ids_kernel, ep_update_replay, &u };
	uint32_t *changed = NULL, old_identity, id;
	size_t nchanged = 0;
	int64_t t0 = agent_now_ns(CLOCK_MONOTONIC);
	int err = agent_writer_begin(a, eb);

	if (err)
		return err;
	ep = endpoint_named(a, name, full, &err, eb);
	if (!ep)
		return err;
	id = ep->id;
	old_identity = ep->identity;
	if (labels) {
		/* validates first and changes nothing on bad input */
		err = model_endpoint_relabel(a->wm, full, labels, nlabels, eb);
		if (err)
			return err;
	}
	err = agent_store_begin(a->st, eb);
	if (!err && audit >= 0)
		err = model_endpoint_set_audit(a->wm, full, audit > 0);
	ep = model_endpoint(a->wm, full);
	if (!err && ep->identity != old_identity) {
		err = vec_push(&u.ids.v, id);
		if (!err)
			err = vec_push(&u.ids.v, ep->identity);
	}
	if (!err)
		err = agent_regenerate(a, &changed, &nchanged, eb);
	if (!err)
		err = agent_save_ep(a, ep, eb);
	if (!err)
		err = agent_finish(a, changed, nchanged, t0, &ch, eb);
	free(changed);
	vec_free(&u.ids.v);
	if (err)
		agent_rebuild(a, "endpoint update", eb);
	return err;
}

/*
 * One label change of agent_endpoint_merge(): the source and key of a
 * "[source:]key[=value]" string as `velum endpoint label` tells labels
 * apart (no source, or a ':' only after the '=', is k8s), and its place
 * among the changes.
 */
struct label_ref {
	struct sv source, key;
	size_t i;
};

static struct label_ref label_ref(const char *s, size_t i)
{
	const char *colon = strchr(s, ':'), *eq = strchr(s, '=');
	struct label_ref r = { SV(POL_SOURCE_K8S), { s, 0 }, i };

	if (colon && (!eq || colon < eq)) {
		r.source = (struct sv){ s, (size_t)(colon - s) };
		r.key.p = colon + 1;
	}
	r.key.len = strcspn(r.key.p, "=");
	return r;
}

static int sv_cmp(struct sv a, struct sv b)
{
	int c = memcmp(a.p, b.p, a.len < b.len ? a.len : b.len);

	return c ? c : (a.len > b.len) - (a.len < b.len);
}

/* By key, then source (bsearch() finds a label by both), then place. */
static int label_ref_cmp(const void *pa, const void *pb)
{
	const struct label_ref *a = pa, *b = pb;
	int c = sv_cmp(a->key, b->key);

	if (!c)
		c = sv_cmp(a->source, b->source);
	return c ? c : (a->i > b->i) - (a->i < b->i);
}

static int label_ref_find(const void *pa, const void *pb)
{
	const struct label_ref *a = pa, *b = pb;
	int c = sv_cmp(a->key, b->key);

	return c ? c : sv_cmp(a->source, b->source);
}

int agent_endpoint_merge(struct agent *a, const char *name, const char *const *set, size_t nset,
			 const char *const *remove, size_t nremove, int audit, struct errbuf *eb)
{
	char full[256];
	const struct model_ep *ep;
	struct label_ref *ch = NULL;
	json_t *cur = NULL;
	const char **lv = NULL;
	size_t i, n = 0, nch = nset + nremove, dup = nch;
	int err = agent_writer_begin(a, eb);

	if (err)
		return err;
	/* the labels the endpoint has now (the writer's copy: what this change starts from) */
	ep = endpoint_named(a, name, full, &err, eb);
	if (!ep)
		return err;
	/* as `velum endpoint get` shows them: the user's, reserved:init of a CNI endpoint included */
	cur = agent_user_labels_json(ep);
	ch = calloc(nch + 1, sizeof(*ch));
	lv = calloc(json_array_size(cur) + nset + 1, sizeof(*lv));
	if (!cur || !ch || !lv) {
		err = errbuf_set(eb, -ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < nch; i++)
		ch[i] = label_ref(i < nset ? set[i] : remove[i - nset], i);
	qsort(ch, nch, sizeof(*ch), label_ref_cmp);
	/* one value per key, whatever the source (as a label list): the first repeat named */
	for (i = 1; i < nch; i++)
		if (sv_eq(ch[i].key, ch[i - 1].key) && (dup == nch || ch[i].i < ch[dup].i))
			dup = i;
	if (dup != nch) {
		size_t xi = ch[dup - 1].i, yi = ch[dup].i;
		const char *x = xi < nset ? set[xi] : remove[xi - nset];
		const char *y = yi < nset ? set[yi] : remove[yi - nset];

		err = errbuf_set(eb, -EINVAL,
				 "key '%.*s' is given twice ('%.*s', '%.*s'): one value per key",
				 (int)ch[dup].key.len, ch[dup].key.p, (int)strcspn(x, "="), x,
				 (int)strcspn(y, "="), y);
		goto out;
	}
	/* a label with a changed key (source and key) goes; the others stay, then set's */
	for (i = 0; i < json_array_size(cur); i++) {
		const char *s = json_string_value(json_array_get(cur, i));
		struct label_ref r = label_ref(s, 0);

		if (!bsearch(&r, ch, nch, sizeof(*ch), label_ref_find))
			lv[n++] = s;
	}
	for (i = 0; i < nset; i++)
		lv[n++] = set[i];
	err = agent_endpoint_update(a, name, lv, n, audit, eb);
out:
	json_decref(cur);
	free(ch);
	free(lv);
	return err;
}

/* ---- namespaces ------------------------------------------------------------------------ */

/* Every endpoint's identity, in model order, into a new array (NULL: out of memory). */
static uint32_t *ep_identities(struct agent *a)
{
	const struct model_ep *const *eps;
	size_t n = model_endpoints(a->wm, &eps), i;
	uint32_t *v = calloc(n + 1, sizeof(*v));

	for (i = 0; v && i < n; i++)
		v[i] = eps[i]->identity;
	return v;
}

/*
 * After namespace ns was relabelled in the writer's model (old:
 * ep_identities() before), inside the open transaction: its re-identified
 * endpoints are noted for the datapath (ids, set at the commit), the store
 * gets its labels.
 */
static int ns_relabelled(struct agent *a, const char *ns, const uint32_t *old, struct idset *ids,
			 struct errbuf *eb)
{
	int err = idset_diff(a, old, ns, ids);

	return err ? err : agent_save_ns(a, ns, eb);
}

/* A namespace label or delete: its model change again, its endpoints' identities. */
struct ns_change {
	struct idset ids; /* first: ids_kernel() */
	const char *ns;
	const char *const *labels; /* NULL: delete */
	size_t nlabels;
};

static int ns_change_replay(struct agent *a, struct model *m, void *ctx)
{
	const struct ns_change *c = ctx;
	struct errbuf eb;

	(void)a;
	errbuf_clear(&eb);
	if (!c->labels)
		return model_namespace_remove(m, c->ns, &eb);
	return model_namespace_relabel(m, c->ns, c->labels, c->nlabels, &eb);
}

int agent_namespace_label(struct agent *a, const char *ns, const char *const *labels,
			  size_t nlabels, struct errbuf *eb)
{
	int64_t t0 = agent_now_ns(CLOCK_MONOTONIC);
	struct ns_change c = {
		{ { 0 } }, ns, labels ? labels : (const char *const[]){ NULL }, nlabels
	};
	struct agent_change ch = { ids_kernel, ns_change_replay, &c };
	uint32_t *old, *changed = NULL;
	size_t nchanged = 0;
	int err = agent_writer_begin(a, eb);

	if (err)
		return err;
	old = ep_identities(a);
	if (!old)
		return errbuf_set(eb, -ENOMEM, "out of memory");
	/* validates first and changes nothing on bad input */
	err = model_namespace_relabel(a->wm, ns, labels, nlabels, eb);
	if (err) {
		free(old);
		return err;
	}
	err = agent_store_begin(a->st, eb);
	if (!err)
		err = ns_relabelled(a, ns, old, &c.ids, eb);
	if (!err)
		err = agent_regenerate(a, &changed, &nchanged, eb);
	if (!err)
		err = agent_finish(a, changed, nchanged, t0, &ch, eb);
	free(changed);
	free(old);
	vec_free(&c.ids.v);
	if (err)
		agent_rebuild(a, "namespace label", eb);
	return err;
}

/* The key of a "key=value" (or "key") string: its length. */
static size_t label_key_len(const char *s)
{
	return strcspn(s, "=");
}

int agent_namespace_merge(struct agent *a, const char *ns, const char *const *set, size_t nset,
			  const char *const *remove, size_t nremove, bool overwrite,
			  struct errbuf *eb)
{
	const struct model_ns *cur;
	struct strbuf sb = STRBUF_INIT;
	const char **lv = NULL;
	size_t i, j, n = 0, *offs = NULL;
	int err = agent_writer_begin(a, eb);

	if (err)
		return err;
	/* the labels the namespace has now (in the writer's copy: what this change starts from) */
	cur = model_namespace(a->wm, ns);
	offs = calloc((cur ? cur->labels.n : 0) + nset + 1, sizeof(*offs));
	lv = calloc((cur ? cur->labels.n : 0) + nset + 1, sizeof(*lv));
	if (!offs || !lv) {
		err = errbuf_set(eb, -ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; cur && i < cur->labels.n && !err; i++) {
		const struct pol_label *l = &cur->labels.v[i];
		bool gone = false;

		for (j = 0; j < nremove && !gone; j++)
			gone = !strcmp(remove[j], l->key);
		for (j = 0; j < nset && !gone; j++) {
			size_t kl = label_key_len(set[j]);

			if (strlen(l->key) != kl || strncmp(set[j], l->key, kl))
				continue;
			/* kubectl label: a new value for a key needs --overwrite */
			if (!overwrite && strcmp(set[j][kl] ? set[j] + kl + 1 : "", l->value))
				err = errbuf_set(
					eb, -EINVAL,
					"'%s' already has a value (%s), and --overwrite is "
					"false",
					l->key, l->value);
			gone = true;
		}
		if (gone)
			continue;
		offs[n++] = sb.len;
		strbuf_printf(&sb, "%s=%s", l->key, l->value);
		strbuf_putc(&sb, '\0');
	}
	for (i = 0; i < nset && !err; i++) {
		offs[n++] = sb.len;
		strbuf_puts(&sb, set[i]);
		strbuf_putc(&sb, '\0');
	}
	if (!err && sb.oom)
		err = errbuf_set(eb, -ENOMEM, "out of memory");
	if (err)
		goto out;
	/* the buffer is complete: pointers into it stay valid */
	for (i = 0; i < n; i++)
		lv[i] = strbuf_str(&sb) + offs[i];
	err = agent_namespace_label(a, ns, lv, n, eb);
out:
	strbuf_free(&sb);
	free(offs);
	free(lv);
	return err;
}

int agent_namespace_delete(struct agent *a, const char *ns, struct errbuf *eb)
{
	int64_t t0 = agent_now_ns(CLOCK_MONOTONIC);
	struct ns_change c = { .ns = ns };
	struct agent_change ch = { .replay = ns_change_replay, .ctx = &c };
	int err = agent_writer_begin(a, eb);

	if (!err)
		err = model_namespace_remove(a->wm, ns, eb);
	if (err)
		return err;
	err = agent_store_begin(a->st, eb);
	if (!err)
		err = agent_store_ns_delete(a->st, ns, eb);
	if (!err)
		err = agent_finish(a, NULL, 0, t0, &ch, eb);
	if (err)
		agent_rebuild(a, "namespace delete", eb);
	return err;
}

struct imported {
	enum pol_kind kind;
	char *ns, *name;
	size_t file;
	bool audit;
	bool remove; /* `[]`: removes the earlier rules of the file's name */
};

VEC_DECLARE(imported_vec, struct imported);

static bool same_key(const struct pol_policy *p, enum pol_kind kind, const char *ns,
		     const char *name)
{
	return p->kind == kind && !strcmp(p->name, name) &&
	       !strcmp(ns_or_empty(p->namespace), ns_or_empty(ns));
}

/*
 * Of several policies of the same key in set (in order), only the last is
 * kept: the others are freed and their keys' names cleared (NULL). Linear:
 * a hash of the keys seen, walking from the end.
 */
static int drop_replaced(struct pol_set *set, struct imported *keys)
{
	struct seen {
		struct hnode node;
		size_t i;
	} *seen = calloc(set->n ? set->n : 1, sizeof(*seen));
	struct hmap h = { 0 };
	size_t i;
	int err = seen ? 0 : -ENOMEM;

	for (i = set->n; !err && i-- > 0;) {
		const struct pol_policy *p = set->v[i];
		uint64_t hash =
			agent_policy_key_hash(pol_kind_name(p->kind), p->namespace, p->name);
		struct hnode *it;
		bool later = false;

		hmap_for_each_hash(&h, hash, it)
		{
			const struct pol_policy *q = set->v[container_of(it, struct seen, node)->i];

			if (same_key(q, p->kind, p->namespace, p->name))
				later = true;
		}
		if (later) {
			free(keys[i].ns);
			free(keys[i].name);
			keys[i].ns = keys[i].name = NULL;
			continue;
		}
		seen[i].i = i;
		err = hmap_insert(&h, &seen[i].node, hash);
	}
	hmap_destroy(&h);
	free(seen);
	return err;
}

/* A stored file an import's file must equal: (stored id, index of the imported file). */
struct same_file {
	int64_t id;
	size_t file;
};

static int cmp_same_file(const void *x, const void *y)
{
	const struct same_file *a = x, *b = y;

	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	return a->file < b->file ? -1 : a->file > b->file;
}

/*
 * Would importing set (keys, parsed from files) change nothing? True when
 * every policy is loaded from a file of the same name and the same bytes,
 * with the same audit flag, and no `[]` removes a loaded policy. The
 * engine answers most imports (a new policy, another file) without a
 * store read; a likely re-import costs one indexed read per policy and
 * one comparison (inside SQLite) per file.
 */
static int import_unchanged(struct agent *a, const struct agent_file *files,
			    const struct pol_set *set, const struct imported *keys, size_t n,
			    const struct imported *removed, size_t nremoved, bool audit, bool *same,
			    struct errbuf *eb)
{
	struct same_file *sf;
	size_t i;
	int err = 0;

	*same = false;
	if (!n)
		return 0;
	for (i = 0; i < nremoved; i++)
		if (pol_engine_policy(model_engine(a->wm), POL_KIND_RULES, NULL, removed[i].name))
			return 0;
	for (i = 0; i < n; i++) {
		const struct pol_policy *p = pol_engine_policy(model_engine(a->wm), keys[i].kind,
							       keys[i].ns, keys[i].name);

		if (!p || !p->file || strcmp(p->file, files[keys[i].file].name) ||
		    p->audit != set->v[i]->audit || p->nrules != set->v[i]->nrules)
			return 0;
	}
	sf = calloc(n, sizeof(*sf));
	if (!sf)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		bool row_audit = false;

		err = agent_store_policy_get(a->st, pol_kind_name(keys[i].kind), keys[i].ns,
					     keys[i].name, &sf[i].id, &row_audit, eb);
		if (err || row_audit != audit)
			goto out;
		sf[i].file = keys[i].file;
	}
	/* each (stored file, imported file) pair once */
	qsort(sf, n, sizeof(*sf), cmp_same_file);
	for (i = 0; i < n; i++) {
		const struct agent_file *f = &files[sf[i].file];
		bool eq = false;

		if (i && !cmp_same_file(&sf[i - 1], &sf[i]))
			continue;
		err = agent_store_file_same(a->st, sf[i].id, f->name, f->content, f->len, &eq, eb);
		if (err || !eq)
			goto out;
	}
	*same = true;
out:
	free(sf);
	/* a policy the engine has but the store lacks is a change, not an error */
	return err == -ENOENT ? 0 : err;
}

/* agent_check_capacity()'s gone(): the raw rules an import of `[]` removes. */
static bool removed_rules(void *ctx, const struct pol_policy *p)
{
	const struct imported_vec *removed = ctx;
	size_t i;

	if (p->kind != POL_KIND_RULES)
		return false;
	for (i = 0; i < removed->n; i++)
		if (!strcmp(removed->v[i].name, p->name))
			return true;
	return false;
}

/* What agent_policy_parse() made: the parsed policies, their keys, warnings. */
struct agent_parsed {
	int64_t t0; /* when parsing began: import-to-enforced counts from here */
	struct pol_set set;
	struct imported_vec keys;
	struct strbuf warn;
};

static void agent_parsed_free(struct agent_parsed *ps)
{
	size_t i;

	if (!ps)
		return;
	for (i = 0; i < ps->keys.n; i++) {
		free(ps->keys.v[i].ns);
		free(ps->keys.v[i].name);
	}
	vec_free(&ps->keys);
	pol_set_free(&ps->set);
	strbuf_free(&ps->warn);
	free(ps);
}

int agent_policy_parse(struct agent *a, const struct agent_file *files, size_t nfiles, bool audit,
		       struct agent_parsed **parsed, struct errbuf *eb)
{
	struct agent_parsed *ps = calloc(1, sizeof(*ps));
	struct pol_set set = { 0 };
	struct imported_vec keys = { 0 };
	struct strbuf warn = STRBUF_INIT;
	size_t i, j;
	int err = 0;

	*parsed = NULL;
	if (!ps)
		return -ENOMEM;
	ps->t0 = agent_now_ns(CLOCK_MONOTONIC);
	if (!nfiles)
		err = errbuf_set(eb, -EINVAL, "no policy file given");
	/* parse everything first: any error changes nothing */
	for (i = 0; i < nfiles && !err; i++) {
		size_t before = set.n;

		if (!files[i].name || !*files[i].name) {
			err = errbuf_set(eb, -EINVAL, "files[%zu]: a file name is required", i);
			break;
		}
		if (atomic_load(&a->stopping)) {
			err = agent_stopping(eb);
			break;
		}
		err = pol_parse_buf(files[i].name, files[i].content, files[i].len, &set, eb);
		for (j = before; !err && j < set.n; j++) {
			struct pol_policy *p = set.v[j];
			struct imported k = { p->kind, NULL, NULL, i, audit || p->audit };

			if (!err && !a->proxy) {
				/* as Cilium with its proxy disabled: refuse, do not half-enforce */
				struct strbuf where = STRBUF_INIT;

				if (pol_policy_first_l7(p, &where))
					err = errbuf_set(
						eb, -EINVAL,
						"%s: L7 policy is not supported since L7 "
						"proxy is not enabled (velumd --proxy off)",
						strbuf_str(&where));
				strbuf_free(&where);
				if (err)
					break;
			}
			if (p->warnings)
				strbuf_puts(&warn, p->warnings);
			if (audit)
				p->audit = true;
			k.ns = p->namespace ? strdup(p->namespace) : NULL;
			k.name = strdup(p->name);
			if (!k.name || (p->namespace && !k.ns) || vec_push(&keys, k)) {
				free(k.ns);
				free(k.name);
				err = -ENOMEM;
			}
		}
	}
	/* a later file's policy of the same key replaces an earlier one */
	if (!err)
		err = drop_replaced(&set, keys.v);
	/* drop the replaced duplicates from the set (same index as keys) */
	for (i = j = 0; !err && i < set.n; i++) {
		if (!keys.v[i].name) {
			pol_policy_free(set.v[i]);
			continue;
		}
		set.v[j] = set.v[i];
		keys.v[j++] = keys.v[i];
	}
	if (!err)
		set.n = keys.n = j;
	ps->set = set;
	ps->keys = keys;
	ps->warn = warn;
	if (err) {
		agent_parsed_free(ps);
		return err;
	}
	*parsed = ps;
	return 0;
}

/* An import's model changes, again on the other copy: the files parsed anew. */
struct import_replay {
	struct idset ids; /* endpoints the namespaces re-identified; first: ids_kernel() */
	const struct agent_file *files;
	size_t nfiles;
	bool audit;
	const struct pol_set *set; /* its Namespace objects */
	const struct imported_vec *removed;
};

static int import_replay(struct agent *a, struct model *m, void *ctx)
{
	const struct import_replay *r = ctx;
	struct agent_parsed *ps = NULL;
	struct errbuf eb;
	size_t i, j;
	int err;

	errbuf_clear(&eb);
	err = agent_policy_parse(a, r->files, r->nfiles, r->audit, &ps, &eb);
	if (err)
		return err;
	for (i = j = 0; i < ps->set.n; i++) {
		if (ps->set.v[i]->kind == POL_KIND_RULES && !ps->set.v[i]->nrules)
			pol_policy_free(ps->set.v[i]);
		else
			ps->set.v[j++] = ps->set.v[i];
	}
	ps->set.n = j;
	for (i = 0; !err && i < r->set->nns; i++)
		err = model_namespace_set(m, r->set->nss[i].name, &r->set->nss[i].labels, &eb);
	for (i = 0; !err && i < r->removed->n; i++)
		if (pol_engine_policy(model_engine(m), POL_KIND_RULES, NULL, r->removed->v[i].name))
			err = model_policy_delete(m, POL_KIND_RULES, NULL, r->removed->v[i].name);
	if (!err)
		err = model_policies_load(m, &ps->set);
	agent_parsed_free(ps);
	return err;
}

int agent_policy_import_parsed(struct agent *a, const struct agent_file *files, size_t nfiles,
			       bool audit, bool dry_run, struct agent_parsed *ps, char ***loaded,
			       size_t *nloaded, char **warnings, struct errbuf *eb)
{
	int64_t t0;
	struct pol_set set = { 0 };
	struct imported_vec keys = { 0 }, removed = { 0 };
	struct strbuf warn = STRBUF_INIT;
	int64_t *file_ids = NULL;
	uint32_t *changed = NULL;
	size_t nchanged = 0, i, j, nout = 0;
	char now[40], **out = NULL;
	bool model_changed = false, unchanged = false, ns_changes = false;
	struct import_replay ir = { { { 0 } }, files, nfiles, audit, &set, &removed };
	struct agent_change ch = { ids_kernel, import_replay, &ir };
	int err = 0;

	*loaded = NULL;
	*nloaded = 0;
	*warnings = NULL;
	/* parsed outside the lock (agent_policy_parse): taken over */
	t0 = ps->t0;
	set = ps->set;
	keys = ps->keys;
	warn = ps->warn;
	free(ps);
	err = agent_writer_begin(a, eb);
	if (err)
		goto out;
	/*
	 * Raw rules with no rule (`[]`) replace the earlier rules of the same
	 * name with nothing: the policy goes (Cilium deletes a policy updated to
	 * no rules). Said in the warnings; not loaded.
	 */
	for (i = j = 0; i < set.n; i++) {
		if (set.v[i]->kind != POL_KIND_RULES || set.v[i]->nrules) {
			set.v[j] = set.v[i];
			keys.v[j++] = keys.v[i];
			continue;
		}
		keys.v[i].remove = true;
		if (pol_engine_policy(model_engine(a->wm), POL_KIND_RULES, NULL, keys.v[i].name))
			strbuf_printf(&warn,
				      "%s: no rules: CiliumRules %s (its earlier rules) "
				      "removed\n",
				      files[keys.v[i].file].name, keys.v[i].name);
		else
			strbuf_printf(&warn, "%s: no rules, and no CiliumRules %s to remove\n",
				      files[keys.v[i].file].name, keys.v[i].name);
		if (vec_push(&removed, keys.v[i])) {
			free(keys.v[i].ns);
			free(keys.v[i].name);
			err = -ENOMEM;
		}
		pol_policy_free(set.v[i]);
	}
	set.n = keys.n = j;
	if (err)
		goto out;
	/* capacities before anything changes: a late ENOSPC would cost a rebuild */
	err = agent_check_capacity(a, &set, removed_rules, &removed, eb);
	if (err)
		goto out;

	/*
	 * What the caller gets back is built before anything changes: once the
	 * change is committed, no allocation can fail and lose its result.
	 */
	out = calloc(keys.n ? keys.n : 1, sizeof(*out));
	err = out ? 0 : -ENOMEM;
	for (i = 0; !err && i < keys.n; i++) {
		size_t len =
			strlen(keys.v[i].name) + 64 + (keys.v[i].ns ? strlen(keys.v[i].ns) : 0);

		out[i] = malloc(len);
		nout = i + 1;
		if (!out[i])
			err = -ENOMEM;
		else
			snprintf(out[i], len, "%s\t%s\t%s", pol_kind_name(keys.v[i].kind),
				 ns_or_empty(keys.v[i].ns), keys.v[i].name);
	}
	file_ids = err ? NULL : calloc(nfiles, sizeof(*file_ids));
	if (!file_ids || warn.oom) {
		err = -ENOMEM;
		goto out;
	}
	/* Namespace objects: listed after the policies as "Namespace\t\tname" */
	if (!err && set.nns) {
		char **nv = realloc(out, (keys.n + set.nns) * sizeof(*out));

		err = nv ? 0 : -ENOMEM;
		if (nv)
			out = nv;
		for (i = 0; !err && i < set.nns; i++) {
			const struct model_ns *mns = model_namespace(a->wm, set.nss[i].name);

			if (!mns || pol_labels_cmp(&mns->labels, &set.nss[i].labels))
				ns_changes = true;
			if (asprintf(&out[keys.n + i], "Namespace\t\t%s", set.nss[i].name) < 0) {
				out[keys.n + i] = NULL;
				err = -ENOMEM;
			}
			nout = keys.n + i + 1;
		}
		if (err)
			goto out;
	}
	/* the same files again: nothing to write, no new revision (the answer says so) */
	if (!ns_changes)
		err = import_unchanged(a, files, &set, keys.v, keys.n, removed.v, removed.n, audit,
				       &unchanged, eb);
	if (err)
		goto out;
	if (unchanged) {
		*loaded = out;
		*nloaded = nout;
		out = NULL;
		if (warn.len)
			*warnings = strbuf_detach(&warn);
		goto out;
	}
	if (atomic_load(&a->stopping)) {
		err = agent_stopping(eb);
		goto out;
	}
	err = agent_store_begin(a->st, eb);
	if (err)
		goto out;
	for (i = 0; !err && i < keys.n; i++) {
		size_t f = keys.v[i].file;

		if (!file_ids[f])
			err = agent_store_file_add(a->st, files[f].name, files[f].content,
						   files[f].len, &file_ids[f], eb);
	}
	if (err) {
		agent_store_rollback(a->st);
		goto out;
	}
	model_changed = true;
	/* namespaces first: their endpoints' identities are what the policies then see */
	for (i = 0; !err && i < set.nns; i++) {
		uint32_t *old = ep_identities(a);

		err = old ? model_namespace_set(a->wm, set.nss[i].name, &set.nss[i].labels, eb) :
			    -ENOMEM;
		if (!err)
			err = ns_relabelled(a, set.nss[i].name, old, &ir.ids, eb);
		if (err && err != -ENOMEM)
			errbuf_prefix(eb, "namespace %s: ", set.nss[i].name);
		free(old);
	}
	for (i = 0; !err && i < removed.n; i++) {
		if (!pol_engine_policy(model_engine(a->wm), POL_KIND_RULES, NULL,
				       removed.v[i].name))
			continue;
		err = agent_store_policy_delete(a->st, pol_kind_name(POL_KIND_RULES), "",
						removed.v[i].name, eb);
		if (!err)
			err = model_policy_delete(a->wm, POL_KIND_RULES, NULL, removed.v[i].name);
	}
	if (!err) {
		err = model_policies_load(a->wm, &set);
		if (err)
			errbuf_set(eb, err, "loading policies: %s", strerror(-err));
	}
	/* the policy maps' capacity, before the policies' rows are written */
	if (!err)
		err = agent_regenerate(a, &changed, &nchanged, eb);
	if (!err)
		err = agent_check_sizes(a, changed, nchanged, eb);
	if (!err && dry_run) {
		/* every check passed: the writer's copy and the open transaction go */
		agent_writer_drop(a);
		model_changed = false;
		goto done;
	}
	rfc3339_now(now, sizeof(now));
	for (i = 0; !err && i < keys.n; i++) {
		const struct pol_policy *p = pol_engine_policy(model_engine(a->wm), keys.v[i].kind,
							       keys.v[i].ns, keys.v[i].name);
		struct agent_store_policy row = {
			.kind = pol_kind_name(keys.v[i].kind),
			.ns = ns_or_empty(keys.v[i].ns),
			.name = keys.v[i].name,
			.file_id = file_ids[keys.v[i].file],
			.first_rule_id = p ? p->first_rule_id : 0,
			.audit = audit,
			.imported = now,
		};

		err = agent_store_policy_put(a->st, &row, eb);
	}
	if (!err)
		err = agent_store_file_gc(a->st, eb);
	/* the last point before the kernel: a stop abandons the import, nothing applied */
	if (!err && atomic_load(&a->stopping))
		err = agent_stopping(eb);
	if (!err)
		err = agent_finish(a, changed, nchanged, t0, &ch, eb);
	if (err)
		goto out;
	pthread_mutex_lock(&a->lock);
	snprintf(a->last_import, sizeof(a->last_import), "%s", now);
	mon_hist_observe(&a->import_hist, agent_secs_since(t0));
	pthread_mutex_unlock(&a->lock);
done:
	*loaded = out;
	*nloaded = nout;
	out = NULL;
	if (warn.len)
		*warnings = strbuf_detach(&warn); /* not oom: checked before the change */
out:
	if (err && model_changed)
		agent_rebuild(a, "policy import", eb);
	if (err == -ENOMEM && errbuf_empty(eb))
		errbuf_set(eb, -ENOMEM, "out of memory");
	for (i = 0; i < keys.n; i++) {
		free(keys.v[i].ns);
		free(keys.v[i].name);
	}
	for (i = 0; out && i < nout; i++)
		free(out[i]);
	free(out);
	vec_free(&keys);
	for (i = 0; i < removed.n; i++) {
		free(removed.v[i].ns);
		free(removed.v[i].name);
	}
	vec_free(&removed);
	pol_set_free(&set);
	strbuf_free(&warn);
	free(file_ids);
	free(changed);
	vec_free(&ir.ids.v);
	return err;
}

/* A policy delete's model changes again. */
static int delete_replay(struct agent *a, struct model *m, void *ctx)
{
	const struct imported_vec *del = ctx;
	size_t i;
	int err = 0;

	(void)a;
	for (i = 0; !err && i < del->n; i++)
		err = model_policy_delete(m, del->v[i].kind, del->v[i].ns, del->v[i].name);
	return err;
}

int agent_policy_delete(struct agent *a, const char *kind, const char *ns, const char *name,
			bool all, size_t *deleted, struct errbuf *eb)
{
	int64_t t0 = agent_now_ns(CLOCK_MONOTONIC);
	const struct pol_policy *const *ps;
	struct imported_vec del = { 0 };
	struct agent_change ch = { .replay = delete_replay, .ctx = &del };
	enum pol_kind k = POL_KIND_CNP;
	uint32_t *changed = NULL;
	size_t nchanged = 0, n, i;
	int err = 0;

	*deleted = 0;
	if (kind && pol_kind_parse(kind, &k))
		return errbuf_set(eb, -EINVAL, "unknown policy kind '%s'", kind);
	if (!all && (!name || !*name))
		return errbuf_set(eb, -EINVAL, "a policy name (or all) is required");
	err = agent_writer_begin(a, eb);
	if (err)
		return err;
	n = pol_engine_policies(model_engine(a->wm), &ps);
	for (i = 0; i < n && !err; i++) {
		struct imported d = { ps[i]->kind };

		if (!all || name) {
			if (strcmp(ps[i]->name, name))
				continue;
		}
		if (kind && ps[i]->kind != k)
			continue;
		if (ns && strcmp(ns_or_empty(ps[i]->namespace), ns))
			continue;
		d.ns = ps[i]->namespace ? strdup(ps[i]->namespace) : NULL;
		d.name = strdup(ps[i]->name);
		if (!d.name || vec_push(&del, d)) {
			free(d.ns);
			free(d.name);
			err = -ENOMEM;
		}
	}
	if (!err && !del.n) {
		err = -ENOENT;
		if (all && !name)
			errbuf_set(eb, err, "no policy is loaded");
		else
			errbuf_set(eb, err, "no policy named '%s'%s%s%s%s", name ? name : "",
				   ns ? " in namespace " : "", ns ? ns : "",
				   kind ? " of kind " : "", kind ? kind : "");
	}
	if (err)
		goto out;
	err = agent_store_begin(a->st, eb);
	if (err)
		goto out;
	for (i = 0; !err && i < del.n; i++) {
		err = agent_store_policy_delete(a->st, pol_kind_name(del.v[i].kind),
						ns_or_empty(del.v[i].ns), del.v[i].name, eb);
		if (!err)
			err = model_policy_delete(a->wm, del.v[i].kind, del.v[i].ns, del.v[i].name);
	}
	if (!err)
		err = agent_regenerate(a, &changed, &nchanged, eb);
	if (!err)
		err = agent_check_sizes(a, changed, nchanged, eb);
	if (!err)
		err = agent_store_file_gc(a->st, eb);
	if (!err)
		err = agent_finish(a, changed, nchanged, t0, &ch, eb);
	if (err)
		agent_rebuild(a, "policy delete", eb);
	else
		*deleted = del.n;
out:
	for (i = 0; i < del.n; i++) {
		free(del.v[i].ns);
		free(del.v[i].name);
	}
	vec_free(&del);
	free(changed);
	return err;
}
