/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Parallel policy-map swaps. Swapping one endpoint's map (dp_policy_apply)
 * ends in an update of the outer map-in-map, after which the kernel waits
 * for an RCU grace period so that no program still runs on the old inner
 * map. That wait, not CPU, dominates a change that swaps many maps; swaps
 * issued from several threads share grace periods. The pool's workers each
 * own a datapath handle (a handle is single-threaded); the calling thread
 * takes part too. The model is not touched: the caller builds every
 * endpoint's entries before the job starts and holds a->lock throughout.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/log.h"

struct agent_applier {
	pthread_mutex_t mu;
	pthread_cond_t go, done;
	pthread_t *thr;
	struct dp **dps;
	size_t nthr, started;
	uint64_t gen; /* job generation */
	bool stop;
	const struct agent_apply_item *items;
	size_t n, next, finished;
	int err;
	struct errbuf eb;
};

/* Takes the next item under the lock; returns false when none is left. */
static bool take(struct agent_applier *p, size_t *i)
{
	if (p->next >= p->n || p->err)
		return false;
	*i = p->next++;
	return true;
}

static void run_items(struct agent_applier *p, struct dp *dp)
{
	size_t i;

	pthread_mutex_lock(&p->mu);
	while (take(p, &i)) {
		const struct agent_apply_item *it = &p->items[i];
		struct errbuf eb;
		int err;

		pthread_mutex_unlock(&p->mu);
		errbuf_clear(&eb);
		err = dp_policy_apply(dp, it->ep_id, it->keys, it->vals, it->n, &eb);
		pthread_mutex_lock(&p->mu);
		if (err && !p->err) {
			p->err = err;
			p->eb = eb;
			errbuf_prefix(&p->eb, "endpoint %u: policy map: ", it->ep_id);
		}
		p->finished++;
	}
	pthread_cond_broadcast(&p->done);
	pthread_mutex_unlock(&p->mu);
}

struct worker {
	struct agent_applier *p;
	struct dp *dp;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct agent_applier *p = w->p;
	uint64_t seen = 0;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stop && p->gen == seen)
			pthread_cond_wait(&p->go, &p->mu);
		if (p->stop)
			break;
		seen = p->gen;
		pthread_mutex_unlock(&p->mu);
		run_items(p, w->dp);
		pthread_mutex_lock(&p->mu);
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
	pthread_cond_init(&p->done, NULL);
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
	pthread_cond_destroy(&p->done);
	free(p);
}

int agent_applier_run(struct agent_applier *p, struct dp *own, const struct agent_apply_item *items,
		      size_t n, struct errbuf *eb)
{
	int err;

	if (!n)
		return 0;
	pthread_mutex_lock(&p->mu);
	p->items = items;
	p->n = n;
	p->next = p->finished = 0;
	p->err = 0;
	errbuf_clear(&p->eb);
	p->gen++;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);

	run_items(p, own);

	pthread_mutex_lock(&p->mu);
	/* after an error workers stop taking items: wait for those in flight */
	while (p->finished < p->next)
		pthread_cond_wait(&p->done, &p->mu);
	err = p->err;
	if (err && eb)
		*eb = p->eb;
	p->items = NULL;
	p->n = 0;
	pthread_mutex_unlock(&p->mu);
	return err;
}
