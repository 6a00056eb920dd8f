/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's side of velum-cni: one call to velumd's API (docs/api.md)
 * through the client library, its failures turned into CNI errors.
 */
#include "cni/cni.h"

#include <errno.h>

#include "client/client.h"
#include "lib/errbuf.h"

/* An agent that hangs must not hang the runtime: each step is bounded. */
#define CALL_TIMEOUT_MS 60000

int cni_call(const char *socket, const char *method, const char *path, json_t *body, long *status,
	     json_t **resp, struct cni_err *e)
{
	struct client c = { .socket = socket, .timeout_ms = CALL_TIMEOUT_MS };
	struct errbuf eb;
	int err;

	errbuf_clear(&eb);
	err = client_call(&c, method, path, body, status, resp, &eb);
	if (!err)
		return 0;
	if (!*status && (err == -ENOENT || err == -ECONNREFUSED))
		return cni_fail(e, CNI_ERR_TRY_AGAIN, "velumd is not running", "%s", eb.msg);
	if (!*status && err == -ETIMEDOUT)
		return cni_fail(e, CNI_ERR_TRY_AGAIN, "velumd did not answer", "%s %s: %s", method,
				path, eb.msg);
	if (!*status)
		return cni_fail(e, CNI_ERR_IO, "I/O failure", "%s %s: %s", method, path, eb.msg);
	if (*status == 503)
		return cni_fail(e, CNI_ERR_TRY_AGAIN, "velumd is not ready", "%s %s: %s", method,
				path, eb.msg);
	return cni_fail(e, *status >= 500 ? CNI_ERR_AGENT : CNI_ERR_REFUSED,
			*status >= 500 ? "velumd failed" : "velumd refused the request", "%s",
			eb.msg);
}
