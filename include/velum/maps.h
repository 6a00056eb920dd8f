/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pinned objects of the datapath and the small records no other ABI header
 * owns (config, fragment tracking). Everything lives in the
 * bpffs folder VELUM_PIN_DIR; kernel object names stop at 15 characters.
 */
#pragma once

#include <linux/types.h>

#define VELUM_BPFFS   "/sys/fs/bpf"
#define VELUM_PIN_DIR VELUM_BPFFS "/velum"

/*
 * Version of this ABI (every include/velum/ header). A process finding
 * pinned state of another version refuses it instead of writing records
 * the programs would misread; it must reload (or destroy) the datapath.
 */
#define VELUM_ABI_VERSION 4

/* Maps, pinned by name in VELUM_PIN_DIR. */
#define VELUM_MAP_ENDPOINTS "velum_endpoints" /* ifindex -> velum_endpoint_info */
#define VELUM_MAP_IPCACHE   "velum_ipcache"   /* LPM: velum_ipcache_key -> value */
#define VELUM_MAP_POLICY    "velum_policy"    /* hash of maps: ep_id -> policy LPM */
#define VELUM_MAP_CT	    "velum_ct"	      /* LRU: velum_ct_key -> velum_ct_entry */
#define VELUM_MAP_FRAG	    "velum_frag"      /* LRU: velum_frag_key -> value */
#define VELUM_MAP_METRICS   "velum_metrics"   /* per-CPU: index -> counters */
#define VELUM_MAP_EVENTS    "velum_events"    /* ring buffer of velum_event */
#define VELUM_MAP_RATELIM   "velum_ratelim"   /* LRU: velum_ct_key -> last event ns */
#define VELUM_MAP_CONFIG    "velum_config"    /* array[1] of velum_config */
#define VELUM_MAP_LXC	    "velum_lxc"	      /* hash: __be32 address -> velum_lxc_value */
/* Programs, pinned by name in VELUM_PIN_DIR. */
#define VELUM_PROG_FROM	    "from_container" /* tc ingress of the host veth */
#define VELUM_PROG_TO	    "to_container"   /* tc egress of the host veth */
#define VELUM_PROG_PROXY_LO "proxy_lo"	     /* tc ingress of lo (dp_proxy_setup()) */
/* Per-endpoint inner policy maps: kernel name and pin "velum_pol_<ep_id>". */
#define VELUM_POLICY_INNER_FMT "velum_pol_%u"

/*
 * Node-wide settings (velum_config, key 0). When pool_mask is non-zero,
 * from-container drops packets to addresses outside pool_addr/pool_mask
 * unless the ipcache says they are the host's: endpoint addresses never
 * leave the machine.
 *
 * Packets between two local endpoints skip the host's routing (BPF host
 * routing, velum_lxc) unless VELUM_CONFIG_F_LEGACY_ROUTING is set: then
 * they go through the host stack like any other packet and the
 * destination's to_container checks them again.
 */
#define VELUM_CONFIG_F_LEGACY_ROUTING 0x01
/*
 * dp_proxy_setup() made the lo program (VELUM_PROG_PROXY_LO) and the host's
 * routing ready: to_container may send a flow from a non-endpoint source
 * to the proxy through lo; without it such a flow is dropped.
 */
#define VELUM_CONFIG_F_PROXY_LO 0x02
/*
 * velumd --allow-localhost always: a new flow from the host (identity host)
 * into a local endpoint that its ingress policy would drop by default deny
 * passes (Cilium's behaviour on Kubernetes, where kubelet probes pods); a
 * deny rule still wins. Without it (policy), host traffic meets the
 * endpoint's ingress policy like any peer's.
 */
#define VELUM_CONFIG_F_ALLOW_LOCALHOST 0x04

struct velum_config {
	__be32 pool_addr;
	__be32 pool_mask;
	__u32 flags; /* VELUM_CONFIG_F_* */
	__u32 abi;   /* VELUM_ABI_VERSION of the user space that loaded the programs */
};
_Static_assert(sizeof(struct velum_config) == 16, "ABI");

/*
 * IPv4 fragment tracking: the first fragment records its ports so that
 * later fragments of the same datagram are treated like it. Key exact.
 */
struct velum_frag_key {
	__be32 saddr;
	__be32 daddr;
	__be16 id;
	__u8 protocol;
	__u8 pad;
};
_Static_assert(sizeof(struct velum_frag_key) == 12, "ABI");

struct velum_frag_value {
	__be16 sport; /* conntrack ports */
	__be16 dport;
	__be16 policy_dport; /* the port (ICMP: type) the policy sees */
	__u16 pad;
};
_Static_assert(sizeof(struct velum_frag_value) == 8, "ABI");

#define VELUM_FRAG_MAX 8192
