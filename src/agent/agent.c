/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The change pipeline of velumd (see agent.h): endpoints and policies in,
 * model, store and kernel kept equal; restore from the store on start and
 * after a failed change. Every public function here runs with a->lock held.
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
	pthread_cond_init(&a->flow_cond, NULL);
	mon_ring_init(&a->ring, o->flow_cap ? o->flow_cap : AGENT_FLOWS_DEFAULT);
	mon_hist_init(&a->regen_hist, mon_latency_bounds, mon_latency_nbounds);
	mon_hist_init(&a->import_hist, mon_latency_bounds, mon_latency_nbounds);
	a->started_ns = now_ns(CLOCK_REALTIME);
	atomic_init(&a->stopping, false);
}

static void epx_free(struct agent_epx *x)
{
	free(x->netns);
	free(x->ifname);
	free(x->container_id);
	free(x->error);
}

static void epx_clear(struct agent *a)
{
	size_t i;

	for (i = 0; i < a->epx.n; i++)
		epx_free(&a->epx.v[i]);
	a->epx.n = 0;
}

void agent_fini(struct agent *a)
{
	agent_flow_caches_clear(a);
	hmap_destroy(&a->ident_cache);
	hmap_destroy(&a->rule_cache);
	epx_clear(a);
	vec_free(&a->epx);
	vec_free(&a->pushed);
	vec_free(&a->stored_ids);
	model__free(a->m);
	agent_applier__free(a->applier);
	dp__close(a->dp);
	agent_store__close(a->st);
	mon_ring_free(&a->ring);
	pthread_mutex_destroy(&a->lock);
	pthread_mutex_destroy(&a->flow_lock);
	pthread_cond_destroy(&a->flow_cond);
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
static int epx_put(struct agent *a, struct agent_epx *x)
{
	struct agent_epx *old = agent_epx(a, x->id);
	size_t at;

	if (old) {
		epx_free(old);
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
	epx_free(x);
	memmove(&a->epx.v[at], &a->epx.v[at + 1], (a->epx.n - at - 1) * sizeof(*a->epx.v));
	a->epx.n--;
}

static void epx_set_error(struct agent_epx *x, const char *msg)
{
	free(x->error);
	x->error = msg ? strdup(msg) : NULL;
}

/* Kubernetes object names: lower-case alphanumerics, '-' and '.', at most 63. */
static int check_name(const char *what, const char *s, size_t len, struct errbuf *eb)
{
	size_t i;

	if (!len || len > 63)
		return errbuf_set(eb, "%s '%.*s': must be 1 to 63 characters", what, (int)len, s);
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!(islower((unsigned char)c) || isdigit((unsigned char)c) || c == '-' ||
		      c == '.'))
			return errbuf_set(eb,
					  "%s '%.*s': only lower-case letters, digits, '-' and "
					  "'.' are allowed",
					  what, (int)len, s);
	}
	if (!isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[len - 1]))
		return errbuf_set(eb, "%s '%.*s': must start and end with a letter or digit", what,
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
		return errbuf_set(eb, "an endpoint name is required");
	if (slash) {
		if (ns && (strlen(ns) != (size_t)(slash - name) ||
			   strncmp(ns, name, (size_t)(slash - name))))
			return errbuf_set(eb, "endpoint '%s': namespace '%s' contradicts the name",
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
		return errbuf_set(eb, "endpoint name too long");
	return 0;
}

/* ---- encoding rows ------------------------------------------------------------------- */

static bool derived_label(const struct pol_label *l)
{
	return !strcmp(l->source, POL_SOURCE_K8S) &&
	       (!strcmp(l->key, POL_LABEL_NAMESPACE) || !strcmp(l->key, POL_LABEL_CLUSTER) ||
		!strncmp(l->key, POL_LABEL_NS_LABELS, strlen(POL_LABEL_NS_LABELS)));
}

/* The user's labels of ep (derived ones left out) as a new JSON array. */
json_t *agent_user_labels_json(const struct model_ep *ep)
{
	json_t *arr = json_array();
	struct strbuf sb = STRBUF_INIT;
	size_t i;

	for (i = 0; arr && i < ep->labels.n; i++) {
		if (derived_label(&ep->labels.v[i]))
			continue;
		strbuf_reset(&sb);
		pol_label_format(&ep->labels.v[i], &sb);
		json_array_append_new(arr, json_string(strbuf_str(&sb)));
	}
	strbuf_free(&sb);
	return arr;
}

json_t *agent_ports_json(const struct model_ep *ep)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; arr && i < ep->nports; i++) {
		const struct pol_named_port *p = &ep->ports[i];

		json_array_append_new(arr, json_pack("{s:s, s:i, s:s}", "name", p->name, "port",
						     (int)p->port, "protocol",
						     p->proto == IPPROTO_UDP  ? "UDP" :
						     p->proto == IPPROTO_SCTP ? "SCTP" :
										"TCP"));
	}
	return arr;
}

static char *dump(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return s;
}

static int store_ep(struct agent *a, const struct model_ep *ep, struct errbuf *eb)
{
	struct agent_epx *x = agent_epx(a, ep->id);
	char ip[INET_ADDRSTRLEN] = "0.0.0.0";
	char *labels = dump(agent_user_labels_json(ep));
	char *ports = dump(agent_ports_json(ep));
	struct agent_store_ep row = {
		.id = ep->id,
		.name = ep->name,
		.ns = ep->ns,
		.labels = labels,
		.ports = ports,
		.audit = ep->audit,
		.ipv4 = ip,
		.netns = x && x->adopted ? x->netns : NULL,
		.created = x ? x->created : "",
		.ifname = x ? x->ifname : NULL,
		.container_id = x ? x->container_id : NULL,
	};
	int err = -ENOMEM;

	if (ep->nips)
		inet_ntop(AF_INET, &ep->ips[0], ip, sizeof(ip));
	if (labels && ports)
		err = agent_store_ep_put(a->st, &row, eb);
	free(labels);
	free(ports);
	return err;
}

static char *identity_labels_json(const struct pol_labels *ls)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; arr && i < ls->n; i++)
		json_array_append_new(
			arr, json_pack("[s,s,s]", ls->v[i].source, ls->v[i].key, ls->v[i].value));
	return dump(arr);
}

static int cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return a < b ? -1 : a > b;
}

/* Writes identities the store lacks and deletes those that are gone (in a transaction). */
static int store_identities(struct agent *a, struct errbuf *eb)
{
	const struct id_entry **all;
	long n = id_alloc_list(model_ids(a->m), &all), i;
	VEC(uint32_t) now = { 0 };
	size_t j, k;
	int err = 0;

	if (n < 0)
		return (int)n;
	for (i = 0; i < n && !err; i++) {
		if (all[i]->reserved || all[i]->id < ID_FIRST_ALLOC)
			continue;
		err = vec_push(&now, all[i]->id);
		if (err || (a->stored_ids.n && bsearch(&all[i]->id, a->stored_ids.v,
						       a->stored_ids.n, sizeof(uint32_t), cmp_u32)))
			continue;
		{
			char *l = identity_labels_json(&all[i]->labels);

			err = l ? agent_store_id_put(a->st, all[i]->id, l, eb) : -ENOMEM;
			free(l);
		}
	}
	free(all);
	/* now is sorted (id_alloc_list is); delete what is no longer there */
	for (j = k = 0; !err && j < a->stored_ids.n; j++) {
		uint32_t id = a->stored_ids.v[j];

		while (k < now.n && now.v[k] < id)
			k++;
		if (k < now.n && now.v[k] == id)
			continue;
		err = agent_store_id_delete(a->st, id, eb);
	}
	if (err) {
		vec_free(&now);
		return err;
	}
	vec_free(&a->stored_ids);
	a->stored_ids.v = now.v;
	a->stored_ids.n = now.n;
	a->stored_ids.cap = now.cap;
	return 0;
}


/* ---- kernel sync ------------------------------------------------------------------------ */

/* Endpoint ep_id's entries as the datapath takes them, into new arrays (free() both). */
static int build_entries(struct agent *a, uint32_t ep_id, struct velum_policy_key **keys,
			 struct velum_policy_value **vals, size_t *n, struct errbuf *eb)
{
	const struct pol_mapstate *ms = pol_engine_endpoint_state(model_engine(a->m), ep_id);
	size_t i;

	if (!ms)
		return errbuf_set(eb, "endpoint %u: no policy state", ep_id), -ENOENT;
	*keys = malloc((ms->n ? ms->n : 1) * sizeof(**keys));
	*vals = malloc((ms->n ? ms->n : 1) * sizeof(**vals));
	if (!*keys || !*vals) {
		free(*keys);
		free(*vals);
		return -ENOMEM;
	}
	for (i = 0; i < ms->n; i++) {
		(*keys)[i] = ms->entries[i].key;
		(*vals)[i] = ms->entries[i].val;
	}
	*n = ms->n;
	return 0;
}

/* Swaps endpoint ep_id's policy map for the engine's current state. */
static int apply_ep(struct agent *a, uint32_t ep_id, struct errbuf *eb)
{
	struct velum_policy_key *keys;
	struct velum_policy_value *vals;
	size_t n;
	int err = build_entries(a, ep_id, &keys, &vals, &n, eb);

	if (err)
		return err;
	err = dp_policy_apply(a->dp, ep_id, keys, vals, n, eb);
	if (err)
		errbuf_prefix(eb, "endpoint %u: policy map: ", ep_id);
	free(keys);
	free(vals);
	return err;
}

/*
 * Swaps the maps of the endpoints in ids (skipping ones no longer in the
 * model), in parallel when there are several.
 */
static int apply_many(struct agent *a, const uint32_t *ids, size_t n, struct errbuf *eb)
{
	struct agent_apply_item *items;
	size_t i, k = 0;
	int err = 0;

	if (n <= 2 || !a->applier) {
		for (i = 0; i < n && !err; i++)
			if (model_endpoint_by_id(a->m, ids[i]))
				err = apply_ep(a, ids[i], eb);
		return err;
	}
	items = calloc(n, sizeof(*items));
	if (!items)
		return -ENOMEM;
	for (i = 0; i < n && !err; i++) {
		struct velum_policy_key *keys;
		struct velum_policy_value *vals;

		if (!model_endpoint_by_id(a->m, ids[i]))
			continue;
		err = build_entries(a, ids[i], &keys, &vals, &items[k].n, eb);
		if (err)
			break;
		items[k].ep_id = ids[i];
		items[k].keys = keys;
		items[k++].vals = vals;
	}
	if (!err)
		err = agent_applier_run(a->applier, a->dp, items, k, eb);
	for (i = 0; i < k; i++) {
		free((void *)items[i].keys);
		free((void *)items[i].vals);
	}
	free(items);
	return err;
}

/* Refuses states the kernel map cannot hold, before anything is written. */
static int check_sizes(struct agent *a, const uint32_t *changed, size_t n, struct errbuf *eb)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const struct pol_mapstate *ms =
			pol_engine_endpoint_state(model_engine(a->m), changed[i]);
		const struct model_ep *ep = model_endpoint_by_id(a->m, changed[i]);

		if (ms && ms->n > VELUM_POLICY_MAP_MAX) {
			errbuf_set(eb,
				   "endpoint %s would need %zu policy-map entries (at most %d): "
				   "the policies select too many peer/port combinations",
				   ep ? ep->name : "?", ms->n, VELUM_POLICY_MAP_MAX);
			return -E2BIG;
		}
	}
	return 0;
}

static int apply_changed(struct agent *a, const uint32_t *changed, size_t n, struct errbuf *eb)
{
	return apply_many(a, changed, n, eb);
}

/* True for the /32 of an endpoint: the datapath manages those entries. */
static bool endpoint_prefix(struct agent *a, const struct pol_prefix *p)
{
	uint32_t addr;

	if (p->family != 4 || p->len != 32)
		return false;
	memcpy(&addr, p->addr, 4);
	return model_endpoint_by_ip(a->m, addr) != NULL;
}

/* Brings the kernel's CIDR entries in line with the model's ipcache. */
static int sync_ipcache(struct agent *a, struct errbuf *eb)
{
	struct ipcache_entry *list;
	long n = ipcache_list(model_ipcache(a->m), &list), i;
	VEC(struct ipcache_entry) want = { 0 };
	size_t j, k;
	int err = 0;

	if (n < 0)
		return (int)n;
	for (i = 0; i < n && !err; i++) {
		if (list[i].prefix.family != 4 || endpoint_prefix(a, &list[i].prefix))
			continue;
		err = vec_push(&want, list[i]);
	}
	free(list);
	for (j = 0; !err && j < want.n; j++) {
		const struct ipcache_entry *w = &want.v[j];
		uint32_t addr;
		bool same = false;

		for (k = 0; k < a->pushed.n && !same; k++)
			same = pol_prefix_eq(&a->pushed.v[k].prefix, &w->prefix) &&
			       a->pushed.v[k].identity == w->identity;
		if (same)
			continue;
		memcpy(&addr, w->prefix.addr, 4);
		err = dp_ipcache_update(a->dp, addr, w->prefix.len, w->identity);
		if (err)
			errbuf_set(eb, "ipcache update: %s", strerror(-err));
	}
	for (k = 0; !err && k < a->pushed.n; k++) {
		const struct ipcache_entry *p = &a->pushed.v[k];
		bool kept = false;
		uint32_t addr;

		for (j = 0; j < want.n && !kept; j++)
			kept = pol_prefix_eq(&want.v[j].prefix, &p->prefix);
		if (kept)
			continue;
		memcpy(&addr, p->prefix.addr, 4);
		err = dp_ipcache_delete(a->dp, addr, p->prefix.len);
		if (err == -ENOENT || err == -EBUSY)
			err = 0;
		if (err)
			errbuf_set(eb, "ipcache delete: %s", strerror(-err));
	}
	if (err) {
		vec_free(&want);
		return err;
	}
	vec_free(&a->pushed);
	a->pushed.v = want.v;
	a->pushed.n = want.n;
	a->pushed.cap = want.cap;
	return 0;
}

/* ---- restore --------------------------------------------------------------------------- */

struct load_ctx {
	struct agent *a;
	struct model *m;
	struct errbuf *eb;
	VEC(uint32_t) restored; /* numbers restored: their extra reference is dropped */
	VEC(uint32_t) stored;	/* every identity row */
	VEC(struct agent_epx) epx;
	/* parsed files, by file id, and the set of policies to load in order */
	VEC(int64_t) file_ids;
	VEC(struct pol_set) files;
	struct pol_set load;
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

int agent_ports_from_json(json_t *j, struct pol_named_port **out, size_t *n, struct errbuf *eb)
{
	size_t i, cnt = json_array_size(j);
	struct pol_named_port *v;

	*out = NULL;
	*n = 0;
	if (!json_is_array(j))
		return errbuf_set(eb, "ports: expected a list");
	if (!cnt)
		return 0;
	v = calloc(cnt, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < cnt; i++) {
		const char *name = NULL, *proto = "TCP";
		json_int_t port = 0;

		if (json_unpack(json_array_get(j, i), "{s:s, s:I, s?:s}", "name", &name, "port",
				&port, "protocol", &proto) ||
		    port < 1 || port > 65535 || !*name) {
			free(v);
			return errbuf_set(eb,
					  "ports[%zu]: expected {\"name\": string, \"port\": "
					  "1-65535, \"protocol\": TCP|UDP|SCTP}",
					  i);
		}
		v[i].name = name; /* borrowed from j */
		v[i].port = (uint16_t)port;
		if (!strcasecmp(proto, "TCP"))
			v[i].proto = IPPROTO_TCP;
		else if (!strcasecmp(proto, "UDP"))
			v[i].proto = IPPROTO_UDP;
		else if (!strcasecmp(proto, "SCTP"))
			v[i].proto = IPPROTO_SCTP;
		else {
			free(v);
			return errbuf_set(eb, "ports[%zu].protocol: '%s' is not TCP, UDP or SCTP",
					  i, proto);
		}
	}
	*out = v;
	*n = cnt;
	return 0;
}

/* Parses a JSON array of label strings into a new vector of borrowed strings. */
int agent_labels_from_json(json_t *j, const char ***out, size_t *n, struct errbuf *eb)
{
	size_t i, cnt = json_array_size(j);
	const char **v;

	*out = NULL;
	*n = 0;
	if (!json_is_array(j))
		return errbuf_set(eb, "labels: expected a list of strings");
	v = calloc(cnt ? cnt : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < cnt; i++) {
		v[i] = json_string_value(json_array_get(j, i));
		if (!v[i]) {
			free(v);
			return errbuf_set(eb, "labels[%zu]: expected a string", i);
		}
	}
	*out = v;
	*n = cnt;
	return 0;
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

	err = agent_labels_from_json(lj, &labels, &nl, c->eb);
	if (!err)
		err = agent_ports_from_json(pj, &ports, &np, c->eb);
	if (!err && inet_pton(AF_INET, e->ipv4, &ip) != 1)
		err = errbuf_set(c->eb, "address '%s' unreadable", e->ipv4);
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
			epx_free(&x);
	}
	if (err && err != -ENOMEM)
		errbuf_prefix(c->eb, "endpoint %s: ", e->name);
	free(labels);
	free(ports);
	json_decref(lj);
	json_decref(pj);
	return err;
}

static const char *ns_or_empty(const char *s)
{
	return s ? s : "";
}

static int load_policy(void *ctx, const struct agent_store_policy *row)
{
	struct load_ctx *c = ctx;
	struct pol_set *set = NULL;
	size_t i;
	int err;

	for (i = 0; i < c->file_ids.n; i++)
		if (c->file_ids.v[i] == row->file_id)
			set = &c->files.v[i];
	if (!set) {
		struct pol_set s = { 0 };

		err = pol_parse_buf(row->file_name, row->content, row->content_len, &s, c->eb);
		if (err) {
			errbuf_prefix(c->eb, "policy file %s (stored): ", row->file_name);
			return err;
		}
		if (vec_push(&c->file_ids, row->file_id) || vec_push(&c->files, s)) {
			pol_set_free(&s);
			return -ENOMEM;
		}
		set = &c->files.v[c->files.n - 1];
	}
	for (i = 0; i < set->n; i++) {
		struct pol_policy *p = set->v[i];

		if (!p || strcmp(pol_kind_name(p->kind), row->kind) || strcmp(p->name, row->name) ||
		    strcmp(ns_or_empty(p->namespace), row->ns))
			continue;
		p->first_rule_id = row->first_rule_id;
		p->audit = p->audit || row->audit;
		set->v[i] = NULL;
		err = pol_set_push(&c->load, p);
		if (err)
			pol_policy_free(p);
		return err;
	}
	return errbuf_set(c->eb, "policy %s %s%s%s: not found in its stored file %s", row->kind,
			  row->ns, *row->ns ? "/" : "", row->name, row->file_name);
}

static void load_ctx_free(struct load_ctx *c)
{
	size_t i, j;

	for (i = 0; i < c->files.n; i++) {
		for (j = 0; j < c->files.v[i].n; j++)
			pol_policy_free(c->files.v[i].v[j]);
		free(c->files.v[i].v);
	}
	vec_free(&c->files);
	vec_free(&c->file_ids);
	pol_set_free(&c->load);
	for (i = 0; i < c->epx.n; i++)
		epx_free(&c->epx.v[i]);
	vec_free(&c->epx);
	vec_free(&c->restored);
	vec_free(&c->stored);
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
	err = agent_store_id_foreach(a->st, load_identity, c, eb);
	if (!err)
		err = agent_store_ep_foreach(a->st, load_endpoint, c, eb);
	if (!err)
		err = agent_store_policy_foreach(a->st, load_policy, c, eb);
	if (!err) {
		err = model_policies_load(c->m, &c->load);
		if (err)
			errbuf_set(eb, "loading stored policies: %s", strerror(-err));
	}
	for (i = 0; i < c->restored.n; i++)
		model_identity_release(c->m, c->restored.v[i]);
	if (!err) {
		err = model_regenerate(c->m, NULL, NULL);
		if (err)
			errbuf_set(eb, "resolving stored policies: %s", strerror(-err));
	}
	if (err) {
		if (err == -ENOMEM && errbuf_empty(eb))
			errbuf_set(eb, "out of memory");
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
	size_t n = model_endpoints(a->m, &eps), i;
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
		if (model_endpoint_by_id(a->m, dpe[j].ep_id))
			continue;
		errbuf_clear(&eb);
		pr_info("velumd: removing endpoint %u: in the datapath but not in the store\n",
			dpe[j].ep_id);
		err = dp_endpoint_remove(a->dp, dpe[j].ep_id, &eb);
		if (err && err != -ENOENT)
			pr_warn("velumd: remove endpoint %u: %s\n", dpe[j].ep_id, eb.msg);
	}
	for (i = 0; i < n; i++) {
		const struct model_ep *ep = eps[i];
		struct agent_epx *x = agent_epx(a, ep->id);
		struct dp_endpoint *have = NULL, made;

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
				errbuf_set(&eb, "set identity: %s", strerror(-err));
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
				err = errbuf_set(&eb,
						 "namespace %s is gone (%s); delete the endpoint",
						 x->netns, strerror(errno));
		}
		if (!err)
			err = vec_push(&ok, ep->id);
		if (x)
			epx_set_error(x, err ? eb.msg : NULL);
		if (err) {
			pr_warn("velumd: endpoint %s: %s\n", ep->name, eb.msg);
			if (!first)
				first = err;
		}
	}
	free(dpe);
	/* every present endpoint's map, in parallel; on failure one by one, to say which */
	errbuf_clear(&eb);
	if (apply_many(a, ok.v, ok.n, &eb)) {
		for (i = 0; i < ok.n; i++) {
			struct agent_epx *x = agent_epx(a, ok.v[i]);

			errbuf_clear(&eb);
			err = apply_ep(a, ok.v[i], &eb);
			if (x)
				epx_set_error(x, err ? eb.msg : NULL);
			if (err) {
				pr_warn("velumd: endpoint %u: %s\n", ok.v[i], eb.msg);
				if (!first)
					first = err;
			}
		}
	}
	vec_free(&ok);
	return first;
}

/* Reads the kernel's CIDR entries into a->pushed so that sync_ipcache() can diff. */
static void pushed_from_kernel(struct agent *a)
{
	struct dp_ipcache_entry *v;
	size_t n, i;

	a->pushed.n = 0;
	if (dp_ipcache_list(a->dp, &v, &n))
		return;
	for (i = 0; i < n; i++) {
		struct ipcache_entry e = { .identity = v[i].val.identity };

		if (v[i].val.flags & VELUM_IPCACHE_F_LOCAL_EP || v[i].val.identity == ID_HOST)
			continue;
		e.prefix = pol_prefix_v4(v[i].key.addr, (uint8_t)v[i].key.prefixlen);
		if (vec_push(&a->pushed, e))
			break;
	}
	free(v);
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
	model__free(a->m);
	a->m = m;
	epx_clear(a);
	for (i = 0; i < c.epx.n; i++) {
		if (epx_put(a, &c.epx.v[i])) {
			epx_free(&c.epx.v[i]);
			continue;
		}
	}
	c.epx.n = 0;
	agent_store_revision(a->st, &a->revision);
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
		if (agent_store_begin(a->st, &ieb) || store_identities(a, &ieb) ||
		    agent_store_commit(a->st, &ieb)) {
			agent_store_rollback(a->st);
			pr_warn("velumd: store: identities: %s\n", ieb.msg);
		}
	}
	load_ctx_free(&c);
	pushed_from_kernel(a);
	{
		struct errbuf leb;

		errbuf_clear(&leb);
		if (agent_l7_publish(a, a->revision, &leb))
			pr_warn("velumd: restore: %s\n", leb.msg);
	}
	err = kernel_sync_all(a);
	if (!err)
		err = sync_ipcache(a, eb);
	else
		sync_ipcache(a, NULL);
	if (err)
		pr_warn("velumd: restore: the datapath is not fully in sync (see above)\n");
	a->cache_rev = 0;
	return 0;
}

/* ---- changes ------------------------------------------------------------------------------ */

/* After a failure past the first model change: back to what the store says. */
static void rebuild(struct agent *a, const char *what, const struct errbuf *why)
{
	struct errbuf eb;

	errbuf_clear(&eb);
	agent_store_rollback(a->st);
	pr_warn("velumd: %s failed (%s); restoring the stored state\n", what,
		why && why->msg[0] ? why->msg : "?");
	if (agent_restore(a, &eb))
		pr_warn("velumd: restoring the stored state failed: %s\n", eb.msg);
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
	int err = check_sizes(a, changed, n, eb);

	if (!err)
		err = store_identities(a, eb);
	if (!err)
		err = agent_store_set_revision(a->st, a->revision + 1, eb);
	if (!err)
		err = agent_l7_publish(a, a->revision + 1, eb);
	if (!err) {
		t2 = now_ns(CLOCK_MONOTONIC);
		err = apply_changed(a, changed, n, eb);
	}
	if (!err)
		err = sync_ipcache(a, eb);
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
	return 0;
}

static int regenerate(struct agent *a, uint32_t **changed, size_t *n, struct errbuf *eb)
{
	int err = model_regenerate(a->m, changed, n);

	if (err)
		errbuf_set(eb, "policy resolution: %s", strerror(-err));
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
		return errbuf_set(eb, "endpoint '%s' already exists", full), -EEXIST;
	id = free_ep_id(a);
	if (id > VELUM_EP_ID_MAX || model_endpoints(a->m, &all) >= VELUM_MAX_ENDPOINTS)
		return errbuf_set(eb, "no room for another endpoint (at most %d)",
				  VELUM_MAX_ENDPOINTS),
		       -ENOSPC;
	err = model_endpoint_add(a->m, id, full, ns, r->labels, r->nlabels, NULL, 0, r->ports,
				 r->nports, r->audit, &ep, eb);
	if (err)
		return err == -ENOMEM ? (errbuf_set(eb, "out of memory"), err) : err;

	/*
	 * Its policy depends on its identity and named ports, not on its
	 * address: resolve it now, so the datapath brings the endpoint up with
	 * its real policy instead of an open one (an adopted namespace may
	 * already run processes).
	 */
	t0 = now_ns(CLOCK_MONOTONIC);
	err = regenerate(a, &changed, &nchanged, eb);
	if (!err)
		err = build_entries(a, id, &keys, &vals, &nkeys, eb);
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
		err = epx_put(a, &x);
	if (err) {
		epx_free(&x);
		goto fail;
	}
	/* the address changes the ipcache only, not any map state */
	err = model_endpoint_set_ips(a->m, full, &made.ipv4, 1, eb);
	if (!err)
		err = agent_store_begin(a->st, eb);
	if (!err)
		err = store_ep(a, model_endpoint(a->m, full), eb);
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
		errbuf_set(eb, "out of memory");
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
		errbuf_set(eb, "no endpoint '%s'", full);
		*err = -ENOENT;
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
			errbuf_set(eb, "datapath: set identity: %s", strerror(-err));
	}
	if (!err)
		err = regenerate(a, &changed, &nchanged, eb);
	if (!err)
		err = store_ep(a, ep, eb);
	if (!err)
		err = finish(a, changed, nchanged, t0, eb);
	free(changed);
	if (err)
		rebuild(a, "endpoint update", eb);
	return err;
}

struct imported {
	enum pol_kind kind;
	char *ns, *name;
	size_t file;
	bool audit;
};

static bool same_key(const struct pol_policy *p, enum pol_kind kind, const char *ns,
		     const char *name)
{
	return p->kind == kind && !strcmp(p->name, name) &&
	       !strcmp(ns_or_empty(p->namespace), ns_or_empty(ns));
}

static const struct pol_policy *find_policy(struct agent *a, enum pol_kind kind, const char *ns,
					    const char *name)
{
	const struct pol_policy *const *ps;
	size_t n = pol_engine_policies(model_engine(a->m), &ps), i;

	for (i = n; i-- > 0;)
		if (same_key(ps[i], kind, ns, name))
			return ps[i];
	return NULL;
}

int agent_policy_import(struct agent *a, const struct agent_file *files, size_t nfiles, bool audit,
			char ***loaded, size_t *nloaded, char **warnings, struct errbuf *eb)
{
	int64_t t0 = now_ns(CLOCK_MONOTONIC);
	struct pol_set set = { 0 };
	VEC(struct imported) keys = { 0 };
	struct strbuf warn = STRBUF_INIT;
	int64_t *file_ids = NULL;
	uint32_t *changed = NULL;
	size_t nchanged = 0, i, j;
	char now[40], **out = NULL;
	bool model_changed = false;
	int err = 0;

	*loaded = NULL;
	*nloaded = 0;
	*warnings = NULL;
	if (!nfiles)
		return errbuf_set(eb, "no policy file given");
	/* parse everything first: any error changes nothing */
	for (i = 0; i < nfiles && !err; i++) {
		size_t before = set.n;

		if (!files[i].name || !*files[i].name) {
			err = errbuf_set(eb, "files[%zu]: a file name is required", i);
			break;
		}
		err = pol_parse_buf(files[i].name, files[i].content, files[i].len, &set, eb);
		for (j = before; !err && j < set.n; j++) {
			struct pol_policy *p = set.v[j];
			struct imported k = { p->kind, NULL, NULL, i, audit || p->audit };
			size_t q;

			if (!err && !a->proxy) {
				/* as Cilium with its proxy disabled: refuse, do not half-enforce */
				struct strbuf where = STRBUF_INIT;

				if (pol_policy_first_l7(p, &where))
					err = errbuf_set(
						eb,
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
			/* a later file's policy of the same key replaces an earlier one */
			for (q = 0; q < keys.n; q++) {
				if (keys.v[q].name &&
				    same_key(p, keys.v[q].kind, keys.v[q].ns, keys.v[q].name)) {
					free(keys.v[q].ns);
					free(keys.v[q].name);
					keys.v[q].name = NULL;
				}
			}
			k.ns = p->namespace ? strdup(p->namespace) : NULL;
			k.name = strdup(p->name);
			if (!k.name || (p->namespace && !k.ns) || vec_push(&keys, k)) {
				free(k.ns);
				free(k.name);
				err = -ENOMEM;
			}
		}
	}
	if (err)
		goto out;
	/* drop the replaced duplicates from the set (same index as keys) */
	for (i = j = 0; i < set.n; i++) {
		if (!keys.v[i].name) {
			pol_policy_free(set.v[i]);
			continue;
		}
		set.v[j] = set.v[i];
		keys.v[j++] = keys.v[i];
	}
	set.n = keys.n = j;

	file_ids = calloc(nfiles, sizeof(*file_ids));
	if (!file_ids) {
		err = -ENOMEM;
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
	err = model_policies_load(a->m, &set);
	if (err)
		errbuf_set(eb, "loading policies: %s", strerror(-err));
	rfc3339_now(now, sizeof(now));
	for (i = 0; !err && i < keys.n; i++) {
		const struct pol_policy *p =
			find_policy(a, keys.v[i].kind, keys.v[i].ns, keys.v[i].name);
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
	if (!err)
		err = finish(a, changed, nchanged, t0, eb);
	if (err)
		goto out;
	mon_hist_observe(&a->import_hist, secs_since(t0));
	out = calloc(keys.n ? keys.n : 1, sizeof(*out));
	for (i = 0; out && i < keys.n; i++) {
		size_t len =
			strlen(keys.v[i].name) + 64 + (keys.v[i].ns ? strlen(keys.v[i].ns) : 0);

		out[i] = malloc(len);
		if (out[i])
			snprintf(out[i], len, "%s\t%s\t%s", pol_kind_name(keys.v[i].kind),
				 ns_or_empty(keys.v[i].ns), keys.v[i].name);
	}
	if (out) {
		*loaded = out;
		*nloaded = keys.n;
	}
	if (warn.len)
		*warnings = strbuf_detach(&warn);
out:
	if (err && model_changed)
		rebuild(a, "policy import", eb);
	if (err == -ENOMEM && errbuf_empty(eb))
		errbuf_set(eb, "out of memory");
	for (i = 0; i < keys.n; i++) {
		free(keys.v[i].ns);
		free(keys.v[i].name);
	}
	vec_free(&keys);
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
		return errbuf_set(eb, "unknown policy kind '%s'", kind);
	if (!all && (!name || !*name))
		return errbuf_set(eb, "a policy name (or all) is required");
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
			errbuf_set(eb, "no policy is loaded");
		else
			errbuf_set(eb, "no policy named '%s'%s%s%s%s", name ? name : "",
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
