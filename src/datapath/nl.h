/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Minimal rtnetlink client for the endpoint plumbing: veth pairs, links up
 * and down, IPv4 addresses, routes and neighbours, in the network namespace
 * the socket was opened in. Requests are acknowledged synchronously, so
 * every function returns 0 or the kernel's negative errno. Directory-private
 * to src/datapath/.
 */
#ifndef VELUM_DATAPATH_NL_H
#define VELUM_DATAPATH_NL_H

#include <linux/types.h>
#include <stdint.h>

struct dp_nl {
	int fd;
	__u32 seq;
};

/*
 * Opens a NETLINK_ROUTE socket in the namespace netns_fd (-1: the caller's).
 * The socket stays bound to that namespace. Returns 0 or -errno.
 */
int dp_nl__open(struct dp_nl *nl, int netns_fd);
/* Closes the socket; accepts a closed or zeroed one (fd <= 0 means none). */
void dp_nl__close(struct dp_nl *nl);

/*
 * Creates a veth pair: host_name here, peer_name in the namespace
 * peer_netns_fd. Fails with -EEXIST if host_name exists.
 */
int dp_nl_veth_add(struct dp_nl *nl, const char *host_name, const char *peer_name,
		   int peer_netns_fd);
/* The ifindex of name in the socket's namespace, or -ENODEV. */
int dp_nl_link_index(struct dp_nl *nl, const char *name);
/* Reads the link's hardware address (6 bytes). */
int dp_nl_link_mac(struct dp_nl *nl, int ifindex, __u8 mac[6]);
/* The MAC of a veth's peer, wherever it lives (its namespace's id, as the
 * kernel reports it for ifindex; nothing needs to enter that namespace). */
int dp_nl_peer_mac(struct dp_nl *nl, int ifindex, __u8 mac[6]);
int dp_nl_link_up(struct dp_nl *nl, int ifindex);
/* Deletes the link (a veth takes its peer along). */
int dp_nl_link_del(struct dp_nl *nl, int ifindex);
/* Adds addr/plen (network order) to the link. */
int dp_nl_addr_add(struct dp_nl *nl, int ifindex, __be32 addr, int plen);
/*
 * Adds (or replaces) a route to dst/plen out of ifindex, via gw if non-zero
 * (the gateway is on-link), with the given RT_SCOPE_*.
 */
int dp_nl_route_add(struct dp_nl *nl, int ifindex, __be32 dst, int plen, __be32 gw, int scope);
/* Adds (or replaces) a permanent IPv4 neighbour entry. */
int dp_nl_neigh_add(struct dp_nl *nl, int ifindex, __be32 ip, const __u8 mac[6]);

/*
 * Policy routing rule "pref PREF fwmark MARK/MASK lookup TABLE": adding an
 * identical existing rule succeeds (idempotent); deleting an absent one is
 * -ENOENT.
 */
int dp_nl_fwmark_rule_add(struct dp_nl *nl, __u32 mark, __u32 mask, __u32 table, __u32 pref);
int dp_nl_fwmark_rule_del(struct dp_nl *nl, __u32 mark, __u32 mask, __u32 table, __u32 pref);
/* "local 0.0.0.0/0 dev IFINDEX table TABLE": add (or replace), delete (-ESRCH if absent). */
int dp_nl_local_default_add(struct dp_nl *nl, int ifindex, __u32 table);
int dp_nl_local_default_del(struct dp_nl *nl, int ifindex, __u32 table);

#endif
