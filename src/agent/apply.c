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
 * outer-map updates, as one batch (dp_policy_publish_many: one grace
 * period for all of them), to a worker of the pool (each with its own
 * datapath handle) and returns as soon as the outer map names every new
 * map (dp_policy_live): from then on every packet is judged by the new
 * policy. The worker sits out the grace period; a task outlives the change
 * that made it (reference-counted), and a later change of the same
 * endpoint is ordered after it because its caller saw it live first. A
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
	struct task *next;	   /* queue */
	struct dp_policy_built *b; /* n maps, published together */
	size_t n;
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
	size_t i;

	if (!--t->refs) {
		for (i = 0; i < t->n; i++)
			dp_policy_built_discard(&t->b[i]);
		free(t->b);
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
		err = dp_policy_publish_many(w->dp, t->b, t->n, &eb);
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
 * Waits until each of t's maps is live, or t is done; returns t's publish
 * error. With p->mu not held.
 */
static int wait_live(struct agent_applier *p, struct dp *own, struct task *t, struct errbuf *eb)
{
	uint64_t deadline = mono_ns() + APPLY_LIVE_TIMEOUT_NS;
	size_t live = 0;
	bool done;
	int err;

	for (;;) {
		pthread_mutex_lock(&p->mu);
		done = t->done;
		err = t->err;
		if (done && err)
			*eb = t->eb;
		pthread_mutex_unlock(&p->mu);
		if (done)
			return err;
		/* the batch goes in order: what was live stays live */
		while (live < t->n && dp_policy_live(own, t->b[live].ep_id, t->b[live].map_id) == 1)
			live++;
		if (live == t->n)
			return 0;
		if (mono_ns() > deadline)
			return errbuf_set(
				eb, -ETIMEDOUT,
				"%zu of %zu policy map swap(s) did not take effect within "
				"%llu s",
				t->n - live, t->n, APPLY_LIVE_TIMEOUT_NS / 1000000000ull);
		nanosleep(&(struct timespec){ 0, 20000 }, NULL);
	}
}

int agent_applier_run(struct agent_applier *p, struct dp *own, const struct agent_apply_item *items,
		      size_t n, struct errbuf *eb)
{
	struct task *t;
	size_t i;
	int err = 0;

	if (!n)
		return 0;
	t = calloc(1, sizeof(*t));
	if (t)
		t->b = calloc(n, sizeof(*t->b));
	if (!t || !t->b) {
		free(t);
		return -ENOMEM;
	}
	t->refs = 2;
	/* 1. every map aside: an error here changes nothing */
	for (i = 0; i < n && !err; i++) {
		err = dp_policy_build(own, items[i].ep_id, items[i].keys, items[i].vals, items[i].n,
				      &t->b[i], eb);
		if (err)
			errbuf_prefix(eb, "endpoint %u: policy map: ", items[i].ep_id);
		else
			t->n++;
	}
	if (err) {
		t->refs = 1;
		task_put(t);
		return err;
	}
	/* 2. the swaps to a worker, as one batch */
	pthread_mutex_lock(&p->mu);
	if (p->tail)
		p->tail->next = t;
	else
		p->head = t;
	p->tail = t;
	pthread_cond_signal(&p->go);
	pthread_mutex_unlock(&p->mu);
	/* 3. back as soon as programs read every new map */
	err = wait_live(p, own, t, eb);
	pthread_mutex_lock(&p->mu);
	task_put(t);
	pthread_mutex_unlock(&p->mu);
	return err;
}
