/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Handlers of /v1/identities: every security identity, or one, with its
 * labels, CIDR and endpoints.
 */
#include "agent/api_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
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

const char *agent_api_cidr_of(const struct id_entry *ie, char *buf, size_t len)
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
			 agent_api_labels_json(&ie->labels), "reserved", ie->reserved, "name",
			 id_reserved_name(ie->id), "cidr",
			 agent_api_cidr_of(ie, cidr, sizeof(cidr)), "endpoints", names);
}

enum MHD_Result agent_api_identities(const struct api_call *call)
{
	struct agent *a = call->a;
	const struct id_entry **all;
	json_t *out = NULL;
	long n, i;
	char *end, msg[128];
	unsigned long want = 0;

	if (call->arg) {
		errno = 0;
		want = strtoul(call->arg, &end, 10);
		/* strtoul() takes a sign ("-1" is ULONG_MAX): digits only */
		if (errno || *end || !isdigit((unsigned char)*call->arg) || want > UINT32_MAX) {
			snprintf(msg, sizeof(msg),
				 "'%.64s' is not an identity number (0-4294967295)", call->arg);
			return agent_api_error(call, 400, msg);
		}
	}
	pthread_mutex_lock(&a->lock);
	n = id_alloc_list(model_ids(a->m), &all);
	if (n >= 0) {
		out = call->arg ? NULL : json_array();
		for (i = 0; i < n; i++) {
			if (call->arg && all[i]->id == want)
				out = identity_json(a, all[i]);
			else if (!call->arg && out)
				json_array_append_new(out, identity_json(a, all[i]));
		}
		free(all);
	}
	pthread_mutex_unlock(&a->lock);
	if (call->arg && !out) {
		snprintf(msg, sizeof(msg), "no identity %lu", want);
		return agent_api_error(call, 404, msg);
	}
	return agent_api_reply(call, 200, out);
}
