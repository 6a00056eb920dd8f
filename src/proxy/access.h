/* SPDX-License-Identifier: Apache-2.0 */
/*
 * velum-proxy's access events: one fixed-size record per HTTP request
 * (type PX_EV_REQUEST: the verdict and the rule that decided) and per
 * response (PX_EV_RESPONSE: status and latency), Hubble's http-request and
 * http-response. The agent includes this header to read them from the
 * proxy's unix datagram socket (one record per datagram, native byte
 * order: both ends run on the same node); standalone, the proxy writes them
 * as JSON lines instead (px_access_format_json()).
 *
 * Strings are NUL-terminated and cut at their field's size (url_len keeps
 * the untruncated length). Addresses are IPv4-mapped IPv6 for IPv4.
 */
#ifndef VELUM_PROXY_ACCESS_H
#define VELUM_PROXY_ACCESS_H

#include <stddef.h>
#include <stdint.h>

#define PX_EV_VERSION 2

enum px_ev_type {
	PX_EV_REQUEST = 1,
	PX_EV_RESPONSE = 2,
};

enum px_ev_verdict {
	PX_VERDICT_FORWARDED = 1,
	PX_VERDICT_DROPPED = 2, /* denied by the rules: the proxy answered 403 */
	PX_VERDICT_ERROR = 3,	/* not judged: bad request, timeout, upstream failure */
};

enum px_ev_direction {
	PX_DIR_UNKNOWN = 0, /* standalone */
	PX_DIR_INGRESS = 1, /* the server endpoint's ingress redirect */
	PX_DIR_EGRESS = 2,  /* the client endpoint's egress redirect */
};

/* What decided: an HTTP rule matched, none did, or no verdict was reached. */
#define PX_RULE_NONE (-1)

struct px_ev_peer {
	uint8_t addr[16]; /* IPv6, or IPv4-mapped */
	uint16_t port;
	uint16_t pad;
	uint32_t identity; /* 0 when unknown (standalone mode) */
};

struct px_access_event {
	uint16_t version;   /* PX_EV_VERSION */
	uint8_t type;	    /* enum px_ev_type */
	uint8_t verdict;    /* enum px_ev_verdict */
	uint8_t http_major; /* request's version */
	uint8_t http_minor;
	uint16_t status;       /* response code; 0 in request records */
	int32_t rule;	       /* index of the HTTP rule that allowed, or PX_RULE_NONE */
	uint32_t rule_line;    /* its line in the rules file (standalone), else 0 */
	uint64_t time_ns;      /* CLOCK_REALTIME */
	uint64_t latency_ns;   /* responses: request decided -> response head complete */
	struct px_ev_peer src; /* the client */
	struct px_ev_peer dst; /* the server as the client addressed it */
	uint32_t url_len;      /* full length of the URL; url[] may hold less */
	uint8_t direction;     /* enum px_ev_direction: which redirect brought the flow */
	uint8_t pad[3];
	char rule_name[96]; /* the policy rule that allowed (transparent mode), or "" */
	char method[16];
	char host[128];
	char url[512];	 /* request target as judged (path and query) */
	char reason[64]; /* "no HTTP rule matched", "bad request: ...", ... */
};

_Static_assert(sizeof(struct px_access_event) == 904, "ABI");

/*
 * On the events socket a datagram carries 1 to PX_EV_PER_DATAGRAM records
 * back to back (its size a multiple of the record's).
 */
#define PX_EV_PER_DATAGRAM 64

struct strbuf;

/*
 * Appends ev as one JSON object (no newline) with Hubble's field names:
 * time, verdict, source/destination {ip, port, identity},
 * traffic_direction (INGRESS|EGRESS, transparent mode), l7 {type
 * REQUEST|RESPONSE, latency_ns, http {code, method, url, protocol}}, plus
 * rule (index and line in the rules file, or the policy rule's name) and
 * reason. Returns 0 or -ENOMEM.
 */
int px_access_format_json(const struct px_access_event *ev, struct strbuf *sb);

#endif
