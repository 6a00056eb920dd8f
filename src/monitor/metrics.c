/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prometheus text exposition helpers (see metrics.h).
 */
#include "monitor/metrics.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

const double mon_latency_bounds[] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
				      0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,	   10 };
const size_t mon_latency_nbounds = sizeof(mon_latency_bounds) / sizeof(mon_latency_bounds[0]);

void mon_hist_init(struct mon_hist *h, const double *bounds, size_t n)
{
	memset(h, 0, sizeof(*h));
	h->bounds = bounds;
	h->nbounds = n < MON_HIST_MAX_BUCKETS ? n : MON_HIST_MAX_BUCKETS;
}

void mon_hist_observe(struct mon_hist *h, double v)
{
	size_t i;

	for (i = 0; i < h->nbounds; i++) {
		if (v <= h->bounds[i]) {
			h->counts[i]++;
			break;
		}
	}
	h->count++;
	h->sum += v;
}

void mon_metric_header(struct strbuf *sb, const char *name, const char *type, const char *help)
{
	strbuf_printf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void label_value(struct strbuf *sb, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			strbuf_putc(sb, '\\');
		if (*v == '\n') {
			strbuf_puts(sb, "\\n");
			continue;
		}
		strbuf_putc(sb, *v);
	}
}

static void labels_fmt(struct strbuf *sb, const char *const *labels, const char *le)
{
	bool any = false;
	size_t i;

	if ((!labels || !labels[0]) && !le)
		return;
	strbuf_putc(sb, '{');
	for (i = 0; labels && labels[i]; i += 2) {
		strbuf_printf(sb, "%s%s=\"", any ? "," : "", labels[i]);
		label_value(sb, labels[i + 1]);
		strbuf_putc(sb, '"');
		any = true;
	}
	if (le)
		strbuf_printf(sb, "%sle=\"%s\"", any ? "," : "", le);
	strbuf_putc(sb, '}');
}

static void value_fmt(struct strbuf *sb, double v)
{
	if (v == floor(v) && fabs(v) < 1e15)
		strbuf_printf(sb, " %.0f\n", v);
	else
		strbuf_printf(sb, " %.9g\n", v);
}

void mon_metric_sample(struct strbuf *sb, const char *name, const char *const *labels, double value)
{
	strbuf_puts(sb, name);
	labels_fmt(sb, labels, NULL);
	value_fmt(sb, value);
}

void mon_hist_format(struct strbuf *sb, const char *name, const char *const *labels,
		     const struct mon_hist *h)
{
	uint64_t cum = 0;
	char le[32];
	size_t i;

	for (i = 0; i < h->nbounds; i++) {
		cum += h->counts[i];
		snprintf(le, sizeof(le), "%g", h->bounds[i]);
		strbuf_printf(sb, "%s_bucket", name);
		labels_fmt(sb, labels, le);
		value_fmt(sb, (double)cum);
	}
	strbuf_printf(sb, "%s_bucket", name);
	labels_fmt(sb, labels, "+Inf");
	value_fmt(sb, (double)h->count);
	strbuf_printf(sb, "%s_sum", name);
	labels_fmt(sb, labels, NULL);
	value_fmt(sb, h->sum);
	strbuf_printf(sb, "%s_count", name);
	labels_fmt(sb, labels, NULL);
	value_fmt(sb, (double)h->count);
}
