/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A log-linear latency histogram in HdrHistogram's scheme: values from 0 up
 * to a highest trackable value, kept to a fixed number of significant
 * decimal digits. Each power-of-two bucket holds the same number of linear
 * sub-buckets (2^ceil(log2(2 * 10^digits))), so a recorded value is known
 * to within 1 part in 10^digits of itself. The load generator records
 * microseconds from 1 us to 60 s with 3 digits: 17,408 counters, 136 KiB.
 *
 * Not thread-safe: each thread records into its own and hist_add() merges.
 */
#ifndef VELUM_BENCH_HIST_H
#define VELUM_BENCH_HIST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct hist {
	int64_t highest;  /* highest trackable value */
	int digits;	  /* significant decimal digits, 1..5 */
	int sub_count;	  /* linear sub-buckets per bucket (a power of two) */
	int sub_half_mag; /* log2(sub_count / 2) */
	int bucket_count; /* power-of-two buckets */
	int counts_len;	  /* (bucket_count + 1) * sub_count / 2 */
	int64_t total;	  /* values recorded */
	int64_t overflow; /* values above highest (not in counts) */
	int64_t min, max; /* recorded extremes (min INT64_MAX when empty) */
	int64_t counts[];
};

/*
 * Returns a new, empty histogram for 0..highest with digits significant
 * digits (freed by hist__free()), or NULL with errno EINVAL (highest < 2,
 * digits outside 1..5) or ENOMEM.
 */
struct hist *hist__new(int64_t highest, int digits);
void hist__free(struct hist *h);

/*
 * Counts value once. A negative value counts as 0; a value above highest is
 * not recorded: it increments h->overflow and returns false.
 */
bool hist_record(struct hist *h, int64_t value);

/* Adds src's counts into dst (same highest and digits); -EINVAL otherwise. */
int hist_add(struct hist *dst, const struct hist *src);
void hist_reset(struct hist *h);

/* The smallest and largest values that count in the same counter as value. */
int64_t hist_lowest_equivalent(const struct hist *h, int64_t value);
int64_t hist_highest_equivalent(const struct hist *h, int64_t value);

/*
 * The value at percentile p (0..100): the highest value equivalent to the
 * smallest recorded value with at least p % of the values at or below it,
 * as HdrHistogram reports it. 0 for an empty histogram.
 */
int64_t hist_percentile(const struct hist *h, double p);
double hist_mean(const struct hist *h);
/* Values recorded in counters that overlap lo..hi. */
int64_t hist_count_between(const struct hist *h, int64_t lo, int64_t hi);
double hist_stddev(const struct hist *h);

/* One non-empty counter: the highest value it stands for, and its count. */
struct hist_counter {
	int64_t value;
	int64_t count;
};

/*
 * Fills up to max of h's non-empty counters, in ascending order of value,
 * and returns how many non-empty counters h has (more than max: the rest
 * were left out). Histograms of the same layout add up counter by counter,
 * so runs' counters can be pooled elsewhere (bench/report.py) and give the
 * percentiles hist_percentile() would of the histograms added.
 */
int hist_counters(const struct hist *h, struct hist_counter *out, int max);

/* One row of a percentile spectrum. */
struct hist_point {
	int64_t value;	   /* highest equivalent value */
	double percentile; /* 0..100 */
	int64_t count;	   /* values at or below value */
};

/*
 * Fills up to max points of the percentile spectrum, HdrHistogram's
 * percentile iteration: ticks_per_half rows for each halving of the
 * distance to 100 %, then one row at 100 % (the maximum). Returns the
 * number of points (0 for an empty histogram).
 */
int hist_spectrum(const struct hist *h, int ticks_per_half, struct hist_point *pts, int max);

/*
 * Prints the spectrum as wrk2's --latency does ("Detailed Percentile
 * spectrum"): values divided by scale (1000: microseconds as ms), then the
 * mean, deviation, maximum and total lines.
 */
void hist_print_spectrum(const struct hist *h, FILE *f, int ticks_per_half, double scale);

#endif
