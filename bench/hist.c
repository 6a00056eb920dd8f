// SPDX-License-Identifier: Apache-2.0
/*
 * The log-linear histogram of hist.h. A value v lands in bucket b, the
 * number of times v must be halved to fit below sub_count, and in that
 * bucket's sub-bucket v >> b. Bucket 0 uses all sub_count sub-buckets; every
 * higher bucket only its upper half (its lower half is the previous
 * bucket's range at twice the resolution), hence counts_len =
 * (bucket_count + 1) * sub_count / 2.
 */
#include "hist.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct hist *hist__new(int64_t highest, int digits)
{
	int64_t largest_single_unit = 2;
	int sub_count, sub_mag = 0, buckets = 1;
	int64_t untrackable;
	struct hist *h;

	if (highest < 2 || digits < 1 || digits > 5) {
		errno = EINVAL;
		return NULL;
	}
	for (int i = 0; i < digits; i++)
		largest_single_unit *= 10;
	/* sub-buckets: the power of two that separates 2 * 10^digits values */
	while ((INT64_C(1) << sub_mag) < largest_single_unit)
		sub_mag++;
	sub_count = 1 << sub_mag;
	for (untrackable = sub_count; untrackable <= highest; untrackable <<= 1)
		buckets++;
	h = calloc(1, sizeof(*h) + sizeof(int64_t) * (size_t)(buckets + 1) * (sub_count / 2));
	if (!h) {
		errno = ENOMEM;
		return NULL;
	}
	h->highest = highest;
	h->digits = digits;
	h->sub_count = sub_count;
	h->sub_half_mag = sub_mag - 1;
	h->bucket_count = buckets;
	h->counts_len = (buckets + 1) * (sub_count / 2);
	h->min = INT64_MAX;
	return h;
}

void hist__free(struct hist *h)
{
	free(h);
}

void hist_reset(struct hist *h)
{
	memset(h->counts, 0, sizeof(int64_t) * h->counts_len);
	h->total = h->overflow = h->max = 0;
	h->min = INT64_MAX;
}

static int bucket_of(const struct hist *h, int64_t v)
{
	/* the position of v's highest bit above the sub-bucket range */
	int pow2ceiling = 64 - __builtin_clzll((uint64_t)v | (uint64_t)(h->sub_count - 1));

	return pow2ceiling - (h->sub_half_mag + 1);
}

static int index_of(const struct hist *h, int64_t v)
{
	int b = bucket_of(h, v);
	int s = (int)(v >> b);

	return ((b + 1) << h->sub_half_mag) + (s - h->sub_count / 2);
}

/* The lowest value counted at index i. */
static int64_t value_at_index(const struct hist *h, int i)
{
	int b = (i >> h->sub_half_mag) - 1;
	int64_t s = (i & (h->sub_count / 2 - 1)) + h->sub_count / 2;

	if (b < 0) {
		s -= h->sub_count / 2;
		b = 0;
	}
	return s << b;
}

int64_t hist_lowest_equivalent(const struct hist *h, int64_t value)
{
	int b = bucket_of(h, value);

	return (value >> b) << b;
}

int64_t hist_highest_equivalent(const struct hist *h, int64_t value)
{
	return hist_lowest_equivalent(h, value) + (INT64_C(1) << bucket_of(h, value)) - 1;
}

static int64_t median_equivalent(const struct hist *h, int64_t value)
{
	return hist_lowest_equivalent(h, value) + ((INT64_C(1) << bucket_of(h, value)) >> 1);
}

bool hist_record(struct hist *h, int64_t value)
{
	if (value < 0)
		value = 0;
	if (value > h->highest) {
		h->overflow++;
		return false;
	}
	h->counts[index_of(h, value)]++;
	h->total++;
	if (value < h->min)
		h->min = value;
	if (value > h->max)
		h->max = value;
	return true;
}

int hist_add(struct hist *dst, const struct hist *src)
{
	if (dst->highest != src->highest || dst->digits != src->digits)
		return -EINVAL;
	for (int i = 0; i < dst->counts_len; i++)
		dst->counts[i] += src->counts[i];
	dst->total += src->total;
	dst->overflow += src->overflow;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	return 0;
}

int64_t hist_percentile(const struct hist *h, double p)
{
	int64_t want, seen = 0;

	if (!h->total)
		return 0;
	if (p > 100)
		p = 100;
	want = (int64_t)(p / 100 * (double)h->total + 0.5);
	if (want < 1)
		want = 1;
	for (int i = 0; i < h->counts_len; i++) {
		seen += h->counts[i];
		if (seen >= want)
			return hist_highest_equivalent(h, value_at_index(h, i));
	}
	return hist_highest_equivalent(h, h->max);
}

int hist_counters(const struct hist *h, struct hist_counter *out, int max)
{
	int n = 0;

	for (int i = 0; i < h->counts_len; i++) {
		if (!h->counts[i])
			continue;
		if (n < max)
			out[n] = (struct hist_counter){
				.value = hist_highest_equivalent(h, value_at_index(h, i)),
				.count = h->counts[i],
			};
		n++;
	}
	return n;
}

double hist_mean(const struct hist *h)
{
	double sum = 0;

	if (!h->total)
		return 0;
	for (int i = 0; i < h->counts_len; i++)
		if (h->counts[i])
			sum += (double)h->counts[i] * median_equivalent(h, value_at_index(h, i));
	return sum / h->total;
}

int64_t hist_count_between(const struct hist *h, int64_t lo, int64_t hi)
{
	int64_t n = 0;

	for (int i = 0; i < h->counts_len; i++) {
		int64_t v = value_at_index(h, i);

		if (h->counts[i] && hist_highest_equivalent(h, v) >= lo && v <= hi)
			n += h->counts[i];
	}
	return n;
}

double hist_stddev(const struct hist *h)
{
	double mean = hist_mean(h), sq = 0;

	if (!h->total)
		return 0;
	for (int i = 0; i < h->counts_len; i++)
		if (h->counts[i]) {
			double d = median_equivalent(h, value_at_index(h, i)) - mean;

			sq += d * d * h->counts[i];
		}
	return sqrt(sq / h->total);
}

int hist_spectrum(const struct hist *h, int ticks_per_half, struct hist_point *pts, int max)
{
	double next = 0; /* the next percentile to report */
	int64_t seen = 0;
	int n = 0;

	if (!h->total || max < 1)
		return 0;
	for (int i = 0; i < h->counts_len && n < max - 1; i++) {
		double at;

		if (!h->counts[i])
			continue;
		seen += h->counts[i];
		at = 100.0 * seen / h->total;
		/*
		 * Every reporting level this value reaches gets a row; the levels
		 * get denser as they near 100 %: ticks_per_half rows between p and
		 * the point halfway from p to 100 %. The last value gets one row,
		 * then the 100 % row below.
		 */
		while (next <= at && n < max - 1) {
			double halvings = floor(log2(100.0 / (100.0 - next))) + 1;

			pts[n++] = (struct hist_point){
				hist_highest_equivalent(h, value_at_index(h, i)), next, seen
			};
			if (seen == h->total)
				break;
			next += 100.0 / (ticks_per_half * pow(2, halvings));
		}
		if (seen == h->total)
			break;
	}
	pts[n++] = (struct hist_point){ hist_highest_equivalent(h, h->max), 100.0, h->total };
	return n;
}

void hist_print_spectrum(const struct hist *h, FILE *f, int ticks_per_half, double scale)
{
	struct hist_point *pts = calloc(4096, sizeof(*pts));
	int n = pts ? hist_spectrum(h, ticks_per_half, pts, 4096) : 0;

	fprintf(f, "%12s %12s %12s %12s\n\n", "Value", "Percentile", "TotalCount",
		"1/(1-Percentile)");
	for (int i = 0; i < n; i++) {
		double p = pts[i].percentile / 100;

		if (p < 1)
			fprintf(f, "%12.3f %12f %12" PRId64 " %12.2f\n", pts[i].value / scale, p,
				pts[i].count, 1 / (1 - p));
		else
			fprintf(f, "%12.3f %12f %12" PRId64 " %12s\n", pts[i].value / scale, p,
				pts[i].count, "inf");
	}
	fprintf(f, "#[Mean    = %12.3f, StdDeviation   = %12.3f]\n", hist_mean(h) / scale,
		hist_stddev(h) / scale);
	fprintf(f, "#[Max     = %12.3f, Total count    = %12" PRId64 "]\n",
		h->total ? hist_highest_equivalent(h, h->max) / scale : 0.0, h->total);
	fprintf(f, "#[Buckets = %12d, SubBuckets     = %12d]\n", h->bucket_count, h->sub_count);
	free(pts);
}
