/* SPDX-License-Identifier: Apache-2.0 */
/*
 * velum-cni's commands. ADD asks velumd to adopt the runtime's namespace as
 * an endpoint (veth with CNI_IFNAME inside, an address from the pool or the
 * one asked for, routes, programs and policy before any link is up) with
 * the reserved:init identity, and answers once the datapath enforces it;
 * it never calls back into the runtime (podman holds the container's lock
 * during ADD): velumd asks podman for the labels after ADD returned. DEL,
 * CHECK and GC find endpoints by the container id and interface name
 * velumd keeps for them.
 */
#include "cni/cni.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

/* Kubernetes name rules (docs/api.md): [a-z0-9.-], alphanumeric ends, at most max. */
static void k8s_name(const char *in, char *out, size_t max)
{
	size_t n = 0, i;

	for (i = 0; in[i] && n < max; i++) {
		unsigned char c = (unsigned char)tolower((unsigned char)in[i]);

		if (!n && !isalnum(c))
			continue;
		out[n++] = isalnum(c) || c == '.' || c == '-' ? (char)c : '-';
	}
	while (n && !isalnum((unsigned char)out[n - 1]))
		n--;
	out[n] = '\0';
}

/*
 * The endpoint's name: the container's (K8S_POD_NAME, which podman sets to
 * it), else "cni-" and the start of the container id; "-IFNAME" added for
 * interfaces other than eth0 (a second network of the same container).
 */
static void endpoint_name(const struct cni_req *r, char *out, size_t len)
{
	char base[64] = "", ifn[20] = "";

	if (strcmp(r->ifname, "eth0"))
		k8s_name(r->ifname, ifn, 15);
	k8s_name(r->pod_name ? r->pod_name : "", base, 62 - (ifn[0] ? strlen(ifn) + 1 : 0));
	if (!base[0]) {
		char id[16];

		k8s_name(r->container_id, id, 12);
		snprintf(base, sizeof(base), "cni-%s", id);
	}
	snprintf(out, len, "%s%s%s", base, ifn[0] ? "-" : "", ifn);
}

/* Podman runs the plugin itself: its process is our parent. */
static bool parent_is_podman(void)
{
	char path[64], comm[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)getppid());
	f = fopen(path, "re");
	if (!f)
		return false;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = '\0';
	fclose(f);
	return !strcmp(comm, "podman\n");
}

/* {"name": "podman", "env": [...]}: how velumd reaches this podman's storage. */
static json_t *runtime_json(const struct cni_req *r)
{
	json_t *env;
	char **v;

	if (r->runtime ? strcmp(r->runtime, "podman") : !parent_is_podman())
		return NULL;
	env = json_array();
	for (v = environ; *v && json_array_size(env) < 16; v++) {
		const char *eq = strchr(*v, '=');
		size_t n = eq ? (size_t)(eq - *v) : 0;
		bool cc = n > 11 && !strncmp(*v, "CONTAINERS_", 11);

		for (size_t i = 0; cc && i < n; i++)
			cc = isupper((unsigned char)(*v)[i]) || (*v)[i] == '_';
		if (cc || (n == 15 && !strncmp(*v, "XDG_RUNTIME_DIR", 15)))
			json_array_append_new(env, json_string(*v));
	}
	return json_pack("{s:s, s:o}", "name", "podman", "env", env);
}

/* GET /v1/endpoints: a new array, or NULL with e set. */
static json_t *list_endpoints(const struct cni_req *r, struct cni_err *e)
{
	json_t *list = NULL;
	long status;

	if (cni_call(r->socket, "GET", "/v1/endpoints", NULL, &status, &list, e))
		return NULL;
	if (!json_is_array(list)) {
		cni_fail(e, CNI_ERR_DECODE, "unreadable answer", "GET /v1/endpoints: not a list");
		json_decref(list);
		return NULL;
	}
	return list;
}

/* The endpoint of (container id, ifname) into *out (new reference, or NULL if none). */
static int find_endpoint(const struct cni_req *r, json_t **out, struct cni_err *e)
{
	json_t *list = list_endpoints(r, e), *ep;
	size_t i;

	*out = NULL;
	if (!list)
		return -1;
	json_array_foreach(list, i, ep)
	{
		const char *cid = json_string_value(json_object_get(ep, "container_id"));
		const char *ifn = json_string_value(json_object_get(ep, "ifname"));

		if (cid && ifn && !strcmp(cid, r->container_id) && !strcmp(ifn, r->ifname)) {
			*out = json_incref(ep);
			break;
		}
	}
	json_decref(list);
	return 0;
}

static int delete_endpoint(const struct cni_req *r, const char *full, struct cni_err *e)
{
	char path[300];
	json_t *resp = NULL;
	long status;
	int rc = 0;

	snprintf(path, sizeof(path), "/v1/endpoints/%s", full);
	/* already gone: DEL is idempotent */
	if (cni_call(r->socket, "DELETE", path, NULL, &status, &resp, e) && status != 404)
		rc = -1;
	json_decref(resp);
	return rc;
}

/* The kernel's entry of endpoint id (GET /v1/bpf/endpoints): new reference or NULL. */
static json_t *bpf_endpoint(const struct cni_req *r, json_int_t id, struct cni_err *e)
{
	json_t *resp = NULL, *v, *found = NULL;
	long status;
	size_t i;

	if (cni_call(r->socket, "GET", "/v1/bpf/endpoints", NULL, &status, &resp, e))
		return NULL;
	json_array_foreach(json_object_get(resp, "endpoints"), i,
			   v) if (json_integer_value(json_object_get(v, "id")) == id) found =
		json_incref(v);
	json_decref(resp);
	if (!found)
		cni_fail(e, CNI_ERR_MISMATCH, "endpoint not in the datapath",
			 "endpoint %lld: no entry in the kernel's endpoint map", (long long)id);
	return found;
}

/* The spec's result for endpoint ep with the kernel's entry k. */
static json_t *add_result(const struct cni_req *r, json_t *ep, json_t *k)
{
	const char *gw = json_string_value(json_object_get(ep, "gateway"));
	char addr[40];
	json_t *ip;

	snprintf(addr, sizeof(addr), "%s/32", json_string_value(json_object_get(ep, "ipv4")));
	ip = json_pack("{s:s, s:s, s:i}", "address", addr, "gateway", gw, "interface", 1);
	/* 0.4.0 results name the IP version; 1.0.0 dropped the field */
	if (!strcmp(r->cni_version, "0.4.0"))
		json_object_set_new(ip, "version", json_string("4"));
	return json_pack("{s:s, s:[{s:O, s:O}, {s:s, s:O, s:s}], s:[o], s:[{s:s, s:s}], s:{}}",
			 "cniVersion", r->cni_version, "interfaces", "name",
			 json_object_get(ep, "host_ifname"), "mac", json_object_get(k, "host_mac"),
			 "name", r->ifname, "mac", json_object_get(k, "mac"), "sandbox", r->netns,
			 "ips", ip, "routes", "dst", "0.0.0.0/0", "gw", gw, "dns");
}

/* The address asked for (IP= or the ips capability), without a prefix length. */
static int wanted_ip(const struct cni_req *r, char *out, size_t len, struct cni_err *e)
{
	const char *ip = r->ip ? r->ip : r->rc_ip;
	struct in_addr a;
	char *slash;

	out[0] = '\0';
	if (!ip)
		return 0;
	snprintf(out, len, "%s", ip);
	slash = strchr(out, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, out, &a) != 1)
		return cni_fail(e, r->ip ? CNI_ERR_ENV : CNI_ERR_CONFIG, "invalid address",
				"%s '%s': not an IPv4 address",
				r->ip ? "CNI_ARGS IP" : "runtimeConfig.ips", ip);
	return 0;
}

int cni_cmd_add(struct cni_req *r, struct cni_err *e)
{
	char name[64], ip[64], full[200];
	json_t *req, *resp = NULL, *k = NULL, *result;
	struct cni_err ignored;
	long status;
	int rc = -1;

	if (r->prev_result)
		return cni_fail(e, CNI_ERR_CONFIG, "invalid network config",
				"prevResult: velum-cni makes the interface itself and must be the "
				"first plugin of the list");
	if (wanted_ip(r, ip, sizeof(ip), e))
		return -1;
	endpoint_name(r, name, sizeof(name));
	req = json_pack("{s:s, s:s, s:[s], s:s, s:s, s:s}", "name", name, "namespace",
			r->pod_namespace ? r->pod_namespace : r->ep_namespace, "labels",
			"reserved:init", "netns", r->netns, "ifname", r->ifname, "container_id",
			r->container_id);
	if (!req)
		return cni_fail(e, CNI_ERR_IO, "out of memory", "building the request");
	if (ip[0])
		json_object_set_new(req, "ipv4", json_string(ip));
	json_object_set_new(req, "runtime", runtime_json(r));
	if (!json_object_get(req, "runtime"))
		json_object_del(req, "runtime");
	if (cni_call(r->socket, "POST", "/v1/endpoints", req, &status, &resp, e))
		goto out;
	snprintf(full, sizeof(full), "%s", json_string_value(json_object_get(resp, "name")));
	k = bpf_endpoint(r, json_integer_value(json_object_get(resp, "id")), e);
	result = k ? add_result(r, resp, k) : NULL;
	if (!result) {
		/* a failed ADD leaves nothing behind */
		if (k)
			cni_fail(e, CNI_ERR_IO, "out of memory", "building the result");
		delete_endpoint(r, full, &ignored);
		goto out;
	}
	json_dumpf(result, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
	json_decref(result);
	rc = 0;
out:
	json_decref(k);
	json_decref(resp);
	json_decref(req);
	return rc;
}

int cni_cmd_del(struct cni_req *r, struct cni_err *e)
{
	json_t *ep;
	int rc = 0;

	if (find_endpoint(r, &ep, e))
		return -1;
	if (ep)
		rc = delete_endpoint(r, json_string_value(json_object_get(ep, "name")), e);
	json_decref(ep);
	return rc;
}

/* prevResult's address on interface ifname, and that interface's MAC. */
static bool prev_has(json_t *prev, const char *ifname, const char *addr, const char *mac)
{
	json_t *ifs = json_object_get(prev, "interfaces"), *v;
	json_int_t at = -1;
	size_t i;

	json_array_foreach(ifs, i, v)
	{
		const char *n = json_string_value(json_object_get(v, "name"));
		const char *m = json_string_value(json_object_get(v, "mac"));

		if (n && !strcmp(n, ifname) && json_object_get(v, "sandbox")) {
			if (m && mac && strcasecmp(m, mac))
				return false;
			at = (json_int_t)i;
		}
	}
	json_array_foreach(json_object_get(prev, "ips"), i, v)
	{
		const char *a = json_string_value(json_object_get(v, "address"));

		if (a && !strcmp(a, addr) &&
		    json_integer_value(json_object_get(v, "interface")) == at)
			return true;
	}
	return false;
}

int cni_cmd_check(struct cni_req *r, struct cni_err *e)
{
	json_t *ep = NULL, *k = NULL;
	const char *state, *netns, *name;
	char addr[40];
	int rc = -1;

	if (!r->prev_result)
		return cni_fail(e, CNI_ERR_CONFIG, "invalid network config",
				"prevResult: missing (CHECK compares with the result of ADD)");
	if (find_endpoint(r, &ep, e))
		return -1;
	if (!ep)
		return cni_fail(e, CNI_ERR_MISMATCH, "no endpoint",
				"velumd has no endpoint for container %s interface %s",
				r->container_id, r->ifname);
	name = json_string_value(json_object_get(ep, "name"));
	state = json_string_value(json_object_get(ep, "state"));
	netns = json_string_value(json_object_get(ep, "netns"));
	if (!state || strcmp(state, "ready")) {
		cni_fail(e, CNI_ERR_MISMATCH, "endpoint not ready", "endpoint %s: %s", name,
			 json_string_value(json_object_get(ep, "error")));
		goto out;
	}
	if (!netns || strcmp(netns, r->netns)) {
		cni_fail(e, CNI_ERR_MISMATCH, "endpoint in another namespace",
			 "endpoint %s: namespace %s, CNI_NETNS %s", name, netns, r->netns);
		goto out;
	}
	k = bpf_endpoint(r, json_integer_value(json_object_get(ep, "id")), e);
	if (!k)
		goto out;
	snprintf(addr, sizeof(addr), "%s/32", json_string_value(json_object_get(ep, "ipv4")));
	if (!prev_has(r->prev_result, r->ifname, addr,
		      json_string_value(json_object_get(k, "mac")))) {
		cni_fail(e, CNI_ERR_MISMATCH, "endpoint differs from the ADD result",
			 "endpoint %s: %s on %s (mac %s) is not what prevResult says", name, addr,
			 r->ifname, json_string_value(json_object_get(k, "mac")));
		goto out;
	}
	rc = 0;
out:
	json_decref(k);
	json_decref(ep);
	return rc;
}

int cni_cmd_status(struct cni_req *r, struct cni_err *e)
{
	json_t *resp = NULL;
	long status;

	if (cni_call(r->socket, "GET", "/v1/status", NULL, &status, &resp, e)) {
		/* STATUS says "not available" (50) rather than "try again" */
		e->code = 50;
		return -1;
	}
	json_decref(resp);
	return 0;
}

static bool attachment_valid(json_t *valid, const char *cid, const char *ifname)
{
	json_t *v;
	size_t i;

	json_array_foreach(valid, i, v)
	{
		const char *c = json_string_value(json_object_get(v, "containerID"));
		const char *n = json_string_value(json_object_get(v, "ifname"));

		if (c && n && !strcmp(c, cid) && !strcmp(n, ifname))
			return true;
	}
	return false;
}

int cni_cmd_gc(struct cni_req *r, struct cni_err *e)
{
	json_t *valid = json_object_get(r->conf, "cni.dev/valid-attachments"), *list, *ep;
	struct cni_err one;
	size_t i;
	int rc = 0;

	if (valid && !json_is_array(valid))
		return cni_fail(e, CNI_ERR_CONFIG, "invalid network config",
				"cni.dev/valid-attachments: expected a list");
	list = list_endpoints(r, e);
	if (!list)
		return -1;
	/* endpoints a runtime made (they have a container id) in this network's namespace */
	json_array_foreach(list, i, ep)
	{
		const char *cid = json_string_value(json_object_get(ep, "container_id"));
		const char *ifn = json_string_value(json_object_get(ep, "ifname"));
		const char *ns = json_string_value(json_object_get(ep, "namespace"));

		if (!cid || !ifn || !ns || strcmp(ns, r->ep_namespace) ||
		    attachment_valid(valid, cid, ifn))
			continue;
		if (delete_endpoint(r, json_string_value(json_object_get(ep, "name")), &one) && !rc)
			rc = -1, *e = one;
	}
	json_decref(list);
	return rc;
}
