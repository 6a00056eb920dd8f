/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Drop reasons of the eBPF datapath, shared by the programs (which return
 * them, negative, from their helpers), the counters map (indexed by their
 * magnitude) and the drop events (which carry the magnitude). The numbers
 * and texts are Cilium's (bpf/lib/common.h, pkg/monitor/api/drop.go) where
 * a reason exists there, so users reading `Policy denied` or 133 find what
 * they expect; src/monitor/flow.c checks the numbers at compile time.
 * velum's own reasons, which Cilium lacks, count down from 250, far from
 * Cilium's range. All are below -129 so they never collide with TC_ACT_*
 * codes; all magnitudes fit in a byte.
 */
#pragma once

#include <linux/types.h>

enum velum_drop {
	VELUM_DROP_INVALID_SIP = -132,	  /* "Invalid source ip": spoofed source */
	VELUM_DROP_POLICY = -133,	  /* "Policy denied": no entry allows */
	VELUM_DROP_INVALID = -134,	  /* "Invalid packet": bad Ethernet/IPv4 header */
	VELUM_DROP_CT_INVALID_HDR = -135, /* "CT: Truncated or invalid header" (L4) */
	VELUM_DROP_UNKNOWN_L3 = -139,	  /* "Unsupported L3 protocol" (not IPv4/ARP) */
	VELUM_DROP_WRITE = -141,	  /* "Error writing to packet": host routing's rewrite */
	VELUM_DROP_UNROUTABLE = -151,	  /* "Stale or unroutable IP": no route out */
	VELUM_DROP_CT_MAP_FULL = -155,	  /* "CT: Map insertion failed" */
	VELUM_DROP_FRAG_NOT_FOUND = -175, /* "First logical datagram fragment not found" */
	/* L7 redirect, fail closed (docs/proxy-redirect.md): */
	VELUM_DROP_PROXY_LOOKUP = -178, /* "Socket lookup failed": no proxy socket for the flow */
	VELUM_DROP_PROXY_ASSIGN = -179, /* "Socket assign failed": bpf_sk_assign() refused */
	VELUM_DROP_PROXY_PROTO =
		-180, /* "Proxy redirection not supported for protocol" (not TCP) */
	VELUM_DROP_POLICY_DENY = -181, /* "Policy denied by denylist" */
	VELUM_DROP_NO_POLICY = -203,   /* "Endpoint policy program not available": no policy map */
	/* velum's own: */
	VELUM_DROP_NO_ENDPOINT = -250, /* "Unknown endpoint": interface not in velum_endpoints */
};

/*
 * The text of a reason, by magnitude (what counters, events and flows carry),
 * for user space; the one place these strings live.
 */
static inline const char *velum_drop_name(unsigned int reason)
{
	switch (-(int)reason) {
	case VELUM_DROP_INVALID_SIP:
		return "Invalid source ip";
	case VELUM_DROP_POLICY:
		return "Policy denied";
	case VELUM_DROP_INVALID:
		return "Invalid packet";
	case VELUM_DROP_CT_INVALID_HDR:
		return "CT: Truncated or invalid header";
	case VELUM_DROP_UNKNOWN_L3:
		return "Unsupported L3 protocol";
	case VELUM_DROP_WRITE:
		return "Error writing to packet";
	case VELUM_DROP_UNROUTABLE:
		return "Stale or unroutable IP";
	case VELUM_DROP_CT_MAP_FULL:
		return "CT: Map insertion failed";
	case VELUM_DROP_FRAG_NOT_FOUND:
		return "First logical datagram fragment not found";
	case VELUM_DROP_PROXY_LOOKUP:
		return "Socket lookup failed";
	case VELUM_DROP_PROXY_ASSIGN:
		return "Socket assign failed";
	case VELUM_DROP_PROXY_PROTO:
		return "Proxy redirection not supported for protocol";
	case VELUM_DROP_POLICY_DENY:
		return "Policy denied by denylist";
	case VELUM_DROP_NO_ENDPOINT:
		return "Unknown endpoint";
	case VELUM_DROP_NO_POLICY:
		return "Endpoint policy program not available";
	}
	return "Unknown drop reason";
}

/* Lowest (most negative) reason; counters are sized for magnitudes up to it. */
#define VELUM_DROP_MAX 255

/*
 * Counters (map velum_metrics, per-CPU array): index
 * dir * VELUM_METRICS_PER_DIR + code, where dir is VELUM_DIR_* of the
 * enforcing endpoint and code is 0 for forwarded packets or the magnitude of
 * the enum velum_drop. User space sums the per-CPU values.
 */
#define VELUM_METRICS_PER_DIR 256
#define VELUM_METRICS_MAX     (2 * VELUM_METRICS_PER_DIR)

struct velum_metrics_value {
	__u64 packets;
	__u64 bytes;
};
_Static_assert(sizeof(struct velum_metrics_value) == 16, "ABI");
