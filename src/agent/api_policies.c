/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Handlers of /v1/policies: the loaded policies with their sources, import
 * (all files or nothing), delete.
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

enum MHD_Result agent_api_policies_get(const struct api_call *call)
{
	struct agent *a = call->a;
	struct errbuf eb;
	json_t *arr, *j = NULL;

	errbuf_clear(&eb);
	pthread_mutex_lock(&a->lock);
	arr = policies_json(a, NULL, 0, &eb);
	if (arr)
		j = json_pack("{s:I, s:o}", "revision", (json_int_t)a->revision, "policies", arr);
	pthread_mutex_unlock(&a->lock);
	if (!arr)
		return agent_api_fail(call, -EIO, &eb);
	return agent_api_reply(call, 200, j);
}

enum MHD_Result agent_api_policies_import(const struct api_call *call)
{
	struct agent *a = call->a;
	struct agent_file *files = NULL;
	json_t *fj = NULL, *arr = NULL, *out = NULL, *warn;
	char **loaded = NULL, *warnings = NULL, *s, *save;
	size_t nloaded = 0, nfiles, i;
	struct errbuf eb;
	bool warn_lost = false;
	uint64_t rev;
	int audit = 0, err;

	errbuf_clear(&eb);
	if (json_unpack_ex(call->body, NULL, JSON_STRICT, "{s:o, s?:b}", "files", &fj, "audit",
			   &audit) ||
	    !json_is_array(fj) || !json_array_size(fj))
		return agent_api_error(
			call, 400,
			"expected {\"files\": [{\"name\": string, \"content\": string}], "
			"\"audit\"?: bool}");
	nfiles = json_array_size(fj);
	files = calloc(nfiles, sizeof(*files));
	if (!files)
		return agent_api_error(call, 500, "out of memory");
	for (i = 0; i < nfiles; i++) {
		json_t *cj = NULL;

		if (json_unpack(json_array_get(fj, i), "{s:s, s:o}", "name", &files[i].name,
				"content", &cj) ||
		    !json_is_string(cj)) {
			free(files);
			return agent_api_error(call, 400,
					       "files[]: expected {\"name\": string, \"content\": "
					       "string}");
		}
		files[i].content = json_string_value(cj);
		files[i].len = json_string_length(cj);
	}
	pthread_mutex_lock(&a->lock);
	err = agent_policy_import(a, files, nfiles, audit, &loaded, &nloaded, &warnings, &eb);
	rev = a->revision;
	if (!err) {
		arr = policies_json(a, loaded, nloaded, &eb);
		out = arr ? json_pack("{s:I, s:o, s:[]}", "revision", (json_int_t)rev, "policies",
				      arr, "warnings") :
			    NULL;
	}
	pthread_mutex_unlock(&a->lock);
	warn = out ? json_object_get(out, "warnings") : NULL;
	for (s = warnings ? strtok_r(warnings, "\n", &save) : NULL; s && warn;
	     s = strtok_r(NULL, "\n", &save))
		if (json_array_append_new(warn, json_string(s)))
			warn_lost = true;
	for (i = 0; i < nloaded; i++)
		free(loaded[i]);
	free(loaded);
	free(warnings);
	free(files);
	if (err)
		return agent_api_fail(call, err, &eb);
	if (!out || warn_lost) {
		/*
		 * The import is done (committed, enforced); only its answer could
		 * not be built. Say that it succeeded, never answer 500 for it.
		 */
		char msg[256];

		json_decref(out);
		pr_warn("velumd: policy import (revision %llu) done, but its answer failed: %s\n",
			(unsigned long long)rev, eb.msg[0] ? eb.msg : "out of memory");
		snprintf(msg, sizeof(msg),
			 "{\"revision\":%llu,\"policies\":[],\"warnings\":[\"imported; listing the "
			 "policies failed (out of memory): see velum policy get\"]}\n",
			 (unsigned long long)rev);
		return agent_api_send_copy(call->c, 200, msg, "application/json");
	}
	return agent_api_reply(call, 200, out);
}

enum MHD_Result agent_api_policies_delete(const struct api_call *call)
{
	struct agent *a = call->a;
	const char *kind = agent_api_query(call, "kind");
	const char *ns = agent_api_query(call, "namespace");
	const char *name = agent_api_query(call, "name");
	const char *all = agent_api_query(call, "all");
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
		return agent_api_fail(call, err, &eb);
	return agent_api_reply(call, 200,
			       json_pack("{s:I, s:I}", "revision", (json_int_t)rev, "deleted",
					 (json_int_t)deleted));
}
