/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Handlers of /v1/namespaces: the namespaces the model knows (named by an
 * endpoint, labelled, or imported) with their labels and endpoint counts;
 * PATCH replaces a namespace's labels ("labels") or changes some of them
 * as kubectl label does ("merge", in one change: concurrent merges of
 * different keys all land), making it known; DELETE forgets an empty one.
 */
#include "agent/api_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_internal.h"

/* {"name", "labels": {...} (kubernetes.io/metadata.name included), "endpoints": n} */
static json_t *namespace_json(struct agent *a, const struct model_ns *ns)
{
	json_t *labels = agent_ns_labels_json(ns, true);

	if (!labels)
		return NULL;
	return json_pack("{s:s, s:o, s:I}", "name", ns->name, "labels", labels, "endpoints",
			 (json_int_t)model_namespace_endpoints(a->m, ns->name));
}

enum MHD_Result agent_api_namespaces_list(const struct api_call *call)
{
	struct agent *a = call->a;
	const struct model_ns *const *nss;
	json_t *arr = json_array();
	size_t n, i;

	pthread_mutex_lock(&a->lock);
	n = model_namespaces(a->m, &nss);
	for (i = 0; arr && i < n; i++)
		if (json_array_append_new(arr, namespace_json(a, nss[i]))) {
			json_decref(arr);
			arr = NULL;
		}
	pthread_mutex_unlock(&a->lock);
	return agent_api_reply(call, 200, arr);
}

enum MHD_Result agent_api_namespace_get(const struct api_call *call)
{
	struct agent *a = call->a;
	const struct model_ns *ns;
	json_t *out = NULL;
	char msg[160];

	pthread_mutex_lock(&a->lock);
	ns = model_namespace(a->m, call->arg);
	if (ns)
		out = namespace_json(a, ns);
	pthread_mutex_unlock(&a->lock);
	if (!ns) {
		snprintf(msg, sizeof(msg), "no namespace '%.100s'", call->arg);
		return agent_api_error(call, 404, msg);
	}
	return agent_api_reply(call, 200, out);
}

static const char patch_usage[] =
	"expected {\"labels\": {\"key\": \"value\", ...}} (the namespace's whole label set) "
	"or {\"merge\": {\"key\": \"value\" or null, ...}, \"overwrite\"?: bool} (kubectl "
	"label: null removes)";

enum MHD_Result agent_api_namespace_patch(const struct api_call *call)
{
	struct agent *a = call->a;
	json_t *lj = NULL, *mj = NULL, *out = NULL;
	const char **rm = NULL;
	char **set = NULL;
	size_t n = 0, nrm = 0, i, size;
	int overwrite = 1;
	struct errbuf eb;
	int err = 0;

	errbuf_clear(&eb);
	if (json_unpack_ex(call->body, NULL, JSON_STRICT, "{s?o, s?o, s?b}", "labels", &lj, "merge",
			   &mj, "overwrite", &overwrite) ||
	    !lj == !mj || (lj && !json_is_object(lj)) || (mj && !json_is_object(mj)) ||
	    (lj && json_object_get(call->body, "overwrite")))
		return agent_api_error(call, 400, patch_usage);
	size = json_object_size(lj ? lj : mj) + 1;
	rm = calloc(size, sizeof(*rm));
	set = calloc(size, sizeof(*set));
	if (!rm || !set)
		err = errbuf_set(&eb, -ENOMEM, "out of memory");
	if (!err)
		err = agent_api_label_members(lj ? lj : mj, lj ? "labels" : "merge", mj != NULL,
					      false, set, &n, rm, &nrm, &eb);
	if (!err) {
		pthread_mutex_lock(&a->wlock);
		err = lj ? agent_namespace_label(a, call->arg, (const char *const *)set, n, &eb) :
			   agent_namespace_merge(a, call->arg, (const char *const *)set, n, rm, nrm,
						 overwrite, &eb);
		if (!err) {
			const struct model_ns *ns = model_namespace(a->m, call->arg);

			out = ns ? namespace_json(a, ns) : NULL;
			if (out)
				json_object_set_new(out, "revision",
						    json_integer((json_int_t)a->revision));
		}
		pthread_mutex_unlock(&a->wlock);
	}
	for (i = 0; set && i < n; i++)
		free(set[i]);
	free(set);
	free(rm);
	if (err)
		return agent_api_fail(call, err, &eb);
	return agent_api_reply(call, 200, out);
}

enum MHD_Result agent_api_namespace_delete(const struct api_call *call)
{
	struct agent *a = call->a;
	struct errbuf eb;
	uint64_t rev;
	int err;

	errbuf_clear(&eb);
	pthread_mutex_lock(&a->wlock);
	err = agent_namespace_delete(a, call->arg, &eb);
	rev = a->revision;
	pthread_mutex_unlock(&a->wlock);
	if (err)
		return agent_api_fail(call, err, &eb);
	return agent_api_reply(call, 200, json_pack("{s:I}", "revision", (json_int_t)rev));
}
