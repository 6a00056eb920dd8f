/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The change pipeline of velumd (see agent.h): endpoints and policies in,
 * model, store and kernel kept equal (store rows in rows.c, the kernel in
 * sync.c; after a failed change, restore.c rebuilds all three from the
 * store). Every public function here runs with a->lock held.
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

static int64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
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
	pthread_mutex_init(&a->lock, NULL);
	pthread_mutex_init(&a->flow_lock, NULL);
	pthread_mutex_init(&a->sum_lock, NULL);
	pthread_cond_init(&a->flow_cond, NULL);
	mon_ring_init(&a->ring, o->flow_cap ? o->flow_cap : AGENT_FLOWS_DEFAULT);
	mon_hist_init(&a->regen_hist, mon_latency_bounds, mon_latency_nbounds);
	mon_hist_init(&a->import_hist, mon_latency_bounds, mon_latency_nbounds);
	a->started_ns = now_ns(CLOCK_REALTIME);
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
	model__free(a->m);
	agent_applier__free(a->applier);
	dp__close(a->dp);
	agent_store__close(a->st);
	mon_ring_free(&a->ring);
	mon_hubble_free(&a->hubble);
	pthread_mutex_destroy(&a->lock);
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

/* ---- changes ------------------------------------------------------------------------------ */

/* A change abandoned because velumd is stopping (SIGTERM). */
static int stopping(struct errbuf *eb)
{
	return errbuf_set(eb, -EINTR, "velumd is stopping: nothing was changed");
}

/* After a failure past the first model change: back to what the store says. */
static void rebuild(struct agent *a, const char *what, const struct errbuf *why)
{
	struct errbuf eb;

	errbuf_clear(&eb);
	agent_store_rollback(a->st);
	if (atomic_load(&a->stopping)) {
		/* the kernel was not touched (or the change is abandoned as a crash would) */
		pr_info("velumd: %s abandoned (%s); the next start restores the stored state\n",
			what, why && why->msg[0] ? why->msg : "?");
		return;
	}
	pr_err("velumd: %s failed (%s); restoring the stored state\n", what,
	       why && why->msg[0] ? why->msg : "?");
	if (agent_restore(a, &eb))
		pr_err("velumd: restoring the stored state failed: %s\n", eb.msg);
}

static double secs_since(int64_t t0)
{
	return (double)(now_ns(CLOCK_MONOTONIC) - t0) / 1e9;
}

/*
 * The common tail of every change, inside the open transaction: size
 * check, identities, revision, kernel (changed endpoints, ipcache),
 * commit. On error the caller rebuilds.
 */
static int finish(struct agent *a, const uint32_t *changed, size_t n, int64_t t_regen,
		  struct errbuf *eb)
{
	int64_t t1 = now_ns(CLOCK_MONOTONIC), t2 = t1, t3 = t1;
	int err = agent_check_sizes(a, changed, n, eb);

	if (!err)
		err = agent_save_identities(a, eb);
	if (!err)
		err = agent_store_set_revision(a->st, a->revision + 1, eb);
	if (!err)
		err = agent_l7_publish(a, a->revision + 1, eb);
	if (!err) {
		t2 = now_ns(CLOCK_MONOTONIC);
		err = agent_apply_changed(a, changed, n, eb);
	}
	if (!err)
		err = agent_sync_ipcache(a, eb);
	if (!err) {
		t3 = now_ns(CLOCK_MONOTONIC);
		err = agent_store_commit(a->st, eb);
	}
	pr_debug("velumd: change: model+regenerate %.2f ms, store %.2f ms, %zu map(s) swapped "
		 "in %.2f ms, commit %.2f ms\n",
		 (double)(t1 - t_regen) / 1e6, (double)(t2 - t1) / 1e6, n, (double)(t3 - t2) / 1e6,
		 (double)(now_ns(CLOCK_MONOTONIC) - t3) / 1e6);
	a->regen_total++;
	if (err) {
		a->regen_failed++;
		return err;
	}
	mon_hist_observe(&a->regen_hist, secs_since(t_regen));
	a->revision++;
	agent_summary_publish(a);
	return 0;
}

static int regenerate(struct agent *a, uint32_t **changed, size_t *n, struct errbuf *eb)
{
	int err = model_regenerate(a->m, changed, n);

	if (err)
		errbuf_set(eb, err, "policy resolution: %s", strerror(-err));
	return err;
}

/* Lowest free endpoint id (the model keeps endpoints sorted by id). */
static uint32_t free_ep_id(struct agent *a)
{
	const struct model_ep *const *eps;
	size_t n = model_endpoints(a->m, &eps), i;
	uint32_t id = 1;

	for (i = 0; i < n && eps[i]->id == id; i++)
		id++;
	return id;
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
	uint32_t *changed = NULL, id;
	size_t nchanged = 0, nkeys = 0;
	int64_t t0;
	int err;

	err = agent_ep_fullname(r->name, r->ns, full, sizeof(full), eb);
	if (err)
		return err;
	snprintf(ns, sizeof(ns), "%.*s", (int)(strchr(full, '/') - full), full);
	if (model_endpoint(a->m, full))
		return errbuf_set(eb, -EEXIST, "endpoint '%s' already exists", full);
	id = free_ep_id(a);
	if (id > VELUM_EP_ID_MAX || model_endpoints(a->m, &all) >= VELUM_MAX_ENDPOINTS)
		return errbuf_set(eb, -ENOSPC, "no room for another endpoint (at most %d)",
				  VELUM_MAX_ENDPOINTS);
	/* its address takes an ipcache entry */
	if (a->pushed.n + model_endpoints(a->m, &all) + a->ipcache_host + 1 > VELUM_IPCACHE_MAX)
		return errbuf_set(
			eb, -ENOSPC,
			"no room for another endpoint's address: the ipcache holds %zu "
			"CIDR prefixes, %zu endpoint and %zu host address(es), at most %d",
			a->pushed.n, model_endpoints(a->m, &all), a->ipcache_host,
			VELUM_IPCACHE_MAX);
	err = model_endpoint_add(a->m, id, full, ns, r->labels, r->nlabels, NULL, 0, r->ports,
				 r->nports, r->audit, &ep, eb);
	if (err)
		return err == -ENOMEM ? (errbuf_set(eb, -EINVAL, "out of memory"), err) : err;

	/*
	 * Its policy depends on its identity and named ports, not on its
	 * address: resolve it now, so the datapath brings the endpoint up with
	 * its real policy instead of an open one (an adopted namespace may
	 * already run processes).
	 */
	t0 = now_ns(CLOCK_MONOTONIC);
	err = regenerate(a, &changed, &nchanged, eb);
	if (!err)
		err = agent_build_entries(a, id, &keys, &vals, &nkeys, eb);
	if (err) {
		model_endpoint_remove(a->m, full);
		model_regenerate(a->m, NULL, NULL);
		free(changed);
		return err;
	}

	/* the datapath makes the namespace, the veth and picks the address */
	eo.ep_id = id;
	eo.identity = ep->identity;
	eo.netns_path = r->netns;
	eo.ifname = r->ifname;
	eo.ipv4 = r->ipv4;
	eo.keys = keys;
	eo.vals = vals;
	eo.npolicy = nkeys;
	err = dp_endpoint_add(a->dp, &eo, &made, eb);
	free(keys);
	free(vals);
	if (err) {
		errbuf_prefix(eb, "endpoint %s: ", full);
		model_endpoint_remove(a->m, full);
		model_regenerate(a->m, NULL, NULL);
		free(changed);
		if (err == -ENOENT && r->netns)
			err = -EINVAL;
		return err;
	}
	x.id = id;
	x.adopted = r->netns != NULL;
	x.netns = strdup(r->netns ? r->netns : made.netns);
	x.ifname = r->ifname && strcmp(r->ifname, "eth0") ? strdup(r->ifname) : NULL;
	x.container_id = r->container_id ? strdup(r->container_id) : NULL;
	snprintf(x.host_ifname, sizeof(x.host_ifname), "%s", made.host_ifname);
	rfc3339_now(x.created, sizeof(x.created));
	if (!x.netns || (r->container_id && !x.container_id) ||
	    (r->ifname && strcmp(r->ifname, "eth0") && !x.ifname))
		err = -ENOMEM;
	else
		err = agent_epx_put(a, &x);
	if (err) {
		agent_epx_free(&x);
		goto fail;
	}
	/* the address changes the ipcache only, not any map state */
	err = model_endpoint_set_ips(a->m, full, &made.ipv4, 1, eb);
	if (!err)
		err = agent_store_begin(a->st, eb);
	if (!err)
		err = agent_save_ep(a, model_endpoint(a->m, full), eb);
	if (!err)
		err = agent_save_ns(a, ns, eb);
	if (!err)
		err = finish(a, changed, nchanged, t0, eb);
	if (err)
		goto fail;
	free(changed);
	*out = model_endpoint(a->m, full);
	return 0;

fail:
	free(changed);
	if (err == -ENOMEM && errbuf_empty(eb))
		errbuf_set(eb, -ENOMEM, "out of memory");
	rebuild(a, "endpoint create", eb);
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
	ep = model_endpoint(a->m, full);
	if (!ep) {
		*err = errbuf_set(eb, -ENOENT, "no endpoint '%s'", full);
	}
	return ep;
}

int agent_endpoint_delete(struct agent *a, const char *name, struct errbuf *eb)
{
	char full[256];
	const struct model_ep *ep;
	uint32_t *changed = NULL, id;
	size_t nchanged = 0;
	int64_t t0 = now_ns(CLOCK_MONOTONIC);
	int err;

	ep = endpoint_named(a, name, full, &err, eb);
	if (!ep)
		return err;
	id = ep->id;
	err = agent_store_begin(a->st, eb);
	if (err)
		return err;
	err = agent_store_ep_delete(a->st, id, eb);
	if (!err)
		err = model_endpoint_remove(a->m, full);
	if (!err)
		err = regenerate(a, &changed, &nchanged, eb);
	if (!err) {
		err = dp_endpoint_remove(a->dp, id, eb);
		if (err == -ENOENT)
			err = 0;
	}
	if (!err)
		err = finish(a, changed, nchanged, t0, eb);
	free(changed);
	if (err) {
		rebuild(a, "endpoint delete", eb);
		return err;
	}
	epx_remove(a, id);
	return 0;
}

int agent_endpoint_update(struct agent *a, const char *name, const char *const *labels,
			  size_t nlabels, int audit, struct errbuf *eb)
{
	char full[256];
	const struct model_ep *ep;
	uint32_t *changed = NULL, old_identity, id;
	size_t nchanged = 0;
	int64_t t0 = now_ns(CLOCK_MONOTONIC);
	int err;

	ep = endpoint_named(a, name, full, &err, eb);
	if (!ep)
		return err;
	id = ep->id;
	old_identity = ep->identity;
	if (labels) {
		/* validates first and changes nothing on bad input */
		err = model_endpoint_relabel(a->m, full, labels, nlabels, eb);
		if (err)
			return err;
	}
	err = agent_store_begin(a->st, eb);
	if (!err && audit >= 0)
		err = model_endpoint_set_audit(a->m, full, audit > 0);
	ep = model_endpoint(a->m, full);
	if (!err && ep->identity != old_identity) {
		err = dp_endpoint_set_identity(a->dp, id, ep->identity);
		if (err)
			errbuf_set(eb, err, "datapath: set identity: %s", strerror(-err));
	}
	if (!err)
		err = regenerate(a, &changed, &nchanged, eb);
	if (!err)
		err = agent_save_ep(a, ep, eb);
	if (!err)
		err = finish(a, changed, nchanged, t0, eb);
	free(changed);
	if (err)
		rebuild(a, "endpoint update", eb);
	return err;
}

/* ---- namespaces ------------------------------------------------------------------------ */

/* Every endpoint's identity, in model order, into a new array (NULL: out of memory). */
static uint32_t *ep_identities(struct agent *a)
{
	const struct model_ep *const *eps;
	size_t n = model_endpoints(a->m, &eps), i;
	uint32_t *v = calloc(n + 1, sizeof(*v));

	for (i = 0; v && i < n; i++)
		v[i] = eps[i]->identity;
	return v;
}

/*
 * After namespace ns was relabelled in the model (old: ep_identities()
 * before), inside the open transaction: its re-identified endpoints get
 * their identities in the datapath, the store its labels.
 */
static int ns_relabelled(struct agent *a, const char *ns, const uint32_t *old, struct errbuf *eb)
{
	const struct model_ep *const *eps;
	size_t n = model_endpoints(a->m, &eps), i;
	int err = 0;

	for (i = 0; i < n && !err; i++) {
		if (strcmp(eps[i]->ns, ns) || eps[i]->identity == old[i])
			continue;
		err = dp_endpoint_set_identity(a->dp, eps[i]->id, eps[i]->identity);
		if (err == -ENOENT)
			err = 0; /* not in the datapath (state error): restore re-creates it */
		if (err)
			errbuf_set(eb, err, "datapath: endpoint %s: set identity: %s", eps[i]->name,
				   strerror(-err));
	}
	return err ? err : agent_save_ns(a, ns, eb);
}

int agent_namespace_label(struct agent *a, const char *ns, const char *const *labels,
			  size_t nlabels, struct errbuf *eb)
{
	int64_t t0 = now_ns(CLOCK_MONOTONIC);
	uint32_t *old = ep_identities(a), *changed = NULL;
	size_t nchanged = 0;
	int err;

	if (!old)
		return errbuf_set(eb, -ENOMEM, "out of memory");
	/* validates first and changes nothing on bad input */
	err = model_namespace_relabel(a->m, ns, labels, nlabels, eb);
	if (err) {
		free(old);
		return err;
	}
	err = agent_store_begin(a->st, eb);
	if (!err)
		err = ns_relabelled(a, ns, old, eb);
	if (!err)
		err = regenerate(a, &changed, &nchanged, eb);
	if (!err)
		err = finish(a, changed, nchanged, t0, eb);
	free(changed);
	free(old);
	if (err)
		rebuild(a, "namespace label", eb);
	return err;
}

int agent_namespace_delete(struct agent *a, const char *ns, struct errbuf *eb)
{
	int64_t t0 = now_ns(CLOCK_MONOTONIC);
	int err = model_namespace_remove(a->m, ns, eb);

	if (err)
		return err;
	err = agent_store_begin(a->st, eb);
	if (!err)
		err = agent_store_ns_delete(a->st, ns, eb);
	if (!err)
		err = finish(a, NULL, 0, t0, eb);
	if (err)
		rebuild(a, "namespace delete", eb);
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
		if (pol_engine_policy(model_engine(a->m), POL_KIND_RULES, NULL, removed[i].name))
			return 0;
	for (i = 0; i < n; i++) {
		const struct pol_policy *p = pol_engine_policy(model_engine(a->m), keys[i].kind,
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
	ps->t0 = now_ns(CLOCK_MONOTONIC);
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
			err = stopping(eb);
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

int agent_policy_check(struct agent *a, const struct agent_file *files, size_t nfiles, bool audit,
		       char **warnings, struct errbuf *eb)
{
	struct agent_parsed *ps;
	int err = agent_policy_parse(a, files, nfiles, audit, &ps, eb);

	*warnings = NULL;
	if (err)
		return err;
	if (ps->warn.len && !(*warnings = strdup(strbuf_str(&ps->warn))))
		err = -ENOMEM;
	agent_parsed_free(ps);
	return err;
}

int agent_policy_import_parsed(struct agent *a, const struct agent_file *files, size_t nfiles,
			       bool audit, struct agent_parsed *ps, char ***loaded, size_t *nloaded,
			       char **warnings, struct errbuf *eb)
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
		if (pol_engine_policy(model_engine(a->m), POL_KIND_RULES, NULL, keys.v[i].name))
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
			const struct model_ns *mns = model_namespace(a->m, set.nss[i].name);

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
		err = stopping(eb);
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

		err = old ? model_namespace_set(a->m, set.nss[i].name, &set.nss[i].labels, eb) :
			    -ENOMEM;
		if (!err)
			err = ns_relabelled(a, set.nss[i].name, old, eb);
		if (err && err != -ENOMEM)
			errbuf_prefix(eb, "namespace %s: ", set.nss[i].name);
		free(old);
	}
	for (i = 0; !err && i < removed.n; i++) {
		if (!pol_engine_policy(model_engine(a->m), POL_KIND_RULES, NULL, removed.v[i].name))
			continue;
		err = agent_store_policy_delete(a->st, pol_kind_name(POL_KIND_RULES), "",
						removed.v[i].name, eb);
		if (!err)
			err = model_policy_delete(a->m, POL_KIND_RULES, NULL, removed.v[i].name);
	}
	if (!err) {
		err = model_policies_load(a->m, &set);
		if (err)
			errbuf_set(eb, err, "loading policies: %s", strerror(-err));
	}
	rfc3339_now(now, sizeof(now));
	snprintf(a->last_import, sizeof(a->last_import), "%s", now);
	for (i = 0; !err && i < keys.n; i++) {
		const struct pol_policy *p = pol_engine_policy(model_engine(a->m), keys.v[i].kind,
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
	if (!err)
		err = regenerate(a, &changed, &nchanged, eb);
	/* the last point before the kernel: a stop abandons the import, nothing applied */
	if (!err && atomic_load(&a->stopping))
		err = stopping(eb);
	if (!err)
		err = finish(a, changed, nchanged, t0, eb);
	if (err)
		goto out;
	mon_hist_observe(&a->import_hist, secs_since(t0));
	*loaded = out;
	*nloaded = nout;
	out = NULL;
	if (warn.len)
		*warnings = strbuf_detach(&warn); /* not oom: checked before the change */
out:
	if (err && model_changed)
		rebuild(a, "policy import", eb);
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
	return err;
}

int agent_policy_delete(struct agent *a, const char *kind, const char *ns, const char *name,
			bool all, size_t *deleted, struct errbuf *eb)
{
	int64_t t0 = now_ns(CLOCK_MONOTONIC);
	const struct pol_policy *const *ps;
	VEC(struct imported) del = { 0 };
	enum pol_kind k = POL_KIND_CNP;
	uint32_t *changed = NULL;
	size_t nchanged = 0, n, i;
	int err = 0;

	*deleted = 0;
	if (kind && pol_kind_parse(kind, &k))
		return errbuf_set(eb, -EINVAL, "unknown policy kind '%s'", kind);
	if (!all && (!name || !*name))
		return errbuf_set(eb, -EINVAL, "a policy name (or all) is required");
	n = pol_engine_policies(model_engine(a->m), &ps);
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
			err = model_policy_delete(a->m, del.v[i].kind, del.v[i].ns, del.v[i].name);
	}
	if (!err)
		err = agent_store_file_gc(a->st, eb);
	if (!err)
		err = regenerate(a, &changed, &nchanged, eb);
	if (!err)
		err = finish(a, changed, nchanged, t0, eb);
	if (err)
		rebuild(a, "policy delete", eb);
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
