/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every map of the datapath, one definition each. The programs are loaded
 * once per node and shared by all endpoints; user space (src/datapath/)
 * pins these maps by name in VELUM_PIN_DIR before loading, so they outlive
 * the process that loaded them. Nothing here is pinned by libbpf itself:
 * tests load the same object with private maps.
 */
#pragma once

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <stdbool.h>

#include "velum/conntrack.h"
#include "velum/drop.h"
#include "velum/endpoint.h"
#include "velum/events.h"
#include "velum/ipcache.h"
#include "velum/maps.h"
#include "velum/policy.h"
#include "velum/proxy.h"

/* Which endpoint a host-side veth belongs to: ifindex -> endpoint info. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VELUM_MAX_ENDPOINTS);
	__type(key, __u32);
	__type(value, struct velum_endpoint_info);
} velum_endpoints SEC(".maps");

/* Local endpoints by address: BPF host routing (velum/endpoint.h). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VELUM_MAX_ENDPOINTS);
	__type(key, __be32);
	__type(value, struct velum_lxc_value);
} velum_lxc SEC(".maps");

/* Peer identities: IPv4 prefix -> identity (and local endpoint id). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, VELUM_IPCACHE_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct velum_ipcache_key);
	__type(value, struct velum_ipcache_value);
} velum_ipcache SEC(".maps");

/*
 * Template of one endpoint's policy map (include/velum/policy.h). User
 * space creates one per endpoint and per policy revision with the same
 * attributes.
 */
struct velum_policy_inner {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, VELUM_POLICY_MAP_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	/* sizes, not BTF types: libbpf 1.1 cannot size an inner map's BTF key */
	__uint(key_size, sizeof(struct velum_policy_key));
	__uint(value_size, sizeof(struct velum_policy_value));
};

/*
 * ep_id -> that endpoint's current policy map. A policy change replaces the
 * slot with a fully built new map in one update: a packet sees the old map
 * or the new one, never a mix.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, VELUM_MAX_ENDPOINTS);
	__type(key, __u32);
	__array(values, struct velum_policy_inner);
} velum_policy SEC(".maps");

/* Connection tracking: one entry per flow and enforcing direction. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, VELUM_CT_MAX);
	__type(key, struct velum_ct_key);
	__type(value, struct velum_ct_entry);
} velum_ct SEC(".maps");

/* First fragments' ports, for the later fragments of the same datagram. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, VELUM_FRAG_MAX);
	__type(key, struct velum_frag_key);
	__type(value, struct velum_frag_value);
} velum_frag SEC(".maps");

/* Packets and bytes forwarded and dropped, per direction and reason. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VELUM_METRICS_MAX);
	__type(key, __u32);
	__type(value, struct velum_metrics_value);
} velum_metrics SEC(".maps");

/* Drop and policy-verdict events for user space. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, VELUM_EVENTS_SIZE);
} velum_events SEC(".maps");

/* Time of the last event per flow, direction and reason (rate limit). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct velum_ct_key);
	__type(value, __u64);
} velum_ratelim SEC(".maps");

/* The proxy's connections' sockets (velum/maps.h, lib/sockmap.h). */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, VELUM_SOCK_MAX);
	__type(key, struct velum_sock_key);
	__type(value, __u64);
} velum_sock SEC(".maps");

/* The same sockets' addresses, for reading their progress (lib/sockmap.h). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, VELUM_SOCK_MAX);
	__type(key, struct velum_sock_key);
	__type(value, struct velum_sock_ref);
} velum_sock_ref SEC(".maps");

/*
 * Local endpoints' network namespaces by address (their cookies): a socket
 * is an endpoint's only in that endpoint's namespace (lib/sockmap.h).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VELUM_MAX_ENDPOINTS);
	__type(key, __be32);
	__type(value, __u64);
} velum_ep_netns SEC(".maps");

/* Sends carried socket to socket, or not (velum/maps.h VELUM_SOCK_STAT_*). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VELUM_SOCK_STAT_N);
	__type(key, __u32);
	__type(value, struct velum_metrics_value);
} velum_sock_stats SEC(".maps");

/* Node-wide settings written by user space (struct velum_config). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct velum_config);
} velum_config SEC(".maps");
