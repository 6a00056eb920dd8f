/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The machinery every change shares (see agent.h): the writer's copy of
 * the model (agent_writer_begin()), the commit step under a->lock with the
 * swap of the two copies and the replay on the other (agent_finish()), and
 * what a failure leaves (agent_rebuild()).
 */
#include "agent/agent_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

/* A change abandoned because velumd is stopping (SIGTERM). */
int agent_stopping(struct errbuf *eb)
{
	return errbuf_set(eb, -EINTR, "velumd is stopping: nothing was changed");
}

/*
 * After a failure past the first change to the writer's model: back to
 * what the store says. Before the kernel was touched only the writer's
 * copy is wrong: it is dropped (the next change builds it again, and a new
 * committed copy beside it, so that both come from the store). After, the
 * whole state is restored from the store, the kernel included.
 */
void agent_writer_drop(struct agent *a)
{
	agent_store_rollback(a->st);
	if (a->wm != a->m)
		model__free(a->wm);
	a->wm = NULL;
}

void agent_rebuild(struct agent *a, const char *what, const struct errbuf *why)
{
	struct errbuf eb;

	errbuf_clear(&eb);
	agent_writer_drop(a);
	if (!a->touched) {
		pr_info("velumd: %s failed (%s); nothing was changed\n", what,
			why && why->msg[0] ? why->msg : "?");
		return;
	}
	if (atomic_load(&a->stopping)) {
		/* the change is abandoned as a crash would leave it */
		pr_info("velumd: %s abandoned (%s); the next start restores the stored state\n",
			what, why && why->msg[0] ? why->msg : "?");
		return;
	}
	pr_err("velumd: %s failed (%s); restoring the stored state\n", what,
	       why && why->msg[0] ? why->msg : "?");
	pthread_mutex_lock(&a->lock);
	if (agent_restore(a, &eb))
		pr_err("velumd: restoring the stored state failed: %s\n", eb.msg);
	pthread_mutex_unlock(&a->lock);
}

/*
 * The writer's copy of the model, made if there is none (wlock held): from
 * the store, beside a committed copy made from the store too when the
 * committed one has changed since it was (the two must agree in every
 * number they will allocate, so both start from the same store). The
 * store, the kernel and the committed copy are equal here, so readers see
 * nothing change.
 */
int agent_writer_begin(struct agent *a, struct errbuf *eb)
{
	struct model *fresh, *old;
	int err;

	a->touched = false;
	if (a->wm)
		return 0;
	if (!a->m_fresh) {
		err = agent_model_load(a, &fresh, eb);
		if (err)
			return err;
		pthread_mutex_lock(&a->lock);
		old = a->m;
		a->m = fresh;
		a->m_fresh = true;
		pthread_mutex_unlock(&a->lock);
		model__free(old);
	}
	return agent_model_load(a, &a->wm, eb);
}

/*
 * Do the two copies agree after a replay? Counts, every endpoint's
 * identity, every policy's rule ids, every identity's number (linear; a
 * guard: replays are deterministic, but a copy that drifted would hand
 * out other numbers than the kernel and the store hold).
 */
static bool models_agree(const struct model *x, const struct model *y)
{
	const struct model_ep *const *ex, *const *ey;
	const struct pol_policy *const *px, *const *py;
	const struct id_entry **ix = NULL, **iy = NULL;
	size_t n = model_endpoints(x, &ex), i;
	long ni, nj;
	bool same = n == model_endpoints(y, &ey);

	for (i = 0; same && i < n; i++)
		same = ex[i]->id == ey[i]->id && ex[i]->identity == ey[i]->identity;
	n = pol_engine_policies(model_engine(x), &px);
	same = same && n == pol_engine_policies(model_engine(y), &py);
	for (i = 0; same && i < n; i++)
		same = px[i]->first_rule_id == py[i]->first_rule_id && px[i]->kind == py[i]->kind &&
		       !strcmp(px[i]->name, py[i]->name);
	ni = same ? id_alloc_list(model_ids(x), &ix) : -1;
	nj = same ? id_alloc_list(model_ids(y), &iy) : -1;
	same = same && ni >= 0 && ni == nj;
	for (i = 0; same && i < (size_t)ni; i++)
		same = ix[i]->id == iy[i]->id;
	if (ni >= 0)
		free(ix);
	if (nj >= 0)
		free(iy);
	return same;
}

/*
 * The common tail of every change, inside the open transaction. Aside
 * (wlock only): size check, identities, revision row, the kernel's
 * ipcache. Then, with a->lock: L7 snapshot, kernel (ch->kernel, changed
 * endpoints' maps, in agent_apply_change()'s order), commit, and the
 * writer's model becomes the committed one. Then ch->replay on the other
 * copy (a failure there, or a copy that does not agree, drops it: the next
 * change rebuilds it). On error the caller rebuilds.
 */
int agent_finish(struct agent *a, const uint32_t *changed, size_t n, int64_t t_regen,
		 const struct agent_change *ch, struct errbuf *eb)
{
	int64_t t1 = agent_now_ns(CLOCK_MONOTONIC), t2 = t1, t3 = t1, t4;
	struct model *old;
	int err = agent_check_sizes(a, changed, n, eb);

	if (!err)
		err = agent_save_identities(a, eb);
	if (!err)
		err = agent_store_set_revision(a->st, a->revision + 1, eb);
	/*
	 * The kernel's ipcache before the lock (60,000 prefixes take a while):
	 * new CIDR identities are known before the maps name them, as in
	 * Cilium. From here a failure restores everything from the store.
	 */
	if (!err) {
		a->touched = true;
		err = agent_sync_ipcache(a, true, eb);
	}
	if (err) {
		pthread_mutex_lock(&a->lock);
		a->regen_total++;
		a->regen_failed++;
		pthread_mutex_unlock(&a->lock);
		return err;
	}
	pthread_mutex_lock(&a->lock);
	a->touched = true;
	t2 = agent_now_ns(CLOCK_MONOTONIC);
	err = agent_l7_publish(a, a->revision + 1, eb);
	if (!err)
		err = agent_apply_change(a, changed, n, ch, eb);
	if (!err) {
		t3 = agent_now_ns(CLOCK_MONOTONIC);
		err = agent_store_commit(a->st, eb);
	}
	a->regen_total++;
	if (err) {
		a->regen_failed++;
		pthread_mutex_unlock(&a->lock);
		return err;
	}
	mon_hist_observe(&a->regen_hist, agent_secs_since(t_regen));
	a->revision++;
	old = a->m;
	a->m = a->wm;
	a->wm = old;
	a->m_fresh = false;
	agent_summary_publish(a);
	pthread_mutex_unlock(&a->lock);
	t4 = agent_now_ns(CLOCK_MONOTONIC);
	/* the other copy catches up; readers no longer see it */
	err = ch && ch->replay ? ch->replay(a, a->wm, ch->ctx) : 0;
	if (!err)
		err = model_regenerate(a->wm, NULL, NULL);
	if (!err && !models_agree(a->m, a->wm))
		err = -EDOM;
	if (err) {
		pr_warn("velumd: replaying a change on the model's second copy: %s; it is "
			"rebuilt at the next change\n",
			strerror(-err));
		model__free(a->wm);
		a->wm = NULL;
	}
	pr_debug("velumd: change: model+regenerate %.2f ms, store %.2f ms, locked %.2f ms "
		 "(%zu map(s) swapped in %.2f ms), replay %.2f ms\n",
		 (double)(t1 - t_regen) / 1e6, (double)(t2 - t1) / 1e6, (double)(t4 - t2) / 1e6, n,
		 (double)(t3 - t2) / 1e6, (double)(agent_now_ns(CLOCK_MONOTONIC) - t4) / 1e6);
	return 0;
}

int agent_regenerate(struct agent *a, uint32_t **changed, size_t *n, struct errbuf *eb)
{
	int err = model_regenerate(a->wm, changed, n);

	if (err)
		errbuf_set(eb, err, "policy resolution: %s", strerror(-err));
	return err;
}
