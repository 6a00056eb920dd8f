/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Handlers of /v1/endpoints: list, create, get, change (labels, audit),
 * delete; and the JSON of an endpoint and of a label set. A PATCH replaces
 * an endpoint's labels ("labels") or changes some of them ("merge", as
 * velum endpoint label's k=v and k-), the merge applied to the labels the
 * endpoint has in one change: concurrent merges of different keys all land.
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

#include "agent/podman.h"
#include "lib/log.h"
#include "lib/strbuf.h"
#include "policy/trace.h"
#include "velum/drop.h"
#include "velum/events.h"

json_t *agent_api_labels_json(const struct pol_labels *ls)
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
		      "identity_labels", agent_api_labels_json(ie ? &ie->labels : &ep->labels),
		      "ipv4", ip, "netns", x ? x->netns : NULL, "host_ifname",
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

const struct model_ep *agent_api_endpoint_ref(struct agent *a, const char *ref, char *msg,
					      size_t len)
{
	const struct model_ep *ep = NULL;

	if (ref[0] && strspn(ref, "0123456789") == strlen(ref)) {
		unsigned long id;

		errno = 0;
		id = strtoul(ref, NULL, 10);
		if (!errno && id <= UINT32_MAX)
			ep = model_endpoint_by_id(a->m, (uint32_t)id);
		if (!ep)
			snprintf(msg, len, "no endpoint with id %.32s", ref);
		return ep;
	}
	ep = model_endpoint(a->m, ref);
	if (!ep)
		snprintf(msg, len, "no endpoint '%s'", ref);
	return ep;
}

enum MHD_Result agent_api_endpoints_list(const struct api_call *call)
{
	struct agent *a = call->a;
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
	return agent_api_reply(call, 200, arr);
}

enum MHD_Result agent_api_endpoint_create(const struct api_call *call)
{
	struct agent *a = call->a;
	struct agent_ep_req r = { 0 };
	const struct model_ep *ep;
	struct pol_named_port *ports = NULL;
	struct agent_podman_job *job = NULL;
	const char **labels = NULL, *ipv4 = NULL;
	struct errbuf eb;
	json_t *lj = NULL, *pj = NULL, *rj = NULL, *out;
	int audit = 0, err;

	errbuf_clear(&eb);
	if (json_unpack_ex(call->body, NULL, JSON_STRICT,
			   "{s:s, s?:s, s?:o, s?:o, s?:b, s?:s, s?:s, s?:s, s?:s, s?:o}", "name",
			   &r.name, "namespace", &r.ns, "labels", &lj, "ports", &pj, "audit",
			   &audit, "netns", &r.netns, "ifname", &r.ifname, "ipv4", &ipv4,
			   "container_id", &r.container_id, "runtime", &rj))
		return agent_api_error(
			call, 400,
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
		return agent_api_fail(call, err, &eb);
	}
	r.labels = labels;
	r.ports = ports;
	r.audit = audit;
	/* the writer's lock: readers wait only for the commit inside */
	pthread_mutex_lock(&a->wlock);
	err = agent_endpoint_create(a, &r, &ep, &eb);
	out = err ? NULL : endpoint_json(a, ep);
	if (out)
		json_object_set_new(out, "revision", json_integer((json_int_t)a->revision));
	/* the worker asks podman only after this answer released the runtime */
	if (!err)
		agent_podman_submit(a->podman, job, ep->name);
	else
		agent_podman_job__free(job);
	pthread_mutex_unlock(&a->wlock);
	free(labels);
	free(ports);
	if (err)
		return agent_api_fail(call, err, &eb);
	return agent_api_reply(call, 201, out);
}

enum MHD_Result agent_api_endpoint_get(const struct api_call *call)
{
	struct agent *a = call->a;
	const struct model_ep *ep;
	json_t *j = NULL;
	char msg[768];

	pthread_mutex_lock(&a->lock);
	ep = agent_api_endpoint_ref(a, call->arg, msg, sizeof(msg));
	if (ep)
		j = endpoint_json(a, ep);
	pthread_mutex_unlock(&a->lock);
	if (!ep)
		return agent_api_error(call, 404, msg);
	return agent_api_reply(call, 200, j);
}

static const char patch_usage[] =
	"expected {\"labels\"?: [string] (the user labels, all of them) or \"merge\"?: "
	"{\"[source:]key\": \"value\" or null, ...} (velum endpoint label's changes to them: "
	"null removes), \"audit\"?: bool}";

int agent_api_label_members(json_t *obj, const char *field, bool nulls, bool bare_empty, char **set,
			    size_t *nset, const char **rm, size_t *nrm, struct errbuf *eb)
{
	const char *k;
	json_t *v;

	json_object_foreach(obj, k, v)
	{
		const char *val = json_string_value(v);

		/* the key is the label's whole key: a '=' in it would move the value */
		if (strchr(k, '='))
			return errbuf_set(eb, -EINVAL,
					  "%s: '%s': expected a label key (its value is the "
					  "member's)",
					  field, k);
		if (nulls && json_is_null(v)) {
			rm[(*nrm)++] = k;
			continue;
		}
		if (!val)
			return errbuf_set(eb, -EINVAL, "%s.%s: expected a string%s", field, k,
					  nulls ? " or null" : "");
		if ((bare_empty && !val[0] ? asprintf(&set[*nset], "%s", k) :
					     asprintf(&set[*nset], "%s=%s", k, val)) < 0) {
			set[*nset] = NULL;
			return errbuf_set(eb, -ENOMEM, "out of memory");
		}
		(*nset)++;
	}
	return 0;
}

enum MHD_Result agent_api_endpoint_patch(const struct api_call *call)
{
	struct agent *a = call->a;
	const char **labels = NULL, **rm = NULL;
	char **set = NULL;
	const struct model_ep *ep;
	char name[256], msg[768];
	size_t nlabels = 0, nset = 0, nrm = 0, i;
	json_t *lj = NULL, *mj = NULL, *aj = NULL, *out = NULL;
	struct errbuf eb;
	int err = 0, audit = -1;

	errbuf_clear(&eb);
	if (json_unpack_ex(call->body, NULL, JSON_STRICT, "{s?:o, s?:o, s?:o}", "labels", &lj,
			   "merge", &mj, "audit", &aj) ||
	    (aj && !json_is_boolean(aj)) || (lj && mj) || (mj && !json_is_object(mj)))
		return agent_api_error(call, 400, patch_usage);
	if (aj)
		audit = json_is_true(aj);
	if (lj)
		err = agent_labels_from_json(lj, &labels, &nlabels, &eb);
	if (mj) {
		set = calloc(json_object_size(mj) + 1, sizeof(*set));
		rm = calloc(json_object_size(mj) + 1, sizeof(*rm));
		/* an empty value as a label list writes it: "key" (so "reserved:init" stays itself) */
		err = set && rm ? agent_api_label_members(mj, "merge", true, true, set, &nset, rm,
							  &nrm, &eb) :
				  errbuf_set(&eb, -ENOMEM, "out of memory");
	}
	if (err)
		goto out;
	pthread_mutex_lock(&a->wlock);
	ep = agent_api_endpoint_ref(a, call->arg, msg, sizeof(msg));
	if (!ep) {
		pthread_mutex_unlock(&a->wlock);
		err = errbuf_set(&eb, -ENOENT, "%s", msg);
		goto out;
	}
	snprintf(name, sizeof(name), "%s", ep->name);
	if (mj)
		err = agent_endpoint_merge(a, name, (const char *const *)set, nset, rm, nrm, audit,
					   &eb);
	else
		err = agent_endpoint_update(a, name, lj ? labels : NULL, nlabels, audit, &eb);
	if (!err) {
		ep = model_endpoint(a->m, name);

		out = ep ? endpoint_json(a, ep) : NULL;
		if (out)
			json_object_set_new(out, "revision", json_integer((json_int_t)a->revision));
	}
	pthread_mutex_unlock(&a->wlock);
out:
	for (i = 0; set && i < nset; i++)
		free(set[i]);
	free(set);
	free(rm);
	free(labels);
	if (err)
		return agent_api_fail(call, err, &eb);
	return agent_api_reply(call, 200, out);
}

enum MHD_Result agent_api_endpoint_delete(const struct api_call *call)
{
	struct agent *a = call->a;
	const struct model_ep *ep;
	char name[256], msg[768];
	struct errbuf eb;
	uint64_t rev;
	int err;

	errbuf_clear(&eb);
	pthread_mutex_lock(&a->wlock);
	ep = agent_api_endpoint_ref(a, call->arg, msg, sizeof(msg));
	if (!ep) {
		pthread_mutex_unlock(&a->wlock);
		return agent_api_error(call, 404, msg);
	}
	snprintf(name, sizeof(name), "%s", ep->name);
	err = agent_endpoint_delete(a, name, &eb);
	rev = a->revision;
	pthread_mutex_unlock(&a->wlock);
	if (err)
		return agent_api_fail(call, err, &eb);
	return agent_api_reply(call, 200, json_pack("{s:I}", "revision", (json_int_t)rev));
}
