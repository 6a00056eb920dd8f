/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The shared peer syntax of trace and observe (see peer.h).
 */
#include "identity/peer.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity/identity.h"

uint32_t id_reserved_parse(const char *name)
{
	uint32_t id;

	for (id = 1; id <= ID_RESERVED_MAX; id++) {
		const char *rn = id_reserved_name(id);

		if (rn && !strcmp(rn, name))
			return id;
	}
	return 0;
}

/* Decimal digits only, at most UINT32_MAX; false otherwise. */
static bool parse_u32(const char *s, uint32_t *out)
{
	unsigned long long v;
	char *end;

	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* 1: an address or prefix (in out), 0: not one, -EINVAL: looks like one but is malformed. */
static int parse_addr(const char *spec, struct id_peer *out, struct errbuf *eb)
{
	const char *slash = strchr(spec, '/');
	struct in_addr a;
	char buf[INET_ADDRSTRLEN];
	size_t alen = slash ? (size_t)(slash - spec) : strlen(spec);
	uint32_t plen = 32;

	/* digits and dots before any '/' look like an address */
	if (!alen || strspn(spec, "0123456789.") != alen || !memchr(spec, '.', alen))
		return 0;
	if (alen >= sizeof(buf))
		return errbuf_set(eb, -EINVAL, "'%s': not an IPv4 address", spec);
	memcpy(buf, spec, alen);
	buf[alen] = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1)
		return errbuf_set(eb, -EINVAL, "'%s': not an IPv4 address", spec);
	if (slash && (!parse_u32(slash + 1, &plen) || plen > 32))
		return errbuf_set(eb, -EINVAL, "'%s': the prefix length is not 0-32", spec);
	out->kind = ID_PEER_ADDR;
	out->plen = (uint8_t)plen;
	out->addr = a.s_addr & (plen ? htonl(0xffffffffu << (32 - plen)) : 0);
	return 1;
}

int id_peer_parse(const char *spec, struct id_peer *out, struct errbuf *eb)
{
	const char *slash;
	int r;

	memset(out, 0, sizeof(*out));
	if (!*spec)
		return errbuf_set(eb, -EINVAL, "empty peer");
	if ((out->num = id_reserved_parse(spec))) {
		out->kind = ID_PEER_IDENTITY;
		out->word = true;
		return 0;
	}
	if (!strncmp(spec, "reserved:", 9) && !strchr(spec, '=') &&
	    (out->num = id_reserved_parse(spec + 9))) {
		out->kind = ID_PEER_IDENTITY;
		return 0;
	}
	if (!strncmp(spec, "ID:", 3) || !strncmp(spec, "identity:", 9)) {
		const char *n = spec + (spec[0] == 'I' ? 3 : 9);

		if (!parse_u32(n, &out->num))
			return errbuf_set(eb, -EINVAL,
					  "'%s': expected an identity number after ':'", spec);
		out->kind = ID_PEER_IDENTITY;
		return 0;
	}
	if (strspn(spec, "0123456789") == strlen(spec)) {
		if (!parse_u32(spec, &out->num) || !out->num)
			return errbuf_set(eb, -EINVAL, "'%s': not an endpoint id (1-%u)", spec,
					  UINT32_MAX);
		out->kind = ID_PEER_EPID;
		return 0;
	}
	r = parse_addr(spec, out, eb);
	if (r)
		return r < 0 ? r : 0;
	if (strchr(spec, '=') || strchr(spec, ':')) {
		out->kind = ID_PEER_LABEL;
		return 0;
	}
	slash = strchr(spec, '/');
	if ((slash && (slash == spec || !slash[1] || strchr(slash + 1, '/'))) ||
	    snprintf(out->name, sizeof(out->name), "%s%s", slash ? "" : "default/", spec) >=
		    (int)sizeof(out->name))
		return errbuf_set(eb, -EINVAL, "'%.64s': not an endpoint name ([namespace/]name)",
				  spec);
	out->kind = ID_PEER_NAME;
	return 0;
}
