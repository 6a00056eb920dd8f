/* SPDX-License-Identifier: Apache-2.0 */
/*
 * velumd's REST API (docs/api.md) over libmicrohttpd on a unix socket, and
 * the Prometheus metrics endpoint on a loopback TCP port. Thread per
 * connection: a handler may block (the flow stream waits for new flows);
 * every handler that touches agent state holds a->lock for the duration.
 * Only root may talk to the API: the socket is 0600 and each connection's
 * peer credentials are checked.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/podman.h"
#include "agent/proxy.h"
#include "lib/log.h"
#include "lib/strbuf.h"
#include "policy/trace.h"
#include "velum/drop.h"
#include "velum/events.h"

/*
 * Connections: a client that sends nothing for API_IDLE_S seconds (a
 * partial request, a dead peer) is closed; streams of `observe --follow`
 * send a keep-alive every 5 s and may hold at most API_FOLLOWERS of the
 * API_CONNECTIONS, so commands always find a free one.
 */
#define API_CONNECTIONS 512
#define API_FOLLOWERS	256
#define API_IDLE_S	10

struct agent_http {
	struct agent *a;
	struct MHD_Daemon *api, *metrics;
	char metrics_addr[64];
	atomic_int followers;
};

struct req {
	struct strbuf body;
	bool too_big;
	bool started; /* the headers were seen */
	bool nul;     /* the path escapes a NUL byte (%00) */
};

/* ---- responses --------------------------------------------------------------------- */

static enum MHD_Result send_buf(struct MHD_Connection *c, unsigned status, char *buf, size_t len,
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
	ret = MHD_queue_response(c, status, r);
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
		return send_buf(c, 500, NULL, 0, "application/json");
	len = strlen(s);
	s = realloc(s, len + 2) ?: s;
	s[len] = '\n';
	s[len + 1] = '\0';
	return send_buf(c, status, s, len + 1, "application/json");
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
	return send_json(c, status, json_pack("{s:s}", "error", msg));
}

static enum MHD_Result send_err(struct MHD_Connection *c, int err, const struct errbuf *eb)
{
	char msg[ERRBUF_SIZE + 64];

	if (eb && eb->msg[0])
		snprintf(msg, sizeof(msg), "%s", eb->msg);
	else
		snprintf(msg, sizeof(msg), "%s", strerror(-err));
	return send_error(c, (unsigned)agent_err_status(err), msg);
}

/* ---- objects ------------------------------------------------------------------------- */

static json_t *labels_json(const struct pol_labels *ls)
{
	json_t *arr = json_array();
	struct strbuf sb = STRBUF_INIT;
	size_t i;

	for (i = 0; ls && arr && i < ls->n; i++) {
		strbuf_reset(&sb);
		pol_label_format(&ls->v[i], &sb);
		json_array_append_new(arr, json_string(strbuf_str(&sb)));
	}
	strbuf_free(&sb);
	return arr;
}

static const char *dir_state(const struct pol_mapstate *ms, int d)
{
	if (!ms || !ms->enforced[d])
		return "disabled";
	return ms->audit[d] ? "audit" : "enforced";
}

static json_t *endpoint_json(struct agent *a, const struct model_ep *ep)
{
	const struct pol_mapstate *ms = pol_engine_endpoint_state(model_engine(a->m), ep->id);
	const struct id_entry *ie = id_alloc_get(model_ids(a->m), ep->identity);
	struct agent_epx *x = agent_epx(a, ep->id);
	char ip[INET_ADDRSTRLEN] = "";
	json_t *j;

	if (ep->nips)
		inet_ntop(AF_INET, &ep->ips[0], ip, sizeof(ip));
	j = json_pack("{s:i, s:s, s:s, s:o, s:I, s:o, s:s, s:s?, s:s?, s:o, s:b, s:{s:s, s:s}, "
		      "s:s, s:s?}",
		      "id", (int)ep->id, "name", ep->name, "namespace", ep->ns, "labels",
		      agent_user_labels_json(ep), "identity", (json_int_t)ep->identity,
		      "identity_labels", labels_json(ie ? &ie->labels : &ep->labels), "ipv4", ip,
		      "netns", x ? x->netns : NULL, "host_ifname",
		      x && x->host_ifname[0] ? x->host_ifname : NULL, "ports", agent_ports_json(ep),
		      "audit", ep->audit, "policy", "ingress", dir_state(ms, POL_INGRESS), "egress",
		      dir_state(ms, POL_EGRESS), "state", x && x->error ? "error" : "ready",
		      "created", x && x->created[0] ? x->created : NULL);
	if (j && x && x->error)
		json_object_set_new(j, "error", json_string(x->error));
	if (j) {
		json_object_set_new(j, "ifname", json_string(x && x->ifname ? x->ifname : "eth0"));
		json_object_set_new(j, "gateway", json_string(DP_GATEWAY));
		json_object_set_new(j, "container_id",
				    x && x->container_id ? json_string(x->container_id) :
							   json_null());
	}
	return j;
}

static const char *cidr_of(const struct id_entry *ie, char *buf, size_t len)
{
	size_t i;

	if (ie->has_cidr)
		return pol_prefix_format(&ie->cidr, buf, len);
	for (i = 0; i < ie->labels.n; i++)
		if (!strcmp(ie->labels.v[i].source, POL_SOURCE_CIDR)) {
			snprintf(buf, len, "%s", ie->labels.v[i].key);
			return buf;
		}
	return NULL;
}

static json_t *identity_json(struct agent *a, const struct id_entry *ie)
{
	const struct model_ep *const *eps;
	size_t n = model_endpoints(a->m, &eps), i;
	json_t *names = json_array();
	char cidr[64];

	for (i = 0; names && i < n; i++)
		if (eps[i]->identity == ie->id)
			json_array_append_new(names, json_string(eps[i]->name));
	return json_pack("{s:I, s:o, s:b, s:s?, s:s?, s:o}", "id", (json_int_t)ie->id, "labels",
			 labels_json(&ie->labels), "reserved", ie->reserved, "name",
			 id_reserved_name(ie->id), "cidr", cidr_of(ie, cidr, sizeof(cidr)),
			 "endpoints", names);
}

struct pol_ctx {
	struct agent *a;
	json_t *arr;
	char *const *only; /* "Kind\tns\tname" keys, or NULL for all */
	size_t nonly;
};

static int policy_row(void *ctx, const struct agent_store_policy *row)
{
	struct pol_ctx *c = ctx;
	const struct pol_policy *const *ps;
	const struct pol_policy *p = NULL;
	size_t n = pol_engine_policies(model_engine(c->a->m), &ps), i;
	json_t *j;

	if (c->only) {
		char key[1024];
		bool want = false;

		snprintf(key, sizeof(key), "%s\t%s\t%s", row->kind, row->ns, row->name);
		for (i = 0; i < c->nonly && !want; i++)
			want = c->only[i] && !strcmp(c->only[i], key);
		if (!want)
			return 0;
	}
	for (i = 0; i < n && !p; i++)
		if (!strcmp(pol_kind_name(ps[i]->kind), row->kind) &&
		    !strcmp(ps[i]->name, row->name) &&
		    !strcmp(ps[i]->namespace ? ps[i]->namespace : "", row->ns))
			p = ps[i];
	j = json_pack("{s:s, s:s?, s:s, s:s, s:b, s:i, s:I, s:s, s:s%}", "kind", row->kind,
		      "namespace", *row->ns ? row->ns : NULL, "name", row->name, "file",
		      row->file_name, "audit", p ? p->audit : row->audit, "rules",
		      p ? (int)p->nrules : 0, "first_rule_id",
		      (json_int_t)(p ? p->first_rule_id : row->first_rule_id), "imported",
		      row->imported, "source", row->content, row->content_len);
	if (!j)
		return -ENOMEM;
	if (p && p->rules && p->nrules && p->rules[0].description)
		json_object_set_new(j, "description", json_string(p->rules[0].description));
	return json_array_append_new(c->arr, j) ? -ENOMEM : 0;
}

static json_t *policies_json(struct agent *a, char *const *only, size_t nonly, struct errbuf *eb)
{
	struct pol_ctx c = { a, json_array(), only, nonly };

	if (!c.arr || agent_store_policy_foreach(a->st, policy_row, &c, eb)) {
		json_decref(c.arr);
		return NULL;
	}
	return c.arr;
}

/* ---- handlers ----------------------------------------------------------------------- */

/*
 * The proxy's part of the status: {"enabled": false}, or the supervisor's
 * view plus "redirects", the policy entries (over all endpoints) that send
 * flows to it. Takes a->lock.
 */
static json_t *proxy_status(struct agent *a)
{
	const struct model_ep *const *eps;
	json_t *j;
	size_t nep, i, k, redirects = 0;

	if (!a->proxy)
		return json_pack("{s:b}", "enabled", 0);
	j = agent_proxy_status(a->proxy);
	if (!j)
		return NULL;
	pthread_mutex_lock(&a->lock);
	nep = model_endpoints(a->m, &eps);
	for (i = 0; i < nep; i++) {
		const struct pol_mapstate *ms =
			pol_engine_endpoint_state(model_engine(a->m), eps[i]->id);

		for (k = 0; ms && k < ms->n; k++)
			redirects += ms->entries[k].val.verdict == VELUM_VERDICT_REDIRECT;
	}
	pthread_mutex_unlock(&a->lock);
	json_object_set_new(j, "enabled", json_true());
	json_object_set_new(j, "redirects", json_integer((json_int_t)redirects));
	return j;
}

static enum MHD_Result h_status(struct agent_http *h, struct MHD_Connection *c)
{
	struct agent *a = h->a;
	const struct id_entry **ids;
	const struct model_ep *const *eps;
	const struct pol_policy *const *ps;
	char started[40];
	time_t t = (time_t)(a->started_ns / 1000000000);
	struct tm tm;
	long nid;
	size_t nep, npol, nerr = 0, i;
	json_t *j;

	gmtime_r(&t, &tm);
	strftime(started, sizeof(started), "%Y-%m-%dT%H:%M:%SZ", &tm);
	pthread_mutex_lock(&a->lock);
	nep = model_endpoints(a->m, &eps);
	npol = pol_engine_policies(model_engine(a->m), &ps);
	nid = id_alloc_list(model_ids(a->m), &ids);
	if (nid >= 0)
		free(ids);
	for (i = 0; i < a->epx.n; i++)
		nerr += a->epx.v[i].error != NULL;
	j = json_pack("{s:{s:s, s:i, s:s, s:s, s:s}, s:{s:s, s:s, s:s, s:i, s:i, s:i}, "
		      "s:{s:s, s:i, s:I}, s:{s:i, s:i, s:i}, s:s}",
		      "agent", "version", AGENT_VERSION, "pid", (int)getpid(), "started", started,
		      "state_dir", a->o.state_dir, "socket", a->o.socket_path, "datapath",
		      "pin_dir", a->pin_dir, "programs", "attached", "host_routing",
		      dp_routing_legacy(a->dp) ? "legacy" : "bpf", "endpoints", (int)nep,
		      "endpoints_failed", (int)nerr, "ct_entries", dp_ct_count(a->dp), "store",
		      "path", agent_store_path(a->st), "schema", AGENT_STORE_SCHEMA, "revision",
		      (json_int_t)a->revision, "counts", "endpoints", (int)nep, "identities",
		      (int)(nid < 0 ? 0 : nid), "policies", (int)npol, "metrics", h->metrics_addr);
	pthread_mutex_unlock(&a->lock);
	if (j) {
		pthread_mutex_lock(&a->flow_lock);
		json_object_set_new(j, "proxy", proxy_status(a));
		json_object_set_new(j, "flows",
				    json_pack("{s:I, s:I, s:I}", "current", (json_int_t)a->ring.n,
					      "max", (json_int_t)a->ring.cap, "seen",
					      (json_int_t)a->events_total));
		pthread_mutex_unlock(&a->flow_lock);
	}
	return send_json(c, 200, j);
}

static enum MHD_Result h_endpoints_list(struct agent_http *h, struct MHD_Connection *c)
{
	struct agent *a = h->a;
	const struct model_ep *const *eps;
	json_t *arr = json_array();
	size_t n, i;

	pthread_mutex_lock(&a->lock);
	n = model_endpoints(a->m, &eps);
	for (i = 0; arr && i < n; i++)
		if (json_array_append_new(arr, endpoint_json(a, eps[i]))) {
			json_decref(arr);
			arr = NULL;
		}
	pthread_mutex_unlock(&a->lock);
	return send_json(c, 200, arr);
}

static enum MHD_Result h_endpoint_create(struct agent_http *h, struct MHD_Connection *c,
					 json_t *body)
{
	struct agent *a = h->a;
	struct agent_ep_req r = { 0 };
	const struct model_ep *ep;
	struct pol_named_port *ports = NULL;
	struct agent_podman_job *job = NULL;
	const char **labels = NULL, *ipv4 = NULL;
	struct errbuf eb;
	json_t *lj = NULL, *pj = NULL, *rj = NULL, *out;
	int audit = 0, err;

	errbuf_clear(&eb);
	if (json_unpack_ex(body, NULL, JSON_STRICT,
			   "{s:s, s?:s, s?:o, s?:o, s?:b, s?:s, s?:s, s?:s, s?:s, s?:o}", "name",
			   &r.name, "namespace", &r.ns, "labels", &lj, "ports", &pj, "audit",
			   &audit, "netns", &r.netns, "ifname", &r.ifname, "ipv4", &ipv4,
			   "container_id", &r.container_id, "runtime", &rj))
		return send_error(c, 400,
				  "expected {\"name\": string, \"namespace\"?: string, "
				  "\"labels\"?: [string], \"ports\"?: [...], \"audit\"?: bool, "
				  "\"netns\"?: string, \"ifname\"?: string, \"ipv4\"?: string, "
				  "\"container_id\"?: string, \"runtime\"?: {...}}");
	err = lj ? agent_labels_from_json(lj, &labels, &r.nlabels, &eb) : 0;
	if (!err && pj)
		err = agent_ports_from_json(pj, &ports, &r.nports, &eb);
	if (!err)
		err = agent_cni_req_check(&r, ipv4, &eb);
	if (!err)
		err = agent_podman_job_parse(rj, r.container_id, &job, &eb);
	if (err) {
		free(labels);
		free(ports);
		return send_err(c, err, &eb);
	}
	r.labels = labels;
	r.ports = ports;
	r.audit = audit;
	pthread_mutex_lock(&a->lock);
	err = agent_endpoint_create(a, &r, &ep, &eb);
	out = err ? NULL : endpoint_json(a, ep);
	if (out)
		json_object_set_new(out, "revision", json_integer((json_int_t)a->revision));
	/* the worker asks podman only after this answer released the runtime */
	if (!err)
		agent_podman_submit(a->podman, job, ep->name);
	else
		agent_podman_job__free(job);
	pthread_mutex_unlock(&a->lock);
	free(labels);
	free(ports);
	if (err)
		return send_err(c, err, &eb);
	return send_json(c, 201, out);
}

static enum MHD_Result h_endpoint_get(struct agent_http *h, struct MHD_Connection *c,
				      const char *name)
{
	struct agent *a = h->a;
	const struct model_ep *ep;
	json_t *j = NULL;
	char msg[768];

	pthread_mutex_lock(&a->lock);
	ep = model_endpoint(a->m, name);
	if (ep)
		j = endpoint_json(a, ep);
	pthread_mutex_unlock(&a->lock);
	if (!ep) {
		snprintf(msg, sizeof(msg), "no endpoint '%s'", name);
		return send_error(c, 404, msg);
	}
	return send_json(c, 200, j);
}

static enum MHD_Result h_endpoint_patch(struct agent_http *h, struct MHD_Connection *c,
					const char *name, json_t *body)
{
	struct agent *a = h->a;
	const char **labels = NULL;
	size_t nlabels = 0;
	json_t *lj = NULL, *aj = NULL, *out = NULL;
	struct errbuf eb;
	int err = 0, audit = -1;

	errbuf_clear(&eb);
	if (json_unpack_ex(body, NULL, JSON_STRICT, "{s?:o, s?:o}", "labels", &lj, "audit", &aj) ||
	    (aj && !json_is_boolean(aj)))
		return send_error(c, 400, "expected {\"labels\"?: [string], \"audit\"?: bool}");
	if (aj)
		audit = json_is_true(aj);
	if (lj)
		err = agent_labels_from_json(lj, &labels, &nlabels, &eb);
	if (err)
		return send_err(c, err, &eb);
	pthread_mutex_lock(&a->lock);
	err = agent_endpoint_update(a, name, lj ? labels : NULL, nlabels, audit, &eb);
	if (!err) {
		const struct model_ep *ep = model_endpoint(a->m, name);

		out = ep ? endpoint_json(a, ep) : NULL;
		if (out)
			json_object_set_new(out, "revision", json_integer((json_int_t)a->revision));
	}
	pthread_mutex_unlock(&a->lock);
	free(labels);
	if (err)
		return send_err(c, err, &eb);
	return send_json(c, 200, out);
}

static enum MHD_Result h_endpoint_delete(struct agent_http *h, struct MHD_Connection *c,
					 const char *name)
{
	struct agent *a = h->a;
	struct errbuf eb;
	uint64_t rev;
	int err;

	errbuf_clear(&eb);
	pthread_mutex_lock(&a->lock);
	err = agent_endpoint_delete(a, name, &eb);
	rev = a->revision;
	pthread_mutex_unlock(&a->lock);
	if (err)
		return send_err(c, err, &eb);
	return send_json(c, 200, json_pack("{s:I}", "revision", (json_int_t)rev));
}

static void port_text(const struct velum_policy_key *k, char *buf, size_t len)
{
	unsigned pp = k->prefixlen - VELUM_POLICY_PREFIX_FIXED, port = ntohs(k->dport);
	const char *proto = mon_proto_name(k->protocol);

	if (pp == 0)
		snprintf(buf, len, "ANY");
	else if (pp == 8)
		snprintf(buf, len, "%s/ANY", proto);
	else if (k->protocol == IPPROTO_ICMP)
		snprintf(buf, len, "%s/type=%u", proto, port);
	else if (pp >= 24)
		snprintf(buf, len, "%s/%u", proto, port);
	else
		snprintf(buf, len, "%s/%u-%u", proto, port, port + (1u << (24 - pp)) - 1);
}

static enum MHD_Result h_bpf_policy(struct agent_http *h, struct MHD_Connection *c,
				    const char *name)
{
	struct agent *a = h->a;
	struct velum_policy_key *keys = NULL;
	struct velum_policy_value *vals = NULL;
	const struct model_ep *ep;
	struct strbuf sb = STRBUF_INIT;
	json_t *arr = NULL, *j = NULL;
	size_t n = 0, i;
	char msg[768];
	int err;

	pthread_mutex_lock(&a->lock);
	ep = model_endpoint(a->m, name);
	if (!ep) {
		pthread_mutex_unlock(&a->lock);
		snprintf(msg, sizeof(msg), "no endpoint '%s'", name);
		return send_error(c, 404, msg);
	}
	err = dp_policy_read(a->dp, ep->id, &keys, &vals, &n);
	if (err) {
		pthread_mutex_unlock(&a->lock);
		snprintf(msg, sizeof(msg), "endpoint %s: reading its policy map: %s", name,
			 strerror(-err));
		return send_error(c, 500, msg);
	}
	arr = json_array();
	for (i = 0; arr && i < n; i++) {
		uint32_t peer = ntohl(keys[i].identity);
		const struct pol_labels *ls =
			peer ? pol_engine_identity_labels(model_engine(a->m), peer) : NULL;
		char port[48];

		port_text(&keys[i], port, sizeof(port));
		strbuf_reset(&sb);
		pol_engine_rule_name(model_engine(a->m), vals[i].rule_id, &sb);
		json_array_append_new(
			arr,
			json_pack("{s:s, s:s, s:b, s:{s:I, s:o}, s:s, s:i, s:i, s:{s:I, s:s}}",
				  "direction", keys[i].egress ? "egress" : "ingress", "verdict",
				  pol_verdict_name(vals[i].verdict), "audit",
				  (vals[i].flags & VELUM_POLICY_F_AUDIT) ||
					  vals[i].verdict == VELUM_VERDICT_AUDIT,
				  "peer", "identity", (json_int_t)peer, "labels",
				  peer ? labels_json(ls) : json_pack("[s]", "reserved:unknown"),
				  "port", port, "proxy_port", (int)ntohs(vals[i].proxy_port),
				  "prefix", (int)(keys[i].prefixlen - VELUM_POLICY_PREFIX_FIXED),
				  "rule", "id", (json_int_t)vals[i].rule_id, "ref",
				  strbuf_str(&sb)));
	}
	j = json_pack("{s:s, s:i, s:o}", "endpoint", ep->name, "id", (int)ep->id, "entries", arr);
	pthread_mutex_unlock(&a->lock);
	strbuf_free(&sb);
	free(keys);
	free(vals);
	return send_json(c, 200, j);
}

static void mac_text(const __u8 *m, char buf[18])
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static int lxc_by_id(const void *a, const void *b)
{
	const struct dp_lxc_entry *x = a, *y = b;

	return (x->val.ep_id > y->val.ep_id) - (x->val.ep_id < y->val.ep_id);
}

/* BPF host routing's targets as the kernel holds them (velum_lxc), by endpoint id. */
static enum MHD_Result h_bpf_endpoints(struct agent_http *h, struct MHD_Connection *c)
{
	struct agent *a = h->a;
	struct dp_lxc_entry *v = NULL;
	json_t *arr, *j;
	size_t n = 0, i;
	char msg[128];
	int err;

	pthread_mutex_lock(&a->lock);
	err = dp_lxc_list(a->dp, &v, &n);
	if (err) {
		pthread_mutex_unlock(&a->lock);
		snprintf(msg, sizeof(msg), "reading velum_lxc: %s", strerror(-err));
		return send_error(c, 500, msg);
	}
	if (n)
		qsort(v, n, sizeof(*v), lxc_by_id);
	arr = json_array();
	for (i = 0; arr && i < n; i++) {
		const struct model_ep *ep = model_endpoint_by_id(a->m, v[i].val.ep_id);
		char ip[INET_ADDRSTRLEN], mac[18], host_mac[18];

		inet_ntop(AF_INET, &v[i].addr, ip, sizeof(ip));
		mac_text(v[i].val.eth, mac);
		mac_text(v[i].val.eth + 6, host_mac);
		json_array_append_new(
			arr,
			json_pack("{s:s, s:I, s:s?, s:I, s:I, s:s, s:s}", "address", ip, "id",
				  (json_int_t)v[i].val.ep_id, "name", ep ? ep->name : NULL,
				  "identity", (json_int_t)v[i].val.identity, "ifindex",
				  (json_int_t)v[i].val.ifindex, "mac", mac, "host_mac", host_mac));
	}
	j = json_pack("{s:s, s:o}", "host_routing", dp_routing_legacy(a->dp) ? "legacy" : "bpf",
		      "endpoints", arr);
	pthread_mutex_unlock(&a->lock);
	free(v);
	return send_json(c, 200, j);
}

/* The conntrack table as the kernel holds it: live entries, by expiry. */
static int ct_by_expiry(const void *a, const void *b)
{
	const struct dp_ct_record *x = a, *y = b;

	return (x->val.expires_ns > y->val.expires_ns) - (x->val.expires_ns < y->val.expires_ns);
}

static const char *ct_state_name(unsigned int st)
{
	static const char *const names[] = { "new", "established", "closing", "closed" };

	return st < 4 ? names[st] : "?";
}

static enum MHD_Result h_bpf_ct(struct agent_http *h, struct MHD_Connection *c)
{
	struct agent *a = h->a;
	struct dp_ct_record *v = NULL;
	struct strbuf sb = STRBUF_INIT;
	struct timespec ts;
	json_t *arr, *j;
	size_t n = 0, i;
	__u64 now;
	char msg[128];
	int err;

	pthread_mutex_lock(&a->lock);
	err = dp_ct_list(a->dp, &v, &n);
	if (err) {
		pthread_mutex_unlock(&a->lock);
		snprintf(msg, sizeof(msg), "reading velum_ct: %s", strerror(-err));
		return send_error(c, 500, msg);
	}
	if (n)
		qsort(v, n, sizeof(*v), ct_by_expiry);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
	arr = json_array();
	for (i = 0; arr && i < n; i++) {
		const struct velum_ct_key *k = &v[i].key;
		const struct velum_ct_entry *e = &v[i].val;
		char src[32], dst[32], ip[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &k->saddr, ip, sizeof(ip));
		snprintf(src, sizeof(src), "%s:%u", ip, ntohs(k->sport));
		inet_ntop(AF_INET, &k->daddr, ip, sizeof(ip));
		snprintf(dst, sizeof(dst), "%s:%u", ip, ntohs(k->dport));
		strbuf_reset(&sb);
		pol_engine_rule_name(model_engine(a->m), e->rule_id, &sb);
		json_array_append_new(
			arr, json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:{s:I, s:s}, s:i, s:I}",
				       "protocol", pol_proto_name(k->protocol), "direction",
				       k->dir == VELUM_DIR_EGRESS ? "egress" : "ingress", "source",
				       src, "destination", dst, "state", ct_state_name(e->state),
				       "peer_identity", (json_int_t)e->peer_identity, "rule", "id",
				       (json_int_t)e->rule_id, "ref", strbuf_str(&sb), "proxy_port",
				       (int)ntohs(e->proxy_port), "expires_in",
				       (json_int_t)((e->expires_ns - now + 999999999ull) /
						    1000000000ull)));
	}
	j = json_pack("{s:o}", "entries", arr);
	pthread_mutex_unlock(&a->lock);
	strbuf_free(&sb);
	free(v);
	return send_json(c, 200, j);
}

/* The ipcache as the kernel holds it: prefix -> identity (and local endpoint). */
static enum MHD_Result h_bpf_ipcache(struct agent_http *h, struct MHD_Connection *c)
{
	struct agent *a = h->a;
	struct dp_ipcache_entry *v = NULL;
	json_t *arr, *j;
	size_t n = 0, i;
	char msg[128];
	int err;

	pthread_mutex_lock(&a->lock);
	err = dp_ipcache_list(a->dp, &v, &n);
	if (err) {
		pthread_mutex_unlock(&a->lock);
		snprintf(msg, sizeof(msg), "reading velum_ipcache: %s", strerror(-err));
		return send_error(c, 500, msg);
	}
	arr = json_array();
	for (i = 0; arr && i < n; i++) {
		const struct model_ep *ep = v[i].val.flags & VELUM_IPCACHE_F_LOCAL_EP ?
						    model_endpoint_by_id(a->m, v[i].val.ep_id) :
						    NULL;
		const struct pol_labels *ls =
			pol_engine_identity_labels(model_engine(a->m), v[i].val.identity);
		char ip[INET_ADDRSTRLEN], prefix[INET_ADDRSTRLEN + 4];

		inet_ntop(AF_INET, &v[i].key.addr, ip, sizeof(ip));
		snprintf(prefix, sizeof(prefix), "%s/%u", ip, v[i].key.prefixlen);
		json_array_append_new(arr,
				      json_pack("{s:s, s:I, s:o, s:s?}", "prefix", prefix,
						"identity", (json_int_t)v[i].val.identity, "labels",
						labels_json(ls), "endpoint", ep ? ep->name : NULL));
	}
	j = json_pack("{s:o}", "entries", arr);
	pthread_mutex_unlock(&a->lock);
	free(v);
	return send_json(c, 200, j);
}

static enum MHD_Result h_identities(struct agent_http *h, struct MHD_Connection *c,
				    const char *idstr)
{
	struct agent *a = h->a;
	const struct id_entry **all;
	json_t *out = NULL;
	long n, i;
	char *end, msg[128];
	unsigned long want = 0;

	if (idstr) {
		errno = 0;
		want = strtoul(idstr, &end, 10);
		if (errno || *end || !*idstr) {
			snprintf(msg, sizeof(msg), "'%s' is not an identity number", idstr);
			return send_error(c, 400, msg);
		}
	}
	pthread_mutex_lock(&a->lock);
	n = id_alloc_list(model_ids(a->m), &all);
	if (n >= 0) {
		out = idstr ? NULL : json_array();
		for (i = 0; i < n; i++) {
			if (idstr && all[i]->id == want)
				out = identity_json(a, all[i]);
			else if (!idstr && out)
				json_array_append_new(out, identity_json(a, all[i]));
		}
		free(all);
	}
	pthread_mutex_unlock(&a->lock);
	if (idstr && !out) {
		snprintf(msg, sizeof(msg), "no identity %lu", want);
		return send_error(c, 404, msg);
	}
	return send_json(c, 200, out);
}

static enum MHD_Result h_policies_get(struct agent_http *h, struct MHD_Connection *c)
{
	struct agent *a = h->a;
	struct errbuf eb;
	json_t *arr, *j = NULL;

	errbuf_clear(&eb);
	pthread_mutex_lock(&a->lock);
	arr = policies_json(a, NULL, 0, &eb);
	if (arr)
		j = json_pack("{s:I, s:o}", "revision", (json_int_t)a->revision, "policies", arr);
	pthread_mutex_unlock(&a->lock);
	if (!arr)
		return send_err(c, -EIO, &eb);
	return send_json(c, 200, j);
}

static enum MHD_Result h_policies_import(struct agent_http *h, struct MHD_Connection *c,
					 json_t *body)
{
	struct agent *a = h->a;
	struct agent_file *files = NULL;
	json_t *fj = NULL, *arr = NULL, *out = NULL, *warn;
	char **loaded = NULL, *warnings = NULL, *s, *save;
	size_t nloaded = 0, nfiles, i;
	struct errbuf eb;
	int audit = 0, err;

	errbuf_clear(&eb);
	if (json_unpack_ex(body, NULL, JSON_STRICT, "{s:o, s?:b}", "files", &fj, "audit", &audit) ||
	    !json_is_array(fj) || !json_array_size(fj))
		return send_error(c, 400,
				  "expected {\"files\": [{\"name\": string, \"content\": string}], "
				  "\"audit\"?: bool}");
	nfiles = json_array_size(fj);
	files = calloc(nfiles, sizeof(*files));
	if (!files)
		return send_error(c, 500, "out of memory");
	for (i = 0; i < nfiles; i++) {
		json_t *cj = NULL;

		if (json_unpack(json_array_get(fj, i), "{s:s, s:o}", "name", &files[i].name,
				"content", &cj) ||
		    !json_is_string(cj)) {
			free(files);
			return send_error(c, 400,
					  "files[]: expected {\"name\": string, \"content\": "
					  "string}");
		}
		files[i].content = json_string_value(cj);
		files[i].len = json_string_length(cj);
	}
	pthread_mutex_lock(&a->lock);
	err = agent_policy_import(a, files, nfiles, audit, &loaded, &nloaded, &warnings, &eb);
	if (!err) {
		arr = policies_json(a, loaded, nloaded, &eb);
		out = json_pack("{s:I, s:o, s:[]}", "revision", (json_int_t)a->revision, "policies",
				arr ? arr : json_array(), "warnings");
	}
	pthread_mutex_unlock(&a->lock);
	warn = out ? json_object_get(out, "warnings") : NULL;
	for (s = warnings ? strtok_r(warnings, "\n", &save) : NULL; s && warn;
	     s = strtok_r(NULL, "\n", &save))
		json_array_append_new(warn, json_string(s));
	for (i = 0; i < nloaded; i++)
		free(loaded[i]);
	free(loaded);
	free(warnings);
	free(files);
	if (err)
		return send_err(c, err, &eb);
	return send_json(c, 200, out);
}

static enum MHD_Result h_policies_delete(struct agent_http *h, struct MHD_Connection *c)
{
	struct agent *a = h->a;
	const char *kind = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "kind");
	const char *ns = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "namespace");
	const char *name = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "name");
	const char *all = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "all");
	struct errbuf eb;
	size_t deleted = 0;
	uint64_t rev;
	int err;

	errbuf_clear(&eb);
	if (kind && !*kind)
		kind = NULL;
	if (ns && !*ns)
		ns = NULL;
	if (name && !*name)
		name = NULL;
	pthread_mutex_lock(&a->lock);
	err = agent_policy_delete(a, kind, ns, name, all && strcmp(all, "0"), &deleted, &eb);
	rev = a->revision;
	pthread_mutex_unlock(&a->lock);
	if (err)
		return send_err(c, err, &eb);
	return send_json(c, 200,
			 json_pack("{s:I, s:I}", "revision", (json_int_t)rev, "deleted",
				   (json_int_t)deleted));
}

static enum MHD_Result h_trace(struct agent_http *h, struct MHD_Connection *c, json_t *body)
{
	struct agent *a = h->a;
	const char *fmt = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "format");
	const char *from, *to, *proto = "TCP", *method = NULL, *path = NULL, *host = NULL;
	json_int_t dport = -1, icmp = -1;
	json_t *http = NULL, *headers = NULL;
	struct pol_trace_query q = { 0 };
	struct pol_trace_result r;
	struct pol_http_field hf[32];
	struct strbuf out = STRBUF_INIT;
	char sbuf[INET_ADDRSTRLEN], dbuf[INET_ADDRSTRLEN];
	struct errbuf eb;
	bool text = fmt && !strcmp(fmt, "text");
	size_t i;
	int err;

	errbuf_clear(&eb);
	if (json_unpack_ex(body, NULL, JSON_STRICT, "{s:s, s:s, s?:s, s?:I, s?:I, s?:o}", "from",
			   &from, "to", &to, "protocol", &proto, "dport", &dport, "icmp_type",
			   &icmp, "http", &http))
		return send_error(c, 400,
				  "expected {\"from\", \"to\", \"protocol\"?, \"dport\"?, "
				  "\"icmp_type\"?, \"http\"?}");
	if (http && json_unpack_ex(http, NULL, JSON_STRICT, "{s:s, s:s, s?:s, s?:o}", "method",
				   &method, "path", &path, "host", &host, "headers", &headers))
		return send_error(c, 400,
				  "http: expected {\"method\", \"path\", \"host\"?, "
				  "\"headers\"?: [\"Name: value\"]}");
	if ((dport < 0) == (icmp < 0))
		return send_error(c, 400, "give exactly one of dport and icmp_type");
	if (icmp >= 0) {
		if (icmp > 255)
			return send_error(c, 400, "icmp_type: expected 0-255");
		q.proto = IPPROTO_ICMP;
		q.dport = (uint16_t)icmp;
	} else {
		if (dport < 1 || dport > 65535)
			return send_error(c, 400, "dport: expected 1-65535");
		q.dport = (uint16_t)dport;
		if (!strcasecmp(proto, "TCP"))
			q.proto = IPPROTO_TCP;
		else if (!strcasecmp(proto, "UDP"))
			q.proto = IPPROTO_UDP;
		else if (!strcasecmp(proto, "SCTP"))
			q.proto = IPPROTO_SCTP;
		else
			return send_error(c, 400, "protocol: expected TCP, UDP or SCTP");
	}
	if (http) {
		if (q.proto != IPPROTO_TCP)
			return send_error(c, 400, "an HTTP trace needs a TCP dport");
		q.http = true;
		q.req.method = sv_from(method);
		q.req.path = sv_from(path);
		q.req.host = sv_from(host ? host : "");
		for (i = 0; headers && i < json_array_size(headers); i++) {
			const char *hs = json_string_value(json_array_get(headers, i));
			const char *colon = hs ? strchr(hs, ':') : NULL, *v;

			if (!colon || colon == hs || i >= 32)
				return send_error(
					c, 400, "http.headers: expected at most 32 'Name: value'");
			v = colon + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			hf[i].name.p = hs;
			hf[i].name.len = (size_t)(colon - hs);
			hf[i].value = sv_from(v);
		}
		q.req.headers = hf;
		q.req.nheaders = i;
	}
	pthread_mutex_lock(&a->lock);
	err = model_peer(a->m, from, &q.src, sbuf, &eb);
	if (err)
		errbuf_prefix(&eb, "from: ");
	if (!err && (err = model_peer(a->m, to, &q.dst, dbuf, &eb)))
		errbuf_prefix(&eb, "to: ");
	if (!err) {
		pol_trace_run(&q, &r);
		if (text)
			pol_trace_format_text(model_engine(a->m), &q, &r, &out);
		else
			pol_trace_format_json(model_engine(a->m), &q, &r, &out);
	}
	pthread_mutex_unlock(&a->lock);
	if (err) {
		strbuf_free(&out);
		return send_error(c, 400, eb.msg);
	}
	if (out.oom) {
		strbuf_free(&out);
		return send_buf(c, 500, NULL, 0, "application/json");
	}
	{
		size_t len = out.len;

		return send_buf(c, 200, strbuf_detach(&out), len,
				text ? "text/plain; charset=utf-8" : "application/json");
	}
}

/* ---- flows -------------------------------------------------------------------------------- */

struct flows_q {
	struct mon_filter f;
	long last;
	bool follow, utc, has_last;
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
			q->err = errbuf_set(&q->eb, "last: '%s' is not a count", value);
			return MHD_NO;
		}
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

static enum MHD_Result h_flows(struct agent_http *h, struct MHD_Connection *c)
{
	struct agent *a = h->a;
	struct follow *fw = calloc(1, sizeof(*fw));
	struct strbuf sb = STRBUF_INIT;
	struct MHD_Response *r;
	enum MHD_Result ret;
	struct timespec ts;
	size_t i, nmatch = 0, start;

	if (!fw)
		return send_error(c, 500, "out of memory");
	fw->a = a;
	errbuf_clear(&fw->q.eb);
	clock_gettime(CLOCK_REALTIME, &ts);
	fw->q.now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	fw->q.last = 20;
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, flow_arg, &fw->q);
	if (fw->q.err) {
		ret = send_error(c, 400, fw->q.eb.msg);
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
	if (!fw->q.follow) {
		size_t len = sb.len;

		follow_free(fw);
		if (sb.oom) {
			strbuf_free(&sb);
			return send_buf(c, 500, NULL, 0, "application/json");
		}
		return send_buf(c, 200, len ? strbuf_detach(&sb) : strdup(""), len,
				"application/x-ndjson");
	}
	fw->pending = sb;
	if (atomic_fetch_add(&h->followers, 1) >= API_FOLLOWERS) {
		char msg[96];

		atomic_fetch_sub(&h->followers, 1);
		follow_free(fw);

		snprintf(msg, sizeof(msg),
			 "too many followers: %d 'observe --follow' streams are open; stop one",
			 API_FOLLOWERS);
		return send_error(c, 503, msg);
	}
	fw->followers = &h->followers;
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, follow_read, fw,
					      follow_free);
	if (!r) {
		follow_free(fw);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/x-ndjson");
	ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- routing ------------------------------------------------------------------------------ */

static bool peer_is_root(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (!ci || getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1)
		return false;
	return cred.uid == 0;
}

static enum MHD_Result route(struct agent_http *h, struct MHD_Connection *c, const char *url,
			     const char *method, struct req *rq)
{
	json_t *body = NULL;
	enum MHD_Result ret;
	char path[1024], *seg[8], *save, *s;
	size_t n = 0;
	bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
	bool del = !strcmp(method, "DELETE"), patch = !strcmp(method, "PATCH");

	if (snprintf(path, sizeof(path), "%s", url) >= (int)sizeof(path))
		return send_error(c, 414, "URL too long");
	for (s = strtok_r(path, "/", &save); s && n < 8; s = strtok_r(NULL, "/", &save))
		seg[n++] = s;
	if (n < 2 || strcmp(seg[0], "v1"))
		return send_error(c, 404, "no such API path (see docs/api.md)");
	if (post || patch) {
		json_error_t je;

		body = json_loadb(rq->body.p ? rq->body.p : "", rq->body.len, 0, &je);
		if (!json_is_object(body)) {
			char msg[256];

			json_decref(body);
			snprintf(msg, sizeof(msg), "request body: not a JSON object: %s", je.text);
			return send_error(c, 400, msg);
		}
	}
	ret = MHD_NO;
	if (!strcmp(seg[1], "status") && n == 2 && get) {
		ret = h_status(h, c);
	} else if (!strcmp(seg[1], "endpoints") && n == 2 && get) {
		ret = h_endpoints_list(h, c);
	} else if (!strcmp(seg[1], "endpoints") && n == 2 && post) {
		ret = h_endpoint_create(h, c, body);
	} else if (!strcmp(seg[1], "endpoints") && (n == 4 || n == 5)) {
		char name[512];

		snprintf(name, sizeof(name), "%s/%s", seg[2], seg[3]);
		if (n == 5 && !strcmp(seg[4], "bpf-policy") && get)
			ret = h_bpf_policy(h, c, name);
		else if (n == 5)
			ret = send_error(c, 404, "no such API path (see docs/api.md)");
		else if (get)
			ret = h_endpoint_get(h, c, name);
		else if (patch)
			ret = h_endpoint_patch(h, c, name, body);
		else if (del)
			ret = h_endpoint_delete(h, c, name);
		else
			ret = send_error(c, 405, "method not allowed");
	} else if (!strcmp(seg[1], "bpf") && n == 3 && !strcmp(seg[2], "endpoints") && get) {
		ret = h_bpf_endpoints(h, c);
	} else if (!strcmp(seg[1], "bpf") && n == 3 && !strcmp(seg[2], "ct") && get) {
		ret = h_bpf_ct(h, c);
	} else if (!strcmp(seg[1], "bpf") && n == 3 && !strcmp(seg[2], "ipcache") && get) {
		ret = h_bpf_ipcache(h, c);
	} else if (!strcmp(seg[1], "identities") && n <= 3 && get) {
		ret = h_identities(h, c, n == 3 ? seg[2] : NULL);
	} else if (!strcmp(seg[1], "policies") && n == 2 && get) {
		ret = h_policies_get(h, c);
	} else if (!strcmp(seg[1], "policies") && n == 2 && post) {
		ret = h_policies_import(h, c, body);
	} else if (!strcmp(seg[1], "policies") && n == 2 && del) {
		ret = h_policies_delete(h, c);
	} else if (!strcmp(seg[1], "trace") && n == 2 && post) {
		ret = h_trace(h, c, body);
	} else if (!strcmp(seg[1], "flows") && n == 2 && get) {
		ret = h_flows(h, c);
	} else {
		ret = send_error(c, 404, "no such API path or method (see docs/api.md)");
	}
	json_decref(body);
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
		if (!peer_is_root(c))
			return send_error(c, 403, "velumd: only root may use the API");
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

/* ---- metrics --------------------------------------------------------------------------------- */

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
	uint64_t verdicts[5][7][2], events;

	pthread_mutex_lock(&a->lock);
	nep = model_endpoints(a->m, &eps);
	npol = pol_engine_policies(model_engine(a->m), &ps);
	nid = id_alloc_list(model_ids(a->m), &ids);
	for (i = 0; i < nid; i++) {
		char buf[64];

		if (ids[i]->reserved)
			reserved++;
		else if (cidr_of(ids[i], buf, sizeof(buf)))
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
		return send_buf(c, 404, strdup("not found; try /metrics\n"), 25, "text/plain");
	metrics_text(h->a, &sb);
	if (sb.oom) {
		strbuf_free(&sb);
		return send_buf(c, 500, NULL, 0, "text/plain");
	}
	len = sb.len;
	return send_buf(c, 200, strbuf_detach(&sb), len,
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
	unsigned flags =
		MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;

	if (!h)
		return NULL;
	h->a = a;
	snprintf(h->metrics_addr, sizeof(h->metrics_addr), "off");
	h->api = MHD_start_daemon(flags, 0, NULL, NULL, on_api, h, MHD_OPTION_LISTEN_SOCKET, api_fd,
				  MHD_OPTION_URI_LOG_CALLBACK, on_uri, h,
				  MHD_OPTION_NOTIFY_COMPLETED, on_done, h,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)API_CONNECTIONS,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)API_IDLE_S,
				  MHD_OPTION_THREAD_STACK_SIZE,
				  (size_t)(512 * 1024), MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				  MHD_OPTION_END);
	if (!h->api) {
		errbuf_set(eb, "cannot start the API server on %s", a->o.socket_path);
		free(h);
		return NULL;
	}
	if (a->o.metrics && strcmp(a->o.metrics, "off")) {
		struct sockaddr_in sa;
		const union MHD_DaemonInfo *di;

		if (parse_addr(a->o.metrics, &sa)) {
			errbuf_set(eb, "--metrics '%s': expected ADDR:PORT (IPv4) or off",
				   a->o.metrics);
			agent_http_stop(h);
			return NULL;
		}
		h->metrics = MHD_start_daemon(
			MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_AUTO, 0, NULL,
			NULL, on_metrics, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
			MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
		if (!h->metrics) {
			errbuf_set(eb, "cannot serve metrics on %s (port in use?)", a->o.metrics);
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
