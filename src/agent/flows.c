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
 *
 * The L7 proxy's access events (datagrams of 1 to PX_EV_PER_DATAGRAM
 * struct px_access_event records on the events socket velumd binds) are
 * read by a second thread, checked record by record (a malformed one is
 * counted and dropped), enriched
 * the same way by address and identity, and appended to the same ring.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "lib/log.h"
#include "proxy/access.h"
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
	/* the endpoint sends the packet (a trace's direction is its connection's) */
	bool egress = (ev->dir == VELUM_DIR_EGRESS) != !!(ev->flags & VELUM_EVENT_F_REPLY);
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
		mon_hubble_observe(&a->hubble, f);
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
				pr_err("velumd: reading datapath events: %s\n", strerror(-n));
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

/* ---- the L7 proxy's access events ---- */

#define L7_BATCH PX_EV_PER_DATAGRAM

static bool str_ok(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

int agent_l7_event_check(const struct px_access_event *ev, size_t n, const char **why)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	*why = NULL;
	if (n != sizeof(*ev))
		*why = "not the size of an access event";
	else if (ev->version != PX_EV_VERSION)
		*why = "unknown version";
	else if (ev->type != PX_EV_REQUEST && ev->type != PX_EV_RESPONSE)
		*why = "unknown type";
	else if (ev->verdict < PX_VERDICT_FORWARDED || ev->verdict > PX_VERDICT_ERROR)
		*why = "unknown verdict";
	else if (ev->direction > PX_DIR_EGRESS)
		*why = "unknown direction";
	else if (ev->http_major > 9 || ev->http_minor > 9)
		*why = "bad HTTP version";
	else if (ev->type == PX_EV_REQUEST ? ev->status != 0 : ev->status < 100 || ev->status > 999)
		*why = "bad status";
	else if (!str_ok(ev->rule_name, sizeof(ev->rule_name)) ||
		 !str_ok(ev->method, sizeof(ev->method)) || !str_ok(ev->host, sizeof(ev->host)) ||
		 !str_ok(ev->url, sizeof(ev->url)) || !str_ok(ev->reason, sizeof(ev->reason)))
		*why = "a string without its NUL";
	else if (memcmp(ev->src.addr, mapped, sizeof(mapped)) ||
		 memcmp(ev->dst.addr, mapped, sizeof(mapped)))
		*why = "not an IPv4 address";
	return *why ? -EINVAL : 0;
}

/*
 * A reference to the decided rule "Kind [ns/]name section" as a mon_rule
 * (id 0: the proxy names it by text); NULL if text is empty or on ENOMEM.
 * *last keeps the last one built (consecutive events mostly share it).
 */
static struct mon_rule *l7_rule(const char *text, struct mon_rule **last)
{
	char kind[96], obj[96], *slash;
	struct mon_rule *r;
	int n;

	if (!text[0])
		return NULL;
	if (*last && !strcmp((*last)->ref, text))
		return mon_rule_get(*last);
	n = sscanf(text, "%95s %95s", kind, obj);
	slash = n == 2 ? strchr(obj, '/') : NULL;
	if (slash)
		*slash = '\0';
	r = n < 2 ? mon_rule__new(0, text, NULL, NULL, NULL) :
		    mon_rule__new(0, text, kind, slash ? obj : NULL, slash ? slash + 1 : obj);
	if (r) {
		mon_rule_put(*last);
		*last = mon_rule_get(r);
	}
	return r;
}

/*
 * The side of addr (network order): its endpoint if it is one, and the
 * identity the proxy reported (else the endpoint's). With a->lock held.
 */
static struct mon_ident *l7_side(struct agent *a, uint32_t addr, uint32_t identity,
				 const struct model_ep **ep_out)
{
	const struct model_ep *ep = model_endpoint_by_ip(a->m, addr);

	if (!identity && ep)
		identity = ep->identity;
	*ep_out = ep;
	return ident_for(a, ep, identity);
}

/* Builds flow f from a checked access event (with a->lock held); last as for l7_rule(). */
static void l7_enrich(struct agent *a, const struct px_access_event *ev, struct mon_rule **last,
		      struct mon_flow *f)
{
	static const uint8_t verdicts[] = { [PX_VERDICT_FORWARDED] = VELUM_FLOW_FORWARDED,
					    [PX_VERDICT_DROPPED] = VELUM_FLOW_DROPPED,
					    [PX_VERDICT_ERROR] = MON_VERDICT_ERROR };
	bool resp = ev->type == PX_EV_RESPONSE;
	const struct model_ep *cep, *sep;
	struct mon_ident *client, *server;
	uint32_t caddr, saddr;
	char url[sizeof(ev->host) + sizeof(ev->url) + 16];

	memset(f, 0, sizeof(*f));
	memcpy(&caddr, ev->src.addr + 12, 4);
	memcpy(&saddr, ev->dst.addr + 12, 4);
	f->time_ns = (int64_t)ev->time_ns;
	f->type = MON_FLOW_L7;
	f->verdict = verdicts[ev->verdict];
	f->dir = ev->direction == PX_DIR_EGRESS ? VELUM_DIR_EGRESS : VELUM_DIR_INGRESS;
	f->protocol = IPPROTO_TCP;
	client = l7_side(a, caddr, ev->src.identity, &cep);
	server = l7_side(a, saddr, ev->dst.identity, &sep);
	if (f->dir == VELUM_DIR_EGRESS ? cep != NULL : sep != NULL)
		f->ep_id = f->dir == VELUM_DIR_EGRESS ? cep->id : sep->id;
	/* a response goes from the server to the client (Hubble's is_reply) */
	f->src = resp ? server : client;
	f->dst = resp ? client : server;
	f->saddr = resp ? saddr : caddr;
	f->daddr = resp ? caddr : saddr;
	f->sport = resp ? ev->dst.port : ev->src.port;
	f->dport = resp ? ev->src.port : ev->dst.port;
	f->rule = l7_rule(ev->rule_name, last);
	if (ev->host[0]) {
		snprintf(url, sizeof(url), "http://%s%s", ev->host, ev->url);
	} else {
		char ip[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &saddr, ip, sizeof(ip));
		snprintf(url, sizeof(url), "http://%s%s", ip, ev->url);
	}
	f->l7 = mon_l7__new(resp ? MON_L7_RESPONSE : MON_L7_REQUEST, ev->method, ev->host, url,
			    ev->reason);
	if (f->l7) {
		f->l7->code = ev->status;
		f->l7->latency_ns = resp ? ev->latency_ns : 0;
		f->l7->http_major = ev->http_major;
		f->l7->http_minor = ev->http_minor;
	}
}

/* Enriches the n checked events and appends them to the ring. */
static void l7_process(struct agent *a, const struct px_access_event *evs, size_t n,
		       struct mon_rule **last)
{
	struct mon_flow flows[L7_BATCH];
	size_t i;

	pthread_mutex_lock(&a->lock);
	if (a->cache_rev != a->revision || a->ident_cache.n > 65536) {
		agent_flow_caches_clear(a);
		a->cache_rev = a->revision;
	}
	for (i = 0; i < n; i++)
		l7_enrich(a, &evs[i], last, &flows[i]);
	pthread_mutex_unlock(&a->lock);

	pthread_mutex_lock(&a->flow_lock);
	for (i = 0; i < n; i++) {
		a->l7_events++;
		if (!flows[i].src || !flows[i].dst || !flows[i].l7) {
			mon_flow_release(&flows[i]);
			continue;
		}
		mon_hubble_observe(&a->hubble, &flows[i]);
		mon_ring_push(&a->ring, &flows[i]);
	}
	pthread_cond_broadcast(&a->flow_cond);
	pthread_mutex_unlock(&a->flow_lock);
}

/* Checks the records of one datagram (got bytes), counting the malformed; returns the good ones, packed. */
static size_t l7_check_datagram(struct agent *a, struct px_access_event *evs, ssize_t got,
				bool *warned)
{
	size_t rec = sizeof(evs[0]), i, n = 0;
	/* anything but 1..PX_EV_PER_DATAGRAM whole records is one malformed datagram */
	size_t nrec = got > 0 && (size_t)got % rec == 0 && (size_t)got / rec <= PX_EV_PER_DATAGRAM ?
			      (size_t)got / rec :
			      1;
	unsigned bad = 0;

	for (i = 0; i < nrec; i++) {
		const char *why;
		size_t len = nrec == 1 ? (size_t)got : rec;

		if (agent_l7_event_check(&evs[i], len, &why)) {
			if (!*warned)
				pr_warn("velumd: dropping a malformed proxy access event "
					"(%zd bytes, record %zu): %s; counted in "
					"velum_proxy_access_events_total{outcome=\"malformed\"}\n",
					got, i, why);
			*warned = true;
			bad++;
			continue;
		}
		if (n != i)
			evs[n] = evs[i];
		n++;
	}
	if (bad) {
		pthread_mutex_lock(&a->flow_lock);
		a->l7_malformed += bad;
		pthread_mutex_unlock(&a->flow_lock);
	}
	return n;
}

static void *l7_main(void *arg)
{
	struct agent *a = arg;
	/* one datagram, and a byte more to tell an oversized one; one reader thread */
	static union {
		struct px_access_event ev[PX_EV_PER_DATAGRAM];
		char bytes[sizeof(struct px_access_event) * PX_EV_PER_DATAGRAM + 1];
	} buf;
	struct mon_rule *last = NULL;
	bool warned = false;

	while (!atomic_load(&a->stopping)) {
		struct pollfd pfd = { a->l7_fd, POLLIN, 0 };
		unsigned dgrams;

		if (poll(&pfd, 1, 200) <= 0)
			continue;
		for (dgrams = 0; dgrams < 64; dgrams++) {
			ssize_t r = recv(a->l7_fd, buf.bytes, sizeof(buf.bytes),
					 MSG_DONTWAIT | MSG_TRUNC);
			size_t n;

			if (r < 0)
				break;
			n = l7_check_datagram(a, buf.ev, r, &warned);
			if (n)
				l7_process(a, buf.ev, n, &last);
		}
	}
	mon_rule_put(last);
	return NULL;
}

int agent_l7_events_open(struct agent *a, const char *path, struct errbuf *eb)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rcvbuf = 4 << 20;

	if (strlen(path) >= sizeof(sa.sun_path))
		return errbuf_set(eb, -ENAMETOOLONG, "proxy events socket %s: path too long", path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return errbuf_set(eb, -errno, "proxy events socket: %s", strerror(errno));
	/* bursts of a busy proxy wait here rather than being dropped */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (unlink(path) == -1 && errno != ENOENT) {
		int err = -errno;

		close(fd);
		return errbuf_set(eb, err, "proxy events socket %s: %s", path, strerror(-err));
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 || chmod(path, 0600) == -1) {
		int err = -errno;

		close(fd);
		return errbuf_set(eb, err, "proxy events socket %s: %s", path, strerror(-err));
	}
	a->l7_fd = fd;
	return 0;
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
	if (a->l7_fd >= 0) {
		err = pthread_create(&a->l7_thr, NULL, l7_main, a);
		if (err) {
			errbuf_set(eb, -err, "proxy events thread: %s", strerror(err));
			agent_flows_stop(a);
			return -err;
		}
		a->l7_running = true;
	}
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
	if (a->l7_running)
		pthread_join(a->l7_thr, NULL);
	a->l7_running = false;
	if (a->l7_fd >= 0)
		close(a->l7_fd);
	a->l7_fd = -1;
	dp__close(a->dp_ev);
	a->dp_ev = NULL;
}
