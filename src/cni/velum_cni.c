/* SPDX-License-Identifier: Apache-2.0 */
/*
 * velum-cni: the CNI plugin a container runtime runs (CNI spec 0.4.0,
 * 1.0.0, 1.1.0). CNI_COMMAND says what to do, the network configuration
 * comes on stdin; the result or the spec's error object goes to stdout,
 * exit status 0 or 1. VERSION answers from stdin alone, without reading
 * any other variable or reaching velumd.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cni/cni.h"
#include "lib/strbuf.h"

#define CONF_MAX (1u << 20)

/* All of stdin (at most CONF_MAX bytes) into sb. Returns 0 or -1. */
static int read_stdin(struct strbuf *sb)
{
	char buf[8192];
	size_t got;

	while ((got = fread(buf, 1, sizeof(buf), stdin)) > 0) {
		if (sb->len + got > CONF_MAX)
			return -1;
		strbuf_append(sb, buf, got);
	}
	return ferror(stdin) || sb->oom ? -1 : 0;
}

int main(int argc, char **argv)
{
	const char *cmd = getenv("CNI_COMMAND");
	struct cni_req r = { 0 };
	struct cni_err e = { 0 };
	struct strbuf in = STRBUF_INIT;
	int rc = -1;

	(void)argv;
	if (!cmd && argc > 1) {
		fprintf(stderr, "velum-cni: a CNI plugin for velumd; container runtimes run it "
				"with CNI_COMMAND and the network configuration on stdin "
				"(see contrib/cni/)\n");
		return 2;
	}
	if (read_stdin(&in)) {
		cni_fail(&e, CNI_ERR_IO, "I/O failure", "stdin: unreadable or over %u bytes",
			 CONF_MAX);
		goto out;
	}
	if (cmd && !strcmp(cmd, "VERSION")) {
		json_t *v = cni_version_result(strbuf_str(&in), in.len);

		json_dumpf(v, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		json_decref(v);
		strbuf_free(&in);
		return 0;
	}
	if (!cmd || (strcmp(cmd, "ADD") && strcmp(cmd, "DEL") && strcmp(cmd, "CHECK") &&
		     strcmp(cmd, "STATUS") && strcmp(cmd, "GC"))) {
		cni_fail(&e, CNI_ERR_ENV, "invalid CNI_COMMAND",
			 "CNI_COMMAND '%s': expected ADD, DEL, CHECK, VERSION, STATUS or GC",
			 cmd ? cmd : "(unset)");
		goto out;
	}
	r.command = cmd;
	if (cni_req_parse(&r, strbuf_str(&in), in.len, &e))
		goto out;
	if (!strcmp(cmd, "ADD"))
		rc = cni_cmd_add(&r, &e);
	else if (!strcmp(cmd, "DEL"))
		rc = cni_cmd_del(&r, &e);
	else if (!strcmp(cmd, "CHECK"))
		rc = cni_cmd_check(&r, &e);
	else if (!strcmp(cmd, "STATUS"))
		rc = cni_cmd_status(&r, &e);
	else
		rc = cni_cmd_gc(&r, &e);
out:
	if (rc)
		cni_print_error(&e, r.cni_version);
	fflush(stdout);
	json_decref(r.conf);
	strbuf_free(&in);
	return rc ? 1 : 0;
}
