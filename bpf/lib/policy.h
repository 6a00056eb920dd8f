/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy lookup, exactly as include/velum/policy.h specifies: two full-length
 * LPM lookups in the endpoint's current policy map, one with the peer's
 * identity and one with identity 0; the higher verdict class wins, then the
 * longer port prefix, then the peer-specific entry. The map is fetched once
 * per lookup from the outer map, so both lookups see the same revision.
 */
#pragma once

#include "maps.h"

struct policy_result {
	__u32 rule_id;
	__u8 verdict; /* enum velum_verdict; NONE when nothing matched */
	__u8 flags;   /* VELUM_POLICY_F_* */
	__u8 match;   /* enum velum_match */
	__u8 pad;
	__be16 proxy_port;
};

static __always_inline __u8 policy_match_type(bool l3, __u8 port_prefix)
{
	if (port_prefix == 0)
		return l3 ? VELUM_MATCH_L3_ONLY : VELUM_MATCH_ALL;
	if (port_prefix <= 8)
		return l3 ? VELUM_MATCH_L3_PROTO : VELUM_MATCH_PROTO_ONLY;
	return l3 ? VELUM_MATCH_L3_L4 : VELUM_MATCH_L4_ONLY;
}

/*
 * allow-localhost always (VELUM_CONFIG_F_ALLOW_LOCALHOST): the host's new
 * flow into an endpoint passes where its ingress policy has only its
 * default deny (audited or not) for it; what a rule decides (allow,
 * redirect, deny) stands, as Cilium inserts its localhost allow below
 * deny rules.
 */
static __always_inline void policy_allow_localhost(__u8 dir, __u32 peer, struct policy_result *r)
{
	struct velum_config *cfg;
	__u32 zero = 0;

	if (dir != VELUM_DIR_INGRESS || peer != VELUM_ID_HOST || r->rule_id != VELUM_RULE_NONE)
		return;
	cfg = bpf_map_lookup_elem(&velum_config, &zero);
	if (!cfg || !(cfg->flags & VELUM_CONFIG_F_ALLOW_LOCALHOST))
		return;
	r->verdict = VELUM_VERDICT_ALLOW;
	r->flags = 0;
	r->match = VELUM_MATCH_ALL;
	r->rule_id = VELUM_RULE_ALLOW_LOCALHOST;
	r->proxy_port = 0;
}

/*
 * Looks up (peer, dir, proto, dport) in ep_id's policy. Returns 0 with r
 * filled (r->verdict NONE if no entry matched; allow-localhost applied), or
 * VELUM_DROP_NO_POLICY when the endpoint has no policy map.
 */
static __always_inline int policy_lookup(__u32 ep_id, __u8 dir, __u32 peer, __u8 proto,
					 __be16 dport, struct policy_result *r)
{
	struct velum_policy_key k = {
		.prefixlen = VELUM_POLICY_PREFIX_FULL,
		.identity = bpf_htonl(peer),
		.egress = dir,
		.protocol = proto,
		.dport = dport,
	};
	struct velum_policy_value *l3, *any, *best;
	bool is_l3;
	void *pmap;

	pmap = bpf_map_lookup_elem(&velum_policy, &ep_id);
	if (!pmap)
		return VELUM_DROP_NO_POLICY;
	l3 = bpf_map_lookup_elem(pmap, &k);
	k.identity = 0;
	any = bpf_map_lookup_elem(pmap, &k);

	/* rank: class, then port prefix, then the peer-specific entry */
	if (l3 && any) {
		if (any->verdict > l3->verdict ||
		    (any->verdict == l3->verdict && any->port_prefix > l3->port_prefix))
			best = any;
		else
			best = l3;
	} else {
		best = l3 ? l3 : any;
	}
	if (!best) {
		r->verdict = VELUM_VERDICT_NONE;
		r->flags = 0;
		r->match = VELUM_MATCH_NONE;
		r->rule_id = VELUM_RULE_NONE;
		r->proxy_port = 0;
		policy_allow_localhost(dir, peer, r);
		return 0;
	}
	is_l3 = best == l3 && peer != 0;
	r->verdict = best->verdict;
	r->flags = best->flags;
	r->match = policy_match_type(is_l3, best->port_prefix);
	r->rule_id = best->rule_id;
	r->proxy_port = best->proxy_port;
	policy_allow_localhost(dir, peer, r);
	return 0;
}
