/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy-map swaps that do not wait for RCU. Swapping one endpoint's map
 * ends in an update of the outer map-in-map; the kernel makes the new
 * inner map visible to every program run that starts after the update,
 * then waits for an RCU grace period (10-17 ms on the test machine) before
 * the syscall returns, so that no program still runs on the old map. That
 * wait, not CPU, dominated every change.
 *
 * So a change builds each new map aside on the calling thread
 * (dp_policy_build: validated, filled, pinned, read by nothing), hands the
 * outer-map updates to the pool's workers (each with its own datapath
 * handle) and returns as soon as the outer map names every new map
 * (dp_policy_live): from then on every packet is judged by the new policy.
 * The workers sit out the grace periods; a task outlives the change that
 * made it (reference-counted), and a later change of the same endpoint is
 * ordered after it because its caller saw it live before returning. A
 * build error changes nothing; a publish error is returned, and the
 * caller rebuilds. The model is not touched: the caller builds every
 * endpoint's entries first and holds a->lock throughout.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"
#include "lib/log.h"

/* A change waits this long for its maps to go live before it fails. */
#define APPLY_LIVE_TIMEOUT_NS (10ull * 1000000000ull)

struct task {
	struct task *next; /* queue */
	struct dp_policy_built b;
	unsigned refs; /* the caller's and the worker's */
	bool done;     /* the worker's update returned */
	int err;
	struct errbuf eb;
};

struct agent_applier {
	pthread_mutex_t mu;
	pthread_cond_t go;
	pthread_t *thr;
	struct dp **dps;
	size_t nthr;
	bool stop;
	struct task *head, *tail; /* not yet taken */
};

static void task_put(struct task *t)
{
	if (!--t->refs) {
		dp_policy_built_discard(&t->b);
		free(t);
	}
}

struct worker {
	struct agent_applier *p;
	struct dp *dp;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct agent_applier *p = w->p;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct task *t;
		struct errbuf eb;
		int err;

		while (!p->stop && !p->head)
			pthread_cond_wait(&p->go, &p->mu);
		if (!p->head)
			break; /* stopping, nothing queued */
		t = p->head;
		p->head = t->next;
		if (!p->head)
			p->tail = NULL;
		pthread_mutex_unlock(&p->mu);
		errbuf_clear(&eb);
		err = dp_policy_publish(w->dp, &t->b, &eb);
		pthread_mutex_lock(&p->mu);
		t->done = true;
		t->err = err;
		t->eb = eb;
		task_put(t);
	}
	pthread_mutex_unlock(&p->mu);
	free(w);
	return NULL;
}

struct agent_applier *agent_applier__new(const struct dp_opts *dpo, size_t nthreads,
					 struct errbuf *eb)
{
	struct agent_applier *p = calloc(1, sizeof(*p));
	size_t i;

	if (!p)
		return NULL;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->go, NULL);
	p->thr = calloc(nthreads ? nthreads : 1, sizeof(*p->thr));
	p->dps = calloc(nthreads ? nthreads : 1, sizeof(*p->dps));
	if (!p->thr || !p->dps)
		goto err_free;
	for (i = 0; i < nthreads; i++) {
		struct worker *w = calloc(1, sizeof(*w));

		p->dps[i] = w ? dp__open(dpo, eb) : NULL;
		if (!p->dps[i]) {
			free(w);
			goto err_free;
		}
		w->p = p;
		w->dp = p->dps[i];
		if (pthread_create(&p->thr[i], NULL, worker_main, w)) {
			free(w);
			dp__close(p->dps[i]);
			p->dps[i] = NULL;
			errbuf_set(eb, -EINVAL, "cannot start the policy-map workers");
			goto err_free;
		}
		p->nthr = i + 1;
	}
	return p;

err_free:
	agent_applier__free(p);
	errno = ENOMEM;
	return NULL;
}

void agent_applier__free(struct agent_applier *p)
{
	size_t i;

	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);
	for (i = 0; i < p->nthr; i++)
		pthread_join(p->thr[i], NULL);
	for (i = 0; p->dps && i < p->nthr; i++)
		dp__close(p->dps[i]);
	free(p->thr);
	free(p->dps);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->go);
	free(p);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Waits until each task is live or done; returns the first publish error.
 * With p->mu not held; tasks[i] NULL when already settled.
 */
static int wait_live(struct agent_applier *p, struct dp *own, struct task **tasks, size_t n,
		     struct errbuf *eb)
{
	uint64_t deadline = mono_ns() + APPLY_LIVE_TIMEOUT_NS;
	size_t i, left = n;
	int err = 0;

	while (left) {
		for (i = 0; i < n; i++) {
			struct task *t = tasks[i];
			bool done;

			if (!t)
				continue;
			pthread_mutex_lock(&p->mu);
			done = t->done;
			if (done && t->err && !err) {
				err = t->err;
				*eb = t->eb;
				errbuf_prefix(eb, "endpoint %u: policy map: ", t->b.ep_id);
			}
			pthread_mutex_unlock(&p->mu);
			if (done || dp_policy_live(own, t->b.ep_id, t->b.map_id) == 1) {
				tasks[i] = NULL;
				left--;
			}
		}
		if (!left)
			break;
		if (mono_ns() > deadline) {
			err = errbuf_set(eb, -ETIMEDOUT,
					 "%zu policy map swap(s) did not take effect within %llu s",
					 left, APPLY_LIVE_TIMEOUT_NS / 1000000000ull);
			break;
		}
		nanosleep(&(struct timespec){ 0, 20000 }, NULL);
	}
	return err;
}

int agent_applier_run(struct agent_applier *p, struct dp *own, const struct agent_apply_item *items,
		      size_t n, struct errbuf *eb)
{
	struct task **tasks;
	size_t i, built = 0;
	int err = 0;

	if (!n)
		return 0;
	/* tasks[0..n), then the copy wait_live() settles */
	tasks = calloc(2 * n, sizeof(*tasks));
	if (!tasks)
		return -ENOMEM;
	/* 1. every map aside: an error here changes nothing */
	for (i = 0; i < n && !err; i++) {
		struct task *t = calloc(1, sizeof(*t));

		if (!t) {
			err = -ENOMEM;
			break;
		}
		t->refs = 2;
		err = dp_policy_build(own, items[i].ep_id, items[i].keys, items[i].vals, items[i].n,
				      &t->b, eb);
		if (err) {
			errbuf_prefix(eb, "endpoint %u: policy map: ", items[i].ep_id);
			free(t);
			break;
		}
		tasks[built++] = t;
	}
	if (err) {
		for (i = 0; i < built; i++) {
			dp_policy_built_discard(&tasks[i]->b);
			free(tasks[i]);
		}
		free(tasks);
		return err;
	}
	/* 2. the swaps to the workers, in order */
	pthread_mutex_lock(&p->mu);
	for (i = 0; i < n; i++) {
		if (p->tail)
			p->tail->next = tasks[i];
		else
			p->head = tasks[i];
		p->tail = tasks[i];
	}
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);
	/* 3. back as soon as programs read every new map */
	memcpy(tasks + n, tasks, n * sizeof(*tasks));
	err = wait_live(p, own, tasks + n, n, eb);
	pthread_mutex_lock(&p->mu);
	for (i = 0; i < n; i++)
		task_put(tasks[i]);
	pthread_mutex_unlock(&p->mu);
	free(tasks);
	return err;
}
