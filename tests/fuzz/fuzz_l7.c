/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the L7 parsers of untrusted bytes: the input is
 * normalized as a request target (the result must never outgrow the input,
 * and normalizing it again must change nothing), matched against a fixed
 * HTTP rule list, and read as an L7 snapshot (the deserializer must fail
 * cleanly, or build a snapshot whose bytes survive another round trip).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "l7/normalize.h"
#include "policy/http.h"
#include "policy/l7snap.h"

static struct pol_http_matcher *rules(void)
{
	static struct pol_http_matcher *m;
	static struct pol_http_rule r[3] = {
		{ .method = (char *)"GET|HEAD", .path = (char *)"/v1/.*" },
		{ .path = (char *)"/(a+)+b|/public(/.*)?" },
		{ .method = (char *)"POST",
		  .path = (char *)"/v1/request-landing",
		  .host = (char *)"deathstar(:80)?" },
	};
	struct errbuf eb;

	if (!m)
		m = pol_http_matcher__new(r, 3, &eb);
	if (!m)
		abort();
	return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sv in = { (const char *)data, size };
	char *out = malloc(size + 1), *again = malloc(size + 1);
	struct pol_l7_snapshot *s;
	struct errbuf eb;
	size_t len, len2, idx;

	if (!out || !again)
		abort();
	if (l7_path_normalize(in, out, size, &len, NULL) == L7_NORM_OK) {
		struct pol_http_request req = { SV("GET"), { out, len }, SV("deathstar"), NULL, 0 };

		if (len > size)
			abort();
		if (l7_path_normalize((struct sv){ out, len }, again, len, &len2, NULL) !=
			    L7_NORM_OK ||
		    len2 != len || memcmp(out, again, len))
			abort();
		if (pol_http_matcher_match(rules(), &req, &idx) < 0)
			abort();
	}
	s = pol_l7_snapshot_deserialize(data, size, &eb);
	if (s) {
		/* What was accepted serializes to a fixed point of the round trip. */
		struct strbuf a = STRBUF_INIT, b = STRBUF_INIT;
		struct pol_l7_snapshot *t;

		if (pol_l7_snapshot_serialize(s, &a))
			abort();
		t = pol_l7_snapshot_deserialize(a.p, a.len, &eb);
		if (!t || pol_l7_snapshot_serialize(t, &b) || a.len != b.len ||
		    memcmp(a.p, b.p, a.len))
			abort();
		strbuf_free(&a);
		strbuf_free(&b);
		pol_l7_snapshot__put(t);
		pol_l7_snapshot__put(s);
	}
	free(out);
	free(again);
	return 0;
}
