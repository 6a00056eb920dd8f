/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The peer forms every command that names one side of a flow accepts
 * (`velum policy trace --from/--to`, `velum observe --from/--to`, GET
 * /v1/flows from=/to=): one parser, so that both read a spec alike. It
 * only classifies; resolving a name or id against endpoints is the
 * caller's (model_peer() for a trace, the agent's flow filter check).
 *
 * Forms, tried in this order:
 *   "host", "world", another reserved identity's name, "reserved:NAME"
 *                              a reserved identity (word: set for the bare
 *                              forms, which a same-named endpoint in
 *                              "default" takes precedence over)
 *   "ID:N", "identity:N"       an identity number (as flows print "(ID:N)")
 *   decimal digits             an endpoint id
 *   A.B.C.D, A.B.C.D/LEN       an IPv4 address (plen 32) or prefix
 *   "[source:]key=value", "source:key"   a label
 *   "ns/name", "name"          an endpoint name ("default" if no namespace)
 *
 * Pure computation.
 */
#ifndef VELUM_IDENTITY_PEER_H
#define VELUM_IDENTITY_PEER_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/errbuf.h"

enum id_peer_kind {
	ID_PEER_NAME,
	ID_PEER_EPID,
	ID_PEER_ADDR,
	ID_PEER_IDENTITY,
	ID_PEER_LABEL,
};

struct id_peer {
	enum id_peer_kind kind;
	bool word;	/* IDENTITY: given as a bare reserved name ("host") */
	uint8_t plen;	/* ADDR: prefix length (32: an address) */
	uint32_t addr;	/* ADDR: network byte order, host bits cleared */
	uint32_t num;	/* EPID: the endpoint id; IDENTITY: the identity */
	char name[256]; /* NAME: "ns/name" */
};

/*
 * Classifies spec (borrowed) into *out. Returns 0, or -EINVAL with eb set
 * for an empty spec, a malformed address or prefix ("10.0.0.0/33"), an
 * identity or id out of range, or a name longer than 255 bytes or with
 * more than one '/'.
 */
int id_peer_parse(const char *spec, struct id_peer *out, struct errbuf *eb);

/* The reserved identity called name ("host", "world", ...), or 0. */
uint32_t id_reserved_parse(const char *name);

#endif
