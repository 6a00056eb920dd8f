/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Differential test of "the trace and the proxy give the same L7 decision":
 * random Cilium HTTP rule sets (method, path and host regexes from a small
 * grammar, headers and headerMatches) and random requests (paths from the
 * same alphabet plus dot segments, double slashes, percent-encodings,
 * backslashes and query strings; hosts; headers; HTTP/1.0 and 1.1) are judged
 * by both sides:
 * - the offline trace, through the functions `velum policy trace --offline`
 *   runs (policy file parsed by pol_parse_file(), model built and resolved,
 *   model_peer(), pol_trace_run()) on a CiliumNetworkPolicy whose ingress
 *   toPorts rules.http is the rule set, from a client endpoint to a server
 *   endpoint on port 80; a sample of requests also goes through the real
 *   `velum` binary (-o json) to check that this driver and the CLI agree;
 * - the real velum-proxy binary in standalone mode (--rules FILE with the
 *   same list, written as its own JSON file and read by its own decoder) in
 *   front of proxy_upstream, which records every byte it receives.
 * For each request: the trace allows iff the proxy forwards it, and then the
 * upstream received exactly the request's bytes (with the normalized target
 * once the proxy normalizes) and the proxy's access event names the same
 * HTTP rule as the trace; a trace denial is the proxy's 403 "Access denied"
 * with nothing upstream; a target the trace says the proxy refuses (400) or
 * redirects (307) gets that status from the proxy, nothing upstream.
 *
 * Requests whose target normalization changes or refuses are compared only
 * when the proxy normalizes targets (found out by probing it first);
 * otherwise they are sent, counted as pending and printed as such, never as
 * passes. --expect-normalization turns a proxy that does not normalize into
 * a failure.
 *
 * The generator is seeded per rule set (seed, set index), so a failure
 * prints a replay command for that one set (--seed S --set K), with the rule
 * set, the request and both answers; --keep DIR writes the failing set's
 * policy, endpoints and rules files there for a replay with the CLI.
 * Exit status: 0 all compared requests agree, 1 a disagreement, 2 bad usage
 * or a broken environment.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/errbuf.h"
#include "lib/strbuf.h"
#include "model/model.h"
#include "policy/parse.h"
#include "policy/trace.h"

extern char **environ;

#define MAX_RULES   40
#define MAX_HDRS    8
#define MAX_TARGET  512
#define IO_TIMEOUT  5000 /* ms for any one answer */
#define SERVER_IP   "10.200.0.10"
#define CLIENT_IP   "10.200.0.11"
#define CLIENT_NAME "default/client"
#define SERVER_NAME "default/server"

/* ---- options and run-wide state ---------------------------------------------- */

static struct {
	uint64_t seed;
	unsigned sets, requests;
	long only_set;	    /* -1: all */
	unsigned cli_every; /* cross-check one request of every Nth set with the CLI; 0 never */
	const char *build, *keep;
	bool expect_norm, host_rules, verbose;
} opt = { .seed = 20261202,
	  .host_rules = true,
	  .sets = 120,
	  .requests = 40,
	  .only_set = -1,
	  .cli_every = 2,
	  .build = "build" };

static char tmpdir[256];
static pid_t upstream_pid = -1, proxy_pid = -1;
static int upstream_port;
static char record_path[300];
static off_t record_off;
static bool proxy_normalizes;

static struct {
	unsigned sets, requests, compared, allowed, denied, refused, redirected, pending,
		rule_compared, cli_checked, failures;
} st;

static void kill_child(pid_t *pid)
{
	int i, status;

	if (*pid <= 0)
		return;
	kill(*pid, SIGTERM);
	for (i = 0; i < 500; i++) {
		if (waitpid(*pid, &status, WNOHANG) == *pid)
			break;
		usleep(10000);
	}
	if (i == 500) {
		kill(*pid, SIGKILL);
		waitpid(*pid, &status, 0);
	}
	*pid = -1;
}

static void cleanup(void)
{
	char cmd[300];

	kill_child(&proxy_pid);
	kill_child(&upstream_pid);
	if (tmpdir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd))
			fprintf(stderr, "l7_diff: could not remove %s\n", tmpdir);
		tmpdir[0] = '\0';
	}
}

static void on_signal(int sig)
{
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("l7_diff: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

/* ---- random numbers: splitmix64, one stream per rule set --------------------- */

struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned pick(struct rng *r, unsigned n)
{
	return (unsigned)(rnd(r) % n);
}

static bool chance(struct rng *r, unsigned pct)
{
	return pick(r, 100) < pct;
}

#define PICK(r, a) ((a)[pick((r), sizeof(a) / sizeof((a)[0]))])

/* ---- the rule grammar -------------------------------------------------------- */

/* Path words: unreserved characters only, none of proxy_upstream's special paths. */
static const char *const words[] = { "v1", "api", "users", "items", "login", "admin", "x.y", "a",
				     "b",  "c-d", "e_f",   "~me",   "data",  "v2",    "Img", "9" };

enum frag_kind { F_LIT, F_ANY, F_LOWER, F_DIGITS, F_ALT, F_PREFIX, F_OPTTAIL };

struct frag {
	enum frag_kind k;
	const char *a, *b;
};

struct path_rx {
	bool absent, empty, any; /* no path field; path ""; path "/.*" */
	struct frag seg[5];
	unsigned n;
	unsigned query; /* 0 none, 1 "\?.*", 2 "(\?.*)?", 3 "\?id=[0-9]+" */
};

/* Method and host regexes, each with strings that match it (misses come from m_all, h_all). */
struct rx_choice {
	const char *rx; /* NULL: field absent */
	const char *const *hits;
};

static const char *const m_all[] = { "GET",  "POST",  "PUT",	 "DELETE",
				     "HEAD", "PATCH", "OPTIONS", NULL };
static const char *const m_get[] = { "GET", NULL };
static const char *const m_post[] = { "POST", NULL };
static const char *const m_put[] = { "PUT", NULL };
static const char *const m_del[] = { "DELETE", NULL };
static const char *const m_gethead[] = { "GET", "HEAD", NULL };
static const char *const m_p[] = { "POST", "PUT", "PATCH", NULL };
static const char *const m_putpatch[] = { "PUT", "PATCH", NULL };

static const struct rx_choice methods[] = {
	{ NULL, m_all },	   { "", m_all },    { "GET", m_get },
	{ "POST", m_post },	   { "PUT", m_put }, { "DELETE", m_del },
	{ "GET|HEAD", m_gethead }, { "P.*", m_p },   { "(PUT|PATCH)", m_putpatch },
	{ "[A-Z]+", m_all },	   { "G.T", m_get }, { "GET", m_get },
};

static const char *const h_all[] = { "deathstar",    "deathstar.empire",
				     "deathstar:80", "tiefighter",
				     "xwing.rebel",  "ds1",
				     "DeathStar",    NULL };
static const char *const h_ds[] = { "deathstar", NULL };
static const char *const h_dse[] = { "deathstar.empire", NULL };
static const char *const h_emp[] = { "deathstar.empire", "tie.empire", NULL };
static const char *const h_low[] = { "deathstar", "tiefighter", NULL };
static const char *const h_port[] = { "deathstar", "tiefighter:8080", "deathstar:80", NULL };
static const char *const h_ds80[] = { "deathstar:80", NULL };
static const char *const h_dots[] = { "xwing.rebel", "deathstar.empire", "deathstar", NULL };

static const struct rx_choice hosts[] = {
	{ NULL, h_all },
	{ NULL, h_all },
	{ "", h_all },
	{ "deathstar", h_ds },
	{ "deathstar\\.empire", h_dse },
	{ ".*\\.empire", h_emp },
	{ "[a-z]+", h_low },
	{ "(deathstar|tiefighter)(:[0-9]+)?", h_port },
	{ "deathstar:80", h_ds80 },
	{ "[a-z]+(\\.[a-z]+)*", h_dots },
};

/* Header rules: names in any case on the request side, values exact. */
static const char *const hdr_names[] = { "X-Token", "X-Env", "Accept", "X-Trace" };
static const char *const hdr_values[] = { "secret", "prod", "dev", "*/*", "a b", "1" };

struct hdr_req {
	const char *name, *value; /* value NULL: presence */
	bool match_form;	  /* headerMatches instead of headers */
	const char *mismatch;	  /* headerMatches mismatch action, or NULL */
	bool space_form;	  /* headers entry "Name value" instead of "Name: value" */
};

struct rule {
	const struct rx_choice *method, *host;
	struct path_rx path;
	struct hdr_req hdr[3];
	unsigned nhdr;
};

struct ruleset {
	struct rule r[MAX_RULES];
	unsigned n;
};

static void rx_escape(struct strbuf *sb, const char *w)
{
	for (; *w; w++) {
		if (*w == '.')
			strbuf_putc(sb, '\\');
		strbuf_putc(sb, *w);
	}
}

static void frag_rx(const struct frag *f, struct strbuf *sb)
{
	switch (f->k) {
	case F_LIT:
		rx_escape(sb, f->a);
		break;
	case F_ANY:
		strbuf_puts(sb, ".*");
		break;
	case F_LOWER:
		strbuf_puts(sb, "[a-z]+");
		break;
	case F_DIGITS:
		strbuf_puts(sb, "[0-9]+");
		break;
	case F_ALT:
		strbuf_putc(sb, '(');
		rx_escape(sb, f->a);
		strbuf_putc(sb, '|');
		rx_escape(sb, f->b);
		strbuf_putc(sb, ')');
		break;
	case F_PREFIX:
		rx_escape(sb, f->a);
		strbuf_puts(sb, ".*");
		break;
	case F_OPTTAIL:
		break;
	}
}

static void path_rx_text(const struct path_rx *p, struct strbuf *sb)
{
	static const char *const q[] = { "", "\\?.*", "(\\?.*)?", "\\?id=[0-9]+" };
	unsigned i;

	if (p->any) {
		strbuf_puts(sb, "/.*");
		return;
	}
	for (i = 0; i < p->n; i++) {
		if (p->seg[i].k == F_OPTTAIL) {
			strbuf_puts(sb, "(/.*)?");
			continue;
		}
		strbuf_putc(sb, '/');
		frag_rx(&p->seg[i], sb);
	}
	strbuf_puts(sb, q[p->query]);
}

static void gen_path_rx(struct rng *r, struct path_rx *p)
{
	unsigned i;

	memset(p, 0, sizeof(*p));
	switch (pick(r, 40)) {
	case 0:
		p->absent = true;
		return;
	case 1:
		p->empty = true;
		return;
	case 2:
		p->any = true;
		return;
	}
	p->n = 1 + pick(r, 3);
	for (i = 0; i < p->n; i++) {
		struct frag *f = &p->seg[i];

		f->k = (enum frag_kind)pick(r, 6); /* F_OPTTAIL only last */
		f->a = PICK(r, words);
		f->b = PICK(r, words);
		if (i == 0 && f->k != F_LIT && chance(r, 60)) {
			f->k = F_LIT;
		}
	}
	if (chance(r, 25))
		p->seg[p->n++] = (struct frag){ F_OPTTAIL, NULL, NULL };
	if (chance(r, 25))
		p->query = 1 + pick(r, 3);
}

static void gen_rule(struct rng *r, struct rule *ru)
{
	unsigned i;

	memset(ru, 0, sizeof(*ru));
	ru->method = &PICK(r, methods);
	ru->host = chance(r, 60) ? &hosts[0] : &PICK(r, hosts);
	gen_path_rx(r, &ru->path);
	/* a rule open in both method and path is rare: it would allow nearly everything */
	if ((ru->path.absent || ru->path.empty || ru->path.any) && chance(r, 80))
		ru->method = &methods[2 + pick(r, 7)];
	ru->nhdr = chance(r, 70) ? 0 : 1 + pick(r, 2);
	for (i = 0; i < ru->nhdr; i++) {
		struct hdr_req *h = &ru->hdr[i];

		h->name = opt.host_rules && chance(r, 20) ? "Host" : PICK(r, hdr_names);
		h->value = chance(r, 40) ? NULL : PICK(r, hdr_values);
		h->match_form = chance(r, 25);
		if (h->match_form && chance(r, 30))
			h->mismatch = chance(r, 50) ? "LOG" : "";
		h->space_form =
			!h->match_form && h->value && !strchr(h->value, ' ') && chance(r, 30);
	}
}

/* One rule as a JSON object: the same text goes into the policy and the rules file. */
static void rule_json(const struct rule *ru, struct strbuf *sb)
{
	struct strbuf t = STRBUF_INIT;
	bool first = true;
	unsigned i, nh = 0, nm = 0;

	strbuf_putc(sb, '{');
	if (ru->method->rx) {
		strbuf_puts(sb, "\"method\":");
		strbuf_json_str(sb, ru->method->rx, strlen(ru->method->rx));
		first = false;
	}
	if (!ru->path.absent) {
		if (!ru->path.empty)
			path_rx_text(&ru->path, &t);
		strbuf_puts(sb, first ? "\"path\":" : ",\"path\":");
		strbuf_json_str(sb, strbuf_str(&t), strlen(strbuf_str(&t)));
		first = false;
	}
	if (ru->host->rx) {
		strbuf_puts(sb, first ? "\"host\":" : ",\"host\":");
		strbuf_json_str(sb, ru->host->rx, strlen(ru->host->rx));
		first = false;
	}
	for (i = 0; i < ru->nhdr; i++) {
		const struct hdr_req *h = &ru->hdr[i];

		if (h->match_form)
			continue;
		strbuf_reset(&t);
		strbuf_printf(&t, "%s%s%s", h->name, h->value ? (h->space_form ? " " : ": ") : "",
			      h->value ? h->value : "");
		strbuf_puts(sb, nh++ ? "," : first ? "\"headers\":[" : ",\"headers\":[");
		strbuf_json_str(sb, strbuf_str(&t), strlen(strbuf_str(&t)));
		first = false;
	}
	if (nh)
		strbuf_putc(sb, ']');
	for (i = 0; i < ru->nhdr; i++) {
		const struct hdr_req *h = &ru->hdr[i];

		if (!h->match_form)
			continue;
		strbuf_puts(sb, nm++  ? ",{" :
				first ? "\"headerMatches\":[{" :
					",\"headerMatches\":[{");
		strbuf_puts(sb, "\"name\":");
		strbuf_json_str(sb, h->name, strlen(h->name));
		if (h->value) {
			strbuf_puts(sb, ",\"value\":");
			strbuf_json_str(sb, h->value, strlen(h->value));
		}
		if (h->mismatch)
			strbuf_printf(sb, ",\"mismatch\":\"%s\"", h->mismatch);
		strbuf_putc(sb, '}');
		first = false;
	}
	if (nm)
		strbuf_putc(sb, ']');
	strbuf_putc(sb, '}');
	strbuf_free(&t);
}

static void ruleset_json(const struct ruleset *rs, struct strbuf *sb, const char *indent)
{
	unsigned i;

	strbuf_puts(sb, "[\n");
	for (i = 0; i < rs->n; i++) {
		strbuf_puts(sb, indent);
		rule_json(&rs->r[i], sb);
		strbuf_puts(sb, i + 1 < rs->n ? ",\n" : "\n");
	}
	strbuf_puts(sb, indent);
	strbuf_puts(sb, "]");
}

/* ---- requests ---------------------------------------------------------------- */

struct request {
	const char *method;
	char target[MAX_TARGET];
	bool http10;
	const char *host; /* NULL: no Host header */
	struct {
		char name[32];
		const char *value;
	} hdr[MAX_HDRS];
	unsigned nhdr;
	char bytes[2048];
	size_t len;
};

static void put(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
	if (*len + n < cap) {
		memcpy(buf + *len, s, n);
		*len += n;
		buf[*len] = '\0';
	}
}

static void puts_(char *buf, size_t cap, size_t *len, const char *s)
{
	put(buf, cap, len, s, strlen(s));
}

/* Characters ".*" may produce: dots and slashes make dot segments and empty ones. */
static void gen_any(struct rng *r, char *buf, size_t cap, size_t *len)
{
	static const char alpha[] = "abxyz019-._~/";
	unsigned n = pick(r, 7), i;

	for (i = 0; i < n; i++)
		put(buf, cap, len, &alpha[pick(r, sizeof(alpha) - 1)], 1);
}

static void gen_lower(struct rng *r, char *buf, size_t cap, size_t *len, bool digits)
{
	unsigned n = 1 + pick(r, 5), i;
	char c;

	for (i = 0; i < n; i++) {
		c = digits ? (char)('0' + pick(r, 10)) : (char)('a' + pick(r, 26));
		put(buf, cap, len, &c, 1);
	}
}

/* A path that matches p, most of the time; with miss, one that probably does not. */
static void gen_path_for(struct rng *r, const struct path_rx *p, char *buf, size_t cap, size_t *len,
			 bool miss)
{
	unsigned i, spoil = miss ? pick(r, p->n + 1) : ~0u;

	if (p->absent || p->empty || p->any || !p->n) {
		unsigned n = 1 + pick(r, 3);

		for (i = 0; i < n; i++) {
			puts_(buf, cap, len, "/");
			puts_(buf, cap, len, PICK(r, words));
		}
		return;
	}
	for (i = 0; i < p->n; i++) {
		const struct frag *f = &p->seg[i];

		if (f->k == F_OPTTAIL) {
			if (chance(r, 60)) {
				puts_(buf, cap, len, "/");
				gen_any(r, buf, cap, len);
			}
			continue;
		}
		puts_(buf, cap, len, "/");
		if (i == spoil) {
			puts_(buf, cap, len, chance(r, 50) ? PICK(r, words) : "Zz");
			continue;
		}
		switch (f->k) {
		case F_LIT:
			puts_(buf, cap, len, f->a);
			break;
		case F_ANY:
			gen_any(r, buf, cap, len);
			break;
		case F_LOWER:
			gen_lower(r, buf, cap, len, false);
			break;
		case F_DIGITS:
			gen_lower(r, buf, cap, len, true);
			break;
		case F_ALT:
			puts_(buf, cap, len, chance(r, 50) ? f->a : f->b);
			break;
		case F_PREFIX:
			puts_(buf, cap, len, f->a);
			gen_any(r, buf, cap, len);
			break;
		case F_OPTTAIL:
			break;
		}
	}
	if (p->query == 3 || (!p->query && chance(r, 10))) {
		puts_(buf, cap, len, "?id=");
		gen_lower(r, buf, cap, len, !chance(r, 20));
	} else if (p->query && chance(r, 70)) {
		static const char *const qs[] = { "?",	     "?a=1",	 "?a=1&b=2", "?x=%2F..",
						  "?p=../a", "?q=a%20b", "?/.//",    "?%zz" };
		puts_(buf, cap, len, PICK(r, qs));
	}
}

/*
 * Mutations of the path part that normalization cares about: dot segments in
 * every spelling, merged slashes, decoded or re-cased escapes, escaped
 * slashes (redirect), malformed escapes (refused), backslashes.
 */
static void mutate(struct rng *r, char *t, size_t cap)
{
	static const char *const inserts[] = {
		"/.",	    "/%2e",	"/%2E",		 "/zz/..", "/zz/%2e%2E",
		"/zz/.%2e", "/zz/..;x", "/q/%2e%2e;j=1", "/",	   "/..",
		"/%2e%2e",  "/.;p",	"/..%3Bx",
	};
	static const char *const escapes[] = { "%2F", "%2f", "%5C", "%5c", "%3b", "%3B", "%40",
					       "%7e", "%41", "%61", "%zz", "%4",  "%",	 "%252e" };
	char path[MAX_TARGET], tail[MAX_TARGET], out[MAX_TARGET];
	char *q = strchr(t, '?');
	size_t plen = q ? (size_t)(q - t) : strlen(t), len = 0, at, i;
	unsigned kind = pick(r, 5);

	snprintf(tail, sizeof(tail), "%s", t + plen);
	snprintf(path, sizeof(path), "%.*s", (int)plen, t);
	if (!plen)
		return;
	out[0] = '\0';
	/* a cut point at a slash (0 = the first), or anywhere for escapes */
	at = pick(r, (unsigned)plen);
	if (kind <= 1) {
		while (at && path[at] != '/')
			at--;
		put(out, sizeof(out), &len, path, at);
		puts_(out, sizeof(out), &len, PICK(r, inserts));
		puts_(out, sizeof(out), &len, path + at);
	} else if (kind == 2) {
		/* percent-encode one character of the path */
		char enc[4];

		if (at == 0)
			at = plen - 1;
		snprintf(enc, sizeof(enc), chance(r, 50) ? "%%%02x" : "%%%02X",
			 (unsigned char)path[at]);
		put(out, sizeof(out), &len, path, at);
		puts_(out, sizeof(out), &len, enc);
		puts_(out, sizeof(out), &len, path + at + 1);
	} else if (kind == 3) {
		put(out, sizeof(out), &len, path, at + 1);
		puts_(out, sizeof(out), &len, PICK(r, escapes));
		puts_(out, sizeof(out), &len, path + at + 1);
	} else {
		/* a slash spelled otherwise: doubled, or a backslash */
		for (i = 0; i < plen; i++) {
			if (path[i] == '/' && i > 0 && chance(r, 40)) {
				puts_(out, sizeof(out), &len, chance(r, 50) ? "//" : "\\");
				continue;
			}
			put(out, sizeof(out), &len, &path[i], 1);
		}
		if (chance(r, 30))
			puts_(out, sizeof(out), &len, "/");
	}
	puts_(out, sizeof(out), &len, tail);
	snprintf(t, cap, "%s", out);
}

static void random_case(struct rng *r, const char *in, char *out, size_t cap)
{
	size_t i;
	unsigned how = pick(r, 4);

	for (i = 0; in[i] && i + 1 < cap; i++)
		out[i] = how == 1 ? (char)tolower((unsigned char)in[i]) :
			 how == 2 ? (char)toupper((unsigned char)in[i]) :
				    in[i];
	out[i] = '\0';
}

static const char *pick_hit(struct rng *r, const char *const *hits)
{
	unsigned n = 0;

	while (hits[n])
		n++;
	return hits[pick(r, n)];
}

static void gen_request(struct rng *r, const struct ruleset *rs, struct request *q)
{
	const struct rule *ru = rs->n ? &rs->r[pick(r, rs->n)] : NULL;
	bool derived = ru && chance(r, 70);
	size_t len = 0;
	unsigned i, n;

	memset(q, 0, sizeof(*q));
	/* method, host and path from a rule's own regexes, or from anywhere */
	q->method = derived && chance(r, 75) ? pick_hit(r, ru->method->hits) : pick_hit(r, m_all);
	q->http10 = chance(r, 5);
	q->host = derived && chance(r, 80) ? pick_hit(r, ru->host->hits) : pick_hit(r, h_all);
	if (q->http10 && chance(r, 50))
		q->host = NULL;
	gen_path_for(r, derived ? &ru->path : &(struct path_rx){ .absent = true }, q->target,
		     sizeof(q->target), &len, derived && chance(r, 20));
	n = chance(r, 30) ? 1 + pick(r, 2) : 0;
	for (i = 0; i < n; i++)
		mutate(r, q->target, sizeof(q->target));
	/* headers: the rule's own requirements mostly met, plus noise */
	for (i = 0; derived && i < ru->nhdr && q->nhdr < MAX_HDRS; i++) {
		/* a second Host would be refused; the request's Host is the one */
		if (chance(r, 15) || !strcmp(ru->hdr[i].name, "Host"))
			continue;
		random_case(r, ru->hdr[i].name, q->hdr[q->nhdr].name, sizeof(q->hdr[0].name));
		q->hdr[q->nhdr++].value =
			ru->hdr[i].value && chance(r, 85) ? ru->hdr[i].value : PICK(r, hdr_values);
	}
	n = pick(r, 3);
	for (i = 0; i < n && q->nhdr < MAX_HDRS; i++) {
		random_case(r, PICK(r, hdr_names), q->hdr[q->nhdr].name, sizeof(q->hdr[0].name));
		q->hdr[q->nhdr++].value = PICK(r, hdr_values);
	}
	/* the bytes on the wire */
	len = 0;
	puts_(q->bytes, sizeof(q->bytes), &len, q->method);
	puts_(q->bytes, sizeof(q->bytes), &len, " ");
	puts_(q->bytes, sizeof(q->bytes), &len, q->target);
	puts_(q->bytes, sizeof(q->bytes), &len, q->http10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
	if (q->host) {
		puts_(q->bytes, sizeof(q->bytes), &len, chance(r, 80) ? "Host: " : "host: ");
		puts_(q->bytes, sizeof(q->bytes), &len, q->host);
		puts_(q->bytes, sizeof(q->bytes), &len, "\r\n");
	}
	for (i = 0; i < q->nhdr; i++) {
		puts_(q->bytes, sizeof(q->bytes), &len, q->hdr[i].name);
		puts_(q->bytes, sizeof(q->bytes), &len, ": ");
		puts_(q->bytes, sizeof(q->bytes), &len, q->hdr[i].value);
		puts_(q->bytes, sizeof(q->bytes), &len, "\r\n");
	}
	puts_(q->bytes, sizeof(q->bytes), &len, "\r\n");
	q->len = len;
}

/* The bytes the server must receive for q when the proxy forwards target. */
static size_t forwarded_bytes(const struct request *q, const char *target, size_t tlen, char *out,
			      size_t cap)
{
	const char *eol = strstr(q->bytes, "\r\n");
	size_t len = 0;

	puts_(out, cap, &len, q->method);
	puts_(out, cap, &len, " ");
	put(out, cap, &len, target, tlen);
	puts_(out, cap, &len, q->http10 ? " HTTP/1.0" : " HTTP/1.1");
	puts_(out, cap, &len, eol);
	return len;
}

/* ---- the trace side ---------------------------------------------------------- */

struct trace_env {
	struct model *m;
	struct pol_trace_peer src, dst;
	char sbuf[INET_ADDRSTRLEN], dbuf[INET_ADDRSTRLEN];
};

static int write_file(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");
	int err = 0;

	if (!f)
		return -errno;
	if (fputs(s, f) < 0)
		err = -EIO;
	if (fclose(f))
		err = -errno;
	return err;
}

static const char endpoints_json[] =
	"[\n"
	"  {\"name\": \"" SERVER_NAME "\", \"labels\": {\"app\": \"server\"},\n"
	"   \"ips\": [\"" SERVER_IP "\"], \"ports\": [{\"name\": \"http\", \"port\": 80}]},\n"
	"  {\"name\": \"" CLIENT_NAME "\", \"labels\": {\"app\": \"client\"},\n"
	"   \"ips\": [\"" CLIENT_IP "\"]}\n"
	"]\n";

static void write_set_files(const char *dir, const struct ruleset *rs)
{
	struct strbuf sb = STRBUF_INIT;
	char path[400];

	strbuf_puts(&sb, "{\n"
			 "  \"apiVersion\": \"cilium.io/v2\",\n"
			 "  \"kind\": \"CiliumNetworkPolicy\",\n"
			 "  \"metadata\": {\"name\": \"l7diff\"},\n"
			 "  \"spec\": {\n"
			 "    \"endpointSelector\": {\"matchLabels\": {\"app\": \"server\"}},\n"
			 "    \"ingress\": [{\n"
			 "      \"fromEndpoints\": [{\"matchLabels\": {\"app\": \"client\"}}],\n"
			 "      \"toPorts\": [{\n"
			 "        \"ports\": [{\"port\": \"80\", \"protocol\": \"TCP\"}],\n"
			 "        \"rules\": {\"http\": ");
	ruleset_json(rs, &sb, "          ");
	strbuf_puts(&sb, "}\n      }]\n    }]\n  }\n}\n");
	snprintf(path, sizeof(path), "%s/policy.json", dir);
	if (sb.oom || write_file(path, strbuf_str(&sb)))
		die("cannot write %s", path);
	strbuf_reset(&sb);
	ruleset_json(rs, &sb, "  ");
	strbuf_putc(&sb, '\n');
	snprintf(path, sizeof(path), "%s/rules.json", dir);
	if (sb.oom || write_file(path, strbuf_str(&sb)))
		die("cannot write %s", path);
	snprintf(path, sizeof(path), "%s/endpoints.json", dir);
	if (write_file(path, endpoints_json))
		die("cannot write %s", path);
	strbuf_free(&sb);
}

/* The offline trace's model: the endpoints file and the policy file, resolved. */
static void trace_env_build(struct trace_env *te)
{
	static const char *const srv_labels[] = { "app=server" }, *const cli_labels[] = {
		"app=client"
	};
	struct pol_named_port http = { .name = "http", .port = 80, .proto = IPPROTO_TCP };
	struct pol_set set = { 0 };
	uint32_t sip = inet_addr(SERVER_IP), cip = inet_addr(CLIENT_IP);
	char path[400];
	struct errbuf eb;
	int err;

	errbuf_clear(&eb);
	te->m = model__new();
	if (!te->m)
		die("out of memory");
	err = model_endpoint_add(te->m, 0, SERVER_NAME, "default", srv_labels, 1, &sip, 1, &http, 1,
				 false, NULL, &eb);
	if (!err)
		err = model_endpoint_add(te->m, 0, CLIENT_NAME, "default", cli_labels, 1, &cip, 1,
					 NULL, 0, false, NULL, &eb);
	if (err)
		die("endpoints: %s", err == -ENOMEM ? "out of memory" : eb.msg);
	snprintf(path, sizeof(path), "%s/policy.json", tmpdir);
	err = pol_parse_file(path, &set, &eb);
	if (!err)
		err = model_policies_load(te->m, &set);
	if (!err)
		err = model_regenerate(te->m, NULL, NULL);
	pol_set_free(&set);
	if (err)
		die("the generated policy is refused (a generator bug): %s",
		    eb.msg[0] ? eb.msg : strerror(-err));
	if (model_peer(te->m, CLIENT_NAME, &te->src, te->sbuf, &eb) ||
	    model_peer(te->m, SERVER_NAME, &te->dst, te->dbuf, &eb))
		die("peer: %s", eb.msg);
}

static void trace_query(const struct trace_env *te, const struct request *q,
			struct pol_http_field *fields, struct pol_trace_query *tq)
{
	unsigned i;

	memset(tq, 0, sizeof(*tq));
	tq->src = te->src;
	tq->dst = te->dst;
	tq->proto = IPPROTO_TCP;
	tq->dport = 80;
	tq->http = true;
	tq->req.method = sv_from(q->method);
	tq->req.path = sv_from(q->target);
	tq->req.host = sv_from(q->host ? q->host : "");
	/* what `--http-header 'Name: value'` gives: every header but Host (--http-host) */
	for (i = 0; i < q->nhdr; i++)
		fields[i] = (struct pol_http_field){ sv_from(q->hdr[i].name),
						     sv_from(q->hdr[i].value) };
	tq->req.headers = fields;
	tq->req.nheaders = q->nhdr;
}

/* ---- processes --------------------------------------------------------------- */

static pid_t spawn(char *const argv[], const char *out)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int err;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_addopen(&fa, 2, out, O_WRONLY | O_CREAT | O_APPEND, 0644);
	err = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err)
		die("cannot run %s: %s", argv[0], strerror(err));
	return pid;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	struct strbuf sb = STRBUF_INIT;
	char buf[4096];
	size_t n;

	if (!f)
		return NULL;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		strbuf_append(&sb, buf, n);
	fclose(f);
	if (len)
		*len = sb.len;
	return strbuf_detach(&sb);
}

/* Waits for "listening on [ADDR:]PORT" in out; returns the port. */
static int wait_listening(pid_t pid, const char *out)
{
	int i, status;

	for (i = 0; i < 1000; i++) {
		char *s = slurp(out, NULL), *l = s ? strstr(s, "listening on ") : NULL;

		if (l && strchr(l, '\n')) {
			char *colon = strchr(l, ':');
			int port;

			l += strlen("listening on ");
			port = atoi(colon && colon < strchr(l, '\n') ? colon + 1 : l);
			free(s);
			return port;
		}
		free(s);
		if (waitpid(pid, &status, WNOHANG) == pid) {
			s = slurp(out, NULL);
			die("%s exited before listening:\n%s", out, s ? s : "");
		}
		usleep(2000);
	}
	die("nothing listening after 10 s (see %s)", out);
}

static char proxy_out[300];

/* Starts velum-proxy on rules; wait_listening(proxy_pid, proxy_out) gives its port. */
static void start_proxy(const char *rules, const char *access_log)
{
	char port[32], bin[300], *argv[16];
	int n = 0;

	snprintf(port, sizeof(port), "127.0.0.1:%d", upstream_port);
	snprintf(proxy_out, sizeof(proxy_out), "%s/proxy.out", tmpdir);
	snprintf(bin, sizeof(bin), "%s/bin/velum-proxy", opt.build);
	argv[n++] = bin;
	argv[n++] = "--listen";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "--upstream";
	argv[n++] = port;
	argv[n++] = "--rules";
	argv[n++] = (char *)rules;
	argv[n++] = "--threads";
	argv[n++] = "1";
	argv[n++] = "--access-log";
	argv[n++] = (char *)access_log;
	argv[n] = NULL;
	proxy_pid = spawn(argv, proxy_out);
}

static void stop_proxy(void)
{
	int status, i;

	if (proxy_pid <= 0)
		return;
	kill(proxy_pid, SIGTERM);
	for (i = 0; i < 5000; i++) {
		if (waitpid(proxy_pid, &status, WNOHANG) == proxy_pid)
			break;
		usleep(1000);
	}
	if (i == 5000)
		die("velum-proxy did not exit within 5 s of SIGTERM");
	proxy_pid = -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		die("velum-proxy ended with status 0x%x (expected a clean exit 0 on SIGTERM)",
		    status);
}

/* ---- the proxy side: one client connection, answers parsed ------------------- */

struct answer {
	int status; /* 0: none (closed or timed out) */
	char head[2048];
	char body[4096];
	size_t body_len;
	bool close;
	const char *err; /* why there is no answer */
};

static int connect_to(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd == -1)
		die("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		die("connect to 127.0.0.1:%d: %s", port, strerror(errno));
	return fd;
}

static ssize_t read_some(int fd, char *buf, size_t cap)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int n = poll(&p, 1, IO_TIMEOUT);

	if (n <= 0)
		return -1;
	return read(fd, buf, cap);
}

static bool header_value(const char *head, const char *name, char *out, size_t cap)
{
	const char *l = strstr(head, "\r\n");
	size_t n = strlen(name);

	while (l && l[2]) {
		l += 2;
		if (!strncasecmp(l, name, n) && l[n] == ':') {
			const char *v = l + n + 1, *e = strstr(v, "\r\n");

			while (*v == ' ')
				v++;
			snprintf(out, cap, "%.*s", (int)(e ? e - v : (long)strlen(v)), v);
			return true;
		}
		l = strstr(l, "\r\n");
	}
	return false;
}

/* Sends q on *fd (connecting first if *fd < 0) and reads one answer. */
static void exchange(int port, int *fd, const struct request *q, struct answer *a)
{
	char buf[8192], cl[32];
	size_t len = 0, want;
	ssize_t n;
	char *end;

	memset(a, 0, sizeof(*a));
	if (*fd < 0)
		*fd = connect_to(port);
	if (write(*fd, q->bytes, q->len) != (ssize_t)q->len) {
		a->err = "write failed";
		return;
	}
	while (!(end = memmem(buf, len, "\r\n\r\n", 4))) {
		n = read_some(*fd, buf + len, sizeof(buf) - len - 1);
		if (n <= 0) {
			a->err = n == 0 ? "connection closed without an answer" :
					  "no answer within 5 s";
			return;
		}
		len += (size_t)n;
		buf[len] = '\0';
	}
	snprintf(a->head, sizeof(a->head), "%.*s", (int)(end - buf), buf);
	if (sscanf(a->head, "HTTP/1.%*1d %d", &a->status) != 1) {
		a->err = "not an HTTP status line";
		a->status = 0;
		return;
	}
	want = header_value(a->head, "content-length", cl, sizeof(cl)) ? strtoul(cl, NULL, 10) : 0;
	if (!strcmp(q->method, "HEAD") || want >= sizeof(a->body))
		want = 0;
	len -= (size_t)(end + 4 - buf);
	memcpy(a->body, end + 4, len);
	while (len < want) {
		n = read_some(*fd, a->body + len, want - len);
		if (n <= 0) {
			a->err = "body cut short";
			return;
		}
		len += (size_t)n;
	}
	a->body_len = want;
	a->close = header_value(a->head, "connection", cl, sizeof(cl)) && !strcasecmp(cl, "close");
	/*
	 * After HEAD the connection is not reused: a denied HEAD's 403 carries
	 * the 15-byte body (sent as Cilium's bytes), which would be read as the
	 * start of the next answer. HTTP/1.0 and closing answers end it too.
	 */
	if (a->close || q->http10 || !strcmp(q->method, "HEAD") || len > want) {
		close(*fd);
		*fd = -1;
	}
}

/* New bytes of the upstream's record since the last call. */
static char *record_take(size_t *len)
{
	int fd = open(record_path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	char *buf;
	ssize_t n;

	if (fd == -1 || fstat(fd, &sb))
		die("%s: %s", record_path, strerror(errno));
	*len = (size_t)(sb.st_size - record_off);
	buf = malloc(*len + 1);
	if (!buf)
		die("out of memory");
	n = pread(fd, buf, *len, record_off);
	close(fd);
	if (n != (ssize_t)*len)
		die("%s: short read", record_path);
	buf[*len] = '\0';
	record_off += (off_t)*len;
	return buf;
}

/* The access log's request events, read as they come. */
struct access_log {
	char path[400];
	off_t off;
	char pending[8192];
	size_t plen;
};

/* The next REQUEST event: verdict and rule index (-1 if none). Returns false if none yet. */
static bool access_next(struct access_log *al, char *verdict, size_t vcap, int *rule)
{
	for (int tries = 0; tries < 2000; tries++) {
		char *nl;

		while ((nl = memchr(al->pending, '\n', al->plen))) {
			json_error_t je;
			json_t *o = json_loadb(al->pending, (size_t)(nl - al->pending), 0, &je);
			bool req = false;

			if (o) {
				const char *t = json_string_value(
					json_object_get(json_object_get(o, "l7"), "type"));
				json_t *ru = json_object_get(o, "rule");

				if (t && !strcmp(t, "REQUEST")) {
					req = true;
					snprintf(verdict, vcap, "%s",
						 json_string_value(json_object_get(o, "verdict")) ?:
							 "?");
					*rule = json_is_integer(ru) ? (int)json_integer_value(ru) :
								      -1;
				}
				json_decref(o);
			}
			al->plen -= (size_t)(nl + 1 - al->pending);
			memmove(al->pending, nl + 1, al->plen);
			if (req)
				return true;
		}
		{
			int fd = open(al->path, O_RDONLY | O_CLOEXEC);
			ssize_t n = -1;

			if (fd >= 0) {
				n = pread(fd, al->pending + al->plen,
					  sizeof(al->pending) - al->plen - 1, al->off);
				close(fd);
			}
			if (n > 0) {
				al->off += n;
				al->plen += (size_t)n;
				continue;
			}
		}
		usleep(1000);
	}
	return false;
}

/* ---- one comparison ---------------------------------------------------------- */

static void print_escaped(FILE *f, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\r')
			fputs("\\r", f);
		else if (c == '\n')
			fputs("\\n\n      ", f);
		else if (c == '\\')
			fputs("\\\\", f);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
	fputc('\n', f);
}

static void shell_quote(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", f);
		else
			fputc(*s, f);
	}
	fputc('\'', f);
}

static void cli_command(FILE *f, const char *dir, const struct request *q)
{
	unsigned i;
	char h[128];

	fprintf(f,
		"%s/bin/velum policy trace --offline --policy %s/policy.json --endpoints "
		"%s/endpoints.json --from " CLIENT_NAME " --to " SERVER_NAME
		" --dport 80 --http-method %s --http-path ",
		opt.build, dir, dir, q->method);
	shell_quote(f, q->target);
	if (q->host) {
		fputs(" --http-host ", f);
		shell_quote(f, q->host);
	}
	for (i = 0; i < q->nhdr; i++) {
		snprintf(h, sizeof(h), "%s: %s", q->hdr[i].name, q->hdr[i].value);
		fputs(" --http-header ", f);
		shell_quote(f, h);
	}
	fputc('\n', f);
}

struct set_ctx {
	unsigned index;
	const struct ruleset *rs;
	struct trace_env te;
	int port, fd;
	struct access_log al;
};

static void report(struct set_ctx *c, const struct request *q, const struct pol_trace_result *r,
		   const struct answer *a, const char *rec, size_t rec_len, const char *what)
{
	struct strbuf sb = STRBUF_INIT;

	st.failures++;
	ruleset_json(c->rs, &sb, "    ");
	fprintf(stderr,
		"FAIL  rule set %u, seed %llu: %s\n"
		"  replay: %s/tests/l7_diff --build %s --seed %llu --set %u --requests %u\n"
		"  rules.http (%u rules):\n    %s\n"
		"  request:\n      ",
		c->index, (unsigned long long)opt.seed, what, opt.build, opt.build,
		(unsigned long long)opt.seed, c->index, opt.requests, c->rs->n, strbuf_str(&sb));
	print_escaped(stderr, q->bytes, q->len);
	fprintf(stderr,
		"  trace: %s, http_status %d, normalization %s%s%s, target '%.*s', http rule %d\n",
		r->allowed ? "ALLOWED" : "DENIED", r->http_status, l7_norm_name(r->norm),
		r->norm_why ? ": " : "", r->norm_why ? r->norm_why : "", (int)r->target_len,
		r->target, r->ingress.l7.http_index);
	if (a->status)
		fprintf(stderr, "  proxy: %.*s\n", (int)strcspn(a->head, "\r"), a->head);
	else
		fprintf(stderr, "  proxy: no answer (%s)\n", a->err ? a->err : "?");
	fprintf(stderr, "  upstream received %zu bytes%s", rec_len, rec_len ? ":\n      " : "\n");
	if (rec_len)
		print_escaped(stderr, rec, rec_len);
	if (opt.keep) {
		mkdir(opt.keep, 0755);
		write_set_files(opt.keep, c->rs);
		fprintf(stderr, "  the CLI on the same files (%s):\n    ", opt.keep);
		cli_command(stderr, opt.keep, q);
	} else {
		fprintf(stderr, "  (add --keep DIR to the replay for files the CLI can read)\n");
	}
	strbuf_free(&sb);
}

/* Runs the real CLI on q and checks that it says what pol_trace_run() said here. */
static void cli_check(struct set_ctx *c, const struct request *q, const struct pol_trace_result *r)
{
	char bin[300], pol[400], eps[400], out[400], hdrs[MAX_HDRS][128], *argv[40], *s;
	const char *verdict, *np;
	json_t *o, *st_, *idx;
	json_error_t je;
	unsigned i, n = 0;
	int status;
	pid_t pid;

	snprintf(bin, sizeof(bin), "%s/bin/velum", opt.build);
	snprintf(pol, sizeof(pol), "%s/policy.json", tmpdir);
	snprintf(eps, sizeof(eps), "%s/endpoints.json", tmpdir);
	snprintf(out, sizeof(out), "%s/cli.out", tmpdir);
	argv[n++] = bin;
	argv[n++] = "policy";
	argv[n++] = "trace";
	argv[n++] = "--offline";
	argv[n++] = "--policy";
	argv[n++] = pol;
	argv[n++] = "--endpoints";
	argv[n++] = eps;
	argv[n++] = "--from";
	argv[n++] = CLIENT_NAME;
	argv[n++] = "--to";
	argv[n++] = SERVER_NAME;
	argv[n++] = "--dport";
	argv[n++] = "80";
	argv[n++] = "--http-method";
	argv[n++] = (char *)q->method;
	argv[n++] = "--http-path";
	argv[n++] = (char *)q->target;
	if (q->host) {
		argv[n++] = "--http-host";
		argv[n++] = (char *)q->host;
	}
	for (i = 0; i < q->nhdr; i++) {
		snprintf(hdrs[i], sizeof(hdrs[i]), "%s: %s", q->hdr[i].name, q->hdr[i].value);
		argv[n++] = "--http-header";
		argv[n++] = hdrs[i];
	}
	argv[n++] = "-o";
	argv[n++] = "json";
	argv[n] = NULL;
	pid = spawn(argv, out);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		die("velum policy trace --offline failed (status 0x%x): %s", status,
		    slurp(out, NULL) ?: "");
	s = slurp(out, NULL);
	o = s ? json_loads(s, 0, &je) : NULL;
	if (!o)
		die("velum policy trace -o json: not JSON: %s", s ? s : "");
	verdict = json_string_value(json_object_get(o, "verdict"));
	st_ = json_object_get(o, "http_status");
	idx = json_object_get(json_object_get(json_object_get(o, "ingress"), "l7"),
			      "http_rule_index");
	np = json_string_value(json_object_get(json_object_get(o, "http"), "normalized_path"));
	st.cli_checked++;
	if (!verdict || strcmp(verdict, r->allowed ? "allowed" : "denied") ||
	    (json_is_integer(st_) ? (int)json_integer_value(st_) : 0) != r->http_status ||
	    (json_is_integer(idx) ? (int)json_integer_value(idx) : -1) !=
		    (r->ingress.l7_checked ? r->ingress.l7.http_index : -1) ||
	    (r->norm != L7_NORM_REJECT &&
	     (!np || strlen(np) != r->target_len || memcmp(np, r->target, r->target_len)))) {
		struct answer none = { .err = "not asked" };

		report(c, q, r, &none, "", 0, "the velum CLI and the library disagree");
		fprintf(stderr, "  CLI said: %s", s);
	}
	json_decref(o);
	free(s);
}

static bool norm_sensitive(const struct request *q, const struct pol_trace_result *r)
{
	return r->norm != L7_NORM_OK || r->target_len != strlen(q->target) ||
	       memcmp(r->target, q->target, r->target_len);
}

static void run_request(struct set_ctx *c, const struct request *q, bool cli)
{
	struct pol_http_field fields[MAX_HDRS];
	struct pol_trace_query tq;
	struct pol_trace_result r;
	struct answer a;
	char want[2600], verdict[32] = "", *rec;
	size_t rec_len, want_len;
	int rule = -1;
	bool have_ev, pending;

	trace_query(&c->te, q, fields, &tq);
	pol_trace_run(&tq, &r);
	if (cli)
		cli_check(c, q, &r);
	exchange(c->port, &c->fd, q, &a);
	rec = record_take(&rec_len);
	have_ev = a.status && access_next(&c->al, verdict, sizeof(verdict), &rule);
	st.requests++;
	pending = norm_sensitive(q, &r) && !proxy_normalizes;
	if (opt.verbose)
		fprintf(stderr, "  set %u: %.*s -> trace %d/%s, proxy %d%s\n", c->index,
			(int)(strstr(q->bytes, "\r\n") - q->bytes), q->bytes, r.http_status,
			r.allowed ? "allowed" : "denied", a.status, pending ? " (pending)" : "");
	/* no answer at all is a failure whatever the target */
	if (!a.status) {
		report(c, q, &r, &a, rec, rec_len, "the proxy gave no answer");
		goto out;
	}
	if (pending) {
		st.pending++;
		goto out;
	}
	if (r.allowed) {
		want_len = forwarded_bytes(q, r.target, r.target_len, want, sizeof(want));
		if (a.status != 200 || rec_len != want_len || memcmp(rec, want, want_len)) {
			report(c, q, &r, &a, rec, rec_len,
			       "the trace allows the request; the proxy did not forward exactly it");
			goto out;
		}
		if (!have_ev || strcmp(verdict, "FORWARDED") || rule != r.ingress.l7.http_index) {
			report(c, q, &r, &a, rec, rec_len,
			       "forwarded, but the access event does not name the trace's rule");
			fprintf(stderr, "  access event: %s, rule %d\n", have_ev ? verdict : "none",
				rule);
			goto out;
		}
		st.allowed++;
		st.rule_compared++;
	} else if (r.http_status == 403) {
		/* an answer to HEAD has no body */
		if (a.status != 403 || rec_len ||
		    (strcmp(q->method, "HEAD") &&
		     (a.body_len != 15 || memcmp(a.body, "Access denied\r\n", 15)))) {
			report(c, q, &r, &a, rec, rec_len,
			       "the trace denies the request; the proxy did not answer 403 "
			       "\"Access denied\" with nothing upstream");
			goto out;
		}
		if (!have_ev || strcmp(verdict, "DROPPED") || rule != -1) {
			report(c, q, &r, &a, rec, rec_len, "the access event of a denial");
			goto out;
		}
		st.denied++;
	} else if (r.http_status == 400 || r.http_status == 307) {
		if (a.status != r.http_status || rec_len) {
			report(c, q, &r, &a, rec, rec_len,
			       r.http_status == 400 ?
				       "the trace says the proxy refuses the target (400)" :
				       "the trace says the proxy redirects the target (307)");
			goto out;
		}
		if (r.http_status == 307) {
			char loc[1024];

			if (!header_value(a.head, "location", loc, sizeof(loc)) ||
			    strlen(loc) < r.target_len ||
			    memcmp(loc + strlen(loc) - r.target_len, r.target, r.target_len)) {
				report(c, q, &r, &a, rec, rec_len,
				       "the 307's Location is not the trace's target");
				goto out;
			}
		}
		r.http_status == 400 ? st.refused++ : st.redirected++;
	} else {
		report(c, q, &r, &a, rec, rec_len, "the trace denies at L3/L4 (a test bug)");
		goto out;
	}
	st.compared++;
out:
	free(rec);
}

static void gen_ruleset(struct rng *r, struct ruleset *rs)
{
	unsigned i;

	/* mostly small sets, sometimes the full 40 */
	rs->n = chance(r, 15) ? MAX_RULES : 1 + pick(r, chance(r, 50) ? 5 : MAX_RULES);
	for (i = 0; i < rs->n; i++)
		gen_rule(r, &rs->r[i]);
}

static struct rng set_rng(unsigned index)
{
	struct rng r = { opt.seed ^ (0xd1b54a32d192ed03ull * (index + 1)) };

	rnd(&r);
	return r;
}

static void run_set(unsigned index)
{
	static struct ruleset rs;
	struct set_ctx c = { .index = index, .rs = &rs, .fd = -1 };
	struct rng r = set_rng(index);
	struct request q;
	char rules[400];
	size_t tail_len;
	unsigned i, fails = st.failures, cli_at = ~0u;
	char *tail;

	gen_ruleset(&r, &rs);
	write_set_files(tmpdir, &rs);
	snprintf(rules, sizeof(rules), "%s/rules.json", tmpdir);
	snprintf(c.al.path, sizeof(c.al.path), "%s/access.%u.jsonl", tmpdir, index);
	start_proxy(rules, c.al.path);
	/* the model resolves while the proxy compiles its copy of the rules */
	trace_env_build(&c.te);
	c.port = wait_listening(proxy_pid, proxy_out);
	if (opt.cli_every && index % opt.cli_every == 0)
		cli_at = pick(&r, opt.requests);
	for (i = 0; i < opt.requests && st.failures < fails + 3; i++) {
		gen_request(&r, &rs, &q);
		run_request(&c, &q, i == cli_at);
	}
	if (c.fd >= 0)
		close(c.fd);
	stop_proxy();
	/* nothing reaches the server after the last answer */
	tail = record_take(&tail_len);
	if (tail_len) {
		fprintf(stderr,
			"FAIL  rule set %u, seed %llu: the upstream received %zu more bytes after "
			"the last answer:\n      ",
			index, (unsigned long long)opt.seed, tail_len);
		print_escaped(stderr, tail, tail_len);
		st.failures++;
	}
	free(tail);
	unlink(c.al.path);
	model__free(c.te.m);
	st.sets++;
}

/*
 * Does the proxy normalize request targets yet? A proxy allowing every
 * request must then forward "/p/./q" as "/p/q" and redirect "/p%2Fq".
 */
static void probe_normalization(void)
{
	static const struct {
		const char *req, *plain;
	} probes[] = {
		{ "GET /p/./q HTTP/1.1\r\nHost: h\r\n\r\n", "ok GET /p/./q\n" },
		{ "GET /p%2Fq HTTP/1.1\r\nHost: h\r\n\r\n", "ok GET /p%2Fq\n" },
		{ "GET /p//q HTTP/1.1\r\nHost: h\r\n\r\n", "ok GET /p//q\n" },
	};
	char rules[400], log[400];
	unsigned i, plain = 0;
	int port, fd = -1;
	size_t len;

	snprintf(rules, sizeof(rules), "%s/probe.json", tmpdir);
	snprintf(log, sizeof(log), "%s/probe.jsonl", tmpdir);
	if (write_file(rules, "[{}]\n"))
		die("cannot write %s", rules);
	start_proxy(rules, log);
	port = wait_listening(proxy_pid, proxy_out);
	for (i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		struct request q = { .method = "GET" };
		struct answer a;

		snprintf(q.bytes, sizeof(q.bytes), "%s", probes[i].req);
		q.len = strlen(q.bytes);
		exchange(port, &fd, &q, &a);
		if (!a.status)
			die("normalization probe: %s", a.err);
		plain += a.status == 200 && a.body_len == strlen(probes[i].plain) &&
			 !memcmp(a.body, probes[i].plain, a.body_len);
	}
	if (fd >= 0)
		close(fd);
	stop_proxy();
	free(record_take(&len));
	proxy_normalizes = plain < sizeof(probes) / sizeof(probes[0]);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: l7_diff [--build DIR] [--seed N] [--sets N] [--requests N] [--set K]\n"
		   "               [--cli-every N] [--keep DIR] [--expect-normalization] [-v]\n"
		   "Differential test: velum policy trace --offline vs velum-proxy on random HTTP\n"
		   "rule sets and requests. --set K replays rule set K of --seed alone.\n");
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "build", required_argument, NULL, 'b' },
		{ "seed", required_argument, NULL, 's' },
		{ "sets", required_argument, NULL, 'n' },
		{ "requests", required_argument, NULL, 'r' },
		{ "set", required_argument, NULL, 'k' },
		{ "cli-every", required_argument, NULL, 'c' },
		{ "keep", required_argument, NULL, 'K' },
		{ "expect-normalization", no_argument, NULL, 'N' },
		{ "no-host-header-rules", no_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char upbin[300], upout[400], *upargv[4];
	struct timespec t0, t1;
	unsigned i;
	int ch;

	while ((ch = getopt_long(argc, argv, "vh", lopts, NULL)) != -1) {
		switch (ch) {
		case 'b':
			opt.build = optarg;
			break;
		case 's':
			opt.seed = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			opt.sets = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'r':
			opt.requests = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'k':
			opt.only_set = strtol(optarg, NULL, 0);
			break;
		case 'c':
			opt.cli_every = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'K':
			opt.keep = optarg;
			break;
		case 'N':
			opt.expect_norm = true;
			break;
		case 'H':
			opt.host_rules = false;
			break;
		case 'v':
			opt.verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/velum-l7diff.%d.XXXXXX", (int)getpid());
	if (!mkdtemp(tmpdir)) {
		tmpdir[0] = '\0';
		die("mkdtemp: %s", strerror(errno));
	}
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);

	snprintf(upbin, sizeof(upbin), "%s/tests/proxy_upstream", opt.build);
	snprintf(record_path, sizeof(record_path), "%s/record", tmpdir);
	snprintf(upout, sizeof(upout), "%s/upstream.out", tmpdir);
	upargv[0] = upbin;
	upargv[1] = "--record";
	upargv[2] = record_path;
	upargv[3] = NULL;
	upstream_pid = spawn(upargv, upout);
	upstream_port = wait_listening(upstream_pid, upout);

	probe_normalization();
	printf("l7 differential: seed %llu; velum-proxy %s request targets\n",
	       (unsigned long long)opt.seed,
	       proxy_normalizes ? "normalizes" : "does not normalize");
	if (!proxy_normalizes && opt.expect_norm) {
		fprintf(stderr, "FAIL  --expect-normalization: velum-proxy forwards /p/./q, "
				"/p%%2Fq and /p//q as sent\n");
		return 1;
	}
	if (opt.only_set >= 0) {
		run_set((unsigned)opt.only_set);
	} else {
		for (i = 0; i < opt.sets && st.failures < 10; i++)
			run_set(i);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("l7 differential: %u rule sets, %u requests in %.1f s: %u compared and agreeing "
	       "(%u forwarded with the same rule, %u denied 403, %u refused 400, %u redirected "
	       "307), %u cross-checked with the velum CLI\n",
	       st.sets, st.requests,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	       st.compared, st.allowed, st.denied, st.refused, st.redirected, st.cli_checked);
	if (st.pending)
		printf("l7 differential: PENDING %u requests not compared: their target is one "
		       "normalization changes or refuses, and velum-proxy does not normalize "
		       "targets yet\n",
		       st.pending);
	if (!opt.host_rules)
		printf("l7 differential: no rule names the Host header (--no-host-header-rules)\n");
	if (st.failures) {
		printf("l7 differential: %u disagreements (FAIL)\n", st.failures);
		return 1;
	}
	if (!st.compared) {
		printf("l7 differential: nothing was compared (FAIL)\n");
		return 1;
	}
	return 0;
}
