/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Directory-private state of src/datapath/: the handle, map indices, and the
 * helpers dp.c and endpoint.c share.
 */
#ifndef VELUM_DATAPATH_DP_INTERNAL_H
#define VELUM_DATAPATH_DP_INTERNAL_H

#include <limits.h>
#include <linux/types.h>
#include <stdbool.h>

#include "datapath/dp.h"
#include "velum/endpoint.h"

enum dp_map {
	DP_MAP_ENDPOINTS,
	DP_MAP_IPCACHE,
	DP_MAP_POLICY,
	DP_MAP_CT,
	DP_MAP_FRAG,
	DP_MAP_METRICS,
	DP_MAP_EVENTS,
	DP_MAP_RATELIM,
	DP_MAP_CONFIG,
	DP_MAP_LXC,
	DP_MAP_SOCK,
	DP_MAP_SOCK_REF,
	DP_MAP_SOCK_STATS,
	DP_MAP_EP_NETNS,
	DP_MAP_N,
};

/*
 * tcx attach types (kernel 6.6+; the build machine's UAPI headers may
 * predate them).
 */
#define DP_TCX_INGRESS 46
#define DP_TCX_EGRESS  47

/* Subfolder of the pin folder whose flock marks the owning handle. */
#define DP_OWNER_DIR "owner"

struct ring_buffer;

struct dp {
	char pin_dir[200]; /* short enough that pin paths always fit PATH_MAX */
	char ifname_prefix[10];
	char netns_prefix[32];
	__be32 pool_addr, pool_mask;
	int pool_plen;
	__u32 cfg_flags; /* VELUM_CONFIG_F_*, as written to velum_config */
	int dir_fd;	 /* the pin folder, flock()ed while loading and changing endpoints */
	int owner_fd;	 /* its DP_OWNER_DIR subfolder, flock()ed for life by an owner; or -1 */
	int map_fd[DP_MAP_N];
	int prog_from, prog_to;
	int prog_proxy_lo; /* proxy_lo, attached to lo by dp_proxy_setup() */
	int prog_sockops;  /* sock_ops, attached to the cgroup root by dp_proxy_sockmap() */
	int prog_sk_msg;   /* sk_msg, attached to velum_sock by dp_proxy_sockmap() */
	struct ring_buffer *rb;
	dp_event_fn ev_fn;
	void *ev_ctx;
	int ev_count;
	int ev_stop;
};

/* Sets or clears VELUM_CONFIG_F_* flag in the pinned config (read fresh); 0 or -errno. */
int dp_config_flag(struct dp *dp, __u32 flag, bool on);

/*
 * If old_fd (the proxy_lo a reload replaces) is attached to lo, attaches
 * new_fd behind it and then detaches it, so lo never lacks the program;
 * else does nothing. 0 or -errno with eb.
 */
int dp_proxy_lo_replace(int new_fd, int old_fd, struct errbuf *eb);

/*
 * A reload's new sock_ops and sk_msg take the old ones' places where
 * dp_proxy_sockmap() attached those (old_sockops: the pinned one before the
 * reload, or -1); else nothing changes. 0 or -errno with eb.
 */
int dp_proxy_sockmap_replace(struct dp *dp, int new_sockops, int new_sk_msg, int old_sockops,
			     struct errbuf *eb);

/* Exclusive lock on the pin folder; returns 0 or -errno. */
int dp_lock(struct dp *dp);
void dp_unlock(struct dp *dp);

/* Attaches the programs to ifindex's tc ingress/egress (replacing ours). */
int dp_attach(struct dp *dp, int ifindex);
/* Removes our tc filters from ifindex (the clsact qdisc stays). */
int dp_detach(struct dp *dp, int ifindex);

/* Finds ep_id in velum_endpoints: 0 with *info (and its key), or -ENOENT. */
int dp_endpoint_find(struct dp *dp, __u32 ep_id, struct velum_endpoint_info *info);

/* dp_policy_apply() without the endpoint existence check (endpoint creation). */
int dp_policy_install(struct dp *dp, __u32 ep_id, const struct velum_policy_key *keys,
		      const struct velum_policy_value *vals, size_t n, struct errbuf *eb);
/* Drops ep_id's policy slot and pin. */
void dp_policy_drop(struct dp *dp, __u32 ep_id);

struct dp_nl;
/* Writes the endpoint's velum_lxc entry from its veth pair, asking host (a
 * netlink socket in the host namespace): BPF host routing's target. */
int dp_lxc_sync(struct dp *dp, struct dp_nl *host, const struct velum_endpoint_info *info);

/* Deletes conntrack entries whose either address is addr. */
void dp_ct_purge_addr(struct dp *dp, __be32 addr);

#endif
