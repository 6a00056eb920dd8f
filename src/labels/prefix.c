/* SPDX-License-Identifier: Apache-2.0 */
/* IP prefix parsing, containment and subtraction. */
#include "labels/prefix.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void prefix_mask(struct pol_prefix *p)
{
	unsigned bytes = p->family == 4 ? 4 : 16, i;

	for (i = 0; i < bytes; i++) {
		unsigned bit = i * 8;

		if (bit >= p->len)
			p->addr[i] = 0;
		else if (bit + 8 > p->len)
			p->addr[i] &= (uint8_t)(0xff << (8 - (p->len - bit)));
	}
	for (i = bytes; i < 16; i++)
		p->addr[i] = 0;
}

int pol_prefix_parse(const char *s, bool allow_bare, struct pol_prefix *out, struct errbuf *eb)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long len;
	char *end;

	memset(out, 0, sizeof(*out));
	if (alen == 0 || alen >= sizeof(addr))
		return errbuf_set(eb, -EINVAL, "'%s' is not a CIDR prefix", s);
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, out->addr) == 1)
		out->family = 4;
	else if (inet_pton(AF_INET6, addr, out->addr) == 1)
		out->family = 6;
	else
		return errbuf_set(eb, -EINVAL, "'%s' is not a CIDR prefix", s);
	if (!slash) {
		if (!allow_bare)
			return errbuf_set(eb, -EINVAL,
					  "'%s' is not a CIDR prefix (missing /length)", s);
		out->len = out->family == 4 ? 32 : 128;
		return 0;
	}
	if (slash[1] < '0' || slash[1] > '9' || (slash[1] == '0' && slash[2]))
		return errbuf_set(eb, -EINVAL, "'%s' is not a CIDR prefix", s);
	errno = 0;
	len = strtoul(slash + 1, &end, 10);
	if (errno || *end || len > (out->family == 4 ? 32u : 128u))
		return errbuf_set(eb, -EINVAL, "'%s' is not a CIDR prefix (bad length)", s);
	out->len = (uint8_t)len;
	prefix_mask(out);
	return 0;
}

bool pol_prefix_contains(const struct pol_prefix *outer, const struct pol_prefix *inner)
{
	unsigned full, rem;

	if (outer->family != inner->family || outer->len > inner->len)
		return false;
	full = outer->len / 8;
	rem = outer->len % 8;
	if (memcmp(outer->addr, inner->addr, full))
		return false;
	if (rem && ((outer->addr[full] ^ inner->addr[full]) & (uint8_t)(0xff << (8 - rem))))
		return false;
	return true;
}

bool pol_prefix_eq(const struct pol_prefix *a, const struct pol_prefix *b)
{
	return a->family == b->family && a->len == b->len && !memcmp(a->addr, b->addr, 16);
}

char *pol_prefix_format(const struct pol_prefix *p, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN];

	if (!inet_ntop(p->family == 4 ? AF_INET : AF_INET6, p->addr, a, sizeof(a)))
		snprintf(a, sizeof(a), "?");
	snprintf(buf, size, "%s/%u", a, p->len);
	return buf;
}

struct pol_prefix pol_prefix_v4(uint32_t addr_be, uint8_t len)
{
	struct pol_prefix p = { .family = 4, .len = len };

	memcpy(p.addr, &addr_be, 4);
	prefix_mask(&p);
	return p;
}

static int push_prefix(struct pol_prefix **out, size_t *n, const struct pol_prefix *p)
{
	struct pol_prefix *nv = realloc(*out, (*n + 1) * sizeof(**out));

	if (!nv)
		return -ENOMEM;
	nv[(*n)++] = *p;
	*out = nv;
	return 0;
}

/*
 * Recursive halving: a prefix either is covered by an except (dropped), has
 * no except inside it (kept whole), or is split into its two halves. The
 * depth is bounded by the address width.
 */
static int subtract(const struct pol_prefix *p, const struct pol_prefix *ex, size_t nex,
		    struct pol_prefix **out, size_t *n)
{
	struct pol_prefix half;
	bool inside = false;
	unsigned maxlen = p->family == 4 ? 32 : 128;
	size_t i;
	int err;

	for (i = 0; i < nex; i++) {
		if (ex[i].family != p->family)
			continue;
		if (pol_prefix_contains(&ex[i], p))
			return 0;
		if (pol_prefix_contains(p, &ex[i]))
			inside = true;
	}
	if (!inside || p->len >= maxlen)
		return push_prefix(out, n, p);
	half = *p;
	half.len++;
	err = subtract(&half, ex, nex, out, n);
	if (err)
		return err;
	half.addr[p->len / 8] |= (uint8_t)(0x80 >> (p->len % 8));
	return subtract(&half, ex, nex, out, n);
}

int pol_prefix_subtract(const struct pol_prefix *base, const struct pol_prefix *excepts,
			size_t nexcepts, struct pol_prefix **out, size_t *n)
{
	return subtract(base, excepts, nexcepts, out, n);
}
