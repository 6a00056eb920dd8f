/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The runtime's side of the CNI contract: the CNI_* environment, the
 * network configuration on stdin, VERSION and the error object. Every
 * refusal names the variable or field and the value at fault.
 */
#include "cni/cni.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const cni_versions[] = { "0.4.0", "1.0.0", "1.1.0", NULL };

int cni_fail(struct cni_err *e, int code, const char *msg, const char *fmt, ...)
{
	va_list ap;

	e->code = code;
	snprintf(e->msg, sizeof(e->msg), "%s", msg);
	va_start(ap, fmt);
	vsnprintf(e->details, sizeof(e->details), fmt, ap);
	va_end(ap);
	return -1;
}

static bool version_known(const char *v)
{
	size_t i;

	for (i = 0; cni_versions[i]; i++)
		if (!strcmp(cni_versions[i], v))
			return true;
	return false;
}

void cni_print_error(const struct cni_err *e, const char *version)
{
	json_t *j = json_pack("{s:s, s:i, s:s, s:s}", "cniVersion",
			      version && version_known(version) ? version : cni_versions[2], "code",
			      e->code, "msg", e->msg, "details", e->details);

	if (j)
		json_dumpf(j, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
	json_decref(j);
}

json_t *cni_version_result(const char *text, size_t len)
{
	json_t *conf = json_loadb(text, len, 0, NULL), *sup = json_array(), *out;
	const char *v = json_string_value(json_object_get(conf, "cniVersion"));
	size_t i;

	for (i = 0; cni_versions[i]; i++)
		json_array_append_new(sup, json_string(cni_versions[i]));
	/* no configuration (or none readable): answer in the newest version */
	out = json_pack("{s:s, s:o}", "cniVersion", v ? v : cni_versions[2], "supportedVersions",
			sup);
	json_decref(conf);
	return out;
}

/* The spec's rule for CNI_CONTAINERID: a letter or digit, then [A-Za-z0-9_.-]. */
static bool container_id_valid(const char *s)
{
	size_t i;

	if (!isalnum((unsigned char)s[0]) || strlen(s) > 256)
		return false;
	for (i = 1; s[i]; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
			return false;
	return true;
}

/*
 * CNI_ARGS "K=V;K=V": the keys velum reads (K8S_POD_NAME, K8S_POD_NAMESPACE,
 * IP); other keys are refused unless IgnoreUnknown=1 (or true) is given, as
 * the reference plugins do.
 */
static int parse_args(struct cni_req *r, const char *args, struct cni_err *e)
{
	const char *unknown = NULL;
	bool ignore = false;
	char *p, *save = NULL;

	if (!args || !*args)
		return 0;
	if (strlen(args) >= sizeof(r->args_buf))
		return cni_fail(e, CNI_ERR_ENV, "invalid CNI_ARGS",
				"CNI_ARGS: longer than %zu bytes", sizeof(r->args_buf) - 1);
	snprintf(r->args_buf, sizeof(r->args_buf), "%s", args);
	for (p = strtok_r(r->args_buf, ";", &save); p; p = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(p, '=');

		if (!eq || eq == p)
			return cni_fail(e, CNI_ERR_ENV, "invalid CNI_ARGS",
					"CNI_ARGS: '%s' is not KEY=VALUE", p);
		*eq = '\0';
		if (!strcmp(p, "K8S_POD_NAME"))
			r->pod_name = eq + 1;
		else if (!strcmp(p, "K8S_POD_NAMESPACE"))
			r->pod_namespace = eq + 1;
		else if (!strcmp(p, "IP"))
			r->ip = eq + 1;
		else if (!strcmp(p, "IgnoreUnknown"))
			ignore = !strcasecmp(eq + 1, "1") || !strcasecmp(eq + 1, "true");
		else if (!unknown)
			unknown = p;
	}
	if (unknown && !ignore)
		return cni_fail(e, CNI_ERR_ENV, "invalid CNI_ARGS",
				"CNI_ARGS: unknown key '%s' (IgnoreUnknown=1 lets it pass)",
				unknown);
	if (r->ip && !*r->ip)
		r->ip = NULL;
	return 0;
}

static int need_env(const char *name, const char **out, struct cni_err *e)
{
	*out = getenv(name);
	if (!*out || !**out)
		return cni_fail(e, CNI_ERR_ENV, "missing environment variable",
				"%s is not set (the runtime must set it for CNI_COMMAND=%s)", name,
				getenv("CNI_COMMAND"));
	return 0;
}

/* The network configuration's fields velum reads; unknown ones pass (SPEC section 1). */
static int parse_conf(struct cni_req *r, struct cni_err *e)
{
	json_t *c = r->conf, *v, *rc;
	const char *type;

	v = json_object_get(c, "cniVersion");
	if (!json_is_string(v))
		return cni_fail(e, CNI_ERR_CONFIG, "invalid network config",
				"cniVersion: missing or not a string");
	r->cni_version = json_string_value(v);
	if (!version_known(r->cni_version))
		return cni_fail(e, CNI_ERR_VERSION, "incompatible CNI version",
				"cniVersion %s: velum-cni speaks 0.4.0, 1.0.0 and 1.1.0",
				r->cni_version);
	if (!json_is_string(json_object_get(c, "name")))
		return cni_fail(e, CNI_ERR_CONFIG, "invalid network config",
				"name: missing or not a string");
	type = json_string_value(json_object_get(c, "type"));
	if (!type)
		return cni_fail(e, CNI_ERR_CONFIG, "invalid network config",
				"type: missing or not a string");
	if (json_object_get(c, "ipam"))
		return cni_fail(e, CNI_ERR_FIELD, "unsupported field",
				"ipam: velumd assigns addresses (use IP= or the ips capability to "
				"ask for one)");
#define STR_FIELD(key, dst)                                                          \
	do {                                                                         \
		v = json_object_get(c, key);                                         \
		if (v && !json_is_string(v))                                         \
			return cni_fail(e, CNI_ERR_CONFIG, "invalid network config", \
					key ": expected a string");                  \
		dst = json_string_value(v);                                          \
	} while (0)
	STR_FIELD("socket", r->socket);
	STR_FIELD("namespace", r->ep_namespace);
	STR_FIELD("runtime", r->runtime);
#undef STR_FIELD
	if (r->runtime && strcmp(r->runtime, "podman") && strcmp(r->runtime, "none"))
		return cni_fail(e, CNI_ERR_FIELD, "unsupported field",
				"runtime: '%s' (expected \"podman\" or \"none\")", r->runtime);
	if (!r->socket)
		r->socket = getenv("VELUM_SOCKET");
	if (!r->socket || !*r->socket)
		r->socket = CNI_SOCKET_DEFAULT;
	if (!r->ep_namespace)
		r->ep_namespace = "default";
	r->prev_result = json_object_get(c, "prevResult");
	/* the "ips" capability: runtimeConfig {"ips": ["10.0.0.5/24"]} */
	rc = json_object_get(json_object_get(c, "runtimeConfig"), "ips");
	if (rc) {
		if (!json_is_array(rc) || json_array_size(rc) > 1 ||
		    (json_array_size(rc) && !json_is_string(json_array_get(rc, 0))))
			return cni_fail(e, CNI_ERR_CONFIG, "invalid network config",
					"runtimeConfig.ips: expected at most one address string");
		r->rc_ip = json_string_value(json_array_get(rc, 0));
	}
	return 0;
}

int cni_req_parse(struct cni_req *r, const char *text, size_t len, struct cni_err *e)
{
	json_error_t je;
	const char *cmd = r->command;
	bool del = !strcmp(cmd, "DEL"), per_container;

	r->conf = json_loadb(text, len, 0, &je);
	if (!r->conf || !json_is_object(r->conf))
		return cni_fail(e, CNI_ERR_DECODE, "failed to decode the network configuration",
				"stdin: %s", r->conf ? "not a JSON object" : je.text);
	if (parse_conf(r, e))
		return -1;
	per_container = !strcmp(cmd, "ADD") || del || !strcmp(cmd, "CHECK");
	if (!per_container)
		return 0;
	if (need_env("CNI_CONTAINERID", &r->container_id, e) ||
	    need_env("CNI_IFNAME", &r->ifname, e))
		return -1;
	if (!container_id_valid(r->container_id))
		return cni_fail(e, CNI_ERR_ENV, "invalid CNI_CONTAINERID",
				"CNI_CONTAINERID '%.64s': must start with a letter or digit, then "
				"letters, digits, '_', '.' or '-'",
				r->container_id);
	/* DEL may come after the namespace is gone: CNI_NETNS is optional there */
	r->netns = getenv("CNI_NETNS");
	if (r->netns && !*r->netns)
		r->netns = NULL;
	if (!del && !r->netns)
		return need_env("CNI_NETNS", &r->netns, e);
	if (r->netns && r->netns[0] != '/')
		return cni_fail(e, CNI_ERR_ENV, "invalid CNI_NETNS",
				"CNI_NETNS '%s': not an absolute path", r->netns);
	return parse_args(r, getenv("CNI_ARGS"), e);
}
