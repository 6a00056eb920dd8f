/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The flow thread: drains the datapath's event ring continuously (through
 * its own datapath handle, so it never waits for an API call), enriches
 * each event with what the model says at that moment (endpoint names,
 * identity labels, the rule reference) and appends it to the ring of recent
 * flows that /v1/flows serves. Enrichment objects are cached per
 * (endpoint, identity) and per rule id and dropped whenever the revision
 * changes, so a name or rule seen in a flow is what was true when the
 * packet was decided (to within one change).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "lib/log.h"
#include "velum/events.h"

struct cache_ident {
	struct hnode node;
	uint32_t ep_id, identity;
	struct mon_ident *id;
};

struct cache_rule {
	struct hnode node;
	uint32_t rule_id;
	struct mon_rule *r;
};

void agent_flow_caches_clear(struct agent *a)
{
	struct hnode *it, *nx;
	size_t b;

	hmap_for_each_safe(&a->ident_cache, b, it, nx)
	{
		struct cache_ident *c = container_of(it, struct cache_ident, node);

		hmap_remove(&a->ident_cache, it);
		mon_ident_put(c->id);
		free(c);
	}
	hmap_for_each_safe(&a->rule_cache, b, it, nx)
	{
		struct cache_rule *c = container_of(it, struct cache_rule, node);

		hmap_remove(&a->rule_cache, it);
		mon_rule_put(c->r);
		free(c);
	}
}

/* A reference to the enrichment of (endpoint or none, identity); NULL on ENOMEM. */
static struct mon_ident *ident_for(struct agent *a, const struct model_ep *ep, uint32_t identity)
{
	uint32_t ep_id = ep ? ep->id : 0;
	uint64_t h = hash_mix64(((uint64_t)ep_id << 32) | identity);
	const struct pol_labels *ls;
	const struct id_entry *ie;
	struct cache_ident *c;
	struct hnode *it;
	struct strbuf sb = STRBUF_INIT;
	const char **strs = NULL;
	size_t i, *offs = NULL;

	hmap_for_each_hash(&a->ident_cache, h, it)
	{
		c = container_of(it, struct cache_ident, node);
		if (c->ep_id == ep_id && c->identity == identity)
			return mon_ident_get(c->id);
	}
	ie = id_alloc_get(model_ids(a->m), identity);
	ls = ie ? &ie->labels : pol_engine_identity_labels(model_engine(a->m), identity);
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	if (ls && ls->n) {
		strs = calloc(ls->n, sizeof(*strs));
		offs = calloc(ls->n, sizeof(*offs));
		for (i = 0; strs && offs && i < ls->n; i++) {
			offs[i] = sb.len;
			pol_label_format(&ls->v[i], &sb);
			strbuf_putc(&sb, '\0');
		}
		for (i = 0; strs && offs && !sb.oom && i < ls->n; i++)
			strs[i] = sb.p + offs[i];
	}
	if (!ls || !ls->n || (strs && offs && !sb.oom))
		c->id = mon_ident__new(ep ? ep->name : NULL, identity, strs, ls ? ls->n : 0);
	free(strs);
	free(offs);
	strbuf_free(&sb);
	if (!c->id || hmap_insert(&a->ident_cache, &c->node, h)) {
		mon_ident_put(c->id);
		free(c);
		return NULL;
	}
	c->ep_id = ep_id;
	c->identity = identity;
	return mon_ident_get(c->id);
}

static struct mon_rule *rule_for(struct agent *a, uint32_t rule_id)
{
	uint64_t h = hash_mix64(rule_id);
	const struct pol_peer_rule *pr;
	const struct pol_policy *p;
	struct strbuf sb = STRBUF_INIT;
	struct cache_rule *c;
	struct hnode *it;

	if (rule_id < VELUM_RULE_FIRST)
		return NULL;
	hmap_for_each_hash(&a->rule_cache, h, it)
	{
		c = container_of(it, struct cache_rule, node);
		if (c->rule_id == rule_id)
			return mon_rule_get(c->r);
	}
	pr = pol_engine_rule(model_engine(a->m), rule_id);
	if (!pr)
		return NULL;
	p = pr->rule->policy;
	pol_peer_rule_format(pr, &sb);
	c = calloc(1, sizeof(*c));
	if (c && !sb.oom)
		c->r = mon_rule__new(rule_id, strbuf_str(&sb), pol_kind_name(p->kind), p->namespace,
				     p->name);
	strbuf_free(&sb);
	if (!c || !c->r || hmap_insert(&a->rule_cache, &c->node, h)) {
		if (c)
			mon_rule_put(c->r);
		free(c);
		return NULL;
	}
	c->rule_id = rule_id;
	return mon_rule_get(c->r);
}

static int64_t clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Builds flow f from ev (with a->lock held). */
static void enrich(struct agent *a, const struct velum_event *ev, int64_t mono_to_real,
		   struct mon_flow *f)
{
	const struct model_ep *ep = model_endpoint_by_id(a->m, ev->ep_id);
	bool egress = ev->dir == VELUM_DIR_EGRESS;
	uint32_t peer_ip = egress ? ev->daddr : ev->saddr;
	const struct model_ep *peer = model_endpoint_by_ip(a->m, peer_ip);
	struct mon_ident *self, *other;

	mon_flow_fill(f, ev, (int64_t)ev->ts_ns + mono_to_real);
	/* an endpoint's side is the endpoint only if the address is its own */
	if (ep && ep->nips && ep->ips[0] != (egress ? ev->saddr : ev->daddr))
		ep = NULL;
	self = ident_for(a, ep, ev->ep_identity);
	other = ident_for(a, peer, ev->peer_identity);
	f->src = egress ? self : other;
	f->dst = egress ? other : self;
	f->rule = rule_for(a, ev->rule_id);
}

VEC_DECLARE(event_vec, struct velum_event);

static int collect(void *ctx, const struct velum_event *ev)
{
	struct event_vec *v = ctx;

	return vec_push(v, *ev) ? 0 : 0;
}

static void process(struct agent *a, struct event_vec *batch)
{
	int64_t off = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);
	struct mon_flow *flows = calloc(batch->n, sizeof(*flows));
	size_t i;

	if (!flows)
		return;
	pthread_mutex_lock(&a->lock);
	if (a->cache_rev != a->revision || a->ident_cache.n > 65536) {
		agent_flow_caches_clear(a);
		a->cache_rev = a->revision;
	}
	for (i = 0; i < batch->n; i++)
		enrich(a, &batch->v[i], off, &flows[i]);
	pthread_mutex_unlock(&a->lock);

	pthread_mutex_lock(&a->flow_lock);
	for (i = 0; i < batch->n; i++) {
		struct mon_flow *f = &flows[i];

		a->events_total++;
		if (f->type == VELUM_EVENT_POLICY_VERDICT && f->verdict < 5 && f->match < 7)
			a->verdicts[f->verdict][f->match][f->dir & 1]++;
		if (!f->src || !f->dst) {
			mon_flow_release(f);
			continue;
		}
		mon_ring_push(&a->ring, f);
	}
	pthread_cond_broadcast(&a->flow_cond);
	pthread_mutex_unlock(&a->flow_lock);
	free(flows);
}

static void *flow_main(void *arg)
{
	struct agent *a = arg;
	struct event_vec batch = { 0 };
	bool warned = false;

	while (!atomic_load(&a->stopping)) {
		int n = dp_events_poll(a->dp_ev, 200, collect, &batch);

		if (n < 0 && n != -EINTR) {
			if (!warned)
				pr_warn("velumd: reading datapath events: %s\n", strerror(-n));
			warned = true;
			usleep(200000);
		}
		if (batch.n) {
			process(a, &batch);
			batch.n = 0;
			if (batch.cap > 65536)
				vec_free(&batch);
		}
	}
	vec_free(&batch);
	return NULL;
}

int agent_flows_start(struct agent *a, const struct dp_opts *dpo, struct errbuf *eb)
{
	int err;

	a->dp_ev = dp__open(dpo, eb);
	if (!a->dp_ev)
		return -errno;
	err = pthread_create(&a->flow_thr, NULL, flow_main, a);
	if (err) {
		dp__close(a->dp_ev);
		a->dp_ev = NULL;
		errbuf_set(eb, -err, "flow thread: %s", strerror(err));
		return -err;
	}
	a->flow_running = true;
	return 0;
}

void agent_flows_stop(struct agent *a)
{
	atomic_store(&a->stopping, true);
	pthread_mutex_lock(&a->flow_lock);
	pthread_cond_broadcast(&a->flow_cond);
	pthread_mutex_unlock(&a->flow_lock);
	if (a->flow_running)
		pthread_join(a->flow_thr, NULL);
	a->flow_running = false;
	dp__close(a->dp_ev);
	a->dp_ev = NULL;
}
