/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Endpoints made for a container runtime (the CNI plugin): checks of their
 * request fields, and the worker that learns podman containers' labels
 * after the endpoint was made (podman.c).
 */
#ifndef VELUM_AGENT_PODMAN_H
#define VELUM_AGENT_PODMAN_H

#include <jansson.h>

#include "agent/agent.h"
#include "lib/errbuf.h"

/*
 * Checks r's ifname (1-15 characters, no '/', ':' or space) and
 * container_id (the CNI rule: a letter or digit, then letters, digits,
 * '_', '.', '-'), and parses ipv4 (text, or NULL) into r->ipv4. Returns 0
 * or -EINVAL with eb naming the field; r is otherwise unchanged.
 */
int agent_cni_req_check(struct agent_ep_req *r, const char *ipv4, struct errbuf *eb);

struct agent_podman;
struct agent_podman_job;

/*
 * Reads a request's "runtime" object ({"name": "podman", "env"?: ["K=V"]},
 * borrowed; NULL: none) for container_id. Only CONTAINERS_* and
 * XDG_RUNTIME_DIR variables are accepted: they are all podman is run with,
 * besides the agent's PATH. Returns 0 with *out a new job (or NULL for no
 * runtime; agent_podman_job__free()), or -EINVAL with eb set.
 */
int agent_podman_job_parse(json_t *runtime, const char *container_id, struct agent_podman_job **out,
			   struct errbuf *eb);
void agent_podman_job__free(struct agent_podman_job *j);

/* Starts the worker thread. NULL with eb set on failure. */
struct agent_podman *agent_podman__start(struct agent *a, struct errbuf *eb);
/* Stops the worker (killing a running podman) and drops pending jobs. Accepts NULL. */
void agent_podman__stop(struct agent_podman *p);
/*
 * Queues job j (taken) for the endpoint named endpoint ("ns/name"): the
 * worker asks podman for the container's labels and, if the endpoint still
 * belongs to that container and still has only reserved:init, sets them
 * (taking a->lock then; the caller may hold it now). With p or j NULL
 * nothing happens. Returns 0 or -ENOMEM.
 */
int agent_podman_submit(struct agent_podman *p, struct agent_podman_job *j, const char *endpoint);

#endif
