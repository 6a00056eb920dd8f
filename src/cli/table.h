/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Plain-text tables as `cilium-dbg` prints them: an upper-case header (an
 * optional second header line), columns padded to their widest cell, three
 * spaces between columns, and cells that span several lines (labels, one per
 * line) continuing under their column.
 */
#ifndef VELUM_CLI_TABLE_H
#define VELUM_CLI_TABLE_H

#include <stddef.h>
#include <stdio.h>

struct cli_table {
	size_t ncols;
	char **cells; /* row-major, header rows first */
	size_t nrows, cap;
};

/* hdr2 may be NULL (one header line). The strings are copied. */
void cli_table_init(struct cli_table *t, size_t ncols, const char *const *hdr,
		    const char *const *hdr2);
/* Adds a row of ncols cells (copied; NULL prints as empty; '\n' splits lines). */
void cli_table_add(struct cli_table *t, const char *const *cells);
void cli_table_print(const struct cli_table *t, FILE *f);
void cli_table_free(struct cli_table *t);

#endif
