/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The contract between the datapath and the transparent L7 proxy
 * (velum-proxy): packet marks, the policy routing the datapath installs,
 * where the proxy listens and how its sockets must be set up. The full
 * text, with the reasons, is docs/proxy-redirect.md; this header holds the
 * numbers both sides compile against.
 *
 * Marks (skb->mark / SO_MARK). Only bits 8..11 (VELUM_MARK_MAGIC_MASK) say
 * what a mark is, as in Cilium:
 *  - TO_PROXY: set by the programs on every packet they hand to the proxy
 *    (with bpf_sk_assign()); bits 16..31 carry the proxy port (host order)
 *    or 0 for replies to the proxy's upstream sockets. The policy routing
 *    rule below matches it so that the kernel delivers the packet locally.
 *  - FROM_PROXY_INGRESS / FROM_PROXY_EGRESS: the proxy's SO_MARK on every
 *    socket it owns (listeners, accepted and upstream sockets), by the
 *    direction of the listener the connection arrived on. The programs
 *    never redirect a packet carrying either mark again. Bits 16..31 and
 *    0..7 are the proxy's to use (the datapath ignores them).
 * Packets coming out of an endpoint's namespace always arrive with mark 0
 * (a veth crossing namespaces clears it), so an endpoint cannot forge them.
 */
#pragma once

#include <linux/types.h>

#define VELUM_MARK_MAGIC_MASK	       0x0f00
#define VELUM_MARK_MAGIC_TO_PROXY      0x0200
#define VELUM_MARK_MAGIC_PROXY_INGRESS 0x0a00
#define VELUM_MARK_MAGIC_PROXY_EGRESS  0x0b00
#define VELUM_MARK_PROXY_PORT_SHIFT    16

/*
 * Policy routing, host namespace, installed by dp_proxy_setup():
 *   ip rule add pref VELUM_PROXY_RULE_PREF fwmark 0x200/0xf00 lookup VELUM_PROXY_RT_TABLE
 *   ip route add local 0.0.0.0/0 dev lo table VELUM_PROXY_RT_TABLE
 * A socket-assigned packet must be routed for local delivery (the kernel
 * would otherwise forward it, and forwarding drops a packet that has a
 * socket); the numbers are Cilium's.
 */
#define VELUM_PROXY_RT_TABLE  2004
#define VELUM_PROXY_RULE_PREF 9

/*
 * The proxy listens on TCP VELUM_PROXY_LISTEN_ADDR (127.0.0.1) at the
 * proxy ports the agent gives the policy engine (one for ingress
 * redirects, one for egress redirects), with IP_TRANSPARENT; SO_REUSEPORT
 * groups (one listener per event loop) are fine. The programs find the
 * listener by looking up (client address and port -> 127.0.0.1:proxy port).
 */
#define VELUM_PROXY_LISTEN_ADDR 0x7f000001 /* host order */

/* Range the agent allocates proxy ports from (as Cilium's 10000-20000). */
#define VELUM_PROXY_PORT_MIN 10000
#define VELUM_PROXY_PORT_MAX 20000
