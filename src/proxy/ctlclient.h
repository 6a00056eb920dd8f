/* SPDX-License-Identifier: Apache-2.0 */
/*
 * velum-proxy's side of the control channel (control.h): a thread that
 * connects to velumd's control socket (reconnecting while it cannot),
 * rebuilds each snapshot it receives, publishes it with one swap and
 * acknowledges it.
 */
#ifndef VELUM_PROXY_CTLCLIENT_H
#define VELUM_PROXY_CTLCLIENT_H

#include "lib/errbuf.h"
#include "policy/l7snap.h"

struct px_control;

/*
 * Starts the thread for the socket at path; each snapshot received is
 * handed to publish(arg, s) (which takes s) before it is acknowledged.
 * Returns a new handle (stop with px_control__stop()) or NULL with errno
 * set and eb filled.
 */
struct px_control *px_control__start(const char *path,
				     void (*publish)(void *arg, struct pol_l7_snapshot *s),
				     void *arg, struct errbuf *eb);
/* Stops and joins the thread. Accepts NULL. */
void px_control__stop(struct px_control *c);

#endif
