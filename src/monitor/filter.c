/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Flow filters with hubble observe's flags and semantics (see flow.h):
 * values of one flag are alternatives, different flags all apply, values
 * for either side match with all of them on the source or all on the
 * destination, and "not-" values form a deny set. The agent filters its
 * ring with this code, `velum observe --input-file` saved flows.
 */
#include "monitor/flow.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "identity/identity.h"
#include "identity/peer.h"
#include "l7/regex.h"
#include "lib/proto.h"
#include "velum/drop.h"
#include "velum/events.h"
#include "velum/policy.h"

/* ---- Hubble's names ------------------------------------------------------------------- */

/* flow.proto's DropReason names of the reasons velum shares with Cilium (same numbers). */
static const struct {
	uint16_t reason;
	const char *name;
} drop_descs[] = {
	{ 132, "INVALID_SOURCE_IP" },
	{ 133, "POLICY_DENIED" },
	{ 134, "INVALID_PACKET_DROPPED" },
	{ 135, "CT_TRUNCATED_OR_INVALID_HEADER" },
	{ 139, "UNSUPPORTED_L3_PROTOCOL" },
	{ 141, "ERROR_WRITING_TO_PACKET" },
	{ 151, "STALE_OR_UNROUTABLE_IP" },
	{ 155, "CT_MAP_INSERTION_FAILED" },
	{ 175, "FIRST_LOGICAL_DATAGRAM_FRAGMENT_NOT_FOUND" },
	{ 178, "SOCKET_LOOKUP_FAILED" },
	{ 179, "SOCKET_ASSIGN_FAILED" },
	{ 180, "PROXY_REDIRECTION_NOT_SUPPORTED_FOR_PROTOCOL" },
	{ 181, "POLICY_DENY" },
	{ 203, "DROP_EP_NOT_READY" },
	/* velum's own; no DropReason exists for it */
	{ 250, "UNKNOWN_ENDPOINT" },
};

const char *mon_drop_reason_desc(uint16_t reason)
{
	size_t i;

	for (i = 0; i < sizeof(drop_descs) / sizeof(drop_descs[0]); i++)
		if (drop_descs[i].reason == reason)
			return drop_descs[i].name;
	return "DROP_REASON_UNKNOWN";
}

/* ---- parsing values ---------------------------------------------------------------------- */

static void spec_free(struct mon_peer_spec *s)
{
	size_t i, j;

	free(s->text);
	for (i = 0; i < s->nreqs; i++) {
		free(s->reqs[i].source);
		free(s->reqs[i].key);
		for (j = 0; j < s->reqs[i].nvalues; j++)
			free(s->reqs[i].values[j]);
		free(s->reqs[i].values);
	}
	free(s->reqs);
}

/* [p, end) without blanks at either end, as a new string. */
static char *trimmed(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	return strndup(p, (size_t)(end - p));
}

static int req_value(struct mon_label_req *r, const char *p, const char *end)
{
	char **nv = realloc(r->values, (r->nvalues + 1) * sizeof(*nv));

	if (!nv)
		return -ENOMEM;
	r->values = nv;
	nv[r->nvalues] = trimmed(p, end);
	if (!nv[r->nvalues])
		return -ENOMEM;
	r->nvalues++;
	return 0;
}

/* A key part "[source:]key" (trimmed) into r. */
static int req_key(struct mon_label_req *r, const char *p, const char *end)
{
	char *k = trimmed(p, end), *colon;

	if (!k)
		return -ENOMEM;
	colon = strchr(k, ':');
	r->source = colon ? strndup(k, (size_t)(colon - k)) : strdup("any");
	r->key = strdup(colon ? colon + 1 : k);
	free(k);
	return r->source && r->key ? 0 : -ENOMEM;
}

/*
 * One requirement, [p, end): "k=v", "k==v", "k!=v", "k", "!k", "k in
 * (a,b)", "k notin (a,b)". -EINVAL for a malformed set.
 */
static int parse_req(struct mon_label_req *r, const char *p, const char *end)
{
	const char *op, *open, *close, *w, *v;
	int err;

	while (p < end && *p == ' ')
		p++;
	if (p < end && *p == '!' && !memchr(p, '=', (size_t)(end - p))) {
		r->op = MON_LBL_NOT_EXISTS;
		return req_key(r, p + 1, end);
	}
	open = memchr(p, '(', (size_t)(end - p));
	if (open) {
		/* "key in (a, b)": the word before '(' is the operator */
		for (w = open; w > p && w[-1] == ' ';)
			w--;
		for (op = w; op > p && op[-1] != ' ';)
			op--;
		close = memchr(open, ')', (size_t)(end - open));
		if (!close || op == p ||
		    !(((size_t)(w - op) == 2 && !strncmp(op, "in", 2)) ||
		      ((size_t)(w - op) == 5 && !strncmp(op, "notin", 5))))
			return -EINVAL;
		r->op = op[0] == 'i' ? MON_LBL_IN : MON_LBL_NOTIN;
		err = req_key(r, p, op);
		for (v = open + 1; !err && v < close;) {
			const char *c = memchr(v, ',', (size_t)(close - v));

			err = req_value(r, v, c ? c : close);
			v = c ? c + 1 : close;
		}
		return err;
	}
	op = memchr(p, '=', (size_t)(end - p));
	if (!op) {
		r->op = MON_LBL_EXISTS;
		return req_key(r, p, end);
	}
	if (op > p && op[-1] == '!') {
		r->op = MON_LBL_NEQ;
		err = req_key(r, p, op - 1);
	} else {
		r->op = MON_LBL_EQ;
		err = req_key(r, p, op);
	}
	if (op + 1 < end && op[1] == '=')
		op++;
	return err ? err : req_value(r, op + 1, end);
}

/* A label selector into s: requirements separated by commas outside parentheses. */
static int parse_label_spec(const char *v, struct mon_peer_spec *s, struct errbuf *eb)
{
	const char *p = v, *q;
	int depth = 0, err;

	s->kind = MON_PEER_LABEL;
	for (q = v;; q++) {
		struct mon_label_req *nv;

		if (*q == '(')
			depth++;
		else if (*q == ')')
			depth--;
		if (*q && (*q != ',' || depth))
			continue;
		nv = realloc(s->reqs, (s->nreqs + 1) * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		s->reqs = nv;
		memset(&nv[s->nreqs], 0, sizeof(*nv));
		err = parse_req(&nv[s->nreqs], p, q);
		s->nreqs++;
		if (err == -ENOMEM)
			return err;
		if (err || !nv[s->nreqs - 1].key || !*nv[s->nreqs - 1].key)
			return errbuf_set(
				eb, -EINVAL,
				"'%s': expected label requirements ([source:]key[=value], "
				"key!=value, !key, key in (a,b), key notin (a,b)) separated "
				"by commas",
				v);
		if (!*q)
			break;
		p = q + 1;
	}
	return depth ? errbuf_set(eb, -EINVAL, "'%s': unbalanced parentheses", v) : 0;
}

/* An IPv4 address or prefix; false if v is neither. */
static bool parse_ip(const char *v, struct mon_peer_spec *s)
{
	const char *slash = strchr(v, '/');
	struct in_addr a;
	char buf[64], *end;
	long plen = 32;

	if (strlen(v) >= sizeof(buf))
		return false;
	snprintf(buf, sizeof(buf), "%s", v);
	if (slash) {
		buf[slash - v] = '\0';
		errno = 0;
		plen = strtol(slash + 1, &end, 10);
		if (!slash[1] || *end || errno || plen < 0 || plen > 32)
			return false;
	}
	if (inet_pton(AF_INET, buf, &a) != 1)
		return false;
	s->kind = MON_PEER_IP;
	s->mask = plen ? htonl(0xffffffffu << (32 - plen)) : 0;
	s->addr = a.s_addr & s->mask;
	return true;
}

/* A number, or a reserved identity's name ("host", "reserved:world"); false if neither. */
static bool parse_identity(const char *v, struct mon_peer_spec *s)
{
	unsigned long n;
	uint32_t id;
	char *end;

	if (isdigit((unsigned char)*v)) {
		errno = 0;
		n = strtoul(v, &end, 10);
		if (*end || errno || n > UINT32_MAX)
			return false;
		s->kind = MON_PEER_IDENTITY;
		s->identity = (uint32_t)n;
		return true;
	}
	if (!strncmp(v, "reserved:", 9))
		v += 9;
	id = id_reserved_parse(v);
	if (!id)
		return false;
	s->kind = MON_PEER_IDENTITY;
	s->identity = id;
	return true;
}

/* "name" -> "default/name"; "ns/name" as is (new string or NULL). */
static char *ns_name(const char *v)
{
	char *s;

	if (strchr(v, '/'))
		return strdup(v);
	s = malloc(strlen(v) + sizeof("default/"));
	if (s)
		sprintf(s, "default/%s", v);
	return s;
}

/* --from/--to: the peer forms trace takes (identity/peer.h), prefixes and labels too. */
static int parse_peer(const char *v, struct mon_peer_spec *s, struct errbuf *eb)
{
	struct id_peer p;
	int err = id_peer_parse(v, &p, eb);

	if (err)
		return err;
	switch (p.kind) {
	case ID_PEER_NAME:
		s->kind = MON_PEER_ENDPOINT;
		s->text = strdup(p.name);
		return s->text ? 0 : -ENOMEM;
	case ID_PEER_EPID:
		s->kind = MON_PEER_EPID;
		s->identity = p.num;
		return 0;
	case ID_PEER_ADDR:
		s->kind = MON_PEER_IP;
		s->addr = p.addr;
		s->mask = p.plen ? htonl(0xffffffffu << (32 - p.plen)) : 0;
		return 0;
	case ID_PEER_IDENTITY:
		s->kind = MON_PEER_IDENTITY;
		s->identity = p.num;
		return 0;
	default:
		return parse_label_spec(v, s, eb);
	}
}

/* The category and side of a sided key ("from-pod"), or -1 for other keys. */
static int sided_key(const char *key, uint8_t *cat, uint8_t *side)
{
	static const struct {
		const char *name;
		uint8_t cat;
	} names[] = {
		{ "pod", MON_FC_POD },	   { "namespace", MON_FC_NS },
		{ "ip", MON_FC_IP },	   { "identity", MON_FC_IDENTITY },
		{ "label", MON_FC_LABEL }, { "port", MON_FC_PORT },
	};
	size_t i;

	if (!strcmp(key, "from") || !strcmp(key, "to")) {
		*cat = MON_FC_PEER;
		*side = key[0] == 'f' ? MON_SIDE_SRC : MON_SIDE_DST;
		return 0;
	}
	*side = MON_SIDE_EITHER;
	if (!strncmp(key, "from-", 5)) {
		*side = MON_SIDE_SRC;
		key += 5;
	} else if (!strncmp(key, "to-", 3)) {
		*side = MON_SIDE_DST;
		key += 3;
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(key, names[i].name)) {
			*cat = names[i].cat;
			return 0;
		}
	}
	return -1;
}

static int parse_sided(uint8_t cat, const char *v, struct mon_peer_spec *s, struct errbuf *eb)
{
	char *end;
	long p;

	switch (cat) {
	case MON_FC_PEER:
		return parse_peer(v, s, eb);
	case MON_FC_POD:
		/* "ns/" selects the whole namespace, as a prefix does */
		if (!*v || *v == '/' || (strchr(v, '/') && strchr(strchr(v, '/') + 1, '/')))
			return errbuf_set(eb, -EINVAL, "'%s': expected [namespace/]name", v);
		s->kind = MON_PEER_POD;
		s->text = ns_name(v);
		return s->text ? 0 : -ENOMEM;
	case MON_FC_NS:
		if (!*v || strchr(v, '/'))
			return errbuf_set(eb, -EINVAL, "'%s': expected a namespace", v);
		s->kind = MON_PEER_NS;
		s->text = strdup(v);
		return s->text ? 0 : -ENOMEM;
	case MON_FC_IP:
		if (!parse_ip(v, s))
			return errbuf_set(eb, -EINVAL,
					  "'%s': expected an IPv4 address or prefix (10.0.0.0/8)",
					  v);
		return 0;
	case MON_FC_IDENTITY:
		if (!parse_identity(v, s))
			return errbuf_set(eb, -EINVAL,
					  "'%s': expected an identity number or a reserved name "
					  "(host, world, ...)",
					  v);
		return 0;
	case MON_FC_LABEL:
		return parse_label_spec(v, s, eb);
	default: /* MON_FC_PORT */
		errno = 0;
		p = strtol(v, &end, 10);
		if (errno || end == v || *end || p < 0 || p > 65535)
			return errbuf_set(eb, -EINVAL, "'%s': expected a port 0-65535", v);
		s->kind = MON_PEER_PORT;
		s->port = (uint16_t)p;
		return 0;
	}
}

static int add_sided(struct mon_fset *fs, uint8_t cat, uint8_t side, const char *value,
		     struct errbuf *eb)
{
	struct mon_peer_spec s, *nv;
	int err;

	memset(&s, 0, sizeof(s));
	err = parse_sided(cat, value, &s, eb);
	if (!err && !(nv = realloc(fs->peers, (fs->npeers + 1) * sizeof(*nv))))
		err = -ENOMEM;
	if (err) {
		spec_free(&s);
		return err;
	}
	s.cat = cat;
	s.side = side;
	nv[fs->npeers++] = s;
	fs->peers = nv;
	return 0;
}

/* Appends v to a fixed array of values. */
static int push_u8(uint8_t *arr, size_t *n, uint8_t v, struct errbuf *eb)
{
	if (*n >= MON_FILTER_VALUES)
		return errbuf_set(eb, -EINVAL, "more than %d values", MON_FILTER_VALUES);
	arr[(*n)++] = v;
	return 0;
}

static int add_type(struct mon_fset *fs, const char *value, struct errbuf *eb)
{
	uint8_t t;

	if (!strcmp(value, "drop"))
		t = VELUM_EVENT_DROP;
	else if (!strcmp(value, "policy-verdict"))
		t = VELUM_EVENT_POLICY_VERDICT;
	else if (!strcmp(value, "l7"))
		t = MON_FLOW_L7;
	else if (!strcmp(value, "trace"))
		t = MON_FLOW_TRACE;
	else
		return errbuf_set(eb, -EINVAL, "'%s': expected drop, policy-verdict, trace or l7",
				  value);
	return push_u8(fs->types, &fs->ntypes, t, eb);
}

static int add_protocol(struct mon_fset *fs, const char *value, struct errbuf *eb)
{
	uint8_t p;

	if (!strcasecmp(value, "http"))
		p = MON_PROTO_HTTP;
	else if (!strcasecmp(value, "icmpv4"))
		p = IPPROTO_ICMP;
	else if (proto_parse(value, &p) || p == PROTO_ANY)
		return errbuf_set(eb, -EINVAL, "'%s': expected tcp, udp, icmp, sctp or http",
				  value);
	return push_u8(fs->protos, &fs->nprotos, p, eb);
}

/* "syn,ack": the flags that must all be set. */
static int add_tcp_flags(struct mon_fset *fs, const char *value, struct errbuf *eb)
{
	static const struct {
		const char *name;
		uint8_t bit;
	} names[] = { { "FIN", 0x01 }, { "SYN", 0x02 }, { "RST", 0x04 }, { "PSH", 0x08 },
		      { "ACK", 0x10 }, { "URG", 0x20 }, { "ECE", 0x40 }, { "CWR", 0x80 } };
	const char *p = value;
	uint8_t mask = 0;
	size_t i, len;

	while (*p) {
		len = strcspn(p, ",");
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (len == strlen(names[i].name) && !strncasecmp(p, names[i].name, len))
				break;
		if (i == sizeof(names) / sizeof(names[0]))
			return errbuf_set(eb, -EINVAL,
					  "'%s': expected TCP flags separated by commas "
					  "(syn, ack, fin, rst, psh, urg, ece, cwr)",
					  value);
		mask |= names[i].bit;
		p += len;
		if (*p)
			p++;
	}
	if (!mask)
		return errbuf_set(eb, -EINVAL, "'%s': expected TCP flags (syn,ack)", value);
	return push_u8(fs->tcp_flags, &fs->ntcp_flags, mask, eb);
}

static int add_reason(struct mon_fset *fs, const char *value, struct errbuf *eb)
{
	size_t i;

	for (i = 0; i < sizeof(drop_descs) / sizeof(drop_descs[0]); i++) {
		if (strcasecmp(value, drop_descs[i].name))
			continue;
		if (fs->nreasons >= MON_FILTER_VALUES)
			return errbuf_set(eb, -EINVAL, "more than %d values", MON_FILTER_VALUES);
		fs->reasons[fs->nreasons++] = drop_descs[i].reason;
		return 0;
	}
	return errbuf_set(eb, -EINVAL,
			  "'%s': not a drop reason velum reports (POLICY_DENIED, POLICY_DENY, "
			  "see docs/cli.md)",
			  value);
}

/* "404" (a code), or a prefix of one to three digits and '+': "4+" is 400-499, "40+" 400-409. */
static int add_status(struct mon_fset *f, const char *value, struct errbuf *eb)
{
	size_t nd = strspn(value, "0123456789"), i;
	bool prefix = value[nd] == '+' && !value[nd + 1];
	unsigned lo = 0, scale = 1;
	void *nv;

	if (!nd || nd > 3 || (!prefix && (value[nd] || nd != 3)) || value[0] < '1' ||
	    value[0] > '5')
		return errbuf_set(eb, -EINVAL,
				  "'%s': expected an HTTP status code 100-599 (404) or a prefix of "
				  "one (4+, 40+)",
				  value);
	for (i = 0; i < 3; i++)
		lo = lo * 10 + (i < nd ? (unsigned)(value[i] - '0') : 0);
	for (i = nd; i < 3; i++)
		scale *= 10;
	nv = realloc(f->statuses, (f->nstatuses + 1) * sizeof(*f->statuses));
	if (!nv)
		return -ENOMEM;
	f->statuses = nv;
	f->statuses[f->nstatuses].lo = (uint16_t)lo;
	f->statuses[f->nstatuses].hi = (uint16_t)(lo + scale - 1);
	f->nstatuses++;
	return 0;
}

static int push_str(char ***v, size_t *n, const char *s)
{
	char **nv = realloc(*v, (*n + 1) * sizeof(**v));

	if (!nv)
		return -ENOMEM;
	*v = nv;
	nv[*n] = strdup(s);
	if (!nv[*n])
		return -ENOMEM;
	(*n)++;
	return 0;
}

/* An HTTP method is a token (RFC 9110): letters, digits and !#$%&'*+-.^_`|~. */
static int add_method(struct mon_fset *f, const char *value, struct errbuf *eb)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~";
	const char *p;

	for (p = value; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr(tchar, *p))
			break;
	if (!*value || *p || p - value > 32)
		return errbuf_set(eb, -EINVAL, "'%s': expected an HTTP method (GET, PUT, ...)",
				  value);
	return push_str(&f->methods, &f->nmethods, value);
}

/*
 * A path regex, found anywhere in the path as Hubble's Go regexp does:
 * RE2 sets match whole subjects, so each pattern is compiled as
 * (?s:.*)(?:pattern)(?s:.*). The set is rebuilt with every pattern added.
 */
static int add_path(struct mon_fset *f, const char *value, struct errbuf *eb)
{
	struct l7_reset *set;
	const char **pats;
	uint32_t *ids;
	size_t i;
	int err;

	err = l7_regex_check(value, eb);
	if (err)
		return err;
	err = push_str(&f->paths, &f->npaths, value);
	if (err)
		return err;
	pats = calloc(f->npaths, sizeof(*pats));
	ids = calloc(f->npaths, sizeof(*ids));
	for (i = 0; pats && ids && i < f->npaths; i++) {
		size_t len = strlen(f->paths[i]) + 32;
		char *p = malloc(len);

		if (!p)
			break;
		snprintf(p, len, "(?s:.*)(?:%s)(?s:.*)", f->paths[i]);
		pats[i] = p;
	}
	set = pats && ids && i == f->npaths ? l7_reset__new(pats, ids, f->npaths, 0, eb) : NULL;
	err = set ? 0 : (errno == ENOMEM || !pats || !ids || i < f->npaths) ? -ENOMEM : -errno;
	for (i = 0; pats && i < f->npaths; i++)
		free((void *)pats[i]);
	free(pats);
	free(ids);
	if (err) {
		free(f->paths[--f->npaths]);
		return err;
	}
	l7_reset__free(f->path_set);
	f->path_set = set;
	return 0;
}

static int parse_when(const char *value, int64_t now_ns, int64_t *out, struct errbuf *eb)
{
	int64_t d;

	if (!mon_parse_duration(value, &d)) {
		*out = now_ns - d;
		return 0;
	}
	if (!mon_parse_time(value, out))
		return 0;
	return errbuf_set(eb, -EINVAL,
			  "'%s': expected a duration (30s, 5m, 2h) or an RFC 3339 time", value);
}

static int fset_add(struct mon_fset *fs, const char *key, const char *value, struct errbuf *eb)
{
	uint8_t cat, side;

	if (!sided_key(key, &cat, &side))
		return add_sided(fs, cat, side, value, eb);
	if (!strcmp(key, "verdict")) {
		uint8_t v = mon_verdict_parse(value);

		if (!v)
			return errbuf_set(
				eb, -EINVAL,
				"'%s': expected FORWARDED, DROPPED, AUDIT, REDIRECTED or ERROR",
				value);
		return push_u8(fs->verdicts, &fs->nverdicts, v, eb);
	}
	if (!strcmp(key, "type"))
		return add_type(fs, value, eb);
	if (!strcmp(key, "protocol"))
		return add_protocol(fs, value, eb);
	if (!strcmp(key, "traffic-direction")) {
		if (!strcasecmp(value, "ingress"))
			fs->dirs |= 1u << VELUM_DIR_INGRESS;
		else if (!strcasecmp(value, "egress"))
			fs->dirs |= 1u << VELUM_DIR_EGRESS;
		else
			return errbuf_set(eb, -EINVAL, "'%s': expected ingress or egress", value);
		return 0;
	}
	if (!strcmp(key, "tcp-flags"))
		return add_tcp_flags(fs, value, eb);
	if (!strcmp(key, "drop-reason-desc"))
		return add_reason(fs, value, eb);
	if (!strcmp(key, "http-status"))
		return add_status(fs, value, eb);
	if (!strcmp(key, "http-method"))
		return add_method(fs, value, eb);
	if (!strcmp(key, "http-path"))
		return add_path(fs, value, eb);
	return errbuf_set(eb, -EINVAL, "unknown filter '%s'", key);
}

int mon_filter_add(struct mon_filter *f, const char *key, const char *value, int64_t now_ns,
		   struct errbuf *eb)
{
	struct mon_fset *fs = &f->allow;
	int err;

	if (!strncmp(key, "not-", 4)) {
		fs = &f->deny;
		key += 4;
		if (!strcmp(key, "since") || !strcmp(key, "until"))
			return errbuf_set(eb, -EINVAL, "--not cannot negate --%s", key);
	}
	if (!strcmp(key, "since"))
		return parse_when(value, now_ns, &f->since_ns, eb);
	if (!strcmp(key, "until"))
		return parse_when(value, now_ns, &f->until_ns, eb);
	err = fset_add(fs, key, value, eb);
	if (!err)
		fs->used = true;
	return err;
}

/* ---- matching ------------------------------------------------------------------------------ */

/* The value of the label source:key in id (any source for "any"), or NULL if it has none. */
static const char *label_value(const struct mon_label_req *r, const struct mon_ident *id)
{
	size_t i, kl = strlen(r->key);

	for (i = 0; id && i < id->nlabels; i++) {
		const char *l = id->labels[i], *colon = strchr(l, ':'), *k, *eq;

		if (!colon)
			continue;
		if (strcmp(r->source, "any") && (strlen(r->source) != (size_t)(colon - l) ||
						 strncmp(r->source, l, (size_t)(colon - l))))
			continue;
		k = colon + 1;
		eq = strchr(k, '=');
		if ((eq ? (size_t)(eq - k) : strlen(k)) == kl && !strncmp(k, r->key, kl))
			return eq ? eq + 1 : "";
	}
	return NULL;
}

static bool in_values(const struct mon_label_req *r, const char *v)
{
	size_t i;

	for (i = 0; v && i < r->nvalues; i++)
		if (!strcmp(r->values[i], v))
			return true;
	return false;
}

/* All requirements hold (Kubernetes' semantics: != and notin also hold without the key). */
static bool label_match(const struct mon_peer_spec *s, const struct mon_ident *id)
{
	size_t i;

	for (i = 0; i < s->nreqs; i++) {
		const struct mon_label_req *r = &s->reqs[i];
		const char *v = label_value(r, id);
		bool ok;

		switch (r->op) {
		case MON_LBL_EXISTS:
			ok = v;
			break;
		case MON_LBL_NOT_EXISTS:
			ok = !v;
			break;
		case MON_LBL_EQ:
		case MON_LBL_IN:
			ok = in_values(r, v);
			break;
		default: /* NEQ, NOTIN */
			ok = !in_values(r, v);
		}
		if (!ok)
			return false;
	}
	return true;
}

bool mon_peer_match_ident(const struct mon_peer_spec *s, const struct mon_ident *id)
{
	size_t n;

	if (!id)
		return false;
	switch (s->kind) {
	case MON_PEER_ENDPOINT:
		return id->endpoint && !strcmp(id->endpoint, s->text);
	case MON_PEER_POD:
		return id->endpoint && !strncmp(id->endpoint, s->text, strlen(s->text));
	case MON_PEER_NS:
		n = strlen(s->text);
		return id->endpoint && !strncmp(id->endpoint, s->text, n) && id->endpoint[n] == '/';
	case MON_PEER_IDENTITY:
		if (s->identity == ID_WORLD &&
		    (id->identity == ID_WORLD_IPV4 || id->identity == ID_WORLD_IPV6))
			return true;
		return id->identity == s->identity;
	case MON_PEER_LABEL:
		return label_match(s, id);
	default:
		return false;
	}
}

static bool peer_match(const struct mon_peer_spec *s, const struct mon_flow *fl, int side)
{
	const struct mon_ident *id = side == MON_SIDE_DST ? fl->dst : fl->src;

	switch (s->kind) {
	case MON_PEER_IP:
		return ((side == MON_SIDE_DST ? fl->daddr : fl->saddr) & s->mask) == s->addr;
	case MON_PEER_PORT:
		if (fl->protocol == IPPROTO_ICMP)
			return false; /* ICMP flows carry the echo id and type there */
		return s->port == (side == MON_SIDE_DST ? fl->dport : fl->sport);
	default:
		return mon_peer_match_ident(s, id);
	}
}

/*
 * The sided values with those for either side taken as the source's
 * (either_side MON_SIDE_SRC) or the destination's: every flag and side
 * that has values has one that matches.
 */
static bool sides_match(const struct mon_fset *fs, const struct mon_flow *fl, int either_side)
{
	uint32_t have = 0, ok = 0;
	size_t i;

	_Static_assert(MON_FC_MAX * 2 <= 32, "filter categories do not fit the masks");
	for (i = 0; i < fs->npeers; i++) {
		const struct mon_peer_spec *s = &fs->peers[i];
		int side = s->side == MON_SIDE_EITHER ? either_side : s->side;
		uint32_t bit = 1u << (s->cat * 2 + side);

		have |= bit;
		if (!(ok & bit) && peer_match(s, fl, side))
			ok |= bit;
	}
	return have == ok;
}

/* The path of an absolute URL "scheme://authority/path?query" (or of "/path?query"). */
static struct sv url_path(const char *url)
{
	const char *p = strstr(url, "://"), *end;

	p = p ? strchr(p + 3, '/') : url;
	if (!p)
		return (struct sv){ "", 0 };
	end = p + strcspn(p, "?#");
	return (struct sv){ p, (size_t)(end - p) };
}

static bool http_match(const struct mon_fset *f, const struct mon_l7 *l7)
{
	size_t i;
	bool ok;

	if (!l7)
		return false;
	if (f->nstatuses) {
		for (ok = false, i = 0; i < f->nstatuses && !ok; i++)
			ok = l7->code && l7->code >= f->statuses[i].lo &&
			     l7->code <= f->statuses[i].hi;
		if (!ok)
			return false;
	}
	if (f->nmethods) {
		for (ok = false, i = 0; i < f->nmethods && !ok; i++)
			ok = !strcasecmp(f->methods[i], l7->method);
		if (!ok)
			return false;
	}
	if (f->npaths) {
		uint64_t bits = 0;

		/* an engine failure (DFA out of memory) selects nothing rather than everything */
		if (!f->path_set || l7_reset_match(f->path_set, url_path(l7->url), &bits) <= 0)
			return false;
	}
	return true;
}

static bool in_u8(const uint8_t *v, size_t n, uint8_t x)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

static bool fset_match(const struct mon_fset *fs, const struct mon_flow *fl)
{
	size_t i;
	bool ok;

	if (!sides_match(fs, fl, MON_SIDE_SRC) && !sides_match(fs, fl, MON_SIDE_DST))
		return false;
	if (fs->nverdicts && !in_u8(fs->verdicts, fs->nverdicts, fl->verdict))
		return false;
	if (fs->ntypes && !in_u8(fs->types, fs->ntypes, fl->type))
		return false;
	if (fs->nprotos && !in_u8(fs->protos, fs->nprotos, fl->protocol) &&
	    !(fl->l7 && in_u8(fs->protos, fs->nprotos, MON_PROTO_HTTP)))
		return false;
	if (fs->dirs && !(fs->dirs & (1u << fl->dir)))
		return false;
	if (fs->ntcp_flags) {
		/* L7 flows carry no TCP flags */
		for (ok = false, i = 0; i < fs->ntcp_flags && !ok && !fl->l7; i++)
			ok = fl->protocol == IPPROTO_TCP &&
			     (fl->tcp_flags & fs->tcp_flags[i]) == fs->tcp_flags[i];
		if (!ok)
			return false;
	}
	if (fs->nreasons) {
		for (ok = false, i = 0; i < fs->nreasons && !ok; i++)
			ok = fl->reason == fs->reasons[i] && !fl->l7;
		if (!ok)
			return false;
	}
	if ((fs->nstatuses || fs->nmethods || fs->npaths) && !http_match(fs, fl->l7))
		return false;
	return true;
}

bool mon_filter_match(const struct mon_filter *f, const struct mon_flow *fl)
{
	if (f->since_ns && fl->time_ns < f->since_ns)
		return false;
	if (f->until_ns && fl->time_ns > f->until_ns)
		return false;
	if (f->allow.used && !fset_match(&f->allow, fl))
		return false;
	return !f->deny.used || !fset_match(&f->deny, fl);
}

static void fset_free(struct mon_fset *fs)
{
	size_t i;

	for (i = 0; i < fs->npeers; i++)
		spec_free(&fs->peers[i]);
	free(fs->peers);
	free(fs->statuses);
	for (i = 0; i < fs->nmethods; i++)
		free(fs->methods[i]);
	free(fs->methods);
	for (i = 0; i < fs->npaths; i++)
		free(fs->paths[i]);
	free(fs->paths);
	l7_reset__free(fs->path_set);
}

void mon_filter_free(struct mon_filter *f)
{
	fset_free(&f->allow);
	fset_free(&f->deny);
	memset(f, 0, sizeof(*f));
}
