/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Text tables (see table.h).
 */
#include "cli/table.h"

#include <stdlib.h>
#include <string.h>

static void add_row(struct cli_table *t, const char *const *cells)
{
	size_t i;

	if (t->nrows == t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 16;
		char **nv = realloc(t->cells, nc * t->ncols * sizeof(*nv));

		if (!nv)
			return;
		t->cells = nv;
		t->cap = nc;
	}
	for (i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = strdup(cells && cells[i] ? cells[i] : "");
	t->nrows++;
}

void cli_table_init(struct cli_table *t, size_t ncols, const char *const *hdr,
		    const char *const *hdr2)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	add_row(t, hdr);
	if (hdr2)
		add_row(t, hdr2);
}

void cli_table_add(struct cli_table *t, const char *const *cells)
{
	add_row(t, cells);
}

/* Width of the widest line of s. */
static size_t cell_width(const char *s)
{
	size_t w = 0, cur = 0;

	for (; s && *s; s++) {
		if (*s == '\n') {
			cur = 0;
			continue;
		}
		if (((unsigned char)*s & 0xc0) != 0x80)
			cur++;
		if (cur > w)
			w = cur;
	}
	return w;
}

/* The k-th line of s as (pointer, length); length 0 past the end. */
static const char *cell_line(const char *s, size_t k, size_t *len)
{
	const char *nl;

	for (; s && k; k--) {
		s = strchr(s, '\n');
		if (s)
			s++;
	}
	if (!s) {
		*len = 0;
		return "";
	}
	nl = strchr(s, '\n');
	*len = nl ? (size_t)(nl - s) : strlen(s);
	return s;
}

static size_t cell_lines(const char *s)
{
	size_t n = 1;

	for (; s && *s; s++)
		n += *s == '\n';
	return n;
}

void cli_table_print(const struct cli_table *t, FILE *f)
{
	size_t *w = calloc(t->ncols ? t->ncols : 1, sizeof(*w));
	size_t r, c, k;

	if (!w)
		return;
	for (r = 0; r < t->nrows; r++)
		for (c = 0; c < t->ncols; c++) {
			size_t cw = cell_width(t->cells[r * t->ncols + c]);

			if (cw > w[c])
				w[c] = cw;
		}
	for (r = 0; r < t->nrows; r++) {
		size_t lines = 1;

		for (c = 0; c < t->ncols; c++) {
			size_t l = cell_lines(t->cells[r * t->ncols + c]);

			if (l > lines)
				lines = l;
		}
		for (k = 0; k < lines; k++) {
			struct {
				const char *p;
				size_t len;
			} seg[64];
			size_t last = 0;

			/* trailing empty cells print nothing (no trailing blanks) */
			for (c = 0; c < t->ncols && c < 64; c++) {
				seg[c].p = cell_line(t->cells[r * t->ncols + c], k, &seg[c].len);
				if (seg[c].len)
					last = c + 1;
			}
			for (c = 0; c < last; c++) {
				size_t pad;

				fwrite(seg[c].p, 1, seg[c].len, f);
				if (c + 1 < last) {
					size_t vis = 0, i;

					for (i = 0; i < seg[c].len; i++)
						vis += ((unsigned char)seg[c].p[i] & 0xc0) != 0x80;
					for (pad = vis; pad < w[c] + 3; pad++)
						fputc(' ', f);
				}
			}
			fputc('\n', f);
		}
	}
	free(w);
}

void cli_table_free(struct cli_table *t)
{
	size_t i;

	for (i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}
