/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The datapath: velum's eBPF programs and maps on this node, and the
 * endpoints they police. One shared program pair (from_container,
 * to_container) is loaded once and pinned with every map under the bpffs
 * folder (default /sys/fs/bpf/velum); each endpoint is a network namespace
 * joined to the host by a veth pair whose host side carries the programs.
 * Everything persists when the process exits: a later dp__open() attaches
 * to the pinned state without a gap in enforcement.
 *
 * Concurrency: one struct dp is used by one thread at a time. Several
 * processes may hold the same pinned state open; loading and endpoint
 * add/remove take an exclusive flock on the pin folder. At most one handle
 * owns the folder (dp_opts.own: a flock on its "owner" subfolder held
 * until dp__close()), so two agents never manage the same datapath.
 *
 * Errors: int functions return 0 (or a count) or a negative errno and never
 * print; with an errbuf they also say what failed. See docs/datapath.md.
 */
#ifndef VELUM_DATAPATH_DP_H
#define VELUM_DATAPATH_DP_H

#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/errbuf.h"
#include "velum/conntrack.h"
#include "velum/endpoint.h"
#include "velum/events.h"
#include "velum/ipcache.h"
#include "velum/policy.h"

struct dp;

/* Default endpoint address pool. */
#define DP_POOL_DEFAULT "10.200.0.0/16"
/* The endpoints' default gateway: link-local, answered by a permanent neighbour entry. */
#define DP_GATEWAY "169.254.1.1"

struct dp_opts {
	/* bpffs folder for the pins; NULL: VELUM_PIN_DIR (mounted if needed) */
	const char *pin_dir;
	/* endpoint address pool "a.b.c.d/len"; NULL: DP_POOL_DEFAULT */
	const char *pool;
	/* host-side veth name: <ifname_prefix><ep_id>; NULL: "vlm" (at most 9 chars) */
	const char *ifname_prefix;
	/* name of a created namespace: <netns_prefix><ep_id>; NULL: "velum-ep" */
	const char *netns_prefix;
	/* load new programs even if pinned ones exist, and re-attach them to
	 * every endpoint (upgrade); maps are kept */
	bool reload;
	/* add the host's own IPv4 addresses to the ipcache as identity host */
	bool no_host_ipcache;
	/* how packets between local endpoints travel (docs/datapath.md, "BPF
	 * host routing"); DP_ROUTING_KEEP keeps the node's (BPF when new) */
	enum dp_routing { DP_ROUTING_KEEP, DP_ROUTING_BPF, DP_ROUTING_LEGACY } routing;
	/* be the pin folder's owner for the handle's life (the agent): a second
	 * owner is refused with -EBUSY before it changes anything; handles that
	 * are not owners (tools, the agent's own helper threads) are not */
	bool own;
};

/*
 * Opens the datapath: takes the pinned programs and maps if they exist
 * (unless opts->reload), else loads build/gen's skeleton, pins everything
 * and writes the node config. opts may be NULL (all defaults); its strings
 * are copied. Returns a new handle (free with dp__close()) or NULL with
 * errno set; eb (may be NULL) says why.
 */
struct dp *dp__open(const struct dp_opts *opts, struct errbuf *eb);

/*
 * Releases the handle. Programs, maps, pins and endpoints stay: enforcement
 * continues. Accepts NULL.
 */
void dp__close(struct dp *dp);

/*
 * Removes every pin, program and map this datapath made, after removing all
 * its endpoints. The handle stays valid only for dp__close().
 */
int dp_destroy_all(struct dp *dp, struct errbuf *eb);

struct dp_endpoint_opts {
	__u32 ep_id;	/* 1..VELUM_EP_ID_MAX, unique */
	__u32 identity; /* its security identity */
	/* adopt this namespace (a path such as /proc/PID/ns/net or
	 * /run/netns/NAME) instead of creating <netns_prefix><ep_id> */
	const char *netns_path;
	const char *ifname; /* name inside the namespace; NULL: "eth0" */
	__be32 ipv4;	    /* 0: the lowest free address of the pool */
	/*
	 * The endpoint's first policy (borrowed), installed before any link is
	 * up. keys NULL: dp_policy_default_allow(); keys non-NULL with
	 * npolicy 0: deny everything.
	 */
	const struct velum_policy_key *keys;
	const struct velum_policy_value *vals;
	size_t npolicy;
};

/*
 * Result of dp_endpoint_add(): what was made.
 */
struct dp_endpoint {
	__u32 ep_id;
	__u32 identity;
	__be32 ipv4;
	int host_ifindex;
	char host_ifname[16];
	char netns[64]; /* the namespace's path (/run/netns/... when created) */
};

/*
 * Creates an endpoint: namespace (created or adopted), veth pair (host side
 * <ifname_prefix><ep_id>), address, host route, default route via
 * DP_GATEWAY inside, IPv6 off inside; then endpoint map entry, ipcache
 * entry (identity, local endpoint) and a default-allow policy in both
 * directions (or o->keys), and the programs attached before any link is
 * up, so the first packet is already policed. Fails with -EEXIST if ep_id or the
 * address is in use, -ENOSPC if the pool is exhausted; on failure nothing
 * is left behind. Fills *out if non-NULL.
 */
int dp_endpoint_add(struct dp *dp, const struct dp_endpoint_opts *o, struct dp_endpoint *out,
		    struct errbuf *eb);

/*
 * Removes endpoint ep_id: its veth pair (and with it the tc filters), its
 * namespace if the datapath created it, its map entries, policy map and
 * pin, and its conntrack entries. -ENOENT if unknown.
 */
int dp_endpoint_remove(struct dp *dp, __u32 ep_id, struct errbuf *eb);

/* Looks up endpoint ep_id. Returns 0 and fills *out, or -ENOENT. */
int dp_endpoint_get(struct dp *dp, __u32 ep_id, struct dp_endpoint *out);

/*
 * Lists up to max endpoints into out (any order). Returns how many exist
 * (which may exceed max) or -errno.
 */
int dp_endpoint_list(struct dp *dp, struct dp_endpoint *out, size_t max);

/* Changes an endpoint's identity (endpoint map and ipcache). */
int dp_endpoint_set_identity(struct dp *dp, __u32 ep_id, __u32 identity);

/*
 * Replaces endpoint ep_id's whole policy with the n entries (borrowed):
 * validates them, builds a new policy map aside, then swaps it in with one
 * map update, so every packet sees either the old or the new policy. On
 * error nothing changes (-EINVAL with eb naming the bad entry, -ENOENT for
 * an unknown endpoint, -E2BIG beyond VELUM_POLICY_MAP_MAX entries). Flows
 * already tracked keep their verdict until they end (as in Cilium).
 */
int dp_policy_apply(struct dp *dp, __u32 ep_id, const struct velum_policy_key *keys,
		    const struct velum_policy_value *vals, size_t n, struct errbuf *eb);

/*
 * dp_policy_apply() in two steps, for a caller that must not wait for the
 * swap's RCU grace period: dp_policy_build() validates the entries of
 * endpoint ep_id (as dp_policy_apply(), but without the existence check),
 * builds the new map aside and pins it; no program reads it yet.
 * dp_policy_publish() swaps it in (one outer-map update: the kernel makes
 * it visible to every program run that starts after it, then waits for a
 * grace period before the syscall returns) and releases b.
 * dp_policy_live() tells, without waiting, whether programs already read
 * map_id for ep_id (1), not yet (0), or -errno. dp_policy_built_discard()
 * releases a map that is not published. b is plain data: build, publish
 * and live may run on different threads, each with its own dp handle.
 */
struct dp_policy_built {
	__u32 ep_id;
	__u32 map_id;
	int fd;
};
int dp_policy_build(struct dp *dp, __u32 ep_id, const struct velum_policy_key *keys,
		    const struct velum_policy_value *vals, size_t n, struct dp_policy_built *b,
		    struct errbuf *eb);
int dp_policy_publish(struct dp *dp, struct dp_policy_built *b, struct errbuf *eb);
/*
 * dp_policy_publish() for n maps with one batch update of the outer map:
 * the kernel waits for one grace period at the end for all of them, not
 * one per map (one by one where the kernel has no batch update). Releases
 * every b[i]; on error some may be published (eb says how many).
 */
int dp_policy_publish_many(struct dp *dp, struct dp_policy_built *b, size_t n, struct errbuf *eb);
int dp_policy_live(struct dp *dp, __u32 ep_id, __u32 map_id);
void dp_policy_built_discard(struct dp_policy_built *b);

/*
 * The policy of an endpoint no rule selects: allow every peer in both
 * directions (rule VELUM_RULE_DEFAULT_ALLOW). Fills keys/vals[0..1];
 * returns 2.
 */
int dp_policy_default_allow(struct velum_policy_key keys[2], struct velum_policy_value vals[2]);

/*
 * Reads endpoint ep_id's current policy map as the programs see it (through
 * velum_policy, not the pin) into new arrays *keys and *vals (free() both)
 * of *n entries, in the map's iteration order. Returns 0, -ENOENT for an
 * endpoint without a slot, or -errno.
 */
int dp_policy_read(struct dp *dp, __u32 ep_id, struct velum_policy_key **keys,
		   struct velum_policy_value **vals, size_t *n);

struct dp_ipcache_entry {
	struct velum_ipcache_key key;
	struct velum_ipcache_value val;
};

/* Reads the whole ipcache into a new array *out (free()) of *n entries. 0 or -errno. */
int dp_ipcache_list(struct dp *dp, struct dp_ipcache_entry **out, size_t *n);

/*
 * Maps addr/plen (network order, host bits must be zero) to identity in
 * the ipcache. An entry of a local endpoint keeps its endpoint link.
 */
int dp_ipcache_update(struct dp *dp, __be32 addr, int plen, __u32 identity);
/* Removes addr/plen; -ENOENT if absent. Local endpoints' entries are refused (-EBUSY). */
int dp_ipcache_delete(struct dp *dp, __be32 addr, int plen);

struct dp_lxc_entry {
	__be32 addr;
	struct velum_lxc_value val;
};

/*
 * Reads BPF host routing's targets (velum_lxc: every local endpoint by
 * address, as the programs see it) into a new array *out (free()) of *n
 * entries. 0 or -errno.
 */
int dp_lxc_list(struct dp *dp, struct dp_lxc_entry **out, size_t *n);

/*
 * Called once per event (borrowed, valid during the call). A non-zero
 * return stops the poll and is returned by dp_events_poll().
 */
typedef int (*dp_event_fn)(void *ctx, const struct velum_event *ev);

/*
 * Waits up to timeout_ms (0: no wait, -1: forever) for events and calls fn
 * for each. Returns the number handled or -errno. The first call sets up
 * the ring buffer consumer; fn and ctx may change between calls.
 */
int dp_events_poll(struct dp *dp, int timeout_ms, dp_event_fn fn, void *ctx);

/*
 * Packets and bytes counted under dir (VELUM_DIR_*) and code (0 forwarded,
 * else a drop reason magnitude), summed over CPUs.
 */
int dp_metrics_read(struct dp *dp, int dir, unsigned int code, __u64 *packets, __u64 *bytes);

/* Deletes expired conntrack entries. Returns how many, or -errno. */
int dp_ct_gc(struct dp *dp);

struct dp_ct_record {
	struct velum_ct_key key;
	struct velum_ct_entry val;
};

/*
 * Reads the live (unexpired) conntrack entries into a new array *out
 * (free()) of *n records. expires_ns is on CLOCK_MONOTONIC. 0 or -errno.
 */
int dp_ct_list(struct dp *dp, struct dp_ct_record **out, size_t *n);

/* Number of live conntrack entries (a full scan). */
int dp_ct_count(struct dp *dp);

/*
 * Calls fn for every pinned map with a fill level (hash, LRU, LPM trie,
 * sockhash, hash of maps; not the arrays or the ring buffer) with its
 * name, its entries and its capacity (max_entries). Entries are counted by
 * walking the keys (velum_ct: live ones only, as dp_ct_count()); linear in
 * the maps' sizes. Returns 0 or -errno of the first map that could not be
 * read (the others are still reported).
 */
int dp_maps_fill(struct dp *dp, void (*fn)(void *ctx, const char *name, __u32 n, __u32 max),
		 void *ctx);

/* File descriptors of the programs (for tests and benchmarks; borrowed). */
int dp_prog_fd(struct dp *dp, bool from_container);

/* Whether addr (network order) is in the endpoint address pool. */
bool dp_pool_contains(const struct dp *dp, __be32 addr);

/* The pin folder in use (borrowed). */
const char *dp_pin_dir(struct dp *dp);

/*
 * Checks that every pinned map and program is still in the pin folder (not
 * removed behind the agent's back). Returns 0, or -ENOENT with the first
 * missing pin in eb.
 */
int dp_pins_check(struct dp *dp, struct errbuf *eb);

/*
 * Switches the node between BPF host routing (false: packets between local
 * endpoints go straight from the source's veth into the destination's
 * namespace) and legacy routing (true: through the host stack). Takes
 * effect with the next packet; tracked flows keep their verdicts.
 */
int dp_routing_set(struct dp *dp, bool legacy);
/* true if the node uses legacy routing (read from the pinned config: any process may set it). */
bool dp_routing_legacy(struct dp *dp);

/*
 * allow-localhost (node-wide, in the pinned config): always lets the host's
 * new flows into every local endpoint that only its default deny would
 * drop (VELUM_CONFIG_F_ALLOW_LOCALHOST); false (policy) makes them meet the
 * ingress policy. 0 or -errno.
 */
int dp_allow_localhost_set(struct dp *dp, bool always);

/*
 * Trace events (node-wide, in the pinned config): on, the programs report
 * forwarded packets that open or change a connection (Cilium's monitor
 * aggregation "medium"); off, only policy verdicts and drops
 * (VELUM_CONFIG_F_NO_TRACE). 0 or -errno.
 */
int dp_trace_events_set(struct dp *dp, bool on);

/*
 * Detaches (true) or re-attaches (false) the programs on an endpoint's veth
 * without touching its state: the benchmark's "no filtering" baseline.
 */
int dp_endpoint_bypass(struct dp *dp, __u32 ep_id, bool bypass);

/*
 * L7 redirection (docs/proxy-redirect.md, include/velum/proxy.h).
 *
 * dp_proxy_setup() installs the host's policy routing that delivers
 * socket-assigned packets locally ("fwmark 0x200/0xf00 lookup 2004",
 * "local default dev lo table 2004") and registers this datapath (its pin
 * folder) as needing it. Idempotent; safe with other datapaths on the host
 * doing the same at once. Call it before giving the policy engine proxy
 * ports; redirected flows are dropped ("Socket lookup failed") while no
 * proxy listens, whether or not it ran.
 * dp_proxy_teardown() unregisters this datapath and removes the rule and
 * route when no other datapath is registered. dp_destroy_all() does it too.
 * Both return 0 or -errno with eb saying what failed.
 */
int dp_proxy_setup(struct dp *dp, struct errbuf *eb);
int dp_proxy_teardown(struct dp *dp, struct errbuf *eb);

/*
 * Kernel-carried bytes on the proxy's connections (bpf/lib/sockmap.h,
 * docs/proxy-redirect.md): on attaches sock_ops to the cgroup v2 root (a
 * hierarchy is mounted in /run/velum if none is) and sk_msg to velum_sock;
 * off detaches sock_ops: new connections go the TCP way, carried ones keep
 * their path until they close. dp_proxy_teardown() turns it off.
 * dp_proxy_sockmap_on() says whether it is on. 0 or -errno with eb.
 */
int dp_proxy_sockmap(struct dp *dp, bool on, struct errbuf *eb);
bool dp_proxy_sockmap_on(struct dp *dp);
/* Sends on the proxy's connections, by VELUM_SOCK_STAT_* (velum/maps.h); 0 or -errno. */
int dp_sock_stats_read(struct dp *dp, unsigned int stat, __u64 *sends, __u64 *bytes);

/*
 * A read-only handle on the pinned ipcache for the proxy: opens only
 * <pin_dir>/velum_ipcache (pin_dir NULL: VELUM_PIN_DIR) with BPF_F_RDONLY;
 * no lock, no ownership, no programs, so it may live next to velumd and be
 * shared by threads. Returns a new reader (free with
 * dp_ipcache_reader__close(), which accepts NULL) or NULL with errno set
 * and eb saying why.
 */
struct dp_ipcache_reader;
struct dp_ipcache_reader *dp_ipcache_reader__open(const char *pin_dir, struct errbuf *eb);
void dp_ipcache_reader__close(struct dp_ipcache_reader *r);

/*
 * The programs' own lookup: longest prefix matching addr (network order).
 * Returns 0 with *out, or -ENOENT with *out = world (VELUM_ID_WORLD, no
 * endpoint), or another -errno. *out's ep_id with VELUM_IPCACHE_F_LOCAL_EP
 * names a local endpoint.
 */
int dp_ipcache_lookup(struct dp_ipcache_reader *r, __be32 addr, struct velum_ipcache_value *out);

#endif
