/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The proxied connection's state machine (see session.h): request parsing
 * and judging, body streaming, response parsing, in-order local answers,
 * and upstream failure handling. No sockets and no clocks except through
 * the context, so the fuzzer and the unit tests run exactly this code.
 *
 * Invariants: cin->data[cin->off, cparse) is the part of the current head
 * llhttp has consumed (spans point into it, relative to cin->off); in the
 * body state cin->off == cparse, since consumed body bytes are copied
 * upstream or discarded at once. Response bytes are copied to the client
 * as the response parser accepts them, so uin->off is the parse position.
 */
#include "proxy/session.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "l7/normalize.h"
#include "policy/http.h"
#include "proxy/rules.h"

enum { PX_PEND_FWD = 1, PX_PEND_LOCAL = 2 };

_Static_assert(sizeof(struct px_pending) * PX_MAX_PIPELINE <= PX_BUF_SIZE,
	       "the pending ring lives in one pool buffer");

const uint64_t px_lat_bounds_ns[PX_LAT_BUCKETS] = {
	500000,	   1000000,   2500000,	 5000000,    10000000,	 25000000,   50000000,
	100000000, 250000000, 500000000, 1000000000, 2500000000, 5000000000, UINT64_MAX,
};

/* --- buffer pool --- */

struct px_buf *px_pool_get(struct px_pool *pool)
{
	struct px_buf *b = pool->free;

	if (b) {
		pool->free = b->next;
		pool->nfree--;
	} else {
		b = malloc(sizeof(*b));
		if (!b)
			return NULL;
	}
	b->next = NULL;
	b->off = b->len = 0;
	pool->in_use++;
	return b;
}

void px_pool_put(struct px_pool *pool, struct px_buf *b)
{
	if (!b)
		return;
	pool->in_use--;
	if (pool->nfree >= pool->max_free) {
		free(b);
		return;
	}
	b->next = pool->free;
	pool->free = b;
	pool->nfree++;
}

void px_pool_drain(struct px_pool *pool)
{
	struct px_buf *b;

	while ((b = pool->free)) {
		pool->free = b->next;
		free(b);
	}
	pool->nfree = 0;
}

static uint64_t mono_ns(const struct px_ctx *ctx)
{
	struct timespec ts;

	if (ctx->now_ns)
		return ctx->now_ns();
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Free space at the end of b, moving its contents to the front when that helps. */
static size_t buf_space(struct px_buf *b, size_t want)
{
	if (b->off == b->len)
		b->off = b->len = 0;
	if (PX_BUF_SIZE - b->len < want && b->off) {
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	return PX_BUF_SIZE - b->len;
}

/* Appends n bytes; the caller checked the space. */
static void buf_put(struct px_buf *b, const void *p, size_t n)
{
	memcpy(b->data + b->len, p, n);
	b->len += (uint32_t)n;
}

static bool ensure(struct px_session *s, struct px_buf **b)
{
	if (!*b)
		*b = px_pool_get(s->ctx->pool);
	return *b != NULL;
}

static void release_if_empty(struct px_session *s, struct px_buf **b)
{
	if (*b && (*b)->off == (*b)->len) {
		px_pool_put(s->ctx->pool, *b);
		*b = NULL;
	}
}

/* --- local responses (Envoy's spelling of Cilium's 403) --- */

struct local_resp {
	uint16_t code;
	const char *text;
};

static const struct local_resp locals[] = {
	[PX_LOCAL_403] = { 403, "HTTP/1.1 403 Forbidden\r\ncontent-length: 15\r\n"
				"content-type: text/plain\r\n" },
	[PX_LOCAL_307] = { 307, "HTTP/1.1 307 Temporary Redirect\r\ncontent-length: 0\r\n" },
	[PX_LOCAL_400] = { 400, "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n" },
	[PX_LOCAL_405] = { 405, "HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n" },
	[PX_LOCAL_408] = { 408, "HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n" },
	[PX_LOCAL_413] = { 413, "HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\n" },
	[PX_LOCAL_414] = { 414, "HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n" },
	[PX_LOCAL_431] = { 431, "HTTP/1.1 431 Request Header Fields Too Large\r\n"
				"content-length: 0\r\n" },
	[PX_LOCAL_501] = { 501, "HTTP/1.1 501 Not Implemented\r\ncontent-length: 0\r\n" },
	[PX_LOCAL_503] = { 503, "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n" },
	[PX_LOCAL_505] = { 505, "HTTP/1.1 505 HTTP Version Not Supported\r\n"
				"content-length: 0\r\n" },
};

/*
 * Writes p's local response into out (at least 256 bytes) and returns its
 * length; a redirect's Location value (*loc, up to PX_MAX_REQLINE bytes) is
 * left for the caller to put between the two parts: out[0, *split) goes
 * before it, out[*split, len) after. The answer to a HEAD request has no
 * body (its content-length is the one a GET would get), or the client would
 * read the body as the next response.
 */
static size_t local_format(const struct px_pending *p, char *out, size_t *split, struct sv *loc)
{
	const char *tail =
		p->local == PX_LOCAL_403 && !p->is_head ? "\r\nAccess denied\r\n" : "\r\n";
	int n = 0;

	*loc = (struct sv){ NULL, 0 };
	if (p->loc) {
		*loc = (struct sv){ p->loc->data, p->loc->len };
		n = sprintf(out, "%slocation: ", locals[p->local].text);
	}
	*split = (size_t)n;
	n += sprintf(out + n, "%s%s%s", p->loc ? "\r\n" : locals[p->local].text,
		     p->close_after ? "connection: close\r\n" : "", tail);
	return (size_t)n;
}

/* --- pending queue --- */

static struct px_pending *q_at(struct px_session *s, unsigned i)
{
	return &s->q[(s->qhead + i) % PX_MAX_PIPELINE];
}

static struct px_pending *q_push(struct px_session *s)
{
	struct px_pending *p;

	if (!s->q) {
		struct px_buf *b = px_pool_get(s->ctx->pool);

		if (!b)
			return NULL;
		s->q = (struct px_pending *)(void *)b->data;
		s->qhead = s->qlen = 0;
	}
	p = q_at(s, s->qlen++);
	memset(p, 0, sizeof(*p));
	return p;
}

static struct px_buf *container_of_buf(struct px_pending *q)
{
	return (struct px_buf *)(void *)((char *)q - offsetof(struct px_buf, data));
}

static void q_release(struct px_session *s)
{
	if (s->q && !s->qlen) {
		px_pool_put(s->ctx->pool, container_of_buf(s->q));
		s->q = NULL;
	}
}

/* Drops every pending entry after the first `keep`. */
static void q_truncate(struct px_session *s, unsigned keep)
{
	while (s->qlen > keep) {
		struct px_pending *p = q_at(s, s->qlen - 1u);

		px_pool_put(s->ctx->pool, p->loc);
		p->loc = NULL;
		s->qlen--;
	}
}

static void q_pop(struct px_session *s)
{
	struct px_pending *p = q_at(s, 0);

	px_pool_put(s->ctx->pool, p->loc);
	p->loc = NULL;
	s->qhead = (uint8_t)((s->qhead + 1) % PX_MAX_PIPELINE);
	s->qlen--;
}

/* --- access events --- */

static void emit(struct px_session *s, struct px_access_event *ev)
{
	ev->time_ns = real_ns();
	if (s->ctx->emit)
		s->ctx->emit(s->ctx->emit_arg, ev);
}

static void copy_str(char *dst, size_t size, const char *p, size_t n)
{
	if (n >= size)
		n = size - 1;
	memcpy(dst, p, n);
	dst[n] = '\0';
}

static void emit_response(struct px_session *s, struct px_pending *p, unsigned status)
{
	struct px_access_event ev = p->ev;
	uint64_t lat = mono_ns(s->ctx) - p->t0;

	ev.type = PX_EV_RESPONSE;
	ev.status = (uint16_t)status;
	ev.latency_ns = lat;
	emit(s, &ev);
}

/* --- llhttp callbacks: the request head as spans --- */

static int span_add(struct px_head *h, struct px_span *sp, const char *at, size_t n)
{
	size_t off = (size_t)(at - h->base);

	if (!sp->len)
		sp->off = (uint16_t)off;
	else if ((size_t)sp->off + sp->len != off)
		return -1; /* a value continued on another line: obs-fold */
	sp->len = (uint16_t)(sp->len + n);
	return 0;
}

static struct px_session *sess(llhttp_t *p)
{
	return p->data;
}

static int on_method(llhttp_t *p, const char *at, size_t n)
{
	return span_add(&sess(p)->head, &sess(p)->head.method, at, n);
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
	struct px_head *h = &sess(p)->head;

	if (h->url.len + n > PX_MAX_REQLINE) {
		h->bad = PX_LOCAL_414;
		return -1;
	}
	return span_add(h, &h->url, at, n);
}

static int on_version(llhttp_t *p, const char *at, size_t n)
{
	return span_add(&sess(p)->head, &sess(p)->head.version, at, n);
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
	struct px_head *h = &sess(p)->head;

	/* Trailers of a chunked body: streamed with it, not part of the head. */
	if (sess(p)->rstate != PX_RS_HEAD)
		return 0;
	if (h->in != 1) {
		if (h->n == PX_MAX_HEADERS) {
			h->bad = PX_LOCAL_431;
			return -1;
		}
		h->name[h->n] = (struct px_span){ 0, 0 };
		h->value[h->n] = (struct px_span){ 0, 0 };
		h->in = 1;
	}
	return span_add(h, &h->name[h->n], at, n);
}

static int on_header_field_complete(llhttp_t *p)
{
	if (sess(p)->rstate != PX_RS_HEAD)
		return 0;
	sess(p)->head.in = 2;
	return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
	struct px_head *h = &sess(p)->head;

	if (sess(p)->rstate != PX_RS_HEAD)
		return 0;
	if (span_add(h, &h->value[h->n], at, n)) {
		h->bad = PX_LOCAL_400;
		sess(p)->why = "obs-fold (header value on several lines)";
		return -1;
	}
	return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
	struct px_head *h = &sess(p)->head;

	if (sess(p)->rstate != PX_RS_HEAD)
		return 0;
	h->n++;
	h->in = 0;
	return 0;
}

static int on_pause(llhttp_t *p)
{
	(void)p;
	return HPE_PAUSED;
}

static const llhttp_settings_t req_settings = {
	.on_method = on_method,
	.on_url = on_url,
	.on_version = on_version,
	.on_header_field = on_header_field,
	.on_header_field_complete = on_header_field_complete,
	.on_header_value = on_header_value,
	.on_header_value_complete = on_header_value_complete,
	.on_headers_complete = on_pause,
	.on_message_complete = on_pause,
};

/* --- llhttp callbacks: responses --- */

static int on_resp_headers(llhttp_t *p)
{
	struct px_session *s = sess(p);

	/* The proxy lets no upgrade through, so nothing may switch protocols. */
	if (p->status_code == 101)
		return -1;
	if (p->status_code >= 200 && s->qlen && q_at(s, 0)->is_head)
		return 1;
	return 0;
}

static int on_resp_complete(llhttp_t *p)
{
	/* A 1xx (100 Continue) is not the response; the final one follows. */
	if (p->status_code < 200)
		return 0;
	return HPE_PAUSED;
}

static const llhttp_settings_t resp_settings = {
	.on_headers_complete = on_resp_headers,
	.on_message_complete = on_resp_complete,
};

/* --- session --- */

void px_session_init(struct px_session *s, const struct px_ctx *ctx, const struct px_ev_peer *src,
		     const struct px_ev_peer *dst)
{
	memset(s, 0, sizeof(*s));
	s->ctx = ctx;
	llhttp_init(&s->req, HTTP_REQUEST, &req_settings);
	s->req.data = s;
	llhttp_init(&s->resp, HTTP_RESPONSE, &resp_settings);
	s->resp.data = s;
	if (src)
		s->src = *src;
	if (dst)
		s->dst = *dst;
}

void px_session_fini(struct px_session *s)
{
	struct px_pool *pool = s->ctx->pool;

	px_pool_put(pool, s->cin);
	px_pool_put(pool, s->cout);
	px_pool_put(pool, s->uin);
	px_pool_put(pool, s->uout);
	if (s->q)
		q_truncate(s, 0);
	q_release(s);
	s->cin = s->cout = s->uin = s->uout = NULL;
}

char *px_session_client_room(struct px_session *s, size_t *room)
{
	struct px_buf *b;

	if (s->rstate == PX_RS_DONE || s->client_eof || s->fatal || !ensure(s, &s->cin))
		return NULL;
	b = s->cin;
	if (b->len == PX_BUF_SIZE && b->off) {
		/* Spans are relative to off, so moving the head keeps them valid. */
		memmove(b->data, b->data + b->off, b->len - b->off);
		s->cparse -= b->off;
		b->len -= b->off;
		b->off = 0;
	}
	*room = PX_BUF_SIZE - b->len;
	return *room ? b->data + b->len : NULL;
}

void px_session_client_read(struct px_session *s, size_t n)
{
	s->cin->len += (uint32_t)n;
	if (n && s->rstate == PX_RS_HEAD && !s->head_t0)
		s->head_t0 = mono_ns(s->ctx);
}

char *px_session_upstream_room(struct px_session *s, size_t *room)
{
	if (s->fatal || !s->upstream_open || !ensure(s, &s->uin))
		return NULL;
	*room = buf_space(s->uin, PX_BUF_SIZE);
	return *room ? s->uin->data + s->uin->len : NULL;
}

void px_session_upstream_read(struct px_session *s, size_t n)
{
	s->uin->len += (uint32_t)n;
}

void px_session_client_eof(struct px_session *s)
{
	s->client_eof = true;
}

/* Forgets the upstream connection: the I/O layer closes its socket (upstream_drop). */
static void upstream_reset(struct px_session *s)
{
	struct px_pool *pool = s->ctx->pool;

	px_pool_put(pool, s->uin);
	px_pool_put(pool, s->uout);
	s->uin = s->uout = NULL;
	llhttp_init(&s->resp, HTTP_RESPONSE, &resp_settings);
	s->resp.data = s;
	s->upstream_open = false;
	s->upstream_drop = true;
	s->upstream_eof = false;
}

/*
 * No response will come for the forwarded requests in the queue: the first
 * one gets 503 and the connection ends there (later ones were sent to a
 * server that is gone), or, if its response had started, the client is cut.
 */
static void upstream_failed(struct px_session *s, const char *why)
{
	unsigned i;

	for (i = 0; i < s->qlen; i++) {
		struct px_pending *p = q_at(s, i);

		if (p->kind != PX_PEND_FWD)
			continue;
		s->ctx->stats->upstream_errors++;
		if (p->started) {
			s->fatal = true;
			break;
		}
		p->kind = PX_PEND_LOCAL;
		p->local = PX_LOCAL_503;
		p->close_after = true;
		copy_str(p->ev.reason, sizeof(p->ev.reason), why, strlen(why));
		q_truncate(s, i + 1);
		s->rstate = PX_RS_DONE;
		break;
	}
	upstream_reset(s);
}

void px_session_upstream_gone(struct px_session *s, bool error)
{
	if (error) {
		upstream_failed(s, "upstream connection failed");
		return;
	}
	/* EOF: finish parsing what was read first (a body may end at the close). */
	s->upstream_eof = true;
}

void px_session_timeout(struct px_session *s)
{
	struct px_pending *p;

	if (s->rstate != PX_RS_HEAD || s->qlen == PX_MAX_PIPELINE)
		return;
	s->ctx->stats->timeouts++;
	s->rstate = PX_RS_DONE;
	p = q_push(s);
	if (!p) {
		s->fatal = true;
		return;
	}
	p->kind = PX_PEND_LOCAL;
	p->local = PX_LOCAL_408;
	p->close_after = true;
	p->t0 = mono_ns(s->ctx);
	p->ev.version = PX_EV_VERSION;
	p->ev.type = PX_EV_REQUEST;
	p->ev.verdict = PX_VERDICT_ERROR;
	p->ev.rule = PX_RULE_NONE;
	p->ev.src = s->src;
	p->ev.dst = s->dst;
	copy_str(p->ev.reason, sizeof(p->ev.reason), "request header timeout", 22);
	emit(s, &p->ev);
}

/* --- judging a request head --- */

static struct sv head_sv(const struct px_session *s, struct px_span sp)
{
	return (struct sv){ s->cin->data + s->cin->off + sp.off, sp.len };
}

static bool sv_ieq(struct sv a, const char *b)
{
	size_t n = strlen(b);

	return a.len == n && !strncasecmp(a.p, b, n);
}

/* The request as the matcher sees it, and the target it is forwarded with. */
struct judged {
	struct pol_http_request req;
	struct pol_http_field fields[PX_MAX_HEADERS];
	struct sv path; /* origin-form target, normalized: matched and forwarded upstream */
	bool rewrite;	/* the request line must be rewritten (absolute form, or normalized) */
	bool redirect;	/* escaped slashes: answer 307 to path instead of judging */
	bool expect_continue;
	bool edit; /* the allowing rule's headerMatches edit the head: del[] and add[] */
	size_t nacts, nadd;
	/* From the allowing rules (one per direction judged), borrowed from them. */
	struct pol_http_action acts[PX_MAX_MATCHED * POL_HTTP_MAX_ACTIONS];
	const struct pol_http_header *add[PX_MAX_MATCHED * POL_HTTP_MAX_ACTIONS]; /* appended */
	bool del[PX_MAX_HEADERS];    /* header lines removed */
	char target[PX_MAX_REQLINE]; /* the normalized target path points into */
};

static struct sv trim_ows(struct sv v)
{
	while (v.len && (v.p[v.len - 1] == ' ' || v.p[v.len - 1] == '\t'))
		v.len--;
	return v;
}

/*
 * Normalizes j->path (origin form, at most PX_MAX_REQLINE bytes) into
 * j->target as the matcher and the trace do (l7_path_normalize()), and
 * points j->path at the result: the request line is rewritten when it
 * changed. Escaped slashes set j->redirect. Returns 0, or PX_LOCAL_400
 * with s->why set for a target the normalizer refuses.
 */
static enum px_local normalize_target(struct px_session *s, struct judged *j)
{
	size_t len;

	switch (l7_path_normalize(j->path, j->target, sizeof(j->target), &len, &s->why)) {
	case L7_NORM_REJECT:
		return PX_LOCAL_400;
	case L7_NORM_REDIRECT:
		j->redirect = true;
		break;
	case L7_NORM_OK:
		break;
	}
	if (!sv_eq(j->path, (struct sv){ j->target, len }))
		j->rewrite = true;
	j->path = (struct sv){ j->target, len };
	return 0;
}

/*
 * Checks what llhttp leaves to the application and fills *j. Returns 0, or
 * the local answer for a refused request with s->why set.
 */
static enum px_local validate_head(struct px_session *s, struct judged *j)
{
	const struct px_head *h = &s->head;
	const llhttp_t *p = &s->req;
	struct sv url = head_sv(s, h->url), host = { NULL, 0 };
	unsigned nhost = 0, nte = 0, i;
	enum px_local bad;

	memset(&j->req, 0, sizeof(j->req));
	j->rewrite = j->redirect = j->expect_continue = j->edit = false;
	j->nacts = j->nadd = 0;
	memset(j->del, 0, sizeof(j->del));
	if (p->http_major != 1 || p->http_minor > 1) {
		s->why = p->http_major ? "HTTP version not supported" : "HTTP/0.9 request";
		return p->http_major ? PX_LOCAL_505 : PX_LOCAL_400;
	}
	if (p->method == HTTP_CONNECT) {
		s->why = "CONNECT not allowed";
		return PX_LOCAL_405;
	}
	if (p->method == HTTP_PRI) {
		s->why = "not an HTTP/1.x method";
		return PX_LOCAL_400;
	}
	for (i = 0; i < h->n; i++) {
		struct sv name = head_sv(s, h->name[i]);
		struct sv value = trim_ows(head_sv(s, h->value[i]));

		j->fields[i] = (struct pol_http_field){ name, value };
		if (sv_ieq(name, "host")) {
			nhost++;
			host = value;
		} else if (sv_ieq(name, "upgrade")) {
			s->why = "protocol upgrade not allowed";
			return PX_LOCAL_400;
		} else if (sv_ieq(name, "transfer-encoding")) {
			/* Only plain chunked: anything else is read differently by someone. */
			if (p->http_minor == 0 || nte++ || !sv_ieq(value, "chunked")) {
				s->why = "Transfer-Encoding other than one plain chunked";
				return PX_LOCAL_400;
			}
		} else if (sv_ieq(name, "expect")) {
			if (!sv_ieq(value, "100-continue")) {
				s->why = "unsupported Expect";
				return PX_LOCAL_400;
			}
			j->expect_continue = true;
		}
	}
	if (nhost > 1 || (p->http_minor == 1 && nhost == 0)) {
		s->why = nhost ? "duplicate Host" : "missing Host";
		return PX_LOCAL_400;
	}
	if (memchr(url.p, '#', url.len)) {
		s->why = "fragment in request target";
		return PX_LOCAL_400;
	}
	j->path = url;
	if (url.len >= 7 && !strncasecmp(url.p, "http://", 7)) {
		/* Absolute form: the authority must be the Host; forward origin form. */
		struct sv auth = { url.p + 7, 0 };

		while (7 + auth.len < url.len && auth.p[auth.len] != '/' && auth.p[auth.len] != '?')
			auth.len++;
		if (!auth.len || memchr(auth.p, '@', auth.len) ||
		    (nhost && (host.len != auth.len || strncasecmp(host.p, auth.p, auth.len)))) {
			s->why = "absolute-form authority disagrees with Host";
			return PX_LOCAL_400;
		}
		if (!nhost)
			host = auth;
		j->path = (struct sv){ auth.p + auth.len, url.len - 7 - auth.len };
		j->rewrite = true;
		if (!j->path.len || j->path.p[0] != '/') {
			/* "http://h" or "http://h?q" have the path "/" */
			if (j->path.len) {
				s->why = "query without path in absolute-form target";
				return PX_LOCAL_400;
			}
			j->path = SV("/");
		}
	} else if (sv_eq_str(url, "*")) {
		if (p->method != HTTP_OPTIONS) {
			s->why = "asterisk-form target outside OPTIONS";
			return PX_LOCAL_400;
		}
	} else if (!url.len || url.p[0] != '/') {
		s->why = "request target is not origin or absolute form";
		return PX_LOCAL_400;
	}
	if (!sv_eq_str(j->path, "*")) {
		bad = normalize_target(s, j);
		if (bad)
			return bad;
	}
	j->req.method = head_sv(s, h->method);
	j->req.path = j->path;
	j->req.host = host;
	j->req.headers = j->fields;
	j->req.nheaders = h->n;
	return 0;
}

static void fill_request_event(struct px_session *s, struct px_access_event *ev,
			       const struct judged *j)
{
	struct sv m = head_sv(s, s->head.method);

	ev->version = PX_EV_VERSION;
	ev->type = PX_EV_REQUEST;
	ev->http_major = s->req.http_major;
	ev->http_minor = s->req.http_minor;
	ev->rule = PX_RULE_NONE;
	ev->src = s->src;
	ev->dst = s->dst;
	ev->direction = s->direction;
	copy_str(ev->method, sizeof(ev->method), m.p, m.len);
	if (j) {
		copy_str(ev->host, sizeof(ev->host), j->req.host.p ? j->req.host.p : "",
			 j->req.host.len);
		copy_str(ev->url, sizeof(ev->url), j->path.p, j->path.len);
		ev->url_len = (uint32_t)j->path.len;
	} else {
		struct sv u = head_sv(s, s->head.url);

		copy_str(ev->url, sizeof(ev->url), u.p, u.len);
		ev->url_len = (uint32_t)u.len;
	}
}

/* Queues a local error answer for a request that could not be judged, and stops reading. */
static void refuse(struct px_session *s, enum px_local code, bool have_head)
{
	struct px_pending *p;

	s->ctx->stats->parse_errors++;
	s->rstate = PX_RS_DONE;
	p = q_push(s);
	if (!p) {
		s->fatal = true;
		return;
	}
	p->kind = PX_PEND_LOCAL;
	p->local = (uint8_t)code;
	p->close_after = true;
	p->t0 = mono_ns(s->ctx);
	if (have_head) {
		fill_request_event(s, &p->ev, NULL);
	} else {
		p->ev.version = PX_EV_VERSION;
		p->ev.type = PX_EV_REQUEST;
		p->ev.rule = PX_RULE_NONE;
		p->ev.src = s->src;
		p->ev.dst = s->dst;
		p->ev.direction = s->direction;
	}
	p->ev.verdict = PX_VERDICT_ERROR;
	snprintf(p->ev.reason, sizeof(p->ev.reason), "bad request: %s",
		 s->why ? s->why : "malformed");
	emit(s, &p->ev);
}

static void end_request(struct px_session *s);

/*
 * Adds the actions an allowing rule's headerMatches ask for req (borrowed
 * from rule, which must live until the head is forwarded) and plans the
 * head's edits in their order, after those of a rule taken before (the
 * egress side's, then the ingress side's; each judges the request as the
 * client sent it): ADD appends a line, DELETE removes every line of the
 * header (those the client sent and those added before), REPLACE does both.
 */
static void judge_actions(struct judged *j, const struct pol_http_rule *rule)
{
	size_t a = j->nacts, i, k;

	j->nacts += pol_http_rule_actions(rule, &j->req, j->acts + a,
					  sizeof(j->acts) / sizeof(j->acts[0]) - a);
	for (; a < j->nacts; a++) {
		const struct pol_http_header *h = j->acts[a].header;
		size_t nlen = strlen(h->name);

		switch (j->acts[a].action) {
		case POL_MISMATCH_DELETE:
		case POL_MISMATCH_REPLACE:
			for (i = 0; i < j->req.nheaders; i++)
				if (j->fields[i].name.len == nlen &&
				    !strncasecmp(j->fields[i].name.p, h->name, nlen))
					j->del[i] = true;
			for (i = k = 0; i < j->nadd; i++)
				if (strcasecmp(j->add[i]->name, h->name))
					j->add[k++] = j->add[i];
			j->nadd = k;
			if (j->acts[a].action == POL_MISMATCH_REPLACE)
				j->add[j->nadd++] = h;
			j->edit = true;
			break;
		case POL_MISMATCH_ADD:
			j->add[j->nadd++] = h;
			j->edit = true;
			break;
		case POL_MISMATCH_LOG:
		case POL_MISMATCH_NONE:
			break;
		}
	}
}

/*
 * The access event's reason for an allowed request: the mismatches, or the
 * decision's. LOG mismatches come first: the note is all a LOG does, so the
 * field's size must cut the others first.
 */
static void actions_reason(const struct judged *j, const char *reason, char *out, size_t size)
{
	size_t a, n = 0;
	int pass;

	if (!j->nacts) {
		copy_str(out, size, reason, strlen(reason));
		return;
	}
	out[0] = '\0';
	for (pass = 0; pass < 2; pass++) {
		for (a = 0; a < j->nacts && n + 1 < size; a++) {
			if ((j->acts[a].action == POL_MISMATCH_LOG) != (pass == 0))
				continue;
			if (n)
				n += (size_t)snprintf(out + n, size - n, "; ");
			if (n + 1 < size)
				n += (size_t)pol_http_action_text(&j->acts[a], out + n, size - n);
		}
	}
}

/* Appends n bytes to out, or only counts them when out is NULL. */
static void put(struct px_buf *out, size_t *total, const void *p, size_t n)
{
	if (out)
		buf_put(out, p, n);
	*total += n;
}

/*
 * Writes the head for the upstream into out (NULL: only measures it) and
 * returns its length: verbatim, or with an origin-form or normalized request
 * line, and with the header lines the rule's edits remove left out and the
 * lines they add before the blank line.
 */
static size_t forward_head(struct px_session *s, const struct judged *j, size_t head_len,
			   struct px_buf *out)
{
	const char *h = s->cin->data + s->cin->off, *end = h + head_len;
	/* the request line: empty lines a client may send before it are not forwarded */
	const char *line0 = h + s->head.method.off;
	const char *eol;
	size_t total = 0, i;
	struct sv m, v;

	if (!j->rewrite && !j->edit) {
		put(out, &total, line0, (size_t)(end - line0));
		return total;
	}
	eol = memchr(line0, '\n', (size_t)(end - line0));
	if (j->rewrite) {
		m = head_sv(s, s->head.method);
		v = head_sv(s, s->head.version);
		put(out, &total, m.p, m.len);
		put(out, &total, " ", 1);
		put(out, &total, j->path.p, j->path.len);
		put(out, &total, " HTTP/", 6);
		put(out, &total, v.p, v.len);
		put(out, &total, "\r\n", 2);
	} else {
		put(out, &total, line0, (size_t)(eol + 1 - line0));
	}
	if (!j->edit) {
		put(out, &total, eol + 1, (size_t)(end - eol - 1));
		return total;
	}
	/* Strict parsing leaves no bytes between header lines: each starts at its name. */
	for (i = 0; i < s->head.n; i++) {
		const char *line = h + s->head.name[i].off;
		const char *lf = memchr(line, '\n', (size_t)(end - line));

		if (!j->del[i])
			put(out, &total, line, (size_t)(lf + 1 - line));
	}
	for (i = 0; i < j->nadd; i++) {
		const struct pol_http_header *a = j->add[i];

		put(out, &total, a->name, strlen(a->name));
		put(out, &total, ": ", 2);
		if (a->value)
			put(out, &total, a->value, strlen(a->value));
		put(out, &total, "\r\n", 2);
	}
	put(out, &total, "\r\n", 2);
	return total;
}

static void rules_put(void *rs)
{
	px_rules__put(rs);
}

/*
 * The head is complete (cin->data[off, cparse)). Validates and judges it and
 * queues its answer. Returns false, changing nothing, while the upstream
 * buffer lacks room for it.
 */
static bool handle_head(struct px_session *s)
{
	size_t head_len = s->cparse - s->cin->off;
	struct judged j;
	struct px_decision d;
	struct px_rules *rs;
	struct px_pending *p;
	enum px_local bad;
	llhttp_errno_t e;
	size_t room, k;
	bool body;

	if (!ensure(s, &s->uout))
		return false;
	/* Room for the head and what a rule's header edits may add to it. */
	room = head_len + PX_EDIT_ROOM < PX_BUF_SIZE ? head_len + PX_EDIT_ROOM : PX_BUF_SIZE;
	if (buf_space(s->uout, room) < room)
		return false;
	s->nreq++;
	bad = validate_head(s, &j);
	if (bad) {
		refuse(s, bad, true);
		return true;
	}
	/*
	 * Let llhttp check what it checks between the head and the body (framing
	 * of the body) before a byte goes upstream. It may also complete a
	 * message without a body.
	 */
	llhttp_resume(&s->req);
	e = llhttp_execute(&s->req, s->cin->data + s->cparse, 0);
	if (e != HPE_OK && e != HPE_PAUSED) {
		s->why = llhttp_get_error_reason(&s->req);
		refuse(s, PX_LOCAL_400, true);
		return true;
	}
	if (j.redirect) {
		/* Not judged: the client is sent to the normalized target, which is. */
		memset(&d, 0, sizeof(d));
		d.rule = PX_RULE_NONE;
		d.reason = "escaped slash in path: redirected (307)";
	} else if (s->ctx->decide) {
		s->ctx->decide(s->ctx->decide_arg, s, &j.req, &d);
	} else {
		rs = s->ctx->rules_get(s->ctx->rules_arg);
		px_rules_decide(rs, &j.req, &d);
		d.hold = rs;
		d.hold_put = rules_put;
	}
	for (k = 0; d.allowed && k < PX_MAX_MATCHED; k++)
		if (d.matched[k])
			judge_actions(&j, d.matched[k]);
	if (j.edit && forward_head(s, &j, head_len, NULL) > buf_space(s->uout, PX_BUF_SIZE)) {
		s->why = "request head too large with the rule's header edits";
		px_decision_release(&d);
		refuse(s, PX_LOCAL_431, true);
		return true;
	}
	s->ctx->stats->received++;
	p = q_push(s);
	if (!p) {
		px_decision_release(&d);
		s->fatal = true;
		return true;
	}
	fill_request_event(s, &p->ev, &j);
	p->ev.rule = d.rule;
	p->ev.rule_line = d.line;
	copy_str(p->ev.rule_name, sizeof(p->ev.rule_name), d.rule_name, strlen(d.rule_name));
	actions_reason(&j, d.reason, p->ev.reason, sizeof(p->ev.reason));
	p->t0 = mono_ns(s->ctx);
	p->is_head = s->req.method == HTTP_HEAD;
	body = (s->req.flags & F_CHUNKED) || s->req.content_length > 0;
	if (d.allowed) {
		s->ctx->stats->forwarded++;
		p->kind = PX_PEND_FWD;
		p->ev.verdict = PX_VERDICT_FORWARDED;
		forward_head(s, &j, head_len, s->uout);
		s->body_fwd = true;
		if (!s->upstream_open)
			s->want_upstream = true;
	} else {
		s->ctx->stats->denied++;
		p->kind = PX_PEND_LOCAL;
		p->local = PX_LOCAL_403;
		if (j.redirect) {
			p->local = PX_LOCAL_307;
			p->loc = px_pool_get(s->ctx->pool);
			if (!p->loc) {
				px_decision_release(&d);
				s->fatal = true;
				return true;
			}
			buf_put(p->loc, j.path.p, j.path.len);
		}
		p->ev.verdict = PX_VERDICT_DROPPED;
		s->body_fwd = false;
		/* The client waits for 100 Continue before its body: answer and close. */
		if (body && j.expect_continue) {
			p->close_after = true;
			s->rstate = PX_RS_DONE;
		}
	}
	px_decision_release(&d);
	emit(s, &p->ev);
	s->cin->off = s->cparse;
	if (s->rstate == PX_RS_DONE)
		return true;
	s->rstate = PX_RS_BODY;
	if (e == HPE_PAUSED)
		end_request(s);
	return true;
}

/* The request's message is complete: the next head may follow. */
static void end_request(struct px_session *s)
{
	bool keep = llhttp_should_keep_alive(&s->req);

	llhttp_resume(&s->req);
	memset(&s->head, 0, offsetof(struct px_head, name));
	s->head.n = 0;
	s->head.in = 0;
	s->head.bad = 0;
	s->head_t0 = 0;
	if (!keep) {
		s->rstate = PX_RS_DONE;
		if (s->qlen)
			q_at(s, s->qlen - 1u)->close_after = true;
		return;
	}
	s->rstate = PX_RS_HEAD;
	if (s->cin && s->cparse < s->cin->len)
		s->head_t0 = mono_ns(s->ctx);
}

static bool pump_head(struct px_session *s)
{
	struct px_buf *b = s->cin;
	size_t avail = b->len - s->cparse;
	const char *at = b->data + s->cparse;
	llhttp_errno_t e;

	if (!avail)
		return false;
	s->head.base = b->data + b->off;
	e = llhttp_execute(&s->req, at, avail);
	if (e == HPE_OK) {
		s->cparse = b->len;
		if (b->len - b->off >= PX_BUF_SIZE) {
			s->why = s->head.version.len ? "header section too large" :
						       "request line too long";
			refuse(s, s->head.version.len ? PX_LOCAL_431 : PX_LOCAL_414, true);
		}
		return true;
	}
	if (e == HPE_PAUSED) {
		s->cparse += (uint32_t)(llhttp_get_error_pos(&s->req) - at);
		s->rstate = PX_RS_DECIDE;
		return true;
	}
	if (s->head.bad) {
		if (s->head.bad == PX_LOCAL_431)
			s->why = "too many header fields";
		else if (s->head.bad == PX_LOCAL_414)
			s->why = "request line too long";
		refuse(s, s->head.bad, true);
	} else {
		s->why = llhttp_get_error_reason(&s->req);
		refuse(s, PX_LOCAL_400, s->head.method.len);
	}
	return true;
}

static bool pump_body(struct px_session *s)
{
	static const char none[1];
	struct px_buf *b = s->cin;
	size_t avail = b ? b->len - s->cparse : 0, limit = avail, n;
	const char *at = b ? b->data + s->cparse : none;
	llhttp_errno_t e;

	if (s->body_fwd) {
		if (!ensure(s, &s->uout))
			return false;
		n = buf_space(s->uout, avail);
		if (n < limit)
			limit = n;
		if (!limit && avail)
			return false;
	}
	e = llhttp_execute(&s->req, at, limit);
	n = e == HPE_OK ? limit : (size_t)(llhttp_get_error_pos(&s->req) - at);
	if (s->body_fwd && n)
		buf_put(s->uout, at, n);
	s->cparse += (uint32_t)n;
	if (b)
		b->off = s->cparse;
	if (e == HPE_PAUSED) {
		end_request(s);
		return true;
	}
	if (e == HPE_OK)
		return n > 0;
	/* A broken body: the upstream may hold part of it, so only a close is safe. */
	s->ctx->stats->parse_errors++;
	if (s->body_fwd || !s->qlen) {
		s->fatal = true;
	} else {
		q_at(s, s->qlen - 1u)->close_after = true;
		s->rstate = PX_RS_DONE;
	}
	return true;
}

static bool pump_requests(struct px_session *s)
{
	bool moved = false;

	for (;;) {
		bool step;

		if (s->fatal)
			break;
		switch (s->rstate) {
		case PX_RS_HEAD:
			if (!s->cin || s->qlen == PX_MAX_PIPELINE)
				return moved;
			step = pump_head(s);
			break;
		case PX_RS_DECIDE:
			step = handle_head(s);
			break;
		case PX_RS_BODY:
			step = pump_body(s);
			break;
		default:
			return moved;
		}
		if (!step)
			break;
		moved = true;
	}
	return moved;
}

/* The final response at the front of the queue is complete. */
static void response_done(struct px_session *s)
{
	struct px_pending *p = q_at(s, 0);
	struct px_stats *st = s->ctx->stats;
	uint64_t lat = mono_ns(s->ctx) - p->t0;
	bool keep = llhttp_should_keep_alive(&s->resp);
	unsigned i;

	llhttp_resume(&s->resp);
	for (i = 0; lat > px_lat_bounds_ns[i]; i++)
		;
	st->lat_le[i]++;
	st->lat_count++;
	st->lat_sum_ns += lat;
	emit_response(s, p, s->resp.status_code);
	if (p->close_after)
		s->close_client = true;
	q_pop(s);
	if (!keep) {
		/* The upstream ends its connection; the client learns it from the same response. */
		s->close_client = true;
		s->rstate = PX_RS_DONE;
		q_truncate(s, 0);
		upstream_reset(s);
	}
}

static bool has_fwd(struct px_session *s)
{
	unsigned i;

	for (i = 0; i < s->qlen; i++)
		if (q_at(s, i)->kind == PX_PEND_FWD)
			return true;
	return false;
}

static bool pump_responses(struct px_session *s)
{
	bool moved = false;

	while (s->uin && s->uin->off < s->uin->len && !s->fatal) {
		struct px_buf *u = s->uin;
		const char *at = u->data + u->off;
		size_t avail = u->len - u->off, limit, n;
		struct px_pending *p = s->qlen ? q_at(s, 0) : NULL;
		llhttp_errno_t e;

		if (p && p->kind == PX_PEND_LOCAL && has_fwd(s))
			break; /* its local answer goes first (emit_locals()) */
		if (!p || p->kind != PX_PEND_FWD) {
			/* Bytes nobody asked for: this upstream connection is unusable. */
			upstream_reset(s);
			return true;
		}
		if (!ensure(s, &s->cout))
			break;
		limit = buf_space(s->cout, avail);
		if (limit > avail)
			limit = avail;
		if (!limit)
			break;
		e = llhttp_execute(&s->resp, at, limit);
		n = e == HPE_OK ? limit : (size_t)(llhttp_get_error_pos(&s->resp) - at);
		buf_put(s->cout, at, n);
		u->off += (uint32_t)n;
		if (n)
			p->started = true;
		moved = true;
		if (e == HPE_PAUSED) {
			response_done(s);
		} else if (e != HPE_OK) {
			upstream_failed(s, "malformed upstream response");
			return true;
		}
	}
	if (s->upstream_eof && (!s->uin || s->uin->off == s->uin->len) && !s->fatal) {
		/* A body delimited by the close ends here. */
		if (s->qlen && q_at(s, 0)->kind == PX_PEND_FWD && q_at(s, 0)->started &&
		    llhttp_finish(&s->resp) == HPE_PAUSED)
			response_done(s);
		if (s->upstream_eof)
			upstream_failed(s, "upstream closed the connection");
		moved = true;
	}
	return moved;
}

static bool emit_locals(struct px_session *s)
{
	bool moved = false;

	while (s->qlen && !s->fatal) {
		struct px_pending *p = q_at(s, 0);
		char text[256];
		size_t n, split;
		struct sv loc;

		if (p->kind != PX_PEND_LOCAL)
			break;
		n = local_format(p, text, &split, &loc);
		if (!ensure(s, &s->cout) || buf_space(s->cout, n + loc.len) < n + loc.len)
			break;
		buf_put(s->cout, text, split);
		if (loc.len)
			buf_put(s->cout, loc.p, loc.len);
		buf_put(s->cout, text + split, n - split);
		emit_response(s, p, locals[p->local].code);
		moved = true;
		if (p->close_after) {
			s->close_client = true;
			s->rstate = PX_RS_DONE;
			q_truncate(s, 0);
			break;
		}
		q_pop(s);
	}
	return moved;
}

bool px_session_pump(struct px_session *s)
{
	bool any = false, moved;

	do {
		moved = pump_responses(s);
		moved |= emit_locals(s);
		moved |= pump_requests(s);
		any |= moved;
	} while (moved && !s->fatal);
	/*
	 * An idle connection holds no buffer: handle_head() takes uout before
	 * judging, and a denied request leaves it empty.
	 */
	release_if_empty(s, &s->uin);
	release_if_empty(s, &s->uout);
	release_if_empty(s, &s->cout);
	if (s->cin && s->cin->off == s->cin->len) {
		px_pool_put(s->ctx->pool, s->cin);
		s->cin = NULL;
		s->cparse = 0;
	}
	q_release(s);
	return any;
}

static const char *out_of(struct px_buf *b, size_t *len)
{
	*len = b ? b->len - b->off : 0;
	return b ? b->data + b->off : NULL;
}

const char *px_session_client_out(struct px_session *s, size_t *len)
{
	return out_of(s->fatal ? NULL : s->cout, len);
}

void px_session_client_sent(struct px_session *s, size_t n)
{
	s->cout->off += (uint32_t)n;
	release_if_empty(s, &s->cout);
}

const char *px_session_upstream_out(struct px_session *s, size_t *len)
{
	return out_of(s->fatal ? NULL : s->uout, len);
}

void px_session_upstream_sent(struct px_session *s, size_t n)
{
	s->uout->off += (uint32_t)n;
	release_if_empty(s, &s->uout);
}

bool px_session_finished(const struct px_session *s)
{
	bool flushed = !s->cout || s->cout->off == s->cout->len;

	if (s->fatal)
		return true;
	if (s->close_client && flushed)
		return true;
	/* The client stopped sending and everything it asked for is answered. */
	return s->client_eof && !s->qlen && flushed && s->rstate != PX_RS_BODY &&
	       s->rstate != PX_RS_DECIDE;
}

bool px_session_idle(const struct px_session *s)
{
	return !s->cin && !s->cout && !s->uin && !s->uout && !s->qlen;
}

bool px_session_awaiting_head(const struct px_session *s)
{
	return s->rstate == PX_RS_HEAD && s->qlen < PX_MAX_PIPELINE && (s->head_t0 || !s->nreq);
}
