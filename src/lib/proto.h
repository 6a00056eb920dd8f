/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IP protocols by name: the one place velum spells them, as Cilium does
 * ("TCP", "UDP", "SCTP", "ICMP", "ICMPv6"; "ANY" for a rule without a
 * protocol), for parsing (policies, API requests, command lines, flow
 * records) and printing alike.
 */
#ifndef VELUM_LIB_PROTO_H
#define VELUM_LIB_PROTO_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

/* A rule or map key that matches every protocol. */
#define PROTO_ANY 0

/* The name of proto, "ANY" for PROTO_ANY, or NULL for a protocol velum does not name. */
const char *proto_name(uint8_t proto);

/* Reads a name as proto_name() spells it, in any case. Returns 0, or -EINVAL. */
int proto_parse(const char *s, uint8_t *out);

/* True for the protocols with ports: TCP, UDP, SCTP. */
static inline bool proto_has_ports(uint8_t proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP;
}

#endif
