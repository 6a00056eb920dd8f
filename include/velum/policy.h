/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy map ABI, shared by the eBPF programs and user space.
 *
 * Each endpoint has one policy map: an LPM trie of struct velum_policy_key
 * to struct velum_policy_value, computed by the policy engine
 * (src/policy/resolve.c) and swapped in whole by the datapath. The same
 * entries, and the same lookup, are what `velum policy trace` evaluates in
 * user space (pol_mapstate_lookup()), so trace and kernel cannot disagree.
 */
#pragma once

#include <linux/types.h>

#define VELUM_DIR_INGRESS 0
#define VELUM_DIR_EGRESS  1

/*
 * Key. The LPM data is identity (32 bits), direction (8), protocol (8),
 * destination port (16): 64 bits. The identity and direction are never
 * prefix-matched, so prefixlen is VELUM_POLICY_PREFIX_FIXED plus the number
 * of significant protocol/port bits:
 *   +0   any protocol, any port (an L3-only rule; also covers ICMP)
 *   +8   this protocol, any port
 *   +9..+23  this protocol, a power-of-two aligned block of ports (ranges are
 *        split into such blocks)
 *   +24  this protocol and port
 * identity 0 means "any peer". Lookups always use the full length
 * (VELUM_POLICY_PREFIX_FULL) with the packet's values, once with the peer's
 * identity and once with identity 0; see struct velum_policy_value for how
 * the two results are ranked.
 * ICMP and ICMPv6 keys carry the ICMP type in dport (bpf_htons(type)) and
 * always use the full length.
 */
struct velum_policy_key {
	__u32 prefixlen;
	__be32 identity;
	__u8 egress;   /* VELUM_DIR_* */
	__u8 protocol; /* IPPROTO_* */
	__be16 dport;
};
_Static_assert(sizeof(struct velum_policy_key) == 12, "ABI");

#define VELUM_POLICY_PREFIX_FIXED 40
#define VELUM_POLICY_PREFIX_FULL  64

/*
 * Verdict classes, ordered: a higher class wins over a lower one whatever the
 * prefix or identity (deny beats audit beats redirect beats allow).
 */
enum velum_verdict {
	VELUM_VERDICT_NONE = 0, /* no entry: default deny */
	VELUM_VERDICT_ALLOW = 1,
	VELUM_VERDICT_REDIRECT = 2, /* allow, through the L7 proxy at proxy_port */
	VELUM_VERDICT_AUDIT = 3,    /* a deny rule in audit mode: pass, report AUDIT */
	VELUM_VERDICT_DENY = 4,
};

/*
 * On an ALLOW entry: it stands for the default deny of a direction in audit
 * mode (the least specific entry, identity 0, any protocol, so that any real
 * allow overrides it): pass, report AUDIT.
 */
#define VELUM_POLICY_F_AUDIT 0x01

/*
 * Rule ids below VELUM_RULE_FIRST are not rules: VELUM_RULE_NONE means the
 * default deny of an enforced direction, VELUM_RULE_DEFAULT_ALLOW the allow
 * of a direction no policy enforces, VELUM_RULE_ALLOW_LOCALHOST the host's
 * flow into an endpoint that only allow-localhost always let pass
 * (VELUM_CONFIG_F_ALLOW_LOCALHOST; never in a policy map).
 */
#define VELUM_RULE_NONE		   0
#define VELUM_RULE_DEFAULT_ALLOW   1
#define VELUM_RULE_ALLOW_LOCALHOST 2
#define VELUM_RULE_FIRST	   16

/*
 * Value. Of the two lookup results (peer identity, identity 0) the kernel
 * and the trace pick: the higher verdict class; on a tie the larger
 * port_prefix (more specific port); on a tie the peer-identity entry. Within
 * one identity the engine has already resolved overlaps so that the longest
 * match also has the highest class among that identity's matching entries.
 */
struct velum_policy_value {
	__u8 verdict;	  /* enum velum_verdict */
	__u8 flags;	  /* VELUM_POLICY_F_* */
	__u8 port_prefix; /* prefixlen - VELUM_POLICY_PREFIX_FIXED: 0..24 */
	__u8 pad0;
	__be16 proxy_port; /* REDIRECT only */
	__u16 pad1;
	__u32 rule_id; /* deciding rule, reported in events */
	__u32 pad2;
};
_Static_assert(sizeof(struct velum_policy_value) == 16, "ABI");

/* Default capacity of one endpoint's policy map. */
#define VELUM_POLICY_MAP_MAX 16384
