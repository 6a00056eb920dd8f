/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Handlers of what the kernel holds, read back from the pinned maps:
 * an endpoint's policy map (/v1/endpoints/NS/NAME/bpf-policy), the
 * endpoints of BPF host routing, conntrack and the ipcache (/v1/bpf/...).
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

#include "lib/log.h"
#include "lib/strbuf.h"
#include "policy/trace.h"
#include "velum/drop.h"
#include "velum/events.h"

enum MHD_Result agent_api_bpf_policy(const struct api_call *call)
{
	struct agent *a = call->a;
	struct velum_policy_key *keys = NULL;
	struct velum_policy_value *vals = NULL;
	const struct model_ep *ep;
	struct strbuf sb = STRBUF_INIT;
	json_t *arr = NULL, *j = NULL;
	size_t n = 0, i;
	char msg[768];
	int err;

	pthread_mutex_lock(&a->lock);
	ep = agent_api_endpoint_ref(a, call->arg, msg, sizeof(msg));
	if (!ep) {
		pthread_mutex_unlock(&a->lock);
		return agent_api_error(call, 404, msg);
	}
	err = dp_policy_read(a->dp, ep->id, &keys, &vals, &n);
	if (err) {
		snprintf(msg, sizeof(msg), "endpoint %s: reading its policy map: %s", ep->name,
			 strerror(-err));
		pthread_mutex_unlock(&a->lock);
		return agent_api_error(call, 500, msg);
	}
	arr = json_array();
	for (i = 0; arr && i < n; i++) {
		uint32_t peer = ntohl(keys[i].identity);
		const struct pol_labels *ls =
			peer ? pol_engine_identity_labels(model_engine(a->m), peer) : NULL;
		char port[48];

		mon_policy_port_text(&keys[i], port, sizeof(port));
		strbuf_reset(&sb);
		pol_engine_rule_name(model_engine(a->m), vals[i].rule_id, &sb);
		json_array_append_new(
			arr, json_pack("{s:s, s:s, s:b, s:{s:I, s:o}, s:s, s:i, s:i, s:{s:I, s:s}}",
				       "direction", keys[i].egress ? "egress" : "ingress",
				       "verdict", pol_verdict_name(vals[i].verdict), "audit",
				       (vals[i].flags & VELUM_POLICY_F_AUDIT) ||
					       vals[i].verdict == VELUM_VERDICT_AUDIT,
				       "peer", "identity", (json_int_t)peer, "labels",
				       peer ? agent_api_labels_json(ls) :
					      json_pack("[s]", "reserved:unknown"),
				       "port", port, "proxy_port", (int)ntohs(vals[i].proxy_port),
				       "prefix",
				       (int)(keys[i].prefixlen - VELUM_POLICY_PREFIX_FIXED), "rule",
				       "id", (json_int_t)vals[i].rule_id, "ref", strbuf_str(&sb)));
	}
	j = json_pack("{s:s, s:i, s:o}", "endpoint", ep->name, "id", (int)ep->id, "entries", arr);
	pthread_mutex_unlock(&a->lock);
	strbuf_free(&sb);
	free(keys);
	free(vals);
	return agent_api_reply(call, 200, j);
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
enum MHD_Result agent_api_bpf_endpoints(const struct api_call *call)
{
	struct agent *a = call->a;
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
		return agent_api_error(call, 500, msg);
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
	return agent_api_reply(call, 200, j);
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

enum MHD_Result agent_api_bpf_ct(const struct api_call *call)
{
	struct agent *a = call->a;
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
		return agent_api_error(call, 500, msg);
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
	return agent_api_reply(call, 200, j);
}

/* The ipcache as the kernel holds it: prefix -> identity (and local endpoint). */
enum MHD_Result agent_api_bpf_ipcache(const struct api_call *call)
{
	struct agent *a = call->a;
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
		return agent_api_error(call, 500, msg);
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
		json_array_append_new(arr, json_pack("{s:s, s:I, s:o, s:s?}", "prefix", prefix,
						     "identity", (json_int_t)v[i].val.identity,
						     "labels", agent_api_labels_json(ls),
						     "endpoint", ep ? ep->name : NULL));
	}
	j = json_pack("{s:o}", "entries", arr);
	pthread_mutex_unlock(&a->lock);
	free(v);
	return agent_api_reply(call, 200, j);
}
