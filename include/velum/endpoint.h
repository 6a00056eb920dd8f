/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Endpoint table (map velum_endpoints), shared by the programs and user
 * space. The shared programs are attached to every endpoint's host-side veth
 * and find "their" endpoint by skb->ifindex here.
 */
#pragma once

#include <linux/types.h>

/* Endpoint ids are 1..VELUM_EP_ID_MAX; 0 is never an endpoint. */
#define VELUM_EP_ID_MAX 65535
/* Capacity of velum_endpoints and of the outer policy map. */
#define VELUM_MAX_ENDPOINTS 4096

/* User space only: the datapath created the namespace and deletes it with the endpoint. */
#define VELUM_EP_F_OWN_NETNS 0x01

/*
 * Key: the host-side veth's ifindex (__u32), exact match. The value is
 * written whole by user space when the endpoint is added and deleted when it
 * is removed.
 */
struct velum_endpoint_info {
	__u32 ep_id;
	__u32 identity; /* the endpoint's security identity */
	__be32 ipv4;	/* its only address; from-container drops other sources */
	__u32 ifindex;	/* host-side veth, same as the key */
	__u32 flags;	/* none defined yet: 0 */
	__u32 pad;
};
_Static_assert(sizeof(struct velum_endpoint_info) == 24, "ABI");

/*
 * Local endpoints by address (map velum_lxc, hash): the target of BPF host
 * routing. When from_container lets a packet through to a local endpoint,
 * it writes eth into the frame (destination then source MAC), decrements
 * the TTL and hands the packet straight to the endpoint's namespace with
 * bpf_redirect_peer(ifindex): no host routing, no second program run (see
 * docs/datapath.md, "BPF host routing"). User space writes the entry last
 * when an endpoint is added and deletes it first when it is removed.
 */
struct velum_lxc_value {
	__u32 ep_id;
	__u32 identity; /* same as the endpoint's velum_endpoint_info */
	__u32 ifindex;	/* host-side veth (bpf_redirect_peer reaches its peer) */
	__u8 eth[12];	/* the endpoint's MAC, then the host-side veth's MAC */
};
_Static_assert(sizeof(struct velum_lxc_value) == 24, "ABI");
