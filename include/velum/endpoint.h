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
