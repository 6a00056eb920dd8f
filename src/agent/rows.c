/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Store rows and the JSON of labels and ports: endpoints and identities as
 * the store keeps them, written in the open transaction, and the label and
 * port lists read back from the store's JSON or an API request.
 */
#include "agent/agent_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "lib/log.h"
#include "lib/proto.h"
#include "lib/strbuf.h"
#include "velum/endpoint.h"

/* ---- encoding rows ------------------------------------------------------------------- */

static bool derived_label(const struct pol_label *l)
{
	return !strcmp(l->source, POL_SOURCE_K8S) &&
	       (!strcmp(l->key, POL_LABEL_NAMESPACE) || !strcmp(l->key, POL_LABEL_CLUSTER) ||
		!strncmp(l->key, POL_LABEL_NS_LABELS, strlen(POL_LABEL_NS_LABELS)));
}

/* The user's labels of ep (derived ones left out) as a new JSON array. */
json_t *agent_user_labels_json(const struct model_ep *ep)
{
	json_t *arr = json_array();
	struct strbuf sb = STRBUF_INIT;
	size_t i;

	for (i = 0; arr && i < ep->labels.n; i++) {
		if (derived_label(&ep->labels.v[i]))
			continue;
		strbuf_reset(&sb);
		pol_label_format(&ep->labels.v[i], &sb);
		json_array_append_new(arr, json_string(strbuf_str(&sb)));
	}
	strbuf_free(&sb);
	return arr;
}

json_t *agent_ports_json(const struct model_ep *ep)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; arr && i < ep->nports; i++) {
		const struct pol_named_port *p = &ep->ports[i];

		json_array_append_new(arr,
				      json_pack("{s:s, s:i, s:s}", "name", p->name, "port",
						(int)p->port, "protocol", proto_name(p->proto)));
	}
	return arr;
}

static char *dump(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return s;
}

int agent_save_ep(struct agent *a, const struct model_ep *ep, struct errbuf *eb)
{
	struct agent_epx *x = agent_epx(a, ep->id);
	char ip[INET_ADDRSTRLEN] = "0.0.0.0";
	char *labels = dump(agent_user_labels_json(ep));
	char *ports = dump(agent_ports_json(ep));
	struct agent_store_ep row = {
		.id = ep->id,
		.name = ep->name,
		.ns = ep->ns,
		.labels = labels,
		.ports = ports,
		.audit = ep->audit,
		.ipv4 = ip,
		.netns = x && x->adopted ? x->netns : NULL,
		.created = x ? x->created : "",
		.ifname = x ? x->ifname : NULL,
		.container_id = x ? x->container_id : NULL,
	};
	int err = -ENOMEM;

	if (ep->nips)
		inet_ntop(AF_INET, &ep->ips[0], ip, sizeof(ip));
	if (labels && ports)
		err = agent_store_ep_put(a->st, &row, eb);
	free(labels);
	free(ports);
	return err;
}

json_t *agent_ns_labels_json(const struct model_ns *ns, bool with_name)
{
	json_t *o = json_object();
	size_t i;

	if (o && with_name)
		json_object_set_new(o, MODEL_NS_NAME_LABEL, json_string(ns->name));
	for (i = 0; o && i < ns->labels.n; i++)
		if (json_object_set_new(o, ns->labels.v[i].key,
					json_string(ns->labels.v[i].value))) {
			json_decref(o);
			return NULL;
		}
	return o;
}

int agent_save_ns(struct agent *a, const char *name, struct errbuf *eb)
{
	const struct model_ns *ns = model_namespace(a->wm, name);
	char *labels;
	int err;

	if (!ns)
		return agent_store_ns_delete(a->st, name, eb);
	labels = dump(agent_ns_labels_json(ns, false));
	if (!labels)
		return -ENOMEM;
	err = agent_store_ns_put(a->st, name, labels, eb);
	free(labels);
	return err;
}

int agent_ns_labels_from_json(const json_t *j, struct pol_labels *out, struct errbuf *eb)
{
	const char *k;
	json_t *v;
	int err = 0;

	if (!json_is_object(j))
		return errbuf_set(eb, -EINVAL, "labels: expected an object of strings");
	json_object_foreach((json_t *)j, k, v)
	{
		if (!json_is_string(v))
			err = errbuf_set(eb, -EINVAL, "labels.%s: expected a string", k);
		else
			err = pol_labels_set(out, POL_SOURCE_K8S, k, json_string_value(v));
		if (err)
			break;
	}
	if (err)
		pol_labels_free(out);
	return err;
}

static char *identity_labels_json(const struct pol_labels *ls)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; arr && i < ls->n; i++)
		json_array_append_new(
			arr, json_pack("[s,s,s]", ls->v[i].source, ls->v[i].key, ls->v[i].value));
	return dump(arr);
}

/* Writes identities the store lacks and deletes those that are gone (in a transaction). */
int agent_save_identities(struct agent *a, struct errbuf *eb)
{
	const struct id_entry **all;
	long n = id_alloc_list(model_ids(a->wm), &all), i;
	VEC(uint32_t) now = { 0 };
	size_t j, k;
	int err = 0;

	if (n < 0)
		return (int)n;
	for (i = 0; i < n && !err; i++) {
		if (all[i]->reserved || all[i]->id < ID_FIRST_ALLOC)
			continue;
		err = vec_push(&now, all[i]->id);
		if (err || (a->stored_ids.n && bsearch(&all[i]->id, a->stored_ids.v,
						       a->stored_ids.n, sizeof(uint32_t), cmp_u32)))
			continue;
		{
			char *l = identity_labels_json(&all[i]->labels);

			err = l ? agent_store_id_put(a->st, all[i]->id, l, eb) : -ENOMEM;
			free(l);
		}
	}
	free(all);
	/* now is sorted (id_alloc_list is); delete what is no longer there */
	for (j = k = 0; !err && j < a->stored_ids.n; j++) {
		uint32_t id = a->stored_ids.v[j];

		while (k < now.n && now.v[k] < id)
			k++;
		if (k < now.n && now.v[k] == id)
			continue;
		err = agent_store_id_delete(a->st, id, eb);
	}
	if (err) {
		vec_free(&now);
		return err;
	}
	vec_free(&a->stored_ids);
	a->stored_ids.v = now.v;
	a->stored_ids.n = now.n;
	a->stored_ids.cap = now.cap;
	return 0;
}

int agent_ports_from_json(json_t *j, struct pol_named_port **out, size_t *n, struct errbuf *eb)
{
	size_t i, cnt = json_array_size(j);
	struct pol_named_port *v;

	*out = NULL;
	*n = 0;
	if (!json_is_array(j))
		return errbuf_set(eb, -EINVAL, "ports: expected a list");
	if (!cnt)
		return 0;
	v = calloc(cnt, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < cnt; i++) {
		const char *name = NULL, *proto = "TCP";
		json_int_t port = 0;

		if (json_unpack(json_array_get(j, i), "{s:s, s:I, s?:s}", "name", &name, "port",
				&port, "protocol", &proto) ||
		    port < 1 || port > 65535 || !*name) {
			free(v);
			return errbuf_set(eb, -EINVAL,
					  "ports[%zu]: expected {\"name\": string, \"port\": "
					  "1-65535, \"protocol\": TCP|UDP|SCTP}",
					  i);
		}
		v[i].name = name; /* borrowed from j */
		v[i].port = (uint16_t)port;
		if (proto_parse(proto, &v[i].proto) || !proto_has_ports(v[i].proto)) {
			free(v);
			return errbuf_set(eb, -EINVAL,
					  "ports[%zu].protocol: '%s' is not TCP, UDP or SCTP", i,
					  proto);
		}
	}
	*out = v;
	*n = cnt;
	return 0;
}

/* Parses a JSON array of label strings into a new vector of borrowed strings. */
int agent_labels_from_json(json_t *j, const char ***out, size_t *n, struct errbuf *eb)
{
	size_t i, cnt = json_array_size(j);
	const char **v;

	*out = NULL;
	*n = 0;
	if (!json_is_array(j))
		return errbuf_set(eb, -EINVAL, "labels: expected a list of strings");
	v = calloc(cnt ? cnt : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < cnt; i++) {
		v[i] = json_string_value(json_array_get(j, i));
		if (!v[i]) {
			free(v);
			return errbuf_set(eb, -EINVAL, "labels[%zu]: expected a string", i);
		}
	}
	*out = v;
	*n = cnt;
	return 0;
}
