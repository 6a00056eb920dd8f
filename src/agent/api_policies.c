/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Handlers of /v1/policies: the loaded policies (their files' texts only
 * when asked for: ?source=1, each file once), import (all files or
 * nothing), delete.
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

/* One policy's object: no source (GET /v1/policies?source=1 sends each file once). */
static json_t *policy_obj(const char *kind, const char *ns, const char *name,
			  const struct pol_policy *p, bool audit, uint32_t first_rule_id,
			  const char *imported)
{
	json_t *j = json_pack(
		"{s:s, s:s?, s:s, s:s, s:b, s:i, s:I, s:s}", "kind", kind, "namespace",
		ns && *ns ? ns : NULL, "name", name, "file", p && p->file ? p->file : "", "audit",
		p ? p->audit : audit, "rules", p ? (int)p->nrules : 0, "first_rule_id",
		(json_int_t)(p ? p->first_rule_id : first_rule_id), "imported", imported);

	if (j && p && p->rules && p->nrules && p->rules[0].description &&
	    json_object_set_new(j, "description", json_string(p->rules[0].description))) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

/*
 * "hits": the flows each of p's rules decided since velumd started (policy
 * verdicts, kernel and L7): [{"id", "rule": its reference, "allowed",
 * "denied"}], in rule id order. a->lock held (takes flow_lock inside).
 */
static json_t *rule_hits(struct agent *a, const struct pol_policy *p)
{
	json_t *arr = json_array();
	struct strbuf ref = STRBUF_INIT;
	size_t r, d, e;

	for (r = 0; arr && r < p->nrules; r++)
		for (d = 0; d < 2; d++)
			for (e = 0; e < p->rules[r].nentries[d]; e++) {
				uint32_t id = p->rules[r].entries[d][e].id;
				struct mon_hm_rule h;
				json_t *o;

				pthread_mutex_lock(&a->flow_lock);
				h = mon_hubble_rule_hits(&a->hubble, id);
				pthread_mutex_unlock(&a->flow_lock);
				strbuf_reset(&ref);
				pol_engine_rule_name(model_engine(a->m), id, &ref);
				o = json_pack("{s:I, s:s, s:I, s:I}", "id", (json_int_t)id, "rule",
					      strbuf_str(&ref), "allowed", (json_int_t)h.allowed,
					      "denied", (json_int_t)h.denied);
				if (!o || json_array_append_new(arr, o)) {
					json_decref(arr);
					arr = NULL;
					break;
				}
			}
	strbuf_free(&ref);
	return arr;
}

struct pol_ctx {
	struct agent *a;
	json_t *arr;
	const char *kind, *ns, *name; /* filters, or NULL */
	VEC(int64_t) file_ids;	      /* of the selected policies, each once (for sources) */
};

static int policy_row(void *ctx, const struct agent_store_policy *row)
{
	struct pol_ctx *c = ctx;
	enum pol_kind k;
	const struct pol_policy *p;
	json_t *j;
	size_t i;

	if ((c->name && strcmp(c->name, row->name)) || (c->ns && strcmp(c->ns, row->ns)) ||
	    (c->kind && strcmp(c->kind, row->kind)))
		return 0;
	p = pol_kind_parse(row->kind, &k) ? NULL :
					    pol_engine_policy(model_engine(c->a->m), k,
							      *row->ns ? row->ns : NULL, row->name);
	j = policy_obj(row->kind, row->ns, row->name, p, row->audit, row->first_rule_id,
		       row->imported);
	if (j && json_object_set_new(j, "hits", p ? rule_hits(c->a, p) : json_array())) {
		json_decref(j);
		j = NULL;
	}
	if (!j || json_array_append_new(c->arr, j))
		return -ENOMEM;
	/* rows of one file are usually together: a check of the last one keeps this linear */
	for (i = c->file_ids.n; i-- > 0 && c->file_ids.n - i <= 8;)
		if (c->file_ids.v[i] == row->file_id)
			return 0;
	return vec_push(&c->file_ids, row->file_id);
}

static int cmp_i64(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;

	return a < b ? -1 : a > b;
}

/* {"file", "content"} of each file in ids (sorted, each once), into arr. */
static int sources_json(struct agent *a, int64_t *ids, size_t n, json_t *arr, struct errbuf *eb)
{
	size_t i, w;
	int err = 0;

	if (n)
		qsort(ids, n, sizeof(*ids), cmp_i64);
	for (i = w = 0; i < n; i++)
		if (!w || ids[w - 1] != ids[i])
			ids[w++] = ids[i];
	for (i = 0; i < w && !err; i++) {
		char *name = NULL, *text = NULL;
		size_t len = 0;
		json_t *j;

		err = agent_store_file_read(a->st_read, ids[i], &name, &text, &len, eb);
		if (err)
			break;
		j = json_pack("{s:s, s:s%}", "file", name, "content", text, len);
		free(name);
		free(text);
		if (!j || json_array_append_new(arr, j))
			err = -ENOMEM;
	}
	return err;
}

enum MHD_Result agent_api_policies_get(const struct api_call *call)
{
	struct agent *a = call->a;
	const char *src = agent_api_query(call, "source");
	struct pol_ctx c = { .a = a };
	bool want_src = src && strcmp(src, "0");
	struct errbuf eb;
	json_t *j = NULL, *sources = NULL;
	int err;

	errbuf_clear(&eb);
	c.kind = agent_api_query(call, "kind");
	c.ns = agent_api_query(call, "namespace");
	c.name = agent_api_query(call, "name");
	if (c.kind && !*c.kind)
		c.kind = NULL;
	if (c.kind) {
		enum pol_kind k;

		if (pol_kind_parse(c.kind, &k))
			return agent_api_error(call, 400, "unknown policy kind");
		c.kind = pol_kind_name(k);
	}
	if (c.name && !*c.name)
		c.name = NULL;
	c.arr = json_array();
	sources = want_src ? json_array() : NULL;
	/*
	 * The rows and the model under a->lock, in one read transaction of the
	 * readers' connection; the sources (megabytes, maybe) after a->lock,
	 * from the same snapshot: a commit meanwhile changes nothing read.
	 */
	pthread_mutex_lock(&a->read_lock);
	pthread_mutex_lock(&a->lock);
	err = c.arr && (sources || !want_src) ? 0 : -ENOMEM;
	if (!err)
		err = agent_store_read_begin(a->st_read, &eb);
	if (!err)
		err = agent_store_policy_foreach_where(a->st_read, c.kind, c.ns, c.name, policy_row,
						       &c, &eb);
	if (!err)
		j = json_pack("{s:I, s:O}", "revision", (json_int_t)a->revision, "policies", c.arr);
	pthread_mutex_unlock(&a->lock);
	if (!err && want_src)
		err = sources_json(a, c.file_ids.v, c.file_ids.n, sources, &eb);
	agent_store_read_end(a->st_read);
	pthread_mutex_unlock(&a->read_lock);
	vec_free(&c.file_ids);
	json_decref(c.arr);
	if (!err && !j)
		err = -ENOMEM;
	if (!err && sources && json_object_set(j, "sources", sources))
		err = -ENOMEM;
	json_decref(sources);
	if (err) {
		json_decref(j);
		if (err == -ENOMEM && errbuf_empty(&eb))
			errbuf_set(&eb, -ENOMEM, "out of memory");
		return agent_api_fail(call, err, &eb);
	}
	return agent_api_reply(call, 200, j);
}

/* The import's answer: the loaded policies from the engine (no store read, no sources). */
static json_t *imported_json(struct agent *a, char *const *loaded, size_t n)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; arr && i < n; i++) {
		char kind[64], ns[256], name[256];
		const char *t1 = strchr(loaded[i], '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
		const struct pol_policy *p;
		enum pol_kind k;
		json_t *j;

		if (!t2)
			continue;
		snprintf(kind, sizeof(kind), "%.*s", (int)(t1 - loaded[i]), loaded[i]);
		snprintf(ns, sizeof(ns), "%.*s", (int)(t2 - t1 - 1), t1 + 1);
		snprintf(name, sizeof(name), "%s", t2 + 1);
		if (pol_kind_parse(kind, &k))
			continue;
		p = pol_engine_policy(model_engine(a->m), k, ns[0] ? ns : NULL, name);
		j = policy_obj(kind, ns, name, p, false, 0, a->last_import);
		if (!j || json_array_append_new(arr, j)) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

enum MHD_Result agent_api_policies_import(const struct api_call *call)
{
	struct agent *a = call->a;
	struct agent_file *files = NULL;
	json_t *fj = NULL, *arr = NULL, *out = NULL, *warn;
	char **loaded = NULL, *warnings = NULL, *s, *save;
	struct agent_parsed *parsed = NULL;
	size_t nloaded = 0, nfiles, i;
	struct errbuf eb;
	bool warn_lost = false, dry;
	uint64_t rev, rev0;
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
	/* a dry run goes as far as the import before anything is written; the CLI works out the effects */
	dry = agent_api_query(call, "dry_run") && strcmp(agent_api_query(call, "dry_run"), "0");
	/* parsed before the lock: a big import's parse holds up nobody */
	err = agent_policy_parse(a, files, nfiles, audit, &parsed, &eb);
	/* the writer's lock: readers wait only for the commit inside */
	pthread_mutex_lock(&a->wlock);
	rev0 = rev = a->revision;
	if (!err)
		err = agent_policy_import_parsed(a, files, nfiles, audit, dry, parsed, &loaded,
						 &nloaded, &warnings, &eb);
	rev = a->revision;
	if (!dry) {
		pthread_mutex_lock(&a->lock);
		a->policy_changes[err ? 1 : 0]++;
		pthread_mutex_unlock(&a->lock);
	}
	if (!err && dry) {
		out = json_pack("{s:b, s:[]}", "dry_run", 1, "warnings");
	} else if (!err) {
		/* every change makes a revision: none made, the files were loaded as they are */
		arr = imported_json(a, loaded, nloaded);
		out = arr ? json_pack("{s:I, s:o, s:[], s:[], s:b}", "revision", (json_int_t)rev,
				      "policies", arr, "namespaces", "warnings", "unchanged",
				      rev == rev0) :
			    NULL;
		/* the Namespace objects imported: "Namespace\t\tname" */
		for (i = 0; out && i < nloaded; i++)
			if (!strncmp(loaded[i], "Namespace\t\t", 11))
				json_array_append_new(json_object_get(out, "namespaces"),
						      json_string(loaded[i] + 11));
	}
	pthread_mutex_unlock(&a->wlock);
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
	if (dry && (!out || warn_lost)) {
		json_decref(out);
		return agent_api_error(call, 500, "out of memory");
	}
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
	pthread_mutex_lock(&a->wlock);
	err = agent_policy_delete(a, kind, ns, name, all && strcmp(all, "0"), &deleted, &eb);
	pthread_mutex_lock(&a->lock);
	if (err != -ENOENT) /* a name that matched nothing is no change that failed */
		a->policy_changes[err ? 1 : 0]++;
	pthread_mutex_unlock(&a->lock);
	rev = a->revision;
	pthread_mutex_unlock(&a->wlock);
	if (err)
		return agent_api_fail(call, err, &eb);
	return agent_api_reply(call, 200,
			       json_pack("{s:I, s:I}", "revision", (json_int_t)rev, "deleted",
					 (json_int_t)deleted));
}
