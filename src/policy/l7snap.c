/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The owned L7 snapshot: building it from map states, deciding with it, and
 * its byte form.
 *
 * Byte form (all integers little-endian; a string is a u32 length, or
 * 0xffffffff for none, then its bytes without NUL):
 *   header   "VL7S" u32 version(1) u64 revision u32 nmatchers u32 nendpoints
 *            u32 nnames
 *   matcher  u32 nrules, then per rule: u32 line, str method, str path,
 *            str host, u32 nheaders, per header: str name, str value,
 *            u8 mismatch
 *   endpoint u32 id (ascending), u32 nitems, per item: u8 dir, u8 proto,
 *            u8 any_peer, u8 pad(0), u16 lo, u16 hi, u32 rule_id,
 *            u32 matcher (index, or 0xffffffff for "any request"),
 *            u32 npeers, u32 peers[npeers] (ascending)
 *   name     u32 rule_id (ascending), str name
 * Matchers shared by several items travel once, numbered in order of first
 * use, so equal snapshots serialize to equal bytes.
 */
#include "policy/l7snap.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#define SNAP_MAGIC   0x53374c56u /* "VL7S" */
#define SNAP_VERSION 1u
#define NONE32	     0xffffffffu

struct snap_ep {
	uint32_t id;
	struct pol_l7_item *items; /* owned peers; counted matcher references; pr NULL */
	size_t nitems;
};

struct snap_name {
	uint32_t rule_id;
	char *name;
};

struct pol_l7_snapshot {
	int refs; /* atomic */
	uint64_t revision;
	struct snap_ep *eps; /* sorted by id */
	size_t neps;
	struct snap_name *names; /* sorted by rule_id */
	size_t nnames;
};

static void snap_free(struct pol_l7_snapshot *s)
{
	size_t i, k;

	for (i = 0; i < s->neps; i++) {
		for (k = 0; k < s->eps[i].nitems; k++) {
			free(s->eps[i].items[k].peers);
			pol_http_matcher__put(s->eps[i].items[k].matcher);
		}
		free(s->eps[i].items);
	}
	free(s->eps);
	for (i = 0; i < s->nnames; i++)
		free(s->names[i].name);
	free(s->names);
	free(s);
}

struct pol_l7_snapshot *pol_l7_snapshot__get(struct pol_l7_snapshot *s)
{
	if (s)
		__atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
	return s;
}

void pol_l7_snapshot__put(struct pol_l7_snapshot *s)
{
	if (s && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0)
		snap_free(s);
}

static int ep_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct snap_ep *)a)->id, y = ((const struct snap_ep *)b)->id;

	return x < y ? -1 : x > y;
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Copies one item: its own peers, a reference to its matcher, no engine pointer. */
static int item_copy(struct pol_l7_item *dst, const struct pol_l7_item *src)
{
	*dst = *src;
	dst->pr = NULL;
	dst->peers = NULL;
	if (src->npeers) {
		dst->peers = malloc(src->npeers * sizeof(uint32_t));
		if (!dst->peers)
			return -ENOMEM;
		memcpy(dst->peers, src->peers, src->npeers * sizeof(uint32_t));
	}
	dst->matcher = pol_http_matcher__get(src->matcher);
	return 0;
}

/* Names every rule id the items refer to (sorted, distinct). */
static int name_rules(struct pol_l7_snapshot *s, const struct pol_engine *e)
{
	uint32_t *ids;
	size_t i, k, n = 0, w;
	int err = 0;

	for (i = 0; i < s->neps; i++)
		n += s->eps[i].nitems;
	if (!n)
		return 0;
	ids = malloc(n * sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	for (i = 0, n = 0; i < s->neps; i++)
		for (k = 0; k < s->eps[i].nitems; k++)
			ids[n++] = s->eps[i].items[k].rule_id;
	qsort(ids, n, sizeof(*ids), u32_cmp);
	for (i = w = 1; i < n; i++)
		if (ids[i] != ids[w - 1])
			ids[w++] = ids[i];
	s->names = calloc(w, sizeof(*s->names));
	if (!s->names)
		err = -ENOMEM;
	for (i = 0; !err && i < w; i++) {
		struct strbuf sb = STRBUF_INIT;

		pol_engine_rule_name(e, ids[i], &sb);
		s->names[i].rule_id = ids[i];
		s->names[i].name = strbuf_detach(&sb);
		if (!s->names[i].name)
			err = -ENOMEM;
		else
			s->nnames = i + 1;
	}
	free(ids);
	return err;
}

struct pol_l7_snapshot *pol_l7_snapshot__new(const struct pol_l7_snap_src *src, size_t n,
					     const struct pol_engine *e, uint64_t revision)
{
	struct pol_l7_snapshot *s = calloc(1, sizeof(*s));
	size_t i, k;
	int err = 0;

	if (!s)
		return NULL;
	s->refs = 1;
	s->revision = revision;
	if (n) {
		s->eps = calloc(n, sizeof(*s->eps));
		if (!s->eps)
			err = -ENOMEM;
	}
	for (i = 0; !err && i < n; i++) {
		const struct pol_mapstate *ms = src[i].ms;
		struct snap_ep *ep = &s->eps[i];

		ep->id = src[i].endpoint;
		s->neps = i + 1;
		if (!ms->nl7)
			continue;
		ep->items = calloc(ms->nl7, sizeof(*ep->items));
		if (!ep->items) {
			err = -ENOMEM;
			break;
		}
		for (k = 0; !err && k < ms->nl7; k++) {
			err = item_copy(&ep->items[k], &ms->l7[k]);
			if (!err)
				ep->nitems = k + 1;
		}
	}
	if (!err && s->neps > 1) {
		qsort(s->eps, s->neps, sizeof(*s->eps), ep_cmp);
		for (i = 1; !err && i < s->neps; i++)
			if (s->eps[i].id == s->eps[i - 1].id)
				err = -EINVAL;
	}
	if (!err && e)
		err = name_rules(s, e);
	if (err) {
		snap_free(s);
		errno = -err;
		return NULL;
	}
	return s;
}

struct pol_l7_snapshot *pol_engine_l7_snapshot(const struct pol_engine *e, const uint32_t *eps,
					       size_t n, uint64_t revision)
{
	struct pol_l7_snap_src *src = calloc(n ? n : 1, sizeof(*src));
	struct pol_l7_snapshot *s;
	size_t i, m = 0;

	if (!src)
		return NULL;
	for (i = 0; i < n; i++) {
		const struct pol_mapstate *ms = pol_engine_endpoint_state(e, eps[i]);

		if (ms)
			src[m++] = (struct pol_l7_snap_src){ eps[i], ms };
	}
	s = pol_l7_snapshot__new(src, m, e, revision);
	free(src);
	return s;
}

void pol_l7_slot_publish(struct pol_l7_slot *slot, struct pol_l7_snapshot *s)
{
	struct pol_l7_snapshot *old;

	pthread_mutex_lock(&slot->lock);
	old = slot->cur;
	slot->cur = s;
	pthread_mutex_unlock(&slot->lock);
	pol_l7_snapshot__put(old);
}

struct pol_l7_snapshot *pol_l7_slot_acquire(struct pol_l7_slot *slot)
{
	struct pol_l7_snapshot *s;

	pthread_mutex_lock(&slot->lock);
	s = pol_l7_snapshot__get(slot->cur);
	pthread_mutex_unlock(&slot->lock);
	return s;
}

uint64_t pol_l7_snapshot_revision(const struct pol_l7_snapshot *s)
{
	return s->revision;
}

size_t pol_l7_snapshot_endpoints(const struct pol_l7_snapshot *s)
{
	return s->neps;
}

void pol_l7_snapshot_decide(const struct pol_l7_snapshot *s, uint32_t endpoint, enum pol_dir dir,
			    uint32_t peer, uint16_t port, const struct pol_http_request *req,
			    struct pol_l7_verdict *out)
{
	struct snap_ep key = { .id = endpoint };
	const struct snap_ep *ep = bsearch(&key, s->eps, s->neps, sizeof(*s->eps), ep_cmp);

	pol_l7_items_decide(ep ? ep->items : NULL, ep ? ep->nitems : 0, dir, peer, port, req, out);
}

const char *pol_l7_snapshot_rule_name(const struct pol_l7_snapshot *s, uint32_t rule_id)
{
	size_t lo = 0, hi = s->nnames;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->names[mid].rule_id == rule_id)
			return s->names[mid].name;
		if (s->names[mid].rule_id < rule_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* ---- bytes out ---- */

static void put_u8(struct strbuf *b, uint8_t v)
{
	strbuf_append(b, (const char *)&v, 1);
}

static void put_u16(struct strbuf *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	strbuf_append(b, (const char *)x, 2);
}

static void put_u32(struct strbuf *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	strbuf_append(b, (const char *)x, 4);
}

static void put_u64(struct strbuf *b, uint64_t v)
{
	put_u32(b, (uint32_t)v);
	put_u32(b, (uint32_t)(v >> 32));
}

static void put_str(struct strbuf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	put_u32(b, s ? (uint32_t)n : NONE32);
	strbuf_append(b, s ? s : "", n);
}

/* A matcher and where it first appears among the items. */
struct mref {
	const struct pol_http_matcher *m;
	size_t first;
	uint32_t index; /* its place in the byte form */
};

static int mref_ptr_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const struct mref *)a)->m;
	uintptr_t y = (uintptr_t)((const struct mref *)b)->m;

	return x < y ? -1 : x > y;
}

static int mref_first_cmp(const void *a, const void *b)
{
	size_t x = (*(const struct mref *const *)a)->first;
	size_t y = (*(const struct mref *const *)b)->first;

	return x < y ? -1 : x > y;
}

static void put_matcher(struct strbuf *b, const struct pol_http_matcher *m)
{
	size_t i, h, n = pol_http_matcher_count(m);

	put_u32(b, (uint32_t)n);
	for (i = 0; i < n; i++) {
		const struct pol_http_rule *r = pol_http_matcher_rule(m, i);

		put_u32(b, r->line);
		put_str(b, r->method);
		put_str(b, r->path);
		put_str(b, r->host);
		put_u32(b, (uint32_t)r->nheaders);
		for (h = 0; h < r->nheaders; h++) {
			put_str(b, r->headers[h].name);
			put_str(b, r->headers[h].value);
			put_u8(b, (uint8_t)r->headers[h].mismatch);
		}
	}
}

int pol_l7_snapshot_serialize(const struct pol_l7_snapshot *s, struct strbuf *out)
{
	struct mref *refs = NULL, **order = NULL;
	size_t i, k, p, n = 0, w = 0;

	for (i = 0; i < s->neps; i++)
		n += s->eps[i].nitems;
	if (n && (!(refs = malloc(n * sizeof(*refs))) || !(order = malloc(n * sizeof(*order))))) {
		free(refs);
		return -ENOMEM;
	}
	/*
	 * The distinct matchers, numbered in order of first use, so equal
	 * snapshots give equal bytes; items find their number by address.
	 */
	for (i = 0; i < s->neps; i++)
		for (k = 0; k < s->eps[i].nitems; k++)
			if (s->eps[i].items[k].matcher) {
				refs[w] = (struct mref){ s->eps[i].items[k].matcher, w, 0 };
				w++;
			}
	if (w) {
		qsort(refs, w, sizeof(*refs), mref_ptr_cmp);
		for (i = n = 1; i < w; i++) {
			if (refs[i].m != refs[n - 1].m)
				refs[n++] = refs[i];
			else if (refs[i].first < refs[n - 1].first)
				refs[n - 1].first = refs[i].first;
		}
		w = n;
		for (i = 0; i < w; i++)
			order[i] = &refs[i];
		qsort(order, w, sizeof(*order), mref_first_cmp);
		for (i = 0; i < w; i++)
			order[i]->index = (uint32_t)i;
	}
	put_u32(out, SNAP_MAGIC);
	put_u32(out, SNAP_VERSION);
	put_u64(out, s->revision);
	put_u32(out, (uint32_t)w);
	put_u32(out, (uint32_t)s->neps);
	put_u32(out, (uint32_t)s->nnames);
	for (i = 0; i < w; i++)
		put_matcher(out, order[i]->m);
	for (i = 0; i < s->neps; i++) {
		put_u32(out, s->eps[i].id);
		put_u32(out, (uint32_t)s->eps[i].nitems);
		for (k = 0; k < s->eps[i].nitems; k++) {
			const struct pol_l7_item *it = &s->eps[i].items[k];
			struct mref key = { it->matcher, 0, 0 };
			const struct mref *found =
				it->matcher ? bsearch(&key, refs, w, sizeof(*refs), mref_ptr_cmp) :
					      NULL;

			put_u8(out, it->dir);
			put_u8(out, it->proto);
			put_u8(out, it->any_peer);
			put_u8(out, 0);
			put_u16(out, it->lo);
			put_u16(out, it->hi);
			put_u32(out, it->rule_id);
			put_u32(out, found ? found->index : NONE32);
			put_u32(out, (uint32_t)it->npeers);
			for (p = 0; p < it->npeers; p++)
				put_u32(out, it->peers[p]);
		}
	}
	for (i = 0; i < s->nnames; i++) {
		put_u32(out, s->names[i].rule_id);
		put_str(out, s->names[i].name);
	}
	free(refs);
	free(order);
	return out->oom ? -ENOMEM : 0;
}

/* ---- bytes in ---- */

struct rd {
	const uint8_t *p;
	size_t n, off;
	struct errbuf *eb;
	int err; /* the first error; later reads are no-ops */
};

static int rd_fail(struct rd *r, int err, const char *what)
{
	if (!r->err) {
		r->err = err;
		if (err == -EINVAL)
			errbuf_set(r->eb, -EINVAL, "L7 snapshot: offset %zu: %s", r->off, what);
	}
	return r->err;
}

static bool rd_need(struct rd *r, size_t k)
{
	if (r->err)
		return false;
	if (r->n - r->off < k) {
		rd_fail(r, -EINVAL, "truncated");
		return false;
	}
	return true;
}

static uint8_t get_u8(struct rd *r)
{
	return rd_need(r, 1) ? r->p[r->off++] : 0;
}

static uint16_t get_u16(struct rd *r)
{
	uint16_t v;

	if (!rd_need(r, 2))
		return 0;
	v = (uint16_t)(r->p[r->off] | r->p[r->off + 1] << 8);
	r->off += 2;
	return v;
}

static uint32_t get_u32(struct rd *r)
{
	uint32_t v;

	if (!rd_need(r, 4))
		return 0;
	v = (uint32_t)r->p[r->off] | (uint32_t)r->p[r->off + 1] << 8 |
	    (uint32_t)r->p[r->off + 2] << 16 | (uint32_t)r->p[r->off + 3] << 24;
	r->off += 4;
	return v;
}

static uint64_t get_u64(struct rd *r)
{
	uint64_t lo = get_u32(r);

	return lo | (uint64_t)get_u32(r) << 32;
}

/*
 * A count of elements of at least min bytes each: never more than the
 * bytes left can hold, so a forged count cannot make a huge allocation.
 */
static size_t get_count(struct rd *r, size_t min, const char *what)
{
	uint32_t v = get_u32(r);

	if (!r->err && (size_t)v > (r->n - r->off) / min)
		rd_fail(r, -EINVAL, what);
	return r->err ? 0 : v;
}

/* A string: NULL for "none", else a new copy; no NUL inside. */
static char *get_str(struct rd *r, bool optional)
{
	uint32_t len = get_u32(r);
	char *s;

	if (r->err)
		return NULL;
	if (len == NONE32) {
		if (!optional)
			rd_fail(r, -EINVAL, "missing string");
		return NULL;
	}
	if (!rd_need(r, len))
		return NULL;
	if (memchr(r->p + r->off, '\0', len)) {
		rd_fail(r, -EINVAL, "NUL in string");
		return NULL;
	}
	s = strndup((const char *)r->p + r->off, len);
	if (!s)
		rd_fail(r, -ENOMEM, "");
	r->off += len;
	return s;
}

static struct pol_http_matcher *get_matcher(struct rd *r, size_t index)
{
	/* Smallest rule: line, three absent strings, no headers. */
	size_t i, h, n = get_count(r, 20, "HTTP rule count beyond the input");
	struct pol_http_rule *rules = calloc(n ? n : 1, sizeof(*rules));
	struct pol_http_matcher *m = NULL;
	struct errbuf eb;

	if (!rules) {
		rd_fail(r, -ENOMEM, "");
		return NULL;
	}
	for (i = 0; !r->err && i < n; i++) {
		struct pol_http_rule *ru = &rules[i];

		ru->line = get_u32(r);
		ru->method = get_str(r, true);
		ru->path = get_str(r, true);
		ru->host = get_str(r, true);
		h = get_count(r, 9, "header count beyond the input");
		if (h && !r->err && !(ru->headers = calloc(h, sizeof(*ru->headers))))
			rd_fail(r, -ENOMEM, "");
		for (; !r->err && ru->nheaders < h; ru->nheaders++) {
			struct pol_http_header *hh = &ru->headers[ru->nheaders];
			uint8_t mm;

			hh->name = get_str(r, false);
			hh->value = get_str(r, true);
			mm = get_u8(r);
			if (!r->err && mm > POL_MISMATCH_REPLACE)
				rd_fail(r, -EINVAL, "header mismatch action out of range");
			hh->mismatch = (enum pol_hdr_mismatch)mm;
			if (!r->err && !hh->name[0])
				rd_fail(r, -EINVAL, "empty header name");
		}
	}
	if (!r->err) {
		m = pol_http_matcher__new(rules, n, &eb);
		if (!m && errno == EINVAL) {
			errbuf_prefix(&eb, "matcher %zu: ", index);
			rd_fail(r, -EINVAL, eb.msg);
		} else if (!m) {
			rd_fail(r, -ENOMEM, "");
		}
	}
	for (i = 0; i < n; i++)
		pol_http_rule_free(&rules[i]);
	free(rules);
	return m;
}

static void get_item(struct rd *r, struct pol_l7_item *it, struct pol_http_matcher **ms, size_t nms)
{
	uint32_t mi;
	size_t p;

	it->dir = get_u8(r);
	it->proto = get_u8(r);
	it->any_peer = get_u8(r) != 0;
	if (get_u8(r) != 0)
		rd_fail(r, -EINVAL, "item padding not zero");
	it->lo = get_u16(r);
	it->hi = get_u16(r);
	it->rule_id = get_u32(r);
	mi = get_u32(r);
	it->npeers = get_count(r, 4, "peer count beyond the input");
	if (r->err)
		return;
	if (it->dir > POL_EGRESS)
		rd_fail(r, -EINVAL, "item direction out of range");
	else if (it->proto != 0 && it->proto != IPPROTO_TCP && it->proto != IPPROTO_UDP &&
		 it->proto != IPPROTO_SCTP)
		rd_fail(r, -EINVAL, "item protocol not ANY, TCP, UDP or SCTP");
	else if (it->lo > it->hi)
		rd_fail(r, -EINVAL, "item port range reversed");
	else if (mi != NONE32 && mi >= nms)
		rd_fail(r, -EINVAL, "item matcher index out of range");
	else if (it->any_peer && it->npeers)
		rd_fail(r, -EINVAL, "item with any peer lists peers");
	if (r->err)
		return;
	it->matcher = mi == NONE32 ? NULL : pol_http_matcher__get(ms[mi]);
	if (!it->npeers)
		return;
	it->peers = malloc(it->npeers * sizeof(uint32_t));
	if (!it->peers) {
		it->npeers = 0;
		rd_fail(r, -ENOMEM, "");
		return;
	}
	for (p = 0; p < it->npeers; p++) {
		it->peers[p] = get_u32(r);
		if (!r->err && p && it->peers[p] < it->peers[p - 1])
			rd_fail(r, -EINVAL, "item peers not in ascending order");
	}
}

struct pol_l7_snapshot *pol_l7_snapshot_deserialize(const void *buf, size_t n, struct errbuf *eb)
{
	struct rd r = { buf, n, 0, eb, 0 };
	struct pol_http_matcher **ms = NULL;
	struct pol_l7_snapshot *s;
	size_t nms = 0, i, k;

	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->refs = 1;
	if (get_u32(&r) != SNAP_MAGIC && !r.err)
		rd_fail(&r, -EINVAL, "not an L7 snapshot (bad magic)");
	if (get_u32(&r) != SNAP_VERSION && !r.err)
		rd_fail(&r, -EINVAL, "unknown version");
	s->revision = get_u64(&r);
	nms = get_count(&r, 4, "matcher count beyond the input");
	s->neps = get_count(&r, 8, "endpoint count beyond the input");
	s->nnames = get_count(&r, 8, "name count beyond the input");
	if (!r.err && (!(ms = calloc(nms ? nms : 1, sizeof(*ms))) ||
		       !(s->eps = calloc(s->neps ? s->neps : 1, sizeof(*s->eps))) ||
		       !(s->names = calloc(s->nnames ? s->nnames : 1, sizeof(*s->names)))))
		rd_fail(&r, -ENOMEM, "");
	if (r.err)
		s->neps = s->nnames = nms = 0;
	for (i = 0; !r.err && i < nms; i++)
		ms[i] = get_matcher(&r, i);
	for (i = 0; i < s->neps; i++) {
		struct snap_ep *ep = &s->eps[i];
		size_t ni;

		if (r.err)
			break;
		ep->id = get_u32(&r);
		ni = get_count(&r, 20, "item count beyond the input");
		if (!r.err && i && ep->id <= s->eps[i - 1].id)
			rd_fail(&r, -EINVAL, "endpoints not in ascending order");
		if (!r.err && ni && !(ep->items = calloc(ni, sizeof(*ep->items))))
			rd_fail(&r, -ENOMEM, "");
		for (k = 0; !r.err && k < ni; k++) {
			get_item(&r, &ep->items[k], ms, nms);
			ep->nitems = k + 1;
		}
	}
	for (i = 0; i < s->nnames; i++) {
		if (r.err)
			break;
		s->names[i].rule_id = get_u32(&r);
		s->names[i].name = get_str(&r, false);
		if (!r.err && i && s->names[i].rule_id <= s->names[i - 1].rule_id)
			rd_fail(&r, -EINVAL, "rule names not in ascending order");
	}
	if (!r.err && r.off != r.n)
		rd_fail(&r, -EINVAL, "trailing bytes");
	for (i = 0; i < nms; i++)
		pol_http_matcher__put(ms[i]); /* the items hold their own references */
	free(ms);
	if (r.err) {
		snap_free(s);
		errno = -r.err;
		return NULL;
	}
	return s;
}
