/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The worker threads and their epoll loops (see proxy.h). Everything HTTP
 * is in session.c; this file reads and writes sockets, connects upstream,
 * keeps the timers (request-header timeout and idle timeout, each a list
 * ordered by deadline since every entry gets the same duration) and the
 * connection caps.
 *
 * Epoll is level-triggered; each socket's interest follows what its
 * session can take or has to send, so a full buffer stops the reads that
 * would overfill it (backpressure in both directions).
 */
#include "proxy/proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "datapath/dp.h"
#include "lib/hmap.h"
#include "lib/log.h"
#include "policy/l7snap.h"
#include "proxy/rules.h"
#include "proxy/session.h"
#include "velum/ipcache.h"
#include "velum/proxy.h"

struct px_worker;

/* The one callback signature: what to do when fd is ready. */
struct px_handler {
	void (*fn)(struct px_handler *h, uint32_t events);
	int fd;
	uint32_t events; /* current epoll interest */
};

struct px_link {
	struct px_link *prev, *next;
};

struct px_conn {
	struct px_handler ch, uh; /* client and upstream sockets */
	struct px_worker *w;
	struct px_session s;
	struct px_link head_link, idle_link;
	uint64_t head_deadline, last_active;
	bool in_head, connecting, up_eof;
	bool lingering; /* answered and shut down for writing: reading what the client still sends */
	uint32_t mark;	/* transparent: the listener's from-proxy mark */
	struct sockaddr_storage client, orig_dst; /* transparent: the upstream's ends */
	struct px_src *src;
};

/* Connections per source address, for the per-source cap. */
struct px_src {
	struct hnode node;
	uint8_t addr[16];
	unsigned n;
};

struct px_listener {
	struct px_handler h;
	struct px_worker *w;
	uint32_t mark; /* transparent: SO_MARK of the listener and its upstreams */
};

struct px_worker {
	struct px_server *srv;
	pthread_t tid;
	bool started;
	int epfd;
	struct px_listener listen[2];
	struct px_handler wake;
	struct px_pool pool;
	struct px_stats stats;
	struct px_ctx ctx;
	struct px_link heads, idles; /* list heads, oldest first */
	struct px_rules *rules;	     /* this worker's reference to the current set */
	unsigned rules_gen;
	struct pol_l7_snapshot *snap; /* cfg.snapshots: this worker's reference */
	unsigned snap_gen;
	struct strbuf line;
	/*
	 * Binary access events for cfg.events_socket, sent in one datagram
	 * when PX_EV_BATCH are queued or the oldest has waited PX_EV_FLUSH_NS
	 * (events_due()).
	 */
	int ev_fd;		    /* connected to the events socket, or -1 */
	uint64_t ev_retry_ns;	    /* while ev_fd < 0: next connect attempt */
	uint64_t ev_since;	    /* when the oldest queued event was queued */
	unsigned nev;		    /* events queued in ev[] */
	struct px_access_event *ev; /* PX_EV_BATCH of them */
};

/* Access events a worker queues before it sends them in one datagram. */
#define PX_EV_BATCH PX_EV_PER_DATAGRAM
/* While nobody listens on the events socket, connecting is tried this often (and events dropped). */
#define PX_EV_RETRY_NS 1000000000u
/*
 * The longest a queued access event waits for its datagram. Each datagram
 * wakes velumd's reader, and a wake-up across CPUs costs more than the
 * events it carries (perf, 10,000 req/s: sending one datagram per loop
 * turn, about one per request, was 7 % of the proxy's CPU, and velumd
 * spent 16 us per request): under load a worker sends at most one
 * datagram per interval or per full batch, and a flow reaches
 * `velum observe` this much later.
 */
#define PX_EV_FLUSH_NS 5000000u

struct px_server {
	struct px_config cfg;
	struct sockaddr_storage bound;
	socklen_t bound_len;
	unsigned nworkers;
	struct px_worker *workers;
	struct px_handler **handlers; /* by fd */
	size_t nhandlers;
	volatile bool stop;
	struct sockaddr_un events_addr;	   /* cfg.events_socket */
	struct dp_ipcache_reader *ipcache; /* transparent mode */

	pthread_mutex_t lock; /* rules, sources */
	struct px_rules *rules;
	unsigned rules_gen;	 /* read without the lock */
	struct pol_l7_slot slot; /* cfg.snapshots: velumd's current L7 snapshot */
	unsigned snap_gen;	 /* read without the lock */
	struct hmap sources;
	unsigned nconns;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* --- intrusive lists --- */

static void link_init(struct px_link *l)
{
	l->prev = l->next = l;
}

static void link_del(struct px_link *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
	link_init(l);
}

static void link_tail(struct px_link *head, struct px_link *l)
{
	l->prev = head->prev;
	l->next = head;
	head->prev->next = l;
	head->prev = l;
}

#define conn_of(l, member) \
	((struct px_conn *)(void *)((char *)(l)-offsetof(struct px_conn, member)))

/* --- handlers --- */

static int handler_set(struct px_worker *w, struct px_handler *h, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.fd = h->fd };
	int op = h->events == UINT32_MAX ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;

	if (h->events == events)
		return 0;
	if (epoll_ctl(w->epfd, op, h->fd, &ev) == -1)
		return -errno;
	h->events = events;
	w->srv->handlers[h->fd] = h;
	return 0;
}

static void handler_close(struct px_worker *w, struct px_handler *h)
{
	if (h->fd < 0)
		return;
	w->srv->handlers[h->fd] = NULL;
	close(h->fd); /* also leaves the epoll set */
	h->fd = -1;
	h->events = UINT32_MAX;
}

/* --- rules --- */

static struct px_rules *worker_rules(void *arg)
{
	struct px_worker *w = arg;
	struct px_server *srv = w->srv;

	if (__atomic_load_n(&srv->rules_gen, __ATOMIC_ACQUIRE) != w->rules_gen) {
		pthread_mutex_lock(&srv->lock);
		px_rules__put(w->rules);
		w->rules = px_rules__get(srv->rules);
		w->rules_gen = srv->rules_gen;
		pthread_mutex_unlock(&srv->lock);
	}
	return px_rules__get(w->rules);
}

/* --- velumd's L7 snapshot (cfg.snapshots) --- */

void px_server_set_snapshot(struct px_server *srv, struct pol_l7_snapshot *s)
{
	pol_l7_slot_publish(&srv->slot, s);
	__atomic_add_fetch(&srv->snap_gen, 1, __ATOMIC_RELEASE);
}

/* The worker's reference to the current snapshot (NULL before the first), refreshed when it changed. */
static struct pol_l7_snapshot *worker_snapshot(struct px_worker *w)
{
	unsigned gen = __atomic_load_n(&w->srv->snap_gen, __ATOMIC_ACQUIRE);

	if (gen != w->snap_gen) {
		pol_l7_snapshot__put(w->snap);
		w->snap = pol_l7_slot_acquire(&w->srv->slot);
		w->snap_gen = gen;
	}
	return w->snap;
}

/* Fills d from one direction's verdict. */
static void verdict_to_decision(const struct pol_l7_snapshot *snap, const struct pol_l7_verdict *v,
				struct px_decision *d, unsigned slot)
{
	const char *name;

	d->allowed = v->allowed;
	d->reason = pol_l7_reason_name(v->reason);
	if (!v->allowed || v->reason != POL_L7_MATCHED)
		return;
	d->rule = v->http_index;
	if (v->matcher && v->http_index >= 0)
		d->matched[slot] = pol_http_matcher_rule(v->matcher, (size_t)v->http_index);
	name = pol_l7_snapshot_rule_name(snap, v->rule_id);
	if (name)
		snprintf(d->rule_name, sizeof(d->rule_name), "%s", name);
}

/*
 * Judges a redirected request by velumd's snapshot (docs/proxy-redirect.md,
 * "Both directions"): the client endpoint's egress rules toward the
 * server's identity when the egress redirect brought the flow, then the
 * server endpoint's ingress rules toward the client's identity; a request
 * must pass both. One snapshot judges it wholly. Before velumd has sent
 * one, every request is denied.
 */
static void decide_snapshot(void *arg, const struct px_session *s,
			    const struct pol_http_request *req, struct px_decision *d)
{
	struct px_worker *w = arg;
	struct pol_l7_snapshot *snap = worker_snapshot(w);
	struct pol_l7_verdict v;
	bool judged = false;

	memset(d, 0, sizeof(*d));
	d->rule = -1;
	if (!snap) {
		d->reason = "no L7 policy from velumd yet";
		return;
	}
	/*
	 * No hold of its own: d->matched points into snap, which the worker's
	 * reference keeps alive until its next decide call, and the session
	 * releases the decision before it returns (handle_head()).
	 */
	if (s->direction == PX_DIR_EGRESS && s->src_ep) {
		pol_l7_snapshot_decide(snap, s->src_ep, POL_EGRESS, s->dst.identity, s->dst.port,
				       req, &v);
		verdict_to_decision(snap, &v, d, 0);
		if (!d->allowed)
			return;
		judged = true;
	}
	if (s->dst_ep) {
		struct px_decision in = { .rule = -1 };

		pol_l7_snapshot_decide(snap, s->dst_ep, POL_INGRESS, s->src.identity, s->dst.port,
				       req, &v);
		verdict_to_decision(snap, &v, &in, 1);
		/* The egress side's "matched" stays the named one unless ingress named its own. */
		if (!in.allowed || !judged || v.reason == POL_L7_MATCHED) {
			d->allowed = in.allowed;
			d->reason = in.reason;
			d->rule = in.rule;
			memcpy(d->rule_name, in.rule_name, sizeof(d->rule_name));
		}
		d->matched[1] = in.matched[1];
		judged = true;
	}
	if (!judged) {
		/* Redirected but neither end a local endpoint: nothing to judge by. */
		d->allowed = false;
		d->reason = "no endpoint for this flow";
	}
}

void px_server_set_rules(struct px_server *srv, struct px_rules *rules)
{
	struct px_rules *old;

	pthread_mutex_lock(&srv->lock);
	old = srv->rules;
	srv->rules = rules;
	__atomic_store_n(&srv->rules_gen, srv->rules_gen + 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&srv->lock);
	px_rules__put(old);
}

/* --- access events --- */

/* Connects w->ev_fd to cfg.events_socket unless tried within PX_EV_RETRY_NS. Returns 0 or -1. */
static int events_connect(struct px_worker *w)
{
	uint64_t now = now_ns();

	if (now < w->ev_retry_ns)
		return -1;
	w->ev_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (w->ev_fd >= 0 && connect(w->ev_fd, (const struct sockaddr *)&w->srv->events_addr,
				     sizeof(w->srv->events_addr)) == 0)
		return 0;
	if (w->ev_fd >= 0)
		close(w->ev_fd);
	w->ev_fd = -1;
	w->ev_retry_ns = now + PX_EV_RETRY_NS;
	return -1;
}

/*
 * Sends the queued binary events as one datagram of consecutive records
 * (PX_EV_BATCH at most) on a socket connected to cfg.events_socket: a busy
 * worker makes one call and the reader one wake-up per loop turn, not one
 * per event. A listener that went away and came back (ECONNREFUSED on the
 * old connection) is reconnected at once; while nobody listens, events are
 * dropped (as a full socket drops them) and connecting is tried again
 * every PX_EV_RETRY_NS.
 */
static void events_flush(struct px_worker *w)
{
	size_t len = (size_t)w->nev * sizeof(w->ev[0]);
	unsigned attempt;

	if (!len)
		return;
	w->nev = 0;
	for (attempt = 0; attempt < 2; attempt++) {
		if (w->ev_fd < 0 && events_connect(w))
			return;
		if (send(w->ev_fd, w->ev, len, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0 ||
		    errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS || errno == EINTR)
			return;
		close(w->ev_fd);
		w->ev_fd = -1;
		w->ev_retry_ns = 0;
	}
}

static void worker_emit(void *arg, const struct px_access_event *ev)
{
	struct px_worker *w = arg;
	struct px_server *srv = w->srv;

	if (w->ev) {
		if (w->nev == PX_EV_BATCH)
			events_flush(w);
		if (!w->nev)
			w->ev_since = now_ns();
		w->ev[w->nev++] = *ev;
	}
	if (srv->cfg.access_fd < 0)
		return;
	strbuf_reset(&w->line);
	px_access_format_json(ev, &w->line);
	strbuf_putc(&w->line, '\n');
	/* One write per line: lines from several workers do not interleave. */
	if (!w->line.oom)
		(void)!write(srv->cfg.access_fd, w->line.p, w->line.len);
}

/* --- connections --- */

static void on_client(struct px_handler *h, uint32_t events);
static void on_upstream(struct px_handler *h, uint32_t events);

static void peer_of(const struct sockaddr_storage *ss, struct px_ev_peer *p)
{
	memset(p, 0, sizeof(*p));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ss;

		p->addr[10] = p->addr[11] = 0xff;
		memcpy(p->addr + 12, &a->sin_addr, 4);
		p->port = ntohs(a->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)ss;

		memcpy(p->addr, &a->sin6_addr, 16);
		p->port = ntohs(a->sin6_port);
	}
}

static uint64_t addr_hash(const uint8_t *a)
{
	uint64_t x, y;

	memcpy(&x, a, 8);
	memcpy(&y, a + 8, 8);
	return hash_mix64(x ^ hash_mix64(y));
}

/* Counts a new connection from addr against the caps. Returns its source, or NULL if refused. */
static struct px_src *caps_take(struct px_server *srv, const uint8_t *addr)
{
	uint64_t h = addr_hash(addr);
	struct px_src *src = NULL;
	struct hnode *it;

	pthread_mutex_lock(&srv->lock);
	if (srv->nconns >= srv->cfg.max_conns)
		goto out;
	hmap_for_each_hash(&srv->sources, h, it)
	{
		struct px_src *c = container_of(it, struct px_src, node);

		if (!memcmp(c->addr, addr, 16)) {
			src = c;
			break;
		}
	}
	if (!src) {
		src = calloc(1, sizeof(*src));
		if (!src)
			goto out;
		memcpy(src->addr, addr, 16);
		if (hmap_insert(&srv->sources, &src->node, h)) {
			free(src);
			src = NULL;
			goto out;
		}
	}
	if (src->n >= srv->cfg.max_conns_per_source) {
		src = NULL;
		goto out;
	}
	src->n++;
	srv->nconns++;
out:
	pthread_mutex_unlock(&srv->lock);
	return src;
}

static void caps_release(struct px_server *srv, struct px_src *src)
{
	pthread_mutex_lock(&srv->lock);
	srv->nconns--;
	if (!--src->n) {
		hmap_remove(&srv->sources, &src->node);
		free(src);
	}
	pthread_mutex_unlock(&srv->lock);
}

static void conn_close(struct px_conn *c)
{
	struct px_worker *w = c->w;

	handler_close(w, &c->ch);
	handler_close(w, &c->uh);
	px_session_fini(&c->s);
	link_del(&c->head_link);
	link_del(&c->idle_link);
	caps_release(w->srv, c->src);
	w->stats.open_conns--;
	free(c);
}

static void upstream_close(struct px_conn *c)
{
	handler_close(c->w, &c->uh);
	c->connecting = c->up_eof = false;
	c->s.upstream_drop = false;
}

/*
 * Transparent mode: the upstream socket is bound to the client's address
 * and carries the listener's from-proxy mark, in the order the contract
 * gives (docs/proxy-redirect.md).
 */
static int upstream_transparent(struct px_conn *c, int fd, bool same_port)
{
	struct sockaddr_in from = *(const struct sockaddr_in *)&c->client;
	int one = 1;

	if (!same_port)
		from.sin_port = 0;
	if (setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_MARK, &c->mark, sizeof(c->mark)) == -1 ||
	    (same_port ?
		     setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) :
		     setsockopt(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one))) == -1 ||
	    bind(fd, (const struct sockaddr *)&from, sizeof(from)) == -1)
		return -errno;
	return 0;
}

/*
 * Opens the upstream connection. Returns 0 or negative errno.
 *
 * Transparent mode: from the client's own address and port, so that the
 * upstream leg has the client's 4-tuple. The datapath's conntrack knows a
 * flow by its 4-tuple and direction: with any other port the kernel could
 * pick one that another connection of the same client to the same server
 * uses (or soon will), and the two flows' entries would be one. Only if
 * that tuple is still held in the host (TIME_WAIT of an earlier upstream)
 * does it fall back to a port the kernel picks.
 */
static int upstream_connect(struct px_conn *c)
{
	const struct px_config *cfg = &c->w->srv->cfg;
	const struct sockaddr_storage *to = cfg->transparent ? &c->orig_dst : &cfg->upstream;
	socklen_t tolen = cfg->transparent ? sizeof(struct sockaddr_in) : cfg->upstream_len;
	bool same_port = cfg->transparent;
	int fd, one = 1, err;

again:
	fd = socket(to->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	if ((size_t)fd >= c->w->srv->nhandlers) {
		close(fd);
		return -EMFILE;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->uh.fd = fd;
	c->uh.events = UINT32_MAX;
	c->uh.fn = on_upstream;
	err = cfg->transparent ? upstream_transparent(c, fd, same_port) : 0;
	if (!err && connect(fd, (const struct sockaddr *)to, tolen) == -1 && errno != EINPROGRESS)
		err = -errno;
	if (err) {
		handler_close(c->w, &c->uh);
		if (same_port && (err == -EADDRINUSE || err == -EADDRNOTAVAIL)) {
			same_port = false;
			goto again;
		}
		return err;
	}
	c->connecting = true;
	return handler_set(c->w, &c->uh, EPOLLOUT);
}

/* Writes what the session has for fd. Returns bytes written, or negative errno. */
static ssize_t flush(int fd, const char *p, size_t len)
{
	ssize_t n;

	if (!len)
		return 0;
	n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n == -1)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	return n;
}

static bool client_wants_bytes(const struct px_session *s)
{
	return s->rstate != PX_RS_DONE && !s->client_eof && !s->fatal &&
	       (!s->cin || s->cin->len < PX_BUF_SIZE || s->cin->off);
}

/*
 * The session is over. Closing a socket with unread input makes the kernel
 * reset the connection, which can destroy the answer just sent (a 400 or
 * 408 the client has not read yet), so an answered client is shut down for
 * writing and its further bytes are read and dropped until it closes or
 * PX_LINGER_NS passes.
 */
#define PX_LINGER_NS 1000000000u

static void conn_linger(struct px_conn *c)
{
	struct px_worker *w = c->w;

	if (c->s.fatal || c->s.client_eof || shutdown(c->ch.fd, SHUT_WR) == -1 ||
	    handler_set(w, &c->ch, EPOLLIN)) {
		conn_close(c);
		return;
	}
	handler_close(w, &c->uh);
	px_session_fini(&c->s);
	c->lingering = true;
	if (c->in_head)
		link_del(&c->head_link);
	c->in_head = true;
	c->head_deadline = now_ns() + PX_LINGER_NS;
	link_tail(&w->heads, &c->head_link);
	link_del(&c->idle_link);
}

/* Pumps the session, moves bytes, and sets interests and timers; may free c. */
static void conn_run(struct px_conn *c)
{
	struct px_session *s = &c->s;
	struct px_worker *w = c->w;
	uint32_t cev, uev;
	const char *p;
	size_t len;
	ssize_t n;
	bool moved;

	do {
		moved = px_session_pump(s);
		if (s->upstream_drop)
			upstream_close(c);
		if (s->want_upstream && !s->fatal) {
			int err;

			s->want_upstream = false;
			s->upstream_open = true;
			err = upstream_connect(c);
			if (err) {
				pr_debug("upstream connect: %s\n", strerror(-err));
				px_session_upstream_gone(s, true);
				upstream_close(c);
				moved = true;
				continue;
			}
		}
		p = px_session_client_out(s, &len);
		n = flush(c->ch.fd, p, len);
		if (n < 0) {
			conn_close(c);
			return;
		}
		if (n > 0) {
			px_session_client_sent(s, (size_t)n);
			moved = true;
		}
		if (c->uh.fd >= 0 && !c->connecting) {
			p = px_session_upstream_out(s, &len);
			n = flush(c->uh.fd, p, len);
			if (n < 0) {
				px_session_upstream_gone(s, true);
				upstream_close(c);
				moved = true;
			} else if (n > 0) {
				px_session_upstream_sent(s, (size_t)n);
				moved = true;
			}
		}
	} while (moved && !s->fatal);

	if (px_session_finished(s)) {
		conn_linger(c);
		return;
	}
	cev = client_wants_bytes(s) ? EPOLLIN : 0;
	px_session_client_out(s, &len);
	if (len)
		cev |= EPOLLOUT;
	if (handler_set(w, &c->ch, cev)) {
		conn_close(c);
		return;
	}
	if (c->uh.fd >= 0) {
		uev = 0;
		if (c->connecting) {
			uev = EPOLLOUT;
		} else {
			if (!c->up_eof && (!s->uin || s->uin->len < PX_BUF_SIZE || s->uin->off))
				uev |= EPOLLIN;
			px_session_upstream_out(s, &len);
			if (len)
				uev |= EPOLLOUT;
		}
		if (handler_set(w, &c->uh, uev)) {
			conn_close(c);
			return;
		}
	}
	c->last_active = now_ns();
	link_del(&c->idle_link);
	link_tail(&w->idles, &c->idle_link);
	if (px_session_awaiting_head(s)) {
		if (!c->in_head) {
			c->in_head = true;
			c->head_deadline =
				c->last_active + (uint64_t)w->srv->cfg.header_timeout_ms * 1000000u;
			link_tail(&w->heads, &c->head_link);
		}
	} else if (c->in_head) {
		c->in_head = false;
		link_del(&c->head_link);
	}
}

static void on_client(struct px_handler *h, uint32_t events)
{
	struct px_conn *c = (struct px_conn *)(void *)((char *)h - offsetof(struct px_conn, ch));
	size_t room;
	char *at;

	if (c->lingering) {
		char sink[4096];
		ssize_t n = recv(h->fd, sink, sizeof(sink), MSG_DONTWAIT);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			conn_close(c);
		return;
	}

	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		at = px_session_client_room(&c->s, &room);
		if (at) {
			ssize_t n = recv(h->fd, at, room, MSG_DONTWAIT);

			if (n > 0) {
				px_session_client_read(&c->s, (size_t)n);
			} else if (n == 0) {
				px_session_client_eof(&c->s);
			} else if (errno != EAGAIN && errno != EINTR) {
				conn_close(c);
				return;
			}
		} else if (events & (EPOLLHUP | EPOLLERR)) {
			conn_close(c);
			return;
		}
	}
	conn_run(c);
}

static void on_upstream(struct px_handler *h, uint32_t events)
{
	struct px_conn *c = (struct px_conn *)(void *)((char *)h - offsetof(struct px_conn, uh));
	size_t room;
	char *at;

	if (c->connecting) {
		int err = 0;
		socklen_t elen = sizeof(err);

		if (getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &err, &elen) == -1)
			err = errno;
		if (err) {
			pr_debug("upstream connect: %s\n", strerror(err));
			px_session_upstream_gone(&c->s, true);
			upstream_close(c);
		} else if (events & EPOLLOUT) {
			c->connecting = false;
		}
	} else if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		at = px_session_upstream_room(&c->s, &room);
		if (at) {
			ssize_t n = recv(h->fd, at, room, MSG_DONTWAIT);

			if (n > 0) {
				px_session_upstream_read(&c->s, (size_t)n);
			} else if (n == 0) {
				c->up_eof = true;
				px_session_upstream_gone(&c->s, false);
			} else if (errno != EAGAIN && errno != EINTR) {
				px_session_upstream_gone(&c->s, true);
				upstream_close(c);
			}
		}
	}
	conn_run(c);
}

/*
 * Transparent mode: the peers' identities from the ipcache (a miss is
 * world). Refuses (returns false) what was not redirected here: a client
 * that connected to the proxy port itself would make the proxy connect to
 * itself.
 */
static bool transparent_peers(struct px_server *srv, const struct sockaddr_storage *peer,
			      const struct sockaddr_storage *local, struct px_ev_peer *src,
			      struct px_ev_peer *dst, uint32_t *src_ep, uint32_t *dst_ep)
{
	const struct sockaddr_in *p = (const void *)peer, *l = (const void *)local;
	struct velum_ipcache_value v;
	unsigned i;

	if (peer->ss_family != AF_INET || local->ss_family != AF_INET)
		return false;
	for (i = 0; i < 2; i++)
		if (srv->cfg.ports[i] && l->sin_addr.s_addr == htonl(VELUM_PROXY_LISTEN_ADDR) &&
		    ntohs(l->sin_port) == srv->cfg.ports[i])
			return false;
	if (srv->ipcache) {
		int e = dp_ipcache_lookup(srv->ipcache, p->sin_addr.s_addr, &v);

		if (!e || e == -ENOENT) {
			src->identity = v.identity;
			*src_ep = !e && (v.flags & VELUM_IPCACHE_F_LOCAL_EP) ? v.ep_id : 0;
		}
		e = dp_ipcache_lookup(srv->ipcache, l->sin_addr.s_addr, &v);
		if (!e || e == -ENOENT) {
			dst->identity = v.identity;
			*dst_ep = !e && (v.flags & VELUM_IPCACHE_F_LOCAL_EP) ? v.ep_id : 0;
		}
	}
	return true;
}

static void on_accept(struct px_handler *h, uint32_t events)
{
	struct px_listener *l =
		(struct px_listener *)(void *)((char *)h - offsetof(struct px_listener, h));
	struct px_worker *w = l->w;
	int i;

	(void)events;
	for (i = 0; i < 64; i++) {
		struct sockaddr_storage peer, local;
		socklen_t plen = sizeof(peer), llen = sizeof(local);
		struct px_ev_peer src, dst;
		uint32_t src_ep = 0, dst_ep = 0;
		struct px_conn *c;
		int fd, one = 1;

		fd = accept4(h->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				pr_warn("accept: %s\n", strerror(errno));
			return;
		}
		w->stats.accepted++;
		peer_of(&peer, &src);
		if (getsockname(fd, (struct sockaddr *)&local, &llen) == -1)
			memset(&local, 0, sizeof(local));
		peer_of(&local, &dst);
		if (w->srv->cfg.transparent &&
		    !transparent_peers(w->srv, &peer, &local, &src, &dst, &src_ep, &dst_ep)) {
			close(fd);
			w->stats.refused_conns++;
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (c)
			c->src = caps_take(w->srv, src.addr);
		if (!c || !c->src || (size_t)fd >= w->srv->nhandlers) {
			/* Over a cap (or out of memory): the client sees its connection closed. */
			if (c && c->src)
				caps_release(w->srv, c->src);
			free(c);
			close(fd);
			w->stats.refused_conns++;
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->w = w;
		c->mark = l->mark;
		c->client = peer;
		c->orig_dst = local;
		c->ch = (struct px_handler){ on_client, fd, UINT32_MAX };
		c->uh = (struct px_handler){ on_upstream, -1, UINT32_MAX };
		link_init(&c->head_link);
		link_init(&c->idle_link);
		px_session_init(&c->s, &w->ctx, &src, &dst);
		if (w->srv->cfg.transparent) {
			c->s.src_ep = src_ep;
			c->s.dst_ep = dst_ep;
			c->s.direction = l->mark == VELUM_MARK_MAGIC_PROXY_EGRESS ? PX_DIR_EGRESS :
										    PX_DIR_INGRESS;
		}
		w->stats.open_conns++;
		conn_run(c);
	}
}

static void on_wake(struct px_handler *h, uint32_t events)
{
	uint64_t v;

	(void)events;
	(void)!read(h->fd, &v, sizeof(v));
}

static void expire(struct px_worker *w, uint64_t now)
{
	const struct px_config *cfg = &w->srv->cfg;
	uint64_t idle_ns = (uint64_t)cfg->idle_timeout_ms * 1000000u;

	while (w->heads.next != &w->heads) {
		struct px_conn *c = conn_of(w->heads.next, head_link);

		if (c->head_deadline > now)
			break;
		c->in_head = false;
		link_del(&c->head_link);
		if (c->lingering) {
			conn_close(c);
			continue;
		}
		px_session_timeout(&c->s);
		conn_run(c);
	}
	while (w->idles.next != &w->idles) {
		struct px_conn *c = conn_of(w->idles.next, idle_link);

		if (c->last_active + idle_ns > now)
			break;
		conn_close(c);
	}
}

/* Whether the queued access events are due to be sent (see PX_EV_FLUSH_NS). */
static bool events_due(const struct px_worker *w, uint64_t now)
{
	return w->nev && now - w->ev_since >= PX_EV_FLUSH_NS;
}

static int next_timeout_ms(struct px_worker *w, uint64_t now)
{
	uint64_t next = now + 1000000000u, d;

	if (w->nev && w->ev_since + PX_EV_FLUSH_NS < next)
		next = w->ev_since + PX_EV_FLUSH_NS;

	if (w->heads.next != &w->heads) {
		d = conn_of(w->heads.next, head_link)->head_deadline;
		if (d < next)
			next = d;
	}
	if (w->idles.next != &w->idles) {
		d = conn_of(w->idles.next, idle_link)->last_active +
		    (uint64_t)w->srv->cfg.idle_timeout_ms * 1000000u;
		if (d < next)
			next = d;
	}
	return next <= now ? 0 : (int)((next - now + 999999) / 1000000);
}

static void *worker_main(void *arg)
{
	struct px_worker *w = arg;
	struct px_server *srv = w->srv;
	struct epoll_event evs[128];
	uint64_t now;

	while (!__atomic_load_n(&srv->stop, __ATOMIC_ACQUIRE)) {
		int n = epoll_wait(w->epfd, evs, 128, next_timeout_ms(w, now_ns())), i;

		if (n == -1 && errno != EINTR) {
			pr_warn("epoll_wait: %s\n", strerror(errno));
			break;
		}
		for (i = 0; i < n; i++) {
			struct px_handler *h = srv->handlers[evs[i].data.fd];

			/* An earlier event in this batch may have closed it. */
			if (h)
				h->fn(h, evs[i].events);
		}
		now = now_ns();
		expire(w, now);
		if (events_due(w, now))
			events_flush(w);
	}
	while (w->idles.next != &w->idles)
		conn_close(conn_of(w->idles.next, idle_link));
	while (w->heads.next != &w->heads)
		conn_close(conn_of(w->heads.next, head_link));
	events_flush(w);
	return NULL;
}

/* --- setup --- */

static int listen_socket(const struct sockaddr_storage *addr, socklen_t len, uint32_t mark,
			 struct errbuf *eb)
{
	int fd, one = 1;

	fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return errbuf_set(eb, -errno, "socket: %s", strerror(errno));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1 ||
	    (mark && (setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one)) == -1 ||
		      setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) == -1)) ||
	    bind(fd, (const struct sockaddr *)addr, len) == -1 || listen(fd, 4096) == -1) {
		int err = -errno;

		errbuf_set(eb, err, "listen: %s", strerror(-err));
		close(fd);
		return err;
	}
	return fd;
}

/* Binds listener i of w: the standalone address, or a transparent proxy port. */
static int listener_init(struct px_server *srv, struct px_worker *w, unsigned i, struct errbuf *eb)
{
	static const uint32_t marks[2] = { VELUM_MARK_MAGIC_PROXY_INGRESS,
					   VELUM_MARK_MAGIC_PROXY_EGRESS };
	struct px_listener *l = &w->listen[i];
	struct sockaddr_storage ss = srv->bound;
	socklen_t len = srv->bound_len;

	l->w = w;
	l->h.fn = on_accept;
	l->h.events = UINT32_MAX;
	if (srv->cfg.transparent) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		if (!srv->cfg.ports[i])
			return 0;
		memset(&ss, 0, sizeof(ss));
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(VELUM_PROXY_LISTEN_ADDR);
		a->sin_port = htons(srv->cfg.ports[i]);
		len = sizeof(*a);
		l->mark = marks[i];
	} else if (i) {
		return 0;
	}
	l->h.fd = listen_socket(&ss, len, l->mark, eb);
	if (l->h.fd < 0)
		return l->h.fd;
	if (!srv->cfg.transparent &&
	    (srv->bound.ss_family == AF_INET ? !((struct sockaddr_in *)&srv->bound)->sin_port :
					       !((struct sockaddr_in6 *)&srv->bound)->sin6_port)) {
		/* Port 0: the first worker's choice is every worker's. */
		srv->bound_len = sizeof(srv->bound);
		getsockname(l->h.fd, (struct sockaddr *)&srv->bound, &srv->bound_len);
	}
	return handler_set(w, &l->h, EPOLLIN) ?
		       errbuf_set(eb, -EINVAL, "epoll_ctl: %s", strerror(errno)) :
		       0;
}

static int worker_init(struct px_server *srv, struct px_worker *w, struct errbuf *eb)
{
	unsigned i;
	int err;

	w->srv = srv;
	w->epfd = -1;
	w->listen[0].h.fd = w->listen[1].h.fd = w->wake.fd = -1;
	link_init(&w->heads);
	link_init(&w->idles);
	w->pool.max_free = 64; /* 1 MiB of spare buffers per worker */
	w->ev_fd = -1;
	if (srv->cfg.events_socket) {
		w->ev = calloc(PX_EV_BATCH, sizeof(*w->ev));
		if (!w->ev)
			return errbuf_set(eb, -ENOMEM, "events: %s", strerror(ENOMEM));
	}
	w->ctx = (struct px_ctx){
		.pool = &w->pool,
		.stats = &w->stats,
		.rules_get = worker_rules,
		.rules_arg = w,
		.emit = worker_emit,
		.emit_arg = w,
	};
	if (srv->cfg.snapshots) {
		w->ctx.decide = decide_snapshot;
		w->ctx.decide_arg = w;
	}
	w->rules = srv->rules ? px_rules__get(srv->rules) : NULL;
	w->rules_gen = srv->rules_gen;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd == -1)
		return errbuf_set(eb, -errno, "epoll_create1: %s", strerror(errno));
	for (i = 0; i < 2; i++) {
		err = listener_init(srv, w, i, eb);
		if (err)
			return err;
	}
	w->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->wake.fd == -1)
		return errbuf_set(eb, -errno, "eventfd: %s", strerror(errno));
	w->wake.fn = on_wake;
	w->wake.events = UINT32_MAX;
	if (handler_set(w, &w->wake, EPOLLIN))
		return errbuf_set(eb, -errno, "epoll_ctl: %s", strerror(errno));
	return 0;
}

static void worker_fini(struct px_worker *w)
{
	if (w->listen[0].h.fd >= 0)
		handler_close(w, &w->listen[0].h);
	if (w->listen[1].h.fd >= 0)
		handler_close(w, &w->listen[1].h);
	if (w->wake.fd >= 0)
		handler_close(w, &w->wake);
	if (w->epfd >= 0)
		close(w->epfd);
	px_rules__put(w->rules);
	pol_l7_snapshot__put(w->snap);
	px_pool_drain(&w->pool);
	strbuf_free(&w->line);
	if (w->ev && w->ev_fd >= 0)
		close(w->ev_fd);
	free(w->ev);
}

struct px_server *px_server__new(const struct px_config *cfg, struct px_rules *rules,
				 struct errbuf *eb)
{
	struct px_server *srv = calloc(1, sizeof(*srv));
	struct rlimit rl;
	long ncpu;
	unsigned i;
	int err = 0;

	if (!srv) {
		px_rules__put(rules);
		errno = ENOMEM;
		return NULL;
	}
	srv->cfg = *cfg;
	srv->rules = rules;
	pthread_mutex_init(&srv->slot.lock, NULL);
	srv->bound = cfg->listen;
	srv->bound_len = cfg->listen_len;
	pthread_mutex_init(&srv->lock, NULL);
	/* Two descriptors per connection: take what the hard limit allows. */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	srv->nhandlers = getrlimit(RLIMIT_NOFILE, &rl) ? 1024 : rl.rlim_cur;
	if (srv->nhandlers > (1u << 22))
		srv->nhandlers = 1u << 22;
	srv->handlers = calloc(srv->nhandlers, sizeof(*srv->handlers));
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	srv->nworkers = cfg->threads ? cfg->threads : ncpu > 0 ? (unsigned)ncpu : 1;
	srv->workers = calloc(srv->nworkers, sizeof(*srv->workers));
	if (!srv->handlers || !srv->workers) {
		err = -ENOMEM;
		goto err_free;
	}
	if (cfg->events_socket) {
		srv->events_addr.sun_family = AF_UNIX;
		if (strlen(cfg->events_socket) >= sizeof(srv->events_addr.sun_path)) {
			err = -ENAMETOOLONG;
			errbuf_set(eb, err, "events socket %s: %s", cfg->events_socket,
				   strerror(-err));
			goto err_free;
		}
		strcpy(srv->events_addr.sun_path, cfg->events_socket);
	}
	if (cfg->transparent) {
		srv->ipcache = dp_ipcache_reader__open(cfg->pin_dir, eb);
		if (!srv->ipcache) {
			err = -errno;
			goto err_free;
		}
	}
	for (i = 0; i < srv->nworkers; i++) {
		err = worker_init(srv, &srv->workers[i], eb);
		if (err)
			goto err_free;
	}
	return srv;
err_free:
	px_server__free(srv);
	errno = -err;
	return NULL;
}

const struct sockaddr_storage *px_server_addr(const struct px_server *srv, socklen_t *len)
{
	*len = srv->bound_len;
	return &srv->bound;
}

int px_server_start(struct px_server *srv)
{
	unsigned i;
	int err;

	for (i = 0; i < srv->nworkers; i++) {
		err = pthread_create(&srv->workers[i].tid, NULL, worker_main, &srv->workers[i]);
		if (err) {
			px_server_stop(srv);
			return -err;
		}
		srv->workers[i].started = true;
	}
	return 0;
}

void px_server_stop(struct px_server *srv)
{
	uint64_t one = 1;
	unsigned i;

	__atomic_store_n(&srv->stop, true, __ATOMIC_RELEASE);
	for (i = 0; i < srv->nworkers; i++)
		if (srv->workers[i].wake.fd >= 0)
			(void)!write(srv->workers[i].wake.fd, &one, sizeof(one));
	for (i = 0; i < srv->nworkers; i++) {
		if (srv->workers[i].started)
			pthread_join(srv->workers[i].tid, NULL);
		srv->workers[i].started = false;
	}
}

void px_server__free(struct px_server *srv)
{
	unsigned i;

	if (!srv)
		return;
	px_server_stop(srv);
	for (i = 0; srv->workers && i < srv->nworkers; i++)
		worker_fini(&srv->workers[i]);
	dp_ipcache_reader__close(srv->ipcache);
	px_rules__put(srv->rules);
	pol_l7_slot_publish(&srv->slot, NULL);
	pthread_mutex_destroy(&srv->slot.lock);
	hmap_destroy(&srv->sources);
	pthread_mutex_destroy(&srv->lock);
	free(srv->workers);
	free(srv->handlers);
	free(srv);
}

int px_server_metrics(struct px_server *srv, struct strbuf *sb)
{
	static const char *const kinds[] = { "received", "forwarded", "denied", "parse_errors" };
	struct px_stats sum = { 0 };
	uint64_t cum = 0;
	unsigned i, k;

	for (i = 0; i < srv->nworkers; i++) {
		const uint64_t *src = (const uint64_t *)(const void *)&srv->workers[i].stats;
		uint64_t *dst = (uint64_t *)(void *)&sum;

		for (k = 0; k < sizeof(sum) / sizeof(uint64_t); k++)
			dst[k] += __atomic_load_n(&src[k], __ATOMIC_RELAXED);
	}
	strbuf_puts(sb, "# HELP velum_policy_l7_total Number of total proxy requests handled\n"
			"# TYPE velum_policy_l7_total counter\n");
	for (k = 0; k < 4; k++)
		strbuf_printf(sb, "velum_policy_l7_total{rule=\"%s\"} %llu\n", kinds[k],
			      (unsigned long long)(&sum.received)[k]);
	strbuf_puts(sb, "# HELP velum_proxy_upstream_reply_seconds Seconds waited to get a reply "
			"from the upstream server\n"
			"# TYPE velum_proxy_upstream_reply_seconds histogram\n");
	for (k = 0; k < PX_LAT_BUCKETS; k++) {
		cum += sum.lat_le[k];
		if (k + 1 < PX_LAT_BUCKETS)
			strbuf_printf(sb,
				      "velum_proxy_upstream_reply_seconds_bucket{le=\"%g\"} %llu\n",
				      (double)px_lat_bounds_ns[k] / 1e9, (unsigned long long)cum);
		else
			strbuf_printf(
				sb, "velum_proxy_upstream_reply_seconds_bucket{le=\"+Inf\"} %llu\n",
				(unsigned long long)cum);
	}
	strbuf_printf(sb,
		      "velum_proxy_upstream_reply_seconds_sum %.9f\n"
		      "velum_proxy_upstream_reply_seconds_count %llu\n"
		      "# TYPE velum_proxy_open_connections gauge\n"
		      "velum_proxy_open_connections %llu\n"
		      "# TYPE velum_proxy_connections_refused_total counter\n"
		      "velum_proxy_connections_refused_total %llu\n"
		      "# TYPE velum_proxy_upstream_errors_total counter\n"
		      "velum_proxy_upstream_errors_total %llu\n"
		      "# TYPE velum_proxy_header_timeouts_total counter\n"
		      "velum_proxy_header_timeouts_total %llu\n",
		      (double)sum.lat_sum_ns / 1e9, (unsigned long long)sum.lat_count,
		      (unsigned long long)sum.open_conns, (unsigned long long)sum.refused_conns,
		      (unsigned long long)sum.upstream_errors, (unsigned long long)sum.timeouts);
	return sb->oom ? -ENOMEM : 0;
}
