/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Handler of POST /v1/trace: a flow traced through the live model (the
 * same pol_trace_run() as the offline trace).
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
#include "lib/proto.h"
#include "lib/strbuf.h"
#include "policy/trace.h"
#include "velum/drop.h"
#include "velum/events.h"

enum MHD_Result agent_api_trace(const struct api_call *call)
{
	struct agent *a = call->a;
	const char *fmt = agent_api_query(call, "format");
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
	/* the mode this velumd gave the datapath */
	q.allow_localhost = a->o.allow_localhost;
	if (json_unpack_ex(call->body, NULL, JSON_STRICT, "{s:s, s:s, s?:s, s?:I, s?:I, s?:o}",
			   "from", &from, "to", &to, "protocol", &proto, "dport", &dport,
			   "icmp_type", &icmp, "http", &http))
		return agent_api_error(call, 400,
				       "expected {\"from\", \"to\", \"protocol\"?, \"dport\"?, "
				       "\"icmp_type\"?, \"http\"?}");
	if (http && json_unpack_ex(http, NULL, JSON_STRICT, "{s:s, s:s, s?:s, s?:o}", "method",
				   &method, "path", &path, "host", &host, "headers", &headers))
		return agent_api_error(call, 400,
				       "http: expected {\"method\", \"path\", \"host\"?, "
				       "\"headers\"?: [\"Name: value\"]}");
	if ((dport < 0) == (icmp < 0))
		return agent_api_error(call, 400, "give exactly one of dport and icmp_type");
	if (icmp >= 0) {
		if (icmp > 255)
			return agent_api_error(call, 400, "icmp_type: expected 0-255");
		q.proto = IPPROTO_ICMP;
		q.dport = (uint16_t)icmp;
	} else {
		if (dport < 1 || dport > 65535)
			return agent_api_error(call, 400, "dport: expected 1-65535");
		q.dport = (uint16_t)dport;
		if (proto_parse(proto, &q.proto) || !proto_has_ports(q.proto))
			return agent_api_error(call, 400, "protocol: expected TCP, UDP or SCTP");
	}
	if (http) {
		if (q.proto != IPPROTO_TCP)
			return agent_api_error(call, 400, "an HTTP trace needs a TCP dport");
		q.http = true;
		q.req.method = sv_from(method);
		q.req.path = sv_from(path);
		q.req.host = sv_from(host ? host : "");
		for (i = 0; headers && i < json_array_size(headers); i++) {
			const char *hs = json_string_value(json_array_get(headers, i));
			const char *colon = hs ? strchr(hs, ':') : NULL, *v;

			if (!colon || colon == hs || i >= 32)
				return agent_api_error(
					call, 400,
					"http.headers: expected at most 32 'Name: value'");
			v = colon + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			hf[i].name.p = hs;
			hf[i].name.len = (size_t)(colon - hs);
			hf[i].value = sv_from(v);
		}
		q.req.headers = hf;
		q.req.nheaders = i;
		if (pol_trace_request_check(&q.req, &eb)) {
			errbuf_prefix(&eb, "http: ");
			return agent_api_error(call, 400, eb.msg);
		}
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
		return agent_api_error(call, 400, eb.msg);
	}
	if (out.oom) {
		strbuf_free(&out);
		return agent_api_send_buf(call->c, 500, NULL, 0, "application/json");
	}
	{
		size_t len = out.len;

		return agent_api_send_buf(call->c, 200, strbuf_detach(&out), len,
					  text ? "text/plain; charset=utf-8" : "application/json");
	}
}
