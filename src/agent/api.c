/* SPDX-License-Identifier: Apache-2.0 */
/*
 * velumd's REST API (docs/api.md) over libmicrohttpd on a unix socket, and
 * the Prometheus metrics endpoint on a loopback TCP port. Thread per
 * connection: a handler may block (the flow stream waits for new flows);
 * a handler that reads agent state holds a->lock for the duration, one that
 * changes it holds a->wlock (the change takes a->lock only to commit; see
 * agent.h).
 * Only root may talk to the API: the socket is 0600 and each connection's
 * peer credentials are checked.
 */
#include "agent/api_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent/proxy.h"
#include "lib/log.h"
#include "lib/strbuf.h"
#include "policy/trace.h"
#include "velum/drop.h"
#include "velum/events.h"
#include "velum/maps.h"

struct req {
	struct strbuf body;
	bool too_big;
	bool started; /* the headers were seen */
	bool nul;     /* the path escapes a NUL byte (%00) */
};

enum MHD_Result agent_api_queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *r)
{
	MHD_add_response_header(r, FRONT_MARK, "1");
	MHD_add_response_header(r, "Connection", "close");
	return MHD_queue_response(c, status, r);
}

enum MHD_Result agent_api_send_buf(struct MHD_Connection *c, unsigned status, char *buf, size_t len,
				   const char *type)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (!buf) {
		static const char oom[] = "{\"error\":\"velumd: out of memory\"}\n";

		r = MHD_create_response_from_buffer(sizeof(oom) - 1, (void *)oom,
						    MHD_RESPMEM_PERSISTENT);
		status = 500;
	} else {
		r = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
	}
	if (!r) {
		free(buf);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	ret = agent_api_queue(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Sends j (takes it) with a trailing newline. */
static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	size_t len;

	json_decref(j);
	if (!s)
		return agent_api_send_buf(c, 500, NULL, 0, "application/json");
	len = strlen(s);
	s = realloc(s, len + 2) ?: s;
	s[len] = '\n';
	s[len + 1] = '\0';
	return agent_api_send_buf(c, status, s, len + 1, "application/json");
}

enum MHD_Result agent_api_send_copy(struct MHD_Connection *c, unsigned status, const char *text,
				    const char *type)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	ret = agent_api_queue(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

enum MHD_Result agent_api_reply(const struct api_call *call, unsigned status, json_t *j)
{
	return send_json(call->c, status, j);
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
	return send_json(c, status, json_pack("{s:s}", "error", msg));
}

enum MHD_Result agent_api_error(const struct api_call *call, unsigned status, const char *msg)
{
	return send_error(call->c, status, msg);
}

enum MHD_Result agent_api_fail(const struct api_call *call, int err, const struct errbuf *eb)
{
	char msg[ERRBUF_SIZE + 64];

	if (eb && eb->msg[0])
		snprintf(msg, sizeof(msg), "%s", eb->msg);
	else
		snprintf(msg, sizeof(msg), "%s", strerror(-err));
	return send_error(call->c, (unsigned)agent_err_status(err), msg);
}

const char *agent_api_query(const struct api_call *call, const char *key)
{
	return MHD_lookup_connection_value(call->c, MHD_GET_ARGUMENT_KIND, key);
}

/*
 * Kernel-carried bytes on the proxy's connections (dp_proxy_sockmap()):
 * whether new connections get them, and the sends so far each way.
 */
static json_t *sockmap_status(struct agent *a)
{
	__u64 cs = 0, cb = 0, ts = 0, tb = 0;

	dp_sock_stats_read(a->dp, VELUM_SOCK_STAT_CARRIED, &cs, &cb);
	dp_sock_stats_read(a->dp, VELUM_SOCK_STAT_TCP, &ts, &tb);
	return json_pack("{s:b, s:I, s:I, s:I, s:I}", "enabled", dp_proxy_sockmap_on(a->dp),
			 "carried_sends", (json_int_t)cs, "carried_bytes", (json_int_t)cb,
			 "tcp_sends", (json_int_t)ts, "tcp_bytes", (json_int_t)tb);
}

/*
 * The proxy's part of the status: {"enabled": false}, or the supervisor's
 * view plus "redirects", the policy entries (over all endpoints) that send
 * flows to it.
 */
static json_t *proxy_status(struct agent *a, const struct agent_summary *sum)
{
	json_t *j;

	if (!a->proxy)
		return json_pack("{s:b}", "enabled", 0);
	j = agent_proxy_status(a->proxy);
	if (!j)
		return NULL;
	json_object_set_new(j, "enabled", json_true());
	json_object_set_new(j, "redirects", json_integer((json_int_t)sum->redirects));
	json_object_set_new(j, "sockmap", sockmap_status(a));
	return j;
}

/* GET /v1/version: no lock, no datapath check: it answers whatever the agent is doing. */
enum MHD_Result agent_api_version(const struct api_call *call)
{
	return agent_api_reply(call, 200,
			       json_pack("{s:s, s:s, s:i}", "version", AGENT_VERSION, "api", "v1",
					 "pid", (int)getpid()));
}

/*
 * Never waits for a->lock: the model's part is the summary of the last
 * commit (agent_summary()), the rest is read from the kernel's maps and
 * the proxy's supervisor, which have locks of their own.
 */
enum MHD_Result agent_api_status(const struct api_call *call)
{
	struct agent *a = call->a;
	struct agent_summary sum = agent_summary(a);
	char started[40];
	time_t t = (time_t)(a->started_ns / 1000000000);
	struct tm tm;
	json_t *j;

	gmtime_r(&t, &tm);
	strftime(started, sizeof(started), "%Y-%m-%dT%H:%M:%SZ", &tm);
	j = json_pack("{s:{s:s, s:i, s:s, s:s, s:s}, s:{s:s, s:s, s:s, s:i, s:i, s:i}, "
		      "s:{s:s, s:i, s:I}, s:{s:i, s:i, s:i}, s:s}",
		      "agent", "version", AGENT_VERSION, "pid", (int)getpid(), "started", started,
		      "state_dir", a->o.state_dir, "socket", a->o.socket_path, "datapath",
		      "pin_dir", a->pin_dir, "programs", "attached", "host_routing",
		      dp_routing_legacy(a->dp) ? "legacy" : "bpf", "endpoints", (int)sum.endpoints,
		      "endpoints_failed", (int)sum.endpoints_failed, "ct_entries",
		      dp_ct_count(a->dp), "store", "path", agent_store_path(a->st), "schema",
		      AGENT_STORE_SCHEMA, "revision", (json_int_t)sum.revision, "counts",
		      "endpoints", (int)sum.endpoints, "identities", (int)sum.identities,
		      "policies", (int)sum.policies, "metrics", call->h->metrics_addr);
	if (j) {
		/* a pin folder removed behind velumd's back shows now, not at the next change */
		json_t *dp = json_object_get(j, "datapath");
		struct errbuf eb;

		errbuf_clear(&eb);
		if (dp_pins_check(a->dp, &eb)) {
			json_object_set_new(dp, "state", json_string("error"));
			json_object_set_new(dp, "error", json_string(eb.msg));
		} else {
			json_object_set_new(dp, "state",
					    json_string(sum.endpoints_failed ? "degraded" : "ok"));
		}
		json_object_set_new(j, "allow_localhost",
				    json_string(a->o.allow_localhost ? "always" : "policy"));
		json_object_set_new(j, "trace_events",
				    json_string(a->o.no_trace ? "off" : "medium"));
		pthread_mutex_lock(&a->flow_lock);
		json_object_set_new(j, "proxy", proxy_status(a, &sum));
		json_object_set_new(j, "flows",
				    json_pack("{s:I, s:I, s:I}", "current", (json_int_t)a->ring.n,
					      "max", (json_int_t)a->ring.cap, "seen",
					      (json_int_t)a->events_total));
		pthread_mutex_unlock(&a->flow_lock);
	}
	return agent_api_reply(call, 200, j);
}

/*
 * The API (docs/api.md). A pattern's segments are literals or "{var}", which
 * matches one segment ("{epid}" only a decimal number: an endpoint's id);
 * a route's variable segments reach the handler joined by '/' (call->arg).
 * An endpoint's id routes come first: /v1/endpoints/7/bpf-policy is
 * endpoint 7's map, not endpoint "bpf-policy" of a namespace "7".
 */
static const struct api_route {
	const char *method, *pattern;
	api_handler fn;
} routes[] = {
	{ "GET", "/v1/status", agent_api_status },
	{ "GET", "/v1/version", agent_api_version },
	{ "GET", "/v1/endpoints", agent_api_endpoints_list },
	{ "POST", "/v1/endpoints", agent_api_endpoint_create },
	{ "GET", "/v1/endpoints/{epid}", agent_api_endpoint_get },
	{ "PATCH", "/v1/endpoints/{epid}", agent_api_endpoint_patch },
	{ "DELETE", "/v1/endpoints/{epid}", agent_api_endpoint_delete },
	{ "GET", "/v1/endpoints/{epid}/bpf-policy", agent_api_bpf_policy },
	{ "GET", "/v1/endpoints/{ns}/{name}", agent_api_endpoint_get },
	{ "PATCH", "/v1/endpoints/{ns}/{name}", agent_api_endpoint_patch },
	{ "DELETE", "/v1/endpoints/{ns}/{name}", agent_api_endpoint_delete },
	{ "GET", "/v1/endpoints/{ns}/{name}/bpf-policy", agent_api_bpf_policy },
	{ "GET", "/v1/bpf/endpoints", agent_api_bpf_endpoints },
	{ "GET", "/v1/bpf/ct", agent_api_bpf_ct },
	{ "GET", "/v1/bpf/ipcache", agent_api_bpf_ipcache },
	{ "GET", "/v1/namespaces", agent_api_namespaces_list },
	{ "GET", "/v1/namespaces/{ns}", agent_api_namespace_get },
	{ "PATCH", "/v1/namespaces/{ns}", agent_api_namespace_patch },
	{ "DELETE", "/v1/namespaces/{ns}", agent_api_namespace_delete },
	{ "GET", "/v1/identities", agent_api_identities },
	{ "GET", "/v1/identities/{id}", agent_api_identities },
	{ "GET", "/v1/policies", agent_api_policies_get },
	{ "POST", "/v1/policies", agent_api_policies_import },
	{ "DELETE", "/v1/policies", agent_api_policies_delete },
	{ "POST", "/v1/trace", agent_api_trace },
	{ "GET", "/v1/flows", agent_api_flows },
};

#define MAX_SEGMENTS 8

/*
 * Matches the request's segments against a pattern; on a match writes the
 * variable segments, '/'-joined, into arg (arg_len bytes; "" if none).
 */
static bool route_match(const char *pattern, char *const *seg, size_t n, char *arg, size_t arg_len)
{
	char pat[128], *save, *p;
	size_t i = 0, used = 0;

	snprintf(pat, sizeof(pat), "%s", pattern);
	arg[0] = '\0';
	for (p = strtok_r(pat, "/", &save); p; p = strtok_r(NULL, "/", &save), i++) {
		if (i == n)
			return false;
		if (p[0] != '{') {
			if (strcmp(p, seg[i]))
				return false;
			continue;
		}
		if (!strcmp(p, "{epid}") &&
		    (!seg[i][0] || strspn(seg[i], "0123456789") != strlen(seg[i])))
			return false;
		used += (size_t)snprintf(arg + used, used < arg_len ? arg_len - used : 0, "%s%s",
					 used ? "/" : "", seg[i]);
	}
	return i == n;
}

/*
 * Finds the route of (method, url) and calls it. An unknown path answers
 * 404, a known path with another method 405; POST and PATCH bodies must be
 * JSON objects (400 otherwise).
 */
static enum MHD_Result route(struct agent_http *h, struct MHD_Connection *c, const char *url,
			     const char *method, struct req *rq)
{
	struct api_call call = { .h = h, .a = h->a, .c = c };
	char path[1024], arg[1024], *seg[MAX_SEGMENTS], *save, *s;
	const struct api_route *hit = NULL;
	bool path_known = false;
	enum MHD_Result ret;
	size_t n = 0, i;

	if (snprintf(path, sizeof(path), "%s", url) >= (int)sizeof(path))
		return send_error(c, 414, "URL too long");
	for (s = strtok_r(path, "/", &save); s; s = strtok_r(NULL, "/", &save)) {
		if (n == MAX_SEGMENTS)
			return send_error(c, 404, "no such API path (see docs/api.md)");
		seg[n++] = s;
	}
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]) && !hit; i++) {
		if (!route_match(routes[i].pattern, seg, n, arg, sizeof(arg)))
			continue;
		path_known = true;
		if (!strcmp(routes[i].method, method))
			hit = &routes[i];
	}
	if (!path_known)
		return send_error(c, 404, "no such API path (see docs/api.md)");
	if (!hit)
		return send_error(c, 405, "method not allowed");
	if (!strcmp(method, "POST") || !strcmp(method, "PATCH")) {
		json_error_t je;

		call.body = json_loadb(rq->body.p ? rq->body.p : "", rq->body.len, 0, &je);
		if (!json_is_object(call.body)) {
			char msg[256];

			if (call.body)
				snprintf(msg, sizeof(msg),
					 "request body: expected a JSON object, got %s",
					 json_is_array(call.body)  ? "an array" :
					 json_is_string(call.body) ? "a string" :
					 json_is_number(call.body) ? "a number" :
					 json_is_null(call.body)   ? "null" :
								     "a boolean");
			else if (json_error_code(&je) == json_error_null_character)
				snprintf(
					msg, sizeof(msg),
					"request body: a string holds a NUL byte (\\u0000; line %d, "
					"column %d)",
					je.line, je.column);
			else
				snprintf(msg, sizeof(msg),
					 "request body: not JSON: %s (line %d, column %d)", je.text,
					 je.line, je.column);
			json_decref(call.body);
			return send_error(c, 400, msg);
		}
	}
	call.arg = arg[0] ? arg : NULL;
	ret = hit->fn(&call);
	json_decref(call.body);
	return ret;
}

/*
 * Has the client closed its connection (not just its sending side)? A
 * request that waited in the listen queue while its client gave up must not
 * be applied.
 */
static bool peer_gone(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct pollfd p = { .events = POLLIN };

	if (!ci)
		return false;
	p.fd = ci->connect_fd;
	return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

static enum MHD_Result on_api(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	struct agent_http *h = cls;
	struct req *rq = *con_cls;

	(void)version;
	if (!rq)
		return MHD_NO;
	if (!rq->started) {
		/* the peer's credentials were checked by the front door (api_front.c) */
		rq->started = true;
		return MHD_YES;
	}
	if (*upload_size) {
		if (rq->body.len + *upload_size > AGENT_MAX_BODY)
			rq->too_big = true;
		else
			strbuf_append(&rq->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (rq->too_big)
		return send_error(c, 413, "request body larger than 32 MiB");
	if (rq->body.oom)
		return send_error(c, 500, "out of memory");
	/* the path arrives unescaped and cut at the NUL: "x%00junk" would name "x" */
	if (rq->nul)
		return send_error(c, 400, "the request path escapes a NUL byte (%00)");
	if (strcmp(method, "GET") && strcmp(method, "HEAD") && peer_gone(c)) {
		pr_info("velumd: %s %s: the client closed the connection; not applied\n", method,
			url);
		return MHD_NO;
	}
	return route(h, c, url, method, rq);
}

/* Each request's state, made when its request line arrives (raw, still escaped). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct req *rq = calloc(1, sizeof(*rq));

	(void)cls;
	(void)c;
	if (rq)
		rq->nul = strstr(uri, "%00") != NULL;
	return rq;
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
		    enum MHD_RequestTerminationCode toe)
{
	struct req *rq = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (!rq)
		return;
	strbuf_free(&rq->body);
	free(rq);
	*con_cls = NULL;
}

/* velum_proxy_sockmap_{sends,bytes}_total{path="socket|tcp"}: velum_sock_stats, read once. */
static void sockmap_metrics(struct agent *a, struct strbuf *sb)
{
	static const char *const path[VELUM_SOCK_STAT_N] = {
		[VELUM_SOCK_STAT_CARRIED] = "socket", [VELUM_SOCK_STAT_TCP] = "tcp"
	};
	__u64 n[VELUM_SOCK_STAT_N] = { 0 }, b[VELUM_SOCK_STAT_N] = { 0 };
	unsigned int st;

	for (st = 0; st < VELUM_SOCK_STAT_N; st++)
		dp_sock_stats_read(a->dp, st, &n[st], &b[st]);
	mon_metric_header(sb, "velum_proxy_sockmap_sends_total", "counter",
			  "Sends on the proxy's connections: carried socket to socket by the "
			  "kernel, or the TCP way");
	for (st = 0; st < VELUM_SOCK_STAT_N; st++)
		mon_metric_sample(sb, "velum_proxy_sockmap_sends_total",
				  (const char *const[]){ "path", path[st], NULL }, (double)n[st]);
	mon_metric_header(sb, "velum_proxy_sockmap_bytes_total", "counter",
			  "Bytes sent on the proxy's connections, by path");
	for (st = 0; st < VELUM_SOCK_STAT_N; st++)
		mon_metric_sample(sb, "velum_proxy_sockmap_bytes_total",
				  (const char *const[]){ "path", path[st], NULL }, (double)b[st]);
}

/* How long a scrape waits for velum-proxy's metrics. */
#define PROXY_SCRAPE_TIMEOUT_MS 250

static void metrics_text(struct agent *a, struct strbuf *sb)
{
	static const char *const vnames[] = { "", "forwarded", "dropped", "audit", "redirected" };
	const struct model_ep *const *eps;
	const struct pol_policy *const *ps;
	const struct id_entry **ids;
	long nid, i;
	size_t nep, npol, reserved = 0, cidr = 0, alloc = 0;
	int dir;
	unsigned code;
	uint64_t verdicts[5][7][2], events, l7_events, l7_bad;

	pthread_mutex_lock(&a->lock);
	nep = model_endpoints(a->m, &eps);
	npol = pol_engine_policies(model_engine(a->m), &ps);
	nid = id_alloc_list(model_ids(a->m), &ids);
	for (i = 0; i < nid; i++) {
		char buf[64];

		if (ids[i]->reserved)
			reserved++;
		else if (agent_api_cidr_of(ids[i], buf, sizeof(buf)))
			cidr++;
		else
			alloc++;
	}
	if (nid >= 0)
		free(ids);

	mon_metric_header(sb, "velum_endpoint", "gauge", "Number of endpoints managed by velumd");
	mon_metric_sample(sb, "velum_endpoint", NULL, (double)nep);
	mon_metric_header(sb, "velum_identity", "gauge", "Number of identities by type");
	mon_metric_sample(sb, "velum_identity", (const char *const[]){ "type", "reserved", NULL },
			  (double)reserved);
	mon_metric_sample(sb, "velum_identity", (const char *const[]){ "type", "allocated", NULL },
			  (double)alloc);
	mon_metric_sample(sb, "velum_identity", (const char *const[]){ "type", "cidr", NULL },
			  (double)cidr);
	mon_metric_header(sb, "velum_policy", "gauge", "Number of policies loaded");
	mon_metric_sample(sb, "velum_policy", NULL, (double)npol);
	mon_metric_header(sb, "velum_policy_max_revision", "gauge",
			  "Highest policy revision (grows with every change)");
	mon_metric_sample(sb, "velum_policy_max_revision", NULL, (double)a->revision);

	mon_metric_header(sb, "velum_drop_count_total", "counter",
			  "Packets dropped by the datapath, by reason and direction");
	for (dir = 0; dir < 2; dir++)
		for (code = 1; code < VELUM_METRICS_PER_DIR; code++) {
			__u64 p, b;

			if (dp_metrics_read(a->dp, dir, code, &p, &b) || !p)
				continue;
			mon_metric_sample(sb, "velum_drop_count_total",
					  (const char *const[]){
						  "reason", mon_drop_reason_name(code), "direction",
						  dir ? "EGRESS" : "INGRESS", NULL },
					  (double)p);
		}
	mon_metric_header(sb, "velum_drop_bytes_total", "counter",
			  "Bytes dropped by the datapath, by reason and direction");
	for (dir = 0; dir < 2; dir++)
		for (code = 1; code < VELUM_METRICS_PER_DIR; code++) {
			__u64 p, b;

			if (dp_metrics_read(a->dp, dir, code, &p, &b) || !p)
				continue;
			mon_metric_sample(sb, "velum_drop_bytes_total",
					  (const char *const[]){
						  "reason", mon_drop_reason_name(code), "direction",
						  dir ? "EGRESS" : "INGRESS", NULL },
					  (double)b);
		}
	mon_metric_header(sb, "velum_forward_count_total", "counter",
			  "Packets forwarded by the datapath, by direction");
	for (dir = 0; dir < 2; dir++) {
		__u64 p = 0, b = 0;

		dp_metrics_read(a->dp, dir, 0, &p, &b);
		mon_metric_sample(
			sb, "velum_forward_count_total",
			(const char *const[]){ "direction", dir ? "EGRESS" : "INGRESS", NULL },
			(double)p);
	}
	mon_metric_header(sb, "velum_forward_bytes_total", "counter",
			  "Bytes forwarded by the datapath, by direction");
	for (dir = 0; dir < 2; dir++) {
		__u64 p = 0, b = 0;

		dp_metrics_read(a->dp, dir, 0, &p, &b);
		mon_metric_sample(
			sb, "velum_forward_bytes_total",
			(const char *const[]){ "direction", dir ? "EGRESS" : "INGRESS", NULL },
			(double)b);
	}
	mon_metric_header(sb, "velum_endpoint_regeneration_time_stats_seconds", "histogram",
			  "Time from a change to its policy maps swapped in the kernel");
	mon_hist_format(sb, "velum_endpoint_regeneration_time_stats_seconds",
			(const char *const[]){ "scope", "total", NULL }, &a->regen_hist);
	mon_metric_header(sb, "velum_endpoint_regenerations_total", "counter",
			  "Changes regenerated, by outcome");
	mon_metric_sample(sb, "velum_endpoint_regenerations_total",
			  (const char *const[]){ "outcome", "success", NULL },
			  (double)(a->regen_total - a->regen_failed));
	mon_metric_sample(sb, "velum_endpoint_regenerations_total",
			  (const char *const[]){ "outcome", "fail", NULL },
			  (double)a->regen_failed);
	mon_metric_header(sb, "velum_policy_import_to_enforced_seconds", "histogram",
			  "Time from a policy import request to its enforcement in the kernel");
	mon_hist_format(sb, "velum_policy_import_to_enforced_seconds", NULL, &a->import_hist);
	pthread_mutex_unlock(&a->lock);

	pthread_mutex_lock(&a->flow_lock);
	memcpy(verdicts, a->verdicts, sizeof(verdicts));
	events = a->events_total;
	l7_events = a->l7_events;
	l7_bad = a->l7_malformed;
	pthread_mutex_unlock(&a->flow_lock);
	mon_metric_header(sb, "velum_policy_verdict_total", "counter",
			  "Policy verdict events (first packet of each flow; denials "
			  "rate-limited per flow), by verdict, match type and direction");
	for (int v = 1; v < 5; v++)
		for (int m = 0; m < 7; m++)
			for (dir = 0; dir < 2; dir++) {
				if (!verdicts[v][m][dir])
					continue;
				mon_metric_sample(sb, "velum_policy_verdict_total",
						  (const char *const[]){
							  "verdict", vnames[v], "match",
							  mon_match_name((uint8_t)m), "direction",
							  dir ? "egress" : "ingress", NULL },
						  (double)verdicts[v][m][dir]);
			}
	mon_metric_header(sb, "velum_flow_events_total", "counter",
			  "Datapath events read from the ring buffer");
	mon_metric_sample(sb, "velum_flow_events_total", NULL, (double)events);
	if (a->proxy) {
		mon_metric_header(sb, "velum_proxy_access_events_total", "counter",
				  "Access events read from velum-proxy's events socket, by outcome "
				  "(malformed ones are dropped)");
		mon_metric_sample(sb, "velum_proxy_access_events_total",
				  (const char *const[]){ "outcome", "accepted", NULL },
				  (double)l7_events);
		mon_metric_sample(sb, "velum_proxy_access_events_total",
				  (const char *const[]){ "outcome", "malformed", NULL },
				  (double)l7_bad);
		sockmap_metrics(a, sb);
		/* the proxy's own metrics; a proxy down or stuck says so in velum_proxy_up */
		agent_proxy_metrics(a->proxy, PROXY_SCRAPE_TIMEOUT_MS, sb);
	}
	agent_metrics_more(a, sb);
}

static enum MHD_Result on_metrics(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct agent_http *h = cls;
	struct strbuf sb = STRBUF_INIT;
	size_t len;

	(void)version;
	(void)upload;
	(void)upload_size;
	(void)con_cls;
	if (strcmp(method, "GET") || strcmp(url, "/metrics"))
		return agent_api_send_buf(c, 404, strdup("not found; try /metrics\n"), 25,
					  "text/plain");
	metrics_text(h->a, &sb);
	if (sb.oom) {
		strbuf_free(&sb);
		return agent_api_send_buf(c, 500, NULL, 0, "text/plain");
	}
	len = sb.len;
	return agent_api_send_buf(c, 200, strbuf_detach(&sb), len,
				  "text/plain; version=0.0.4; charset=utf-8");
}

static int parse_addr(const char *s, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	char *end;
	long port;

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -EINVAL;
	snprintf(host, sizeof(host), "%.*s", (int)(colon - s), s);
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 0 || port > 65535)
		return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return -EINVAL;
	return 0;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	pr_debug("velumd: http: %s", buf);
}

struct agent_http *agent_http_start(struct agent *a, int api_fd, struct errbuf *eb)
{
	struct agent_http *h = calloc(1, sizeof(*h));
	/* connections come from the front door (api_front.c), not from a listen socket */
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			 MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC | MHD_USE_POLL;

	if (!h)
		return NULL;
	h->a = a;
	snprintf(h->metrics_addr, sizeof(h->metrics_addr), "off");
	h->api = MHD_start_daemon(flags, 0, NULL, NULL, on_api, h, MHD_OPTION_URI_LOG_CALLBACK,
				  on_uri, h, MHD_OPTION_NOTIFY_COMPLETED, on_done, h,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)API_CONNECTIONS,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)API_IDLE_S,
				  MHD_OPTION_THREAD_STACK_SIZE, (size_t)(512 * 1024),
				  MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
	if (h->api)
		h->front = agent_front__start(api_fd, h->api, API_CONNECTIONS);
	if (!h->front) {
		errbuf_set(eb, -EIO, "cannot start the API server on %s", a->o.socket_path);
		if (h->api)
			MHD_stop_daemon(h->api);
		free(h);
		return NULL;
	}
	if (a->o.metrics && strcmp(a->o.metrics, "off")) {
		struct sockaddr_in sa;
		const union MHD_DaemonInfo *di;

		if (parse_addr(a->o.metrics, &sa)) {
			errbuf_set(eb, -EINVAL, "--metrics '%s': expected ADDR:PORT (IPv4) or off",
				   a->o.metrics);
			agent_http_stop(h);
			return NULL;
		}
		h->metrics = MHD_start_daemon(
			MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_AUTO, 0, NULL,
			NULL, on_metrics, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
			MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
		if (!h->metrics) {
			errbuf_set(eb, -EINVAL, "cannot serve metrics on %s (port in use?)",
				   a->o.metrics);
			agent_http_stop(h);
			return NULL;
		}
		di = MHD_get_daemon_info(h->metrics, MHD_DAEMON_INFO_BIND_PORT);
		snprintf(h->metrics_addr, sizeof(h->metrics_addr), "%s:%u", inet_ntoa(sa.sin_addr),
			 di ? di->port : ntohs(sa.sin_port));
	}
	return h;
}

void agent_http_stop(struct agent_http *h)
{
	if (!h)
		return;
	agent_front__stop(h->front);
	if (h->api)
		MHD_stop_daemon(h->api);
	if (h->metrics)
		MHD_stop_daemon(h->metrics);
	free(h);
}

const char *agent_http_metrics_addr(const struct agent_http *h)
{
	return h->metrics_addr;
}
