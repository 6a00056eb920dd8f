/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prometheus text exposition (format 0.0.4), by hand: no C client library
 * exists in Debian and the format is small. A histogram keeps cumulative
 * bucket counts as Prometheus expects them on output; the writer emits
 * # HELP / # TYPE headers and samples with escaped label values.
 *
 * No locking: the caller serialises observations and output.
 */
#ifndef VELUM_MONITOR_METRICS_H
#define VELUM_MONITOR_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "lib/strbuf.h"

#define MON_HIST_MAX_BUCKETS 24

struct mon_hist {
	const double *bounds;		       /* upper bounds, ascending (borrowed, static) */
	size_t nbounds;			       /* at most MON_HIST_MAX_BUCKETS */
	uint64_t counts[MON_HIST_MAX_BUCKETS]; /* per bucket, not cumulative */
	uint64_t count;
	double sum;
};

/* Bounds in seconds from 100 µs to 10 s, for regeneration and import latencies. */
extern const double mon_latency_bounds[];
extern const size_t mon_latency_nbounds;

/* Initialises h with bounds (borrowed; at most MON_HIST_MAX_BUCKETS). */
void mon_hist_init(struct mon_hist *h, const double *bounds, size_t n);
/* Counts one observation of v. */
void mon_hist_observe(struct mon_hist *h, double v);

/* "# HELP name help\n# TYPE name type\n" */
void mon_metric_header(struct strbuf *sb, const char *name, const char *type, const char *help);
/*
 * One sample: name{labels} value. labels is NULL or a NULL-terminated list
 * of key, value pairs (values are escaped).
 */
void mon_metric_sample(struct strbuf *sb, const char *name, const char *const *labels,
		       double value);
/* The _bucket, _sum and _count samples of h (labels as for mon_metric_sample()). */
void mon_hist_format(struct strbuf *sb, const char *name, const char *const *labels,
		     const struct mon_hist *h);

#endif
