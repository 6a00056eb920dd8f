/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target over velum-proxy's request path (src/proxy/session.c):
 * bytes from a client in (delivered in pieces whose size the first input
 * byte picks), then checks what came out:
 *  - every request the upstream receives, parsed by a fresh strict llhttp
 *    as a server would, is allowed when judged again by the same rules on
 *    what the server saw (method, target, Host, headers): nothing the rules
 *    refuse gets through, whatever the framing;
 *  - every forwarded target is normalized (normalizing it again changes
 *    nothing): the server sees the target the rules judged;
 *  - the server's parser never fails on the forwarded bytes;
 *  - the upstream sees at most as many requests as the proxy forwarded;
 *  - the client's bytes parse as HTTP responses.
 * The simulated upstream answers each complete request with an empty 200.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <llhttp.h>

#include "l7/normalize.h"
#include "proxy/rules.h"
#include "proxy/session.h"

#define MAXH 128

/* A server's view of one request. */
struct seen {
	char method[32], url[PX_BUF_SIZE], names[MAXH][PX_BUF_SIZE], values[MAXH][PX_BUF_SIZE];
	size_t url_len, name_len[MAXH], value_len[MAXH];
	unsigned n;
	bool in_name;
	unsigned complete; /* requests completed */
	bool trailers;
};

static struct px_rules *rules;
static struct px_pool pool = { .max_free = 16 };
static struct px_stats stats;
static struct seen srv;

static struct px_rules *get_rules(void *arg)
{
	(void)arg;
	return px_rules__get(rules);
}

static const struct px_ctx ctx = { .pool = &pool, .stats = &stats, .rules_get = get_rules };

static void add(char *dst, size_t *len, size_t cap, const char *p, size_t n)
{
	if (*len + n > cap)
		abort(); /* more than the proxy lets through in one head */
	memcpy(dst + *len, p, n);
	*len += n;
}

static int s_url(llhttp_t *p, const char *at, size_t n)
{
	(void)p;
	add(srv.url, &srv.url_len, sizeof(srv.url), at, n);
	return 0;
}

static int s_field(llhttp_t *p, const char *at, size_t n)
{
	(void)p;
	if (srv.trailers)
		return 0;
	if (!srv.in_name) {
		if (srv.n >= MAXH)
			abort();
		srv.name_len[srv.n] = srv.value_len[srv.n] = 0;
		srv.in_name = true;
	}
	add(srv.names[srv.n], &srv.name_len[srv.n], sizeof(srv.names[0]), at, n);
	return 0;
}

static int s_value(llhttp_t *p, const char *at, size_t n)
{
	(void)p;
	if (srv.trailers)
		return 0;
	add(srv.values[srv.n], &srv.value_len[srv.n], sizeof(srv.values[0]), at, n);
	return 0;
}

static int s_value_complete(llhttp_t *p)
{
	(void)p;
	if (!srv.trailers) {
		srv.n++;
		srv.in_name = false;
	}
	return 0;
}

/* The server judges what it parsed: the proxy must have allowed exactly that. */
static int s_headers_complete(llhttp_t *p)
{
	struct pol_http_field f[MAXH];
	struct pol_http_request req = { 0 };
	struct px_decision d;
	unsigned i, nh = srv.n;

	for (i = 0; i < nh; i++) {
		size_t vl = srv.value_len[i];

		while (vl && (srv.values[i][vl - 1] == ' ' || srv.values[i][vl - 1] == '\t'))
			vl--;
		f[i].name = (struct sv){ srv.names[i], srv.name_len[i] };
		f[i].value = (struct sv){ srv.values[i], vl };
		if (srv.name_len[i] == 4 && !strncasecmp(srv.names[i], "host", 4))
			req.host = f[i].value;
	}
	snprintf(srv.method, sizeof(srv.method), "%s", llhttp_method_name(p->method));
	req.method = (struct sv){ srv.method, strlen(srv.method) };
	req.path = (struct sv){ srv.url, srv.url_len };
	req.headers = f;
	req.nheaders = nh;
	if (!sv_eq_str(req.path, "*")) {
		static char norm[PX_BUF_SIZE];
		size_t nlen;

		if (l7_path_normalize(req.path, norm, sizeof(norm), &nlen, NULL) != L7_NORM_OK ||
		    !sv_eq(req.path, (struct sv){ norm, nlen })) {
			fprintf(stderr, "upstream got a target that is not normalized: %.*s\n",
				(int)req.path.len, req.path.p);
			abort();
		}
	}
	px_rules_decide(rules, &req, &d);
	if (!d.allowed) {
		fprintf(stderr, "upstream got a request the rules deny: %.*s %.*s\n",
			(int)req.method.len, req.method.p, (int)req.path.len, req.path.p);
		abort();
	}
	srv.trailers = true;
	return 0;
}

static int s_complete(llhttp_t *p)
{
	(void)p;
	srv.complete++;
	srv.url_len = 0;
	srv.n = 0;
	srv.in_name = false;
	srv.trailers = false;
	return 0;
}

static llhttp_settings_t server_settings = {
	.on_url = s_url,
	.on_header_field = s_field,
	.on_header_value = s_value,
	.on_header_value_complete = s_value_complete,
	.on_headers_complete = s_headers_complete,
	.on_message_complete = s_complete,
};

static llhttp_settings_t client_settings;

/*
 * Which of the client's requests are HEAD, in order (a response to HEAD has
 * no body whatever its content-length says: the client parser must be told,
 * as any client knows what it asked). Filled by parsing the client's bytes
 * as requests, consumed by the client's response parser.
 */
#define MAX_REQS 4096
static struct {
	bool head[MAX_REQS];
	unsigned n, next;
} reqs;
static llhttp_settings_t req_settings;

static int r_headers_complete(llhttp_t *p)
{
	if (reqs.n < MAX_REQS)
		reqs.head[reqs.n++] = llhttp_get_method(p) == HTTP_HEAD;
	return 0;
}

static int c_headers_complete(llhttp_t *p)
{
	bool head;

	if (llhttp_get_status_code(p) < 200)
		return 0; /* 1xx: the final response is still to come */
	head = reqs.next < reqs.n && reqs.head[reqs.next];
	reqs.next++;
	return head ? 1 : 0; /* 1: no body */
}

static struct pol_http_rule mk(const char *method, const char *path, const char *host,
			       const char *hname, const char *hvalue)
{
	struct pol_http_rule r = { 0 };

	if (method)
		r.method = strdup(method);
	if (path)
		r.path = strdup(path);
	if (host)
		r.host = strdup(host);
	if (hname) {
		r.headers = calloc(1, sizeof(*r.headers));
		r.headers->name = strdup(hname);
		r.headers->value = hvalue ? strdup(hvalue) : NULL;
		r.nheaders = 1;
	}
	return r;
}

/* Appends a headerMatches entry with a mismatch action to r. */
static void mk_action(struct pol_http_rule *r, const char *name, const char *value,
		      enum pol_hdr_mismatch mm)
{
	r->headers = realloc(r->headers, (r->nheaders + 1) * sizeof(*r->headers));
	if (!r->headers)
		abort();
	r->headers[r->nheaders].name = strdup(name);
	r->headers[r->nheaders].value = value ? strdup(value) : NULL;
	r->headers[r->nheaders].mismatch = mm;
	r->nheaders++;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct pol_http_rule *r = calloc(5, sizeof(*r));
	struct errbuf eb;

	(void)argc;
	(void)argv;
	r[0] = mk("GET", "/public(/[a-z]*)?", NULL, NULL, NULL);
	r[1] = mk("POST", "/v1/request-landing", "deathstar", NULL, NULL);
	r[2] = mk("PUT", "/v1/.*", NULL, "X-Token", "secret");
	r[3] = mk("HEAD", "/", NULL, NULL, NULL);
	/* header edits: the edited heads must parse and still be allowed */
	r[4] = mk("DELETE", "/v1/.*", NULL, NULL, NULL);
	mk_action(&r[4], "X-User", "anon", POL_MISMATCH_REPLACE);
	mk_action(&r[4], "X-Debug", "0", POL_MISMATCH_DELETE);
	mk_action(&r[4], "X-Env", "prod", POL_MISMATCH_ADD);
	mk_action(&r[4], "X-Token", NULL, POL_MISMATCH_LOG);
	rules = px_rules__new(r, 5, &eb);
	for (size_t i = 0; i < 5; i++)
		pol_http_rule_free(&r[i]);
	free(r);
	if (!rules)
		abort();
	llhttp_settings_init(&client_settings);
	client_settings.on_headers_complete = c_headers_complete;
	llhttp_settings_init(&req_settings);
	req_settings.on_headers_complete = r_headers_complete;
	return 0;
}

static void drain(struct px_session *s, llhttp_t *server, llhttp_t *client)
{
	const char *p;
	size_t n;
	int guard = 0;

	do {
		unsigned before = srv.complete;

		px_session_pump(s);
		s->want_upstream = false;
		if (!s->upstream_drop)
			s->upstream_open = true;
		s->upstream_drop = false;
		p = px_session_upstream_out(s, &n);
		if (n) {
			if (llhttp_execute(server, p, n) != HPE_OK) {
				fprintf(stderr, "server parser: %s\n", llhttp_get_error_reason(server));
				abort();
			}
			px_session_upstream_sent(s, n);
		}
		/* one empty 200 per request the server completed */
		for (; before < srv.complete; before++) {
			static const char ok[] = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
			size_t room, done = 0;

			while (done < sizeof(ok) - 1) {
				char *at = px_session_upstream_room(s, &room);

				if (!at)
					break;
				if (room > sizeof(ok) - 1 - done)
					room = sizeof(ok) - 1 - done;
				memcpy(at, ok + done, room);
				px_session_upstream_read(s, room);
				done += room;
				px_session_pump(s);
				p = px_session_client_out(s, &n);
				if (n) {
					if (llhttp_execute(client, p, n) != HPE_OK)
						abort();
					px_session_client_sent(s, n);
				}
			}
		}
		p = px_session_client_out(s, &n);
		if (n) {
			if (llhttp_execute(client, p, n) != HPE_OK) {
				fprintf(stderr, "client parser: %s\n", llhttp_get_error_reason(client));
				abort();
			}
			px_session_client_sent(s, n);
		}
	} while (px_session_pump(s) && ++guard < 100000);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct px_session s;
	llhttp_t server, client;
	size_t step, done = 0;

	if (!size)
		return 0;
	step = data[0] ? data[0] : 4096;
	data++;
	size--;
	srv.complete = 0;
	srv.n = 0;
	srv.url_len = 0;
	srv.in_name = srv.trailers = false;
	llhttp_init(&server, HTTP_REQUEST, &server_settings);
	llhttp_init(&client, HTTP_RESPONSE, &client_settings);
	reqs.n = reqs.next = 0;
	{
		llhttp_t rp;

		llhttp_init(&rp, HTTP_REQUEST, &req_settings);
		(void)llhttp_execute(&rp, (const char *)data, size);
	}
	memset(&stats, 0, sizeof(stats));
	px_session_init(&s, &ctx, NULL, NULL);
	while (done < size) {
		size_t room, n;
		char *at = px_session_client_room(&s, &room);

		if (!at)
			break;
		n = size - done < room ? size - done : room;
		if (n > step)
			n = step;
		memcpy(at, data + done, n);
		px_session_client_read(&s, n);
		done += n;
		drain(&s, &server, &client);
	}
	if (done == size) {
		px_session_client_eof(&s);
		drain(&s, &server, &client);
	}
	if (srv.complete > stats.forwarded)
		abort();
	px_session_fini(&s);
	return 0;
}
