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
#define VELUM_ABI_VERSION 6

/* Maps, pinned by name in VELUM_PIN_DIR. */
#define VELUM_MAP_ENDPOINTS  "velum_endpoints"	/* ifindex -> velum_endpoint_info */
#define VELUM_MAP_IPCACHE    "velum_ipcache"	/* LPM: velum_ipcache_key -> value */
#define VELUM_MAP_POLICY     "velum_policy"	/* hash of maps: ep_id -> policy LPM */
#define VELUM_MAP_CT	     "velum_ct"		/* LRU: velum_ct_key -> velum_ct_entry */
#define VELUM_MAP_FRAG	     "velum_frag"	/* LRU: velum_frag_key -> value */
#define VELUM_MAP_METRICS    "velum_metrics"	/* per-CPU: index -> counters */
#define VELUM_MAP_EVENTS     "velum_events"	/* ring buffer of velum_event */
#define VELUM_MAP_RATELIM    "velum_ratelim"	/* LRU: velum_ct_key -> last event ns */
#define VELUM_MAP_CONFIG     "velum_config"	/* array[1] of velum_config */
#define VELUM_MAP_LXC	     "velum_lxc"	/* hash: __be32 address -> velum_lxc_value */
#define VELUM_MAP_SOCK	     "velum_sock"	/* sockhash: velum_sock_key -> socket */
#define VELUM_MAP_SOCK_REF   "velum_sock_ref"	/* LRU: velum_sock_key -> velum_sock_ref */
#define VELUM_MAP_SOCK_STATS "velum_sock_stats" /* per-CPU: VELUM_SOCK_STAT_* -> counters */
#define VELUM_MAP_EP_NETNS   "velum_ep_netns"	/* hash: __be32 address -> netns cookie */
/* Programs, pinned by name in VELUM_PIN_DIR. */
#define VELUM_PROG_FROM	    "from_container" /* tc ingress of the host veth */
#define VELUM_PROG_TO	    "to_container"   /* tc egress of the host veth */
#define VELUM_PROG_PROXY_LO "proxy_lo"	     /* tc ingress of lo (dp_proxy_setup()) */
#define VELUM_PROG_SOCKOPS  "sock_ops"	     /* cgroup sock_ops (dp_proxy_sockmap()) */
#define VELUM_PROG_SK_MSG   "sk_msg"	     /* velum_sock's sk_msg verdict */
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
/*
 * velumd --trace-events off: the programs report no TRACE events (only
 * policy verdicts and drops). Conntrack notices flag changes either way;
 * the flag is read only when one happened.
 */
#define VELUM_CONFIG_F_NO_TRACE 0x08

struct velum_config {
	__be32 pool_addr;
	__be32 pool_mask;
	__u32 flags; /* VELUM_CONFIG_F_* */
	__u32 abi;   /* VELUM_ABI_VERSION of the user space that loaded the programs */
};
_Static_assert(sizeof(struct velum_config) == 16, "ABI");

/*
 * The L7 proxy's connections at the socket layer (docs/proxy-redirect.md,
 * "Kernel-carried bytes"): each end of a proxied TCP connection by its
 * own 4-tuple, as seen from its socket, and by side. The proxy's upstream
 * leg has the client leg's 4-tuple, so the tuple alone names two sockets
 * (the client's and the proxy's upstream one, or the proxy's accepted one
 * and the server's); the side tells them apart.
 */
#define VELUM_SOCK_SIDE_ENDPOINT 0 /* a socket in an endpoint's namespace */
#define VELUM_SOCK_SIDE_PROXY	 1 /* the proxy's, in the host namespace */
#define VELUM_SOCK_MAX		 131072
/*
 * Bytes redirected to a socket and not yet read past which senders to it
 * go the TCP way (whose window then stops them): redirected bytes bypass
 * TCP's flow control.
 */
#define VELUM_SOCK_QUEUE_MAX (256 * 1024)

struct velum_sock_key {
	__be32 laddr;
	__be32 raddr;
	__be16 lport;
	__be16 rport;
	__u32 side; /* VELUM_SOCK_SIDE_* */
};
_Static_assert(sizeof(struct velum_sock_key) == 16, "ABI");

/*
 * The same socket for reading its progress (lib/sockmap.h): its kernel
 * address and cookie. The address is only read from, and only while the
 * socket there still has this cookie.
 */
struct velum_sock_ref {
	__u64 sk;
	__u64 cookie;
};

/*
 * Sends on sockets in velum_sock (struct velum_metrics_value: packets are
 * sendmsg calls): carried to the peer's socket, or sent the TCP way although
 * the peer was known (bytes of the TCP way still in flight or unread, or
 * its queue full). User space sums the per-CPU values.
 */
#define VELUM_SOCK_STAT_CARRIED 0
#define VELUM_SOCK_STAT_TCP	1
#define VELUM_SOCK_STAT_N	2

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
