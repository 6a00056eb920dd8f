/* SPDX-License-Identifier: Apache-2.0 */
/*
 * velumd's supervision of velum-proxy, the node's L7 proxy (directory-
 * private to src/agent). One proxy per node, its own process in its own
 * session, so that neither a proxy crash nor a velumd restart takes the
 * other down:
 *
 *  - Ports: two free TCP ports on 127.0.0.1 in VELUM_PROXY_PORT_MIN..MAX
 *    (include/velum/proxy.h), one for ingress and one for egress
 *    redirects, allocated once and kept in <state_dir>/proxy.pid with the
 *    pid, so the policy maps' redirect entries stay valid across proxy
 *    and velumd restarts.
 *  - Start: velumd execs velum-proxy (by default the binary next to
 *    velumd) as "velum-proxy --transparent --ingress-port P --egress-port
 *    Q --pin-dir PINS --control <state_dir>/proxy.sock --events-socket
 *    <state_dir>/proxy-events.sock --metrics-socket
 *    <state_dir>/proxy-metrics.sock"; its output goes to
 *    <state_dir>/proxy.log.
 *  - Rules: velumd listens on the control socket (0600); the proxy connects
 *    (and reconnects while velumd restarts) and receives the L7 snapshot
 *    (src/policy/l7snap.h) of every regeneration, acknowledging each once
 *    published (src/proxy/control.h). Until its first snapshot the proxy
 *    denies every redirected request.
 *  - Re-adoption: a velumd that starts while the pid file names a live
 *    velum-proxy (checked by /proc/PID/comm) keeps it and its ports; the
 *    proxy never sees velumd go, so redirected connections are not cut.
 *  - Supervision: a thread waits on the proxy's pidfd (which works for an
 *    adopted, non-child process too) and starts a new one with the same
 *    ports as soon as it exits; a proxy that dies within a second of its
 *    start is restarted after a short, growing delay (at most 1 s).
 *  - Stop: agent_proxy__free() stops supervising and leaves the proxy
 *    running; agent_proxy_terminate() ends it (velumd --proxy off does
 *    that to a proxy an earlier velumd left).
 */
#ifndef VELUM_AGENT_PROXY_H
#define VELUM_AGENT_PROXY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/errbuf.h"
#include "lib/strbuf.h"

/* The sockets under the state directory: access events (velumd binds it), metrics (the proxy's). */
#define AGENT_PROXY_EVENTS_SOCK	 "proxy-events.sock"
#define AGENT_PROXY_METRICS_SOCK "proxy-metrics.sock"

struct agent_proxy_opts {
	const char *bin;       /* velum-proxy's path; NULL: next to velumd */
	const char *state_dir; /* pid file and log */
	const char *pin_dir;   /* the datapath's pins (the proxy reads the ipcache) */
};

struct agent_proxy;

/*
 * Adopts the running proxy the pid file names, or allocates ports and
 * starts one, and starts supervising it. Borrows o (copies the strings).
 * Returns a new supervisor (free with agent_proxy__free()) or NULL with
 * errno set and eb saying why (no free port, cannot exec...).
 */
struct agent_proxy *agent_proxy__start(const struct agent_proxy_opts *o, struct errbuf *eb);

/* Stops supervising; the proxy keeps running. Accepts NULL. */
void agent_proxy__free(struct agent_proxy *p);

/* The ingress and egress proxy ports (fixed for p's life). */
void agent_proxy_ports(const struct agent_proxy *p, uint16_t *ingress, uint16_t *egress);

/*
 * Makes buf (n bytes of pol_l7_snapshot_serialize(), copied) the proxy's
 * rules as of revision: sends it over the control channel (proxy/control.h)
 * and waits (at most 2 s) until the proxy has published it; a proxy that
 * connects later gets it then. Returns 0 once published, -ENOTCONN when no
 * proxy is connected, or another negative errno with eb set.
 */
int agent_proxy_push(struct agent_proxy *p, const void *buf, size_t n, uint64_t revision,
		     struct errbuf *eb);

/*
 * Appends the proxy's Prometheus text (read from its metrics socket, at
 * most timeout_ms) and the gauge velum_proxy_up: 1, or 0 when the proxy
 * did not answer (then only the gauge). Never fails the scrape; returns
 * whether the proxy answered.
 */
bool agent_proxy_metrics(struct agent_proxy *p, int timeout_ms, struct strbuf *sb);

/* The proxy's pid now, or 0 while it is being restarted. */
int agent_proxy_pid(struct agent_proxy *p);

/*
 * {"pid", "adopted", "restarts", "listeners": ["127.0.0.1:P (ingress)",
 * ...], "ingress_port", "egress_port", "log"}: new JSON, or NULL on ENOMEM.
 */
json_t *agent_proxy_status(struct agent_proxy *p);

/*
 * Ends the proxy the pid file under state_dir names, if one runs (SIGTERM,
 * then SIGKILL after 2 s), and removes the pid file. Returns 0 or negative
 * errno with eb set.
 */
int agent_proxy_terminate(const char *state_dir, struct errbuf *eb);

#endif
