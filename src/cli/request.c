/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CLI's use of the API client (src/client): the messages and exit
 * statuses every subcommand shares when it talks to velumd.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

const char *cli_socket = CLIENT_SOCKET_DEFAULT;
int cli_timeout_ms = CLI_TIMEOUT_DEFAULT_MS;

static struct client cli_client(void)
{
	return (struct client){ .socket = cli_socket, .timeout_ms = cli_timeout_ms };
}

/* The client's message, and for a timeout how to wait longer. */
static void report(int err, const struct errbuf *eb)
{
	fprintf(stderr, "velum: %s%s\n", eb->msg,
		err == -ETIMEDOUT ? "; wait longer with --timeout SECONDS or $VELUM_TIMEOUT "
				    "(0: no limit)" :
				    "");
}

int cli_request(const char *method, const char *path, const char *body, size_t len,
		struct client_resp *r)
{
	struct client c = cli_client();
	struct errbuf eb;

	int err = client_request(&c, method, path, body, len, r, &eb);

	if (err) {
		report(err, &eb);
		return CLI_EXIT_FAIL;
	}
	return 0;
}

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

int cli_stream(const char *path, int (*line)(void *ctx, const char *text, size_t len), void *ctx)
{
	struct sigaction sa = { .sa_handler = on_sigint }; /* no SA_RESTART: read() returns */
	struct client c = cli_client();
	struct client_resp r;
	struct errbuf eb;
	int rc, ret = 0;

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	rc = client_stream(&c, path, line, ctx, &interrupted, &r, &eb);
	if (r.status && r.status != 200) {
		ret = cli_check(&r, "observe");
	} else if (rc < 0) {
		report(rc, &eb);
		ret = CLI_EXIT_FAIL;
	}
	if (!ret && rc == 0 && strstr(path, "follow=1")) {
		fprintf(stderr, "velum: velumd closed the stream (stopped or restarted)\n");
		ret = CLI_EXIT_FAIL;
	}
	client_resp_free(&r);
	return ret;
}

int cli_check(const struct client_resp *r, const char *cmd)
{
	struct errbuf eb;
	int err = client_resp_error(r, &eb);

	if (!err)
		return 0;
	fprintf(stderr, "velum %s: %s\n", cmd, eb.msg);
	return err == -EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
}

json_t *cli_json(const struct client_resp *r, const char *cmd)
{
	struct errbuf eb;
	json_t *j = client_resp_json(r, &eb);

	if (!j)
		fprintf(stderr, "velum %s: %s\n", cmd, eb.msg);
	return j;
}

bool cli_is_endpoint_id(const char *s)
{
	return *s && strspn(s, "0123456789") == strlen(s);
}
