/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The control channel from velumd to velum-proxy: the L7 snapshot
 * (src/policy/l7snap.h) of every regeneration, over a unix stream socket.
 *
 * velumd listens on <state-dir>/proxy.sock (mode 0600); the proxy, run with
 * --control PATH, connects to it and reconnects every PX_CTL_RETRY_MS while
 * it cannot (velumd restarting), keeping the snapshot it has. On each
 * connection and after each regeneration velumd sends one frame:
 *
 *   struct px_ctl_hdr { magic, PX_CTL_SNAPSHOT, revision, len }
 *   len bytes of pol_l7_snapshot_serialize()
 *
 * The proxy rebuilds the snapshot (pol_l7_snapshot_deserialize(), which
 * validates it), publishes it with one pointer swap (every request is then
 * judged wholly by it; a request already being judged keeps the one it
 * took) and answers { magic, PX_CTL_ACK, revision, len } followed by len
 * bytes of error text (len 0: published). A frame the proxy cannot read
 * closes the connection. Until its first snapshot the proxy denies every
 * redirected request (fail closed).
 *
 * All fields are in host byte order (both ends run on one host).
 */
#ifndef VELUM_PROXY_CONTROL_H
#define VELUM_PROXY_CONTROL_H

#include <stdint.h>

#define PX_CTL_MAGIC	0x31434c56u /* "VLC1" */
#define PX_CTL_SNAPSHOT 1u
#define PX_CTL_ACK	2u
#define PX_CTL_MAX_LEN	(64u << 20) /* a larger frame is refused */
#define PX_CTL_RETRY_MS 100

struct px_ctl_hdr {
	uint32_t magic;
	uint32_t type;
	uint64_t revision;
	uint64_t len;
};

_Static_assert(sizeof(struct px_ctl_hdr) == 24, "control frame header");

#endif
