/* SPDX-License-Identifier: Apache-2.0 */
/*
 * velum-proxy's server: one worker thread per core, each with its own
 * epoll loop and its own SO_REUSEPORT listener, non-blocking sockets, and
 * handlers found by file descriptor. Each accepted connection is a
 * px_session (session.h) plus its two sockets; the upstream connection is
 * made when the first request is allowed.
 *
 * Standalone mode: every connection goes to one configured upstream.
 * Transparent mode (docs/proxy-redirect.md): listeners on 127.0.0.1 at the
 * ingress and/or egress proxy port with IP_TRANSPARENT and the from-proxy
 * SO_MARK; each connection goes to its original destination from the
 * client's own address, and the peers' identities come from the pinned
 * ipcache.
 */
#ifndef VELUM_PROXY_PROXY_H
#define VELUM_PROXY_PROXY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/errbuf.h"
#include "lib/strbuf.h"

struct px_rules;
struct pol_l7_snapshot;

struct px_config {
	struct sockaddr_storage listen;
	socklen_t listen_len;
	struct sockaddr_storage upstream;
	socklen_t upstream_len;
	unsigned threads;	       /* 0: one per online CPU */
	unsigned header_timeout_ms;    /* a request head must be complete within this */
	unsigned idle_timeout_ms;      /* a connection without any traffic for this is closed */
	unsigned max_conns;	       /* client connections in all */
	unsigned max_conns_per_source; /* client connections per source address */
	bool transparent;	       /* listen and upstream unused; ports[] instead */
	uint16_t ports[2];	       /* transparent: ingress, egress proxy port; 0 none */
	const char *pin_dir;	       /* the datapath's pins (ipcache); NULL: default */
	int access_fd;		       /* JSON lines of access events, or -1 */
	const char *events_socket;     /* unix datagram socket for binary events, or NULL */
	bool snapshots; /* transparent: judge by velumd's L7 snapshots (px_server_set_snapshot()) */
};

struct px_server;

/*
 * Binds the listeners (cfg->listen; port 0 picks one, the same for every
 * worker). Takes rules (NULL with cfg->snapshots). Returns a new server (free with px_server__free())
 * or NULL with errno set and eb filled.
 */
struct px_server *px_server__new(const struct px_config *cfg, struct px_rules *rules,
				 struct errbuf *eb);
void px_server__free(struct px_server *srv);

/* The address the listeners are bound to. */
const struct sockaddr_storage *px_server_addr(const struct px_server *srv, socklen_t *len);

/* Starts the workers. Returns 0 or negative errno. */
int px_server_start(struct px_server *srv);
/* Stops the workers and waits for them; every connection is closed. */
void px_server_stop(struct px_server *srv);

/*
 * With cfg.snapshots: publishes velumd's L7 snapshot (takes s); each
 * request is then judged wholly by it. Until the first, every redirected
 * request is denied. Thread-safe.
 */
void px_server_set_snapshot(struct px_server *srv, struct pol_l7_snapshot *s);

/* Publishes a new rule set (takes it); requests already judged keep theirs. */
void px_server_set_rules(struct px_server *srv, struct px_rules *rules);

/*
 * Appends Prometheus text: velum_policy_l7_total{rule=received|forwarded|
 * denied|parse_errors}, velum_proxy_upstream_reply_seconds (histogram),
 * velum_proxy_open_connections and a few more. Returns 0 or -ENOMEM.
 */
int px_server_metrics(struct px_server *srv, struct strbuf *sb);

#endif
