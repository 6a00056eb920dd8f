/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IP protocol names (see proto.h).
 */
#include "lib/proto.h"

#include <errno.h>
#include <stddef.h>
#include <strings.h>

static const struct {
	uint8_t proto;
	const char *name;
} protos[] = {
	{ PROTO_ANY, "ANY" },	  { IPPROTO_TCP, "TCP" },   { IPPROTO_UDP, "UDP" },
	{ IPPROTO_SCTP, "SCTP" }, { IPPROTO_ICMP, "ICMP" }, { IPPROTO_ICMPV6, "ICMPv6" },
};

const char *proto_name(uint8_t proto)
{
	size_t i;

	for (i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (protos[i].proto == proto)
			return protos[i].name;
	return NULL;
}

int proto_parse(const char *s, uint8_t *out)
{
	size_t i;

	for (i = 0; s && i < sizeof(protos) / sizeof(protos[0]); i++) {
		if (!strcasecmp(s, protos[i].name)) {
			*out = protos[i].proto;
			return 0;
		}
	}
	return -EINVAL;
}
