/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One proxied HTTP/1.x connection without the sockets: bytes from the
 * client and from the upstream go in, bytes for the upstream and for the
 * client come out. The event loop (proxy.c), the unit tests and the fuzzer
 * all drive this same code, so what they check is what runs.
 *
 * Requests are parsed by llhttp (strict, no lenient flags). The parser
 * stores the request head as spans of the client buffer and pauses at
 * on_headers_complete; the session validates the head, asks the rules and
 * then either copies the head (request line rewritten to origin form when
 * the client sent an absolute-form target) into the upstream buffer and
 * streams the body after it as the parser accepts it, or discards the body
 * and queues a 403. Responses are parsed too, so that locally made
 * responses (403, 4xx, 503) go out in request order: a queue of pending
 * requests holds, in order, the forwarded ones awaiting the upstream's
 * response and the local answers waiting behind them.
 *
 * Limits: a request head (request line and headers) fits in one buffer
 * (PX_BUF_SIZE); the request line in PX_MAX_REQLINE; at most PX_MAX_HEADERS
 * header fields; at most PX_MAX_PIPELINE requests in flight per connection
 * (the client is not read further until one completes).
 */
#ifndef VELUM_PROXY_SESSION_H
#define VELUM_PROXY_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

#include "proxy/access.h"

#define PX_BUF_SIZE	16384
#define PX_MAX_REQLINE	8192
#define PX_MAX_HEADERS	100
#define PX_MAX_PIPELINE 16
/* Upstream buffer room kept for the header lines a rule's headerMatches may add to a head. */
#define PX_EDIT_ROOM 4096

struct px_rules;
struct px_decision;
struct px_session;
struct pol_http_request;

/* A byte buffer from a pool: data[off, len) is what is still to be used. */
struct px_buf {
	struct px_buf *next; /* pool free list */
	uint32_t off, len;
	char data[PX_BUF_SIZE];
};

/* A per-thread free list of buffers; a connection holds buffers only while it has bytes in them. */
struct px_pool {
	struct px_buf *free;
	size_t nfree, max_free;
	size_t in_use;
};

/* Returns a buffer with off = len = 0, or NULL (ENOMEM). */
struct px_buf *px_pool_get(struct px_pool *pool);
/* Gives b back; accepts NULL. */
void px_pool_put(struct px_pool *pool, struct px_buf *b);
/* Frees the pool's free list. */
void px_pool_drain(struct px_pool *pool);

/* Counters of one worker (one writer; readers load them relaxed). */
#define PX_LAT_BUCKETS 14
struct px_stats {
	uint64_t received, forwarded, denied, parse_errors;
	uint64_t upstream_errors, timeouts;
	uint64_t lat_count, lat_sum_ns;
	uint64_t lat_le[PX_LAT_BUCKETS]; /* non-cumulative counts per px_lat_bounds_ns[] */
	uint64_t open_conns, accepted, refused_conns;
};

/* Upper bounds of the upstream reply latency histogram's buckets, in ns; the last is +Inf. */
extern const uint64_t px_lat_bounds_ns[PX_LAT_BUCKETS];

/* What the sessions of one worker share. */
struct px_ctx {
	struct px_pool *pool;
	struct px_stats *stats;
	/* The current rule set; a request holds its own reference while judged. */
	struct px_rules *(*rules_get)(void *arg);
	void *rules_arg;
	/*
	 * When set, judges requests instead of rules_get (transparent mode:
	 * velumd's L7 snapshot, by the session's flow). Fills *out; what
	 * out->matched points to must stay valid until px_decision_release()
	 * (out->hold, or the caller's own reference until its next call: the
	 * session releases a decision before the call that made it returns).
	 */
	void (*decide)(void *arg, const struct px_session *s, const struct pol_http_request *req,
		       struct px_decision *out);
	void *decide_arg;
	/* Called for every access event; may be NULL. */
	void (*emit)(void *arg, const struct px_access_event *ev);
	void *emit_arg;
	uint64_t (*now_ns)(void); /* monotonic clock; NULL: CLOCK_MONOTONIC */
};

/* A span of the current request head: offset from the head's first byte. */
struct px_span {
	uint16_t off, len;
};

struct px_head {
	struct px_span method, url, version;
	struct px_span name[PX_MAX_HEADERS], value[PX_MAX_HEADERS];
	uint16_t n;
	uint8_t in;	  /* 0 between fields, 1 in a name, 2 in a value */
	uint8_t bad;	  /* a px_local code when a callback refused the head */
	const char *base; /* the head's first byte, valid during llhttp_execute() */
};

enum px_local {
	PX_LOCAL_403 = 1,
	PX_LOCAL_307, /* escaped slashes in the path: redirect to the normalized target */
	PX_LOCAL_400,
	PX_LOCAL_405,
	PX_LOCAL_408,
	PX_LOCAL_413,
	PX_LOCAL_414,
	PX_LOCAL_431,
	PX_LOCAL_501,
	PX_LOCAL_503,
	PX_LOCAL_505,
};

struct px_pending {
	uint8_t kind;	    /* PX_PEND_FWD or PX_PEND_LOCAL */
	uint8_t local;	    /* enum px_local */
	bool close_after;   /* close the client once this response is out */
	bool is_head;	    /* HEAD request: the response has no body */
	bool started;	    /* response bytes went to the client */
	uint64_t t0;	    /* monotonic ns when decided */
	struct px_buf *loc; /* PX_LOCAL_307: the Location value, data[0, len); from the pool */
	struct px_access_event ev;
};

enum px_rstate {
	PX_RS_HEAD,   /* reading a request head */
	PX_RS_DECIDE, /* head complete, waiting for room upstream */
	PX_RS_BODY,   /* streaming (or discarding) the body */
	PX_RS_DONE,   /* reads no more requests */
};

struct px_session {
	const struct px_ctx *ctx;
	struct px_buf *cin, *cout, *uin, *uout;
	uint32_t cparse; /* parse position in cin; cin->off is the current head's start */
	llhttp_t req, resp;
	struct px_head head;
	enum px_rstate rstate;
	bool body_fwd;	    /* the current body goes upstream */
	bool upstream_open; /* connected or connecting (the I/O layer's view) */
	bool want_upstream; /* a forwarded request waits for a connection */
	bool close_client;  /* close once cout is flushed */
	bool fatal;	    /* close both now, nothing more to send */
	bool client_eof;
	bool upstream_drop;   /* the I/O layer must close the upstream socket */
	bool upstream_eof;    /* the upstream closed; finish parsing, then forget it */
	unsigned nreq;	      /* requests read on this connection */
	uint64_t head_t0;     /* monotonic ns the current head's first byte arrived; 0 none */
	struct px_pending *q; /* ring of PX_MAX_PIPELINE, from the pool while non-empty */
	uint8_t qhead, qlen;
	struct px_ev_peer src, dst;
	/* Transparent mode: the flow's endpoints (0: not a local endpoint) and redirect. */
	uint32_t src_ep, dst_ep;
	uint8_t direction; /* enum px_ev_direction */
	const char *why;   /* reason of the last local error, for events */
};

/* Prepares s for a new client connection. src/dst name the peers in events. */
void px_session_init(struct px_session *s, const struct px_ctx *ctx, const struct px_ev_peer *src,
		     const struct px_ev_peer *dst);
/* Releases every buffer; the session is dead after. */
void px_session_fini(struct px_session *s);

/*
 * Room to read into: returns where to write client (upstream) bytes and
 * sets *room, or NULL when the session takes no more now (buffer full, or
 * the direction is finished). Then call px_session_*_read() with the count.
 */
char *px_session_client_room(struct px_session *s, size_t *room);
void px_session_client_read(struct px_session *s, size_t n);
char *px_session_upstream_room(struct px_session *s, size_t *room);
void px_session_upstream_read(struct px_session *s, size_t n);

/* The client closed its sending side. */
void px_session_client_eof(struct px_session *s);
/*
 * The upstream connection ended (EOF, reset, or failed connect). A
 * response it was sending ends there (if its length is "until close") or
 * is cut (the client is closed); a request still waiting for its response
 * gets 503.
 */
void px_session_upstream_gone(struct px_session *s, bool error);
/* The request-header timeout fired: answer 408 and close. */
void px_session_timeout(struct px_session *s);

/* Parses, judges and moves bytes as far as the buffers allow. Returns true if anything moved. */
bool px_session_pump(struct px_session *s);

/* Bytes waiting for the client (upstream): returns a pointer and sets *len (0 if none). */
const char *px_session_client_out(struct px_session *s, size_t *len);
void px_session_client_sent(struct px_session *s, size_t n);
const char *px_session_upstream_out(struct px_session *s, size_t *len);
void px_session_upstream_sent(struct px_session *s, size_t n);

/* True when the connection should be closed now (everything owed was sent, or fatal). */
bool px_session_finished(const struct px_session *s);
/* True when nothing is buffered or in flight (an idle keep-alive connection). */
bool px_session_idle(const struct px_session *s);
/* True while a request head is being awaited or read (the header timeout runs). */
bool px_session_awaiting_head(const struct px_session *s);

#endif
