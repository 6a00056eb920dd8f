/* SPDX-License-Identifier: Apache-2.0 */
/*
 * After every regeneration: the L7 snapshot of every endpoint (the
 * engine's HTTP rules per endpoint, direction, port and peer) goes to the
 * proxy, which swaps it in at once (proxy.h, proxy/control.h).
 */
#include "agent/agent.h"
#include "agent/proxy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/strbuf.h"
#include "policy/l7snap.h"

int agent_l7_publish(struct agent *a, uint64_t revision, struct errbuf *eb)
{
	const struct model_ep *const *eps;
	struct strbuf sb = STRBUF_INIT;
	struct pol_l7_snapshot *s;
	uint32_t *ids;
	size_t n, i;
	int err;

	if (!a->proxy)
		return 0;
	n = model_endpoints(a->wm, &eps);
	ids = calloc(n ? n : 1, sizeof(*ids));
	if (!ids)
		return errbuf_set(eb, -ENOMEM, "L7 snapshot: out of memory");
	for (i = 0; i < n; i++)
		ids[i] = eps[i]->id;
	s = pol_engine_l7_snapshot(model_engine(a->wm), ids, n, revision);
	free(ids);
	if (!s)
		return errbuf_set(eb, -errno, "L7 snapshot: %s", strerror(errno));
	err = pol_l7_snapshot_serialize(s, &sb);
	pol_l7_snapshot__put(s);
	if (err) {
		strbuf_free(&sb);
		return errbuf_set(eb, err, "L7 snapshot: %s", strerror(-err));
	}
	err = agent_proxy_push(a->proxy, sb.p, sb.len, revision, eb);
	strbuf_free(&sb);
	if (err && err != -EPROTO && err != -ENOMEM) {
		/* Not connected, or the connection failed: it gets this snapshot when it (re)connects. */
		if (err != -ENOTCONN)
			pr_warn("velumd: %s\n", eb->msg);
		errbuf_clear(eb);
		err = 0;
	}
	return err;
}
