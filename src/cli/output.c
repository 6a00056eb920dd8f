/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The structured outputs of every command: `-o json` prints the agent's
 * JSON document indented, `-o yaml` the same document as YAML (libyaml's
 * emitter walks the JSON tree: one document, two spellings, so the two
 * never disagree). Strings YAML would read back as something else (true,
 * 80, null, ~, "") are quoted; numbers, booleans and null stay plain.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "cli/cli.h"

static enum cli_format cli_format_chosen = CLI_FMT_JSON;

int cli_output_parse(const char *arg, bool *structured)
{
	if (!strcmp(arg, "json"))
		cli_format_chosen = CLI_FMT_JSON;
	else if (!strcmp(arg, "yaml"))
		cli_format_chosen = CLI_FMT_YAML;
	else
		return -EINVAL;
	if (structured)
		*structured = true;
	return 0;
}

enum cli_format cli_output_format(void)
{
	return cli_format_chosen;
}

/*
 * Would a plain YAML scalar s resolve to anything but this string (YAML 1.1
 * and 1.2 core schema: booleans, null, numbers, or nothing at all)?
 */
static bool yaml_ambiguous(const char *s)
{
	static const char *const words[] = { "y",     "yes",   "n",	"no",	"true",
					     "false", "on",    "off",	"null", "~",
					     ".inf",  "-.inf", "+.inf", ".nan", NULL };
	const char *p = s;
	size_t i;

	if (!*s)
		return true;
	for (i = 0; words[i]; i++)
		if (!strcasecmp(s, words[i]))
			return true;
	/* anything that starts like a number: 80, -1, 0x1f, 1e3, 1.5, 010, 1_000, 12:30 */
	if (*p == '-' || *p == '+' || *p == '.')
		p++;
	return isdigit((unsigned char)*p);
}

static int emit_scalar(yaml_emitter_t *em, const char *s, size_t len, bool plain_only)
{
	yaml_event_t ev;
	yaml_scalar_style_t style = YAML_ANY_SCALAR_STYLE;

	if (!plain_only && yaml_ambiguous(s))
		style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
	if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)len, 1, 1, style))
		return -ENOMEM;
	return yaml_emitter_emit(em, &ev) ? 0 : -EIO;
}

static int emit_node(yaml_emitter_t *em, json_t *j)
{
	yaml_event_t ev;
	char num[64];
	int err = 0;

	switch (json_typeof(j)) {
	case JSON_OBJECT: {
		const char *k;
		json_t *v;

		if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
							 YAML_BLOCK_MAPPING_STYLE) ||
		    !yaml_emitter_emit(em, &ev))
			return -EIO;
		json_object_foreach(j, k, v)
		{
			err = emit_scalar(em, k, strlen(k), false);
			if (!err)
				err = emit_node(em, v);
			if (err)
				return err;
		}
		if (!yaml_mapping_end_event_initialize(&ev) || !yaml_emitter_emit(em, &ev))
			return -EIO;
		return 0;
	}
	case JSON_ARRAY: {
		size_t i;
		json_t *v;

		if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
							  YAML_BLOCK_SEQUENCE_STYLE) ||
		    !yaml_emitter_emit(em, &ev))
			return -EIO;
		json_array_foreach(j, i, v)
		{
			err = emit_node(em, v);
			if (err)
				return err;
		}
		if (!yaml_sequence_end_event_initialize(&ev) || !yaml_emitter_emit(em, &ev))
			return -EIO;
		return 0;
	}
	case JSON_STRING:
		return emit_scalar(em, json_string_value(j), json_string_length(j), false);
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(j));
		return emit_scalar(em, num, strlen(num), true);
	case JSON_REAL:
		snprintf(num, sizeof(num), "%.17g", json_real_value(j));
		return emit_scalar(em, num, strlen(num), true);
	case JSON_TRUE:
		return emit_scalar(em, "true", 4, true);
	case JSON_FALSE:
		return emit_scalar(em, "false", 5, true);
	case JSON_NULL:
	default:
		return emit_scalar(em, "null", 4, true);
	}
}

int cli_print_yaml(FILE *f, json_t *j)
{
	yaml_emitter_t em;
	yaml_event_t ev;
	int err = -EIO;

	if (!yaml_emitter_initialize(&em))
		return -ENOMEM;
	yaml_emitter_set_output_file(&em, f);
	yaml_emitter_set_unicode(&em, 1);
	yaml_emitter_set_width(&em, -1); /* no folding: a line per value, as JSON prints it */
	if (!yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) ||
	    !yaml_emitter_emit(&em, &ev))
		goto out;
	if (!yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) ||
	    !yaml_emitter_emit(&em, &ev))
		goto out;
	err = emit_node(&em, j);
	if (err)
		goto out;
	err = -EIO;
	if (!yaml_document_end_event_initialize(&ev, 1) || !yaml_emitter_emit(&em, &ev))
		goto out;
	if (!yaml_stream_end_event_initialize(&ev) || !yaml_emitter_emit(&em, &ev))
		goto out;
	err = yaml_emitter_flush(&em) ? 0 : -EIO;
out:
	yaml_emitter_delete(&em);
	return err;
}

void cli_print_json(json_t *j)
{
	char *s;

	if (cli_format_chosen == CLI_FMT_YAML) {
		if (cli_print_yaml(stdout, j))
			fprintf(stderr, "velum: printing YAML failed\n");
		return;
	}
	s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (s) {
		puts(s);
		free(s);
	}
}

int cli_print_json_text(const char *text, size_t len)
{
	json_error_t je;
	json_t *j;

	if (cli_format_chosen != CLI_FMT_YAML) {
		fwrite(text, 1, len, stdout);
		return 0;
	}
	j = json_loadb(text, len, JSON_DECODE_ANY, &je);
	if (!j) {
		fprintf(stderr, "velum: not JSON: %s\n", je.text);
		return -EINVAL;
	}
	cli_print_json(j);
	json_decref(j);
	return 0;
}
