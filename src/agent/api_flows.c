/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Handler of GET /v1/flows: the flow ring filtered, as NDJSON, or streamed
 * with follow=1 (one thread per follower, keep-alive lines while idle).
 */
#include "agent/api_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "identity/identity.h"
#include "lib/log.h"
#include "lib/strbuf.h"
#include "policy/trace.h"
#include "velum/drop.h"
#include "velum/events.h"

struct flows_q {
	struct mon_filter f;
	long last, first;
	bool follow, utc, has_last, has_first;
	struct errbuf eb;
	int err;
	int64_t now;
};

static enum MHD_Result flow_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				const char *value)
{
	struct flows_q *q = cls;
	char *end;

	(void)kind;
	if (q->err)
		return MHD_NO;
	if (!value)
		value = "";
	if (!strcmp(key, "last")) {
		errno = 0;
		q->last = strtol(value, &end, 10);
		if (errno || *end || !*value || q->last < 0) {
			q->err = errbuf_set(&q->eb, -EINVAL, "last: '%s' is not a count", value);
			return MHD_NO;
		}
		q->has_last = true;
	} else if (!strcmp(key, "first")) {
		errno = 0;
		q->first = strtol(value, &end, 10);
		if (errno || *end || !*value || q->first < 0) {
			q->err = errbuf_set(&q->eb, -EINVAL, "first: '%s' is not a count", value);
			return MHD_NO;
		}
		q->has_first = true;
	} else if (!strcmp(key, "all")) {
		q->last = -1;
		q->has_last = true;
	} else if (!strcmp(key, "follow")) {
		q->follow = strcmp(value, "0") && strcmp(value, "false");
	} else {
		q->err = mon_filter_add(&q->f, key, value, q->now, &q->eb);
		if (q->err) {
			errbuf_prefix(&q->eb, "%s: ", key);
			return MHD_NO;
		}
	}
	return MHD_YES;
}

static bool names_peer(const struct mon_peer_spec *s)
{
	return s->kind == MON_PEER_ENDPOINT || s->kind == MON_PEER_POD || s->kind == MON_PEER_NS ||
	       s->kind == MON_PEER_IDENTITY;
}

/* A value the model knows: an endpoint (or prefix, or namespace) or an identity. */
static bool model_knows(const struct model *m, const struct mon_peer_spec *s)
{
	const struct model_ep *const *eps;
	size_t n = model_endpoints(m, &eps), i;

	if (s->kind == MON_PEER_IDENTITY)
		return id_reserved_name(s->identity) ||
		       pol_engine_identity_labels(model_engine(m), s->identity);
	for (i = 0; i < n; i++) {
		struct mon_ident id = { .endpoint = eps[i]->name, .identity = eps[i]->identity };

		if (mon_peer_match_ident(s, &id))
			return true;
	}
	return false;
}

/* A value some flow in the ring names (an endpoint since deleted, an identity since freed). */
static bool ring_knows(const struct mon_ring *r, const struct mon_peer_spec *s)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		const struct mon_flow *f = mon_ring_at(r, i);

		if (mon_peer_match_ident(s, f->src) || mon_peer_match_ident(s, f->dst))
			return true;
	}
	return false;
}

/* The filter key a value came from: "from-pod", "identity", "to". */
static const char *flag_name(const struct mon_peer_spec *s)
{
	static const char *const names[][3] = {
		[MON_FC_PEER] = { "from", "to", "from" },
		[MON_FC_POD] = { "from-pod", "to-pod", "pod" },
		[MON_FC_NS] = { "from-namespace", "to-namespace", "namespace" },
		[MON_FC_IDENTITY] = { "from-identity", "to-identity", "identity" },
	};

	return s->cat < sizeof(names) / sizeof(names[0]) && names[s->cat][0] ?
		       names[s->cat][s->side] :
		       "filter";
}

/*
 * A filter naming an endpoint or identity that neither the agent nor any
 * kept flow knows can never match: a 400 rather than an empty answer (a
 * typo looks like silence otherwise).
 */
static int check_names(struct agent *a, struct mon_filter *f, struct errbuf *eb)
{
	struct mon_fset *sets[] = { &f->allow, &f->deny };
	size_t k, i;

	for (k = 0; k < 2; k++) {
		for (i = 0; i < sets[k]->npeers; i++) {
			struct mon_peer_spec *s = &sets[k]->peers[i];
			bool known;

			if (s->kind == MON_PEER_EPID) {
				/* an endpoint id is the endpoint it names now */
				const struct model_ep *ep;
				char *name = NULL;

				pthread_mutex_lock(&a->lock);
				ep = model_endpoint_by_id(a->m, s->identity);
				if (ep)
					name = strdup(ep->name);
				pthread_mutex_unlock(&a->lock);
				if (!ep) {
					errbuf_set(eb, -ENOENT, "no endpoint with id %u",
						   s->identity);
					errbuf_prefix(eb, "%s%s: ", k ? "not-" : "", flag_name(s));
					return -ENOENT;
				}
				if (!name)
					return -ENOMEM;
				s->kind = MON_PEER_ENDPOINT;
				s->text = name;
				continue;
			}
			if (!names_peer(s))
				continue;
			pthread_mutex_lock(&a->lock);
			known = model_knows(a->m, s);
			pthread_mutex_unlock(&a->lock);
			if (known)
				continue;
			pthread_mutex_lock(&a->flow_lock);
			known = ring_knows(&a->ring, s);
			pthread_mutex_unlock(&a->flow_lock);
			if (known)
				continue;
			if (s->kind == MON_PEER_IDENTITY)
				errbuf_set(eb, -ENOENT,
					   "no identity %u (none allocated, none in a kept flow)",
					   s->identity);
			else
				errbuf_set(
					eb, -ENOENT,
					s->kind == MON_PEER_NS ?
						"no endpoint in namespace '%s' (none now, none in "
						"a kept flow)" :
					s->kind == MON_PEER_POD ?
						"no endpoint named '%s...' (none now, none in a "
						"kept flow)" :
						"no endpoint '%s' (none now, none in a kept flow)",
					s->text);
			errbuf_prefix(eb, "%s%s: ", k ? "not-" : "", flag_name(s));
			return -ENOENT;
		}
	}
	return 0;
}

/* Appends the NDJSON lines of the matching flows after seq *after (at most max; 0 = no cap). */
static size_t flows_collect(struct agent *a, const struct flows_q *q, uint64_t *after, size_t max,
			    struct strbuf *sb)
{
	size_t i = mon_ring_after(&a->ring, *after), cnt = 0;

	for (; i < a->ring.n && (!max || cnt < max); i++) {
		const struct mon_flow *f = mon_ring_at(&a->ring, i);

		*after = f->seq;
		if (!mon_filter_match(&q->f, f))
			continue;
		mon_flow_format_json(f, sb);
		strbuf_putc(sb, '\n');
		cnt++;
	}
	return cnt;
}

struct follow {
	struct agent *a;
	atomic_int *followers; /* counted in there while streaming */
	struct flows_q q;
	uint64_t after;
	struct strbuf pending;
	size_t off;
};

static ssize_t follow_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct follow *fw = cls;
	struct agent *a = fw->a;
	int idle = 0;

	(void)pos;
	while (fw->off >= fw->pending.len) {
		strbuf_reset(&fw->pending);
		fw->off = 0;
		if (atomic_load(&a->stopping))
			return MHD_CONTENT_READER_END_OF_STREAM;
		pthread_mutex_lock(&a->flow_lock);
		if (!flows_collect(a, &fw->q, &fw->after, 256, &fw->pending)) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&a->flow_cond, &a->flow_lock, &ts);
			/* a keep-alive line every 5 s lets a gone client be noticed */
			if (++idle >= 5 && !fw->pending.len) {
				strbuf_putc(&fw->pending, '\n');
				idle = 0;
			}
		}
		pthread_mutex_unlock(&a->flow_lock);
		if (fw->pending.oom)
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	{
		size_t n = fw->pending.len - fw->off;

		if (n > max)
			n = max;
		memcpy(buf, fw->pending.p + fw->off, n);
		fw->off += n;
		return (ssize_t)n;
	}
}

static void follow_free(void *cls)
{
	struct follow *fw = cls;

	if (fw->followers)
		atomic_fetch_sub(fw->followers, 1);
	mon_filter_free(&fw->q.f);
	strbuf_free(&fw->pending);
	free(fw);
}

enum MHD_Result agent_api_flows(const struct api_call *call)
{
	struct agent *a = call->a;
	struct follow *fw = calloc(1, sizeof(*fw));
	struct strbuf sb = STRBUF_INIT;
	struct MHD_Response *r;
	enum MHD_Result ret;
	struct timespec ts;
	size_t i, nmatch = 0, start;

	if (!fw)
		return agent_api_error(call, 500, "out of memory");
	fw->a = a;
	errbuf_clear(&fw->q.eb);
	clock_gettime(CLOCK_REALTIME, &ts);
	fw->q.now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	fw->q.last = 20;
	MHD_get_connection_values(call->c, MHD_GET_ARGUMENT_KIND, flow_arg, &fw->q);
	if (!fw->q.err && fw->q.has_first && (fw->q.follow || fw->q.has_last))
		fw->q.err = errbuf_set(&fw->q.eb, -EINVAL,
				       "first: cannot be combined with last, all or follow");
	if (!fw->q.err)
		fw->q.err = check_names(a, &fw->q.f, &fw->q.eb);
	if (fw->q.err) {
		ret = agent_api_error(call, 400, fw->q.eb.msg);
		follow_free(fw);
		return ret;
	}
	/* the last N matching flows (all since --since unless last is given), oldest first */
	if (!fw->q.has_last && fw->q.f.since_ns)
		fw->q.last = -1;
	if (fw->q.follow && !fw->q.has_last && !fw->q.f.since_ns)
		fw->q.last = 0;
	pthread_mutex_lock(&a->flow_lock);
	start = a->ring.n;
	if (fw->q.has_first) {
		/* the first N matching flows, oldest first */
		fw->after = 0;
		if (fw->q.first)
			flows_collect(a, &fw->q, &fw->after, (size_t)fw->q.first, &sb);
		pthread_mutex_unlock(&a->flow_lock);
		goto send;
	}
	if (fw->q.last != 0) {
		for (i = a->ring.n; i-- > 0;) {
			if (!mon_filter_match(&fw->q.f, mon_ring_at(&a->ring, i)))
				continue;
			start = i;
			if (fw->q.last > 0 && (long)++nmatch >= fw->q.last)
				break;
		}
	}
	fw->after =
		start < a->ring.n ? mon_ring_at(&a->ring, start)->seq - 1 : a->ring.next_seq - 1;
	flows_collect(a, &fw->q, &fw->after, 0, &sb);
	pthread_mutex_unlock(&a->flow_lock);
send:
	if (!fw->q.follow) {
		size_t len = sb.len;

		follow_free(fw);
		if (sb.oom) {
			strbuf_free(&sb);
			return agent_api_send_buf(call->c, 500, NULL, 0, "application/json");
		}
		return agent_api_send_buf(call->c, 200, len ? strbuf_detach(&sb) : strdup(""), len,
					  "application/x-ndjson");
	}
	fw->pending = sb;
	if (atomic_fetch_add(&call->h->followers, 1) >= API_FOLLOWERS) {
		char msg[96];

		atomic_fetch_sub(&call->h->followers, 1);
		follow_free(fw);
		snprintf(msg, sizeof(msg),
			 "too many followers: %d 'observe --follow' streams are open; stop one",
			 API_FOLLOWERS);
		return agent_api_error(call, 503, msg);
	}
	fw->followers = &call->h->followers;
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, follow_read, fw,
					      follow_free);
	if (!r) {
		follow_free(fw);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/x-ndjson");
	ret = agent_api_queue(call->c, 200, r);
	MHD_destroy_response(r);
	return ret;
}
