/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the policy decoder and everything behind it: the
 * input is parsed as a policy file (YAML, JSON, or sniffed, by the first
 * byte); what parses is loaded into a model with a few endpoints, resolved,
 * traced and linted, so the engine, map states and the L7 decision see every
 * policy shape the fuzzer finds. Errors must be clean; nothing may leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "model/model.h"
#include "policy/parse.h"
#include "policy/trace.h"

static void add_endpoints(struct model *m)
{
	static const char *const l1[] = { "org=empire", "class=deathstar" };
	static const char *const l2[] = { "org=empire", "class=tiefighter" };
	static const char *const l3[] = { "org=alliance", "app=db" };
	static const struct pol_named_port http = { "http", 80, IPPROTO_TCP };
	uint32_t a1 = htonl(0x0ac80001), a2 = htonl(0x0ac80002), a3 = htonl(0x0ac80003);

	model_endpoint_add(m, 0, "default/deathstar", "default", l1, 2, &a1, 1, &http, 1, false,
			   NULL, NULL);
	model_endpoint_add(m, 0, "default/tiefighter", "default", l2, 2, &a2, 1, NULL, 0, false,
			   NULL, NULL);
	model_endpoint_add(m, 0, "ops/db", "ops", l3, 2, &a3, 1, &http, 1, true, NULL, NULL);
}

static void trace_some(struct model *m)
{
	static const char *const peers[] = { "deathstar", "tiefighter", "ops/db", "world",
					     "192.0.2.1" };
	static const struct {
		uint8_t proto;
		uint16_t port;
	} probes[] = {
		{ IPPROTO_TCP, 80 }, { IPPROTO_UDP, 53 }, { IPPROTO_ICMP, 8 }, { IPPROTO_TCP, 8080 }
	};
	char b1[INET_ADDRSTRLEN], b2[INET_ADDRSTRLEN];
	struct strbuf sb = STRBUF_INIT;
	size_t i, j, k;

	for (i = 0; i < 5; i++)
		for (j = 0; j < 5; j++)
			for (k = 0; k < 4; k++) {
				struct pol_trace_query q = { .proto = probes[k].proto,
							     .dport = probes[k].port };
				struct pol_trace_result r;

				if (model_peer(m, peers[i], &q.src, b1, NULL) ||
				    model_peer(m, peers[j], &q.dst, b2, NULL))
					continue;
				if (q.proto == IPPROTO_TCP) {
					q.http = true;
					q.req.method = SV("GET");
					q.req.path = SV("/v1/x?y=1");
					q.req.host = SV("deathstar");
				}
				pol_trace_run(&q, &r);
				strbuf_reset(&sb);
				pol_trace_format_json(model_engine(m), &q, &r, &sb);
			}
	strbuf_free(&sb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "f.yaml", "f.json", "f" };
	struct pol_set set = { 0 };
	struct errbuf eb;
	struct model *m;
	const char *name;

	if (!size)
		return 0;
	/* the first byte picks the file name, hence the reader */
	name = names[data[0] % 3];
	data++;
	size--;
	if (pol_parse_buf(name, (const char *)data, size, &set, &eb))
		return 0;
	m = model__new();
	if (m) {
		add_endpoints(m);
		if (!model_policies_load(m, &set) && !model_regenerate(m, NULL, NULL)) {
			struct strbuf lint = STRBUF_INIT;

			trace_some(m);
			pol_engine_lint(model_engine(m), &lint);
			strbuf_free(&lint);
		}
		model__free(m);
	}
	pol_set_free(&set);
	return 0;
}
