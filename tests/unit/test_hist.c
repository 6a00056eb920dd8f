/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the load generator's latency histogram (bench/hist.c):
 * HdrHistogram's layout for 1 us .. 60 s at 3 digits, the precision bound
 * over the whole range, percentiles, mean and deviation against exact
 * values, out-of-range values, merging, and the percentile spectrum.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hist.h"

#define HIGHEST INT64_C(60000000)

static int setup(void **state)
{
	*state = hist__new(HIGHEST, 3);
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	hist__free(*state);
	return 0;
}

static void test_hist_layout(void **state)
{
	struct hist *h = *state;

	(void)state;
	/* 2 * 10^3 values need 2048 sub-buckets; 2048 << 15 > 60e6 */
	assert_int_equal(h->sub_count, 2048);
	assert_int_equal(h->bucket_count, 16);
	assert_int_equal(h->counts_len, 17 * 1024);
	errno = 0;
	assert_null(hist__new(1, 3));
	assert_int_equal(errno, EINVAL);
	assert_null(hist__new(HIGHEST, 0));
	assert_null(hist__new(HIGHEST, 6));
}

/* Every value's counter spans at most 1/1000 of it; below 2048 it is exact. */
static void test_hist_precision(void **state)
{
	struct hist *h = *state;

	for (int64_t v = 0; v <= HIGHEST; v += v < 5000 ? 1 : v / 997) {
		int64_t lo = hist_lowest_equivalent(h, v), hi = hist_highest_equivalent(h, v);

		assert_true(lo <= v && v <= hi);
		if (v < 2048)
			assert_int_equal(lo, hi);
		else
			assert_true((double)(hi - lo + 1) <= (double)v / 1000);
		/* the next counter starts right after this one */
		assert_int_equal(hist_lowest_equivalent(h, hi + 1), hi + 1);
	}
	assert_true(hist_record(h, HIGHEST));
	assert_int_equal(h->total, 1);
}

/* HdrHistogram's own check: 10,000 values of 1 ms and one of 100 s. */
static void test_hist_percentiles_outlier(void **state)
{
	struct hist *h = hist__new(INT64_C(3600) * 1000 * 1000, 3);

	(void)state;
	assert_non_null(h);
	for (int i = 0; i < 10000; i++)
		assert_true(hist_record(h, 1000));
	assert_true(hist_record(h, 100000000));
	assert_int_equal(hist_percentile(h, 30), 1000);
	assert_int_equal(hist_percentile(h, 99), 1000);
	assert_int_equal(hist_percentile(h, 99.99), 1000);
	assert_int_equal(hist_percentile(h, 99.999), hist_highest_equivalent(h, 100000000));
	assert_int_equal(hist_percentile(h, 100), hist_highest_equivalent(h, 100000000));
	assert_true(hist_highest_equivalent(h, 100000000) - 100000000 < 100000);
	/* mean: (10,000 * 1,000 + 1e8) / 10,001 = 10,998.9 */
	assert_true(fabs(hist_mean(h) - 10998.9) < 10998.9 / 1000);
	hist__free(h);
}

static void test_hist_uniform(void **state)
{
	struct hist *h = *state;
	double sq = 0;

	for (int64_t v = 1; v <= 100000; v++)
		hist_record(h, v);
	assert_int_equal(h->total, 100000);
	assert_int_equal(h->min, 1);
	assert_int_equal(h->max, 100000);
	/* within the precision of the exact percentile */
	assert_true(llabs(hist_percentile(h, 50) - 50000) <= 50);
	assert_true(llabs(hist_percentile(h, 90) - 90000) <= 90);
	assert_true(llabs(hist_percentile(h, 99) - 99000) <= 99);
	assert_true(llabs(hist_percentile(h, 99.9) - 99900) <= 100);
	assert_int_equal(hist_percentile(h, 100), hist_highest_equivalent(h, 100000));
	assert_int_equal(hist_percentile(h, 0), 1);
	assert_true(fabs(hist_mean(h) - 50000.5) < 50);
	for (int64_t v = 1; v <= 100000; v++)
		sq += (v - 50000.5) * (v - 50000.5);
	assert_true(fabs(hist_stddev(h) - sqrt(sq / 100000)) < sqrt(sq / 100000) / 1000);
}

static void test_hist_out_of_range(void **state)
{
	struct hist *h = *state;

	assert_false(hist_record(h, HIGHEST + 1));
	assert_int_equal(h->overflow, 1);
	assert_int_equal(h->total, 0);
	assert_int_equal(hist_percentile(h, 50), 0);
	assert_int_equal(hist_spectrum(h, 5, NULL, 0), 0);
	/* negative values (a clock step) count as 0 */
	assert_true(hist_record(h, -5));
	assert_int_equal(h->min, 0);
	assert_int_equal(hist_percentile(h, 100), 0);
}

static void test_hist_add(void **state)
{
	struct hist *a = *state, *b = hist__new(HIGHEST, 3), *all = hist__new(HIGHEST, 3);
	struct hist *other = hist__new(1000, 3);

	assert_non_null(b);
	assert_non_null(all);
	assert_non_null(other);
	for (int64_t v = 1; v < 3000000; v += 7) {
		hist_record(v % 2 ? a : b, v);
		hist_record(all, v);
	}
	hist_record(b, HIGHEST * 2);
	assert_int_equal(hist_add(a, b), 0);
	assert_int_equal(a->total, all->total);
	assert_int_equal(a->overflow, 1);
	assert_int_equal(a->min, all->min);
	assert_int_equal(a->max, all->max);
	assert_memory_equal(a->counts, all->counts, sizeof(int64_t) * all->counts_len);
	assert_int_equal(hist_add(a, other), -EINVAL);
	hist_reset(a);
	assert_int_equal(a->total, 0);
	assert_int_equal(hist_percentile(a, 99), 0);
	hist__free(b);
	hist__free(all);
	hist__free(other);
}

/* The percentile of counters pooled as bench/report.py pools them (value -> count). */
static int64_t pooled_percentile(const struct hist_counter *c, int n, double p)
{
	int64_t total = 0, want, seen = 0;

	for (int i = 0; i < n; i++)
		total += c[i].count;
	want = (int64_t)(p / 100 * (double)total + 0.5);
	if (want < 1)
		want = 1;
	for (int i = 0; i < n; i++) {
		seen += c[i].count;
		if (seen >= want)
			return c[i].value;
	}
	return -1;
}

static void test_hist_counters(void **state)
{
	struct hist *a = *state, *b = hist__new(HIGHEST, 3), *all = hist__new(HIGHEST, 3);
	struct hist_counter ca[4096], cb[4096], pooled[8192], small[3];
	int na, nb, n = 0, i = 0, j = 0;
	int64_t sum = 0;

	assert_non_null(b);
	assert_non_null(all);
	assert_int_equal(hist_counters(a, ca, 4096), 0);
	/* two runs of different shapes: a fast one, and one with a slow tail */
	for (int64_t v = 0; v < 20000; v++) {
		int64_t x = 100 + v % 97, y = v % 50 ? 150 + v % 61 : 2000 + v * 3;

		hist_record(a, x);
		hist_record(b, y);
		hist_record(all, x);
		hist_record(all, y);
	}
	na = hist_counters(a, ca, 4096);
	nb = hist_counters(b, cb, 4096);
	assert_true(na > 0 && na < 4096 && nb > 0 && nb < 4096);
	for (int k = 0; k < na; k++) {
		sum += ca[k].count;
		assert_true(k == 0 || ca[k].value > ca[k - 1].value);
		assert_int_equal(hist_highest_equivalent(a, ca[k].value), ca[k].value);
	}
	assert_int_equal(sum, a->total);
	/* merged by value, as the report merges the runs' JSON */
	while (i < na || j < nb) {
		if (j >= nb || (i < na && ca[i].value < cb[j].value))
			pooled[n++] = ca[i++];
		else if (i >= na || cb[j].value < ca[i].value)
			pooled[n++] = cb[j++];
		else {
			pooled[n++] =
				(struct hist_counter){ ca[i].value, ca[i].count + cb[j].count };
			i++;
			j++;
		}
	}
	for (double p = 1; p <= 100; p += p < 99 ? 7 : 0.1)
		assert_int_equal(pooled_percentile(pooled, n, p), hist_percentile(all, p));
	assert_int_equal(pooled_percentile(ca, na, 99), hist_percentile(a, 99));
	/* a short array: the count of all of them, the first ones filled */
	assert_int_equal(hist_counters(b, small, 3), nb);
	assert_memory_equal(small, cb, sizeof(small));
	hist__free(b);
	hist__free(all);
}

static void test_hist_spectrum(void **state)
{
	struct hist *h = *state;
	struct hist_point pts[512];
	int n;

	for (int64_t v = 1; v <= 100000; v++)
		hist_record(h, v * 10);
	n = hist_spectrum(h, 5, pts, 512);
	assert_true(n > 50);
	assert_true(pts[0].percentile == 0);
	assert_int_equal(pts[0].value, 10);
	assert_true(pts[n - 1].percentile == 100);
	assert_int_equal(pts[n - 1].count, 100000);
	assert_int_equal(pts[n - 1].value, hist_highest_equivalent(h, 1000000));
	for (int i = 1; i < n; i++) {
		assert_true(pts[i].percentile > pts[i - 1].percentile);
		assert_true(pts[i].value >= pts[i - 1].value);
		assert_true(pts[i].count >= pts[i - 1].count);
		/* a row's count is at least its percentile of the total */
		assert_true(pts[i].count >= pts[i].percentile / 100 * 100000 - 1e-6);
	}
	/* levels: 0, 10, ..., 50 (5 per half), then 55, 60, ... (5 per quarter) */
	assert_true(fabs(pts[1].percentile - 10) < 1e-9);
	assert_true(fabs(pts[5].percentile - 50) < 1e-9);
	assert_true(fabs(pts[6].percentile - 55) < 1e-9);
	assert_true(fabs(pts[10].percentile - 75) < 1e-9);
	assert_true(fabs(pts[11].percentile - 77.5) < 1e-9);
	/* the caller's limit holds, the last slot being the 100 % row */
	n = hist_spectrum(h, 5, pts, 4);
	assert_int_equal(n, 4);
	assert_true(pts[3].percentile == 100);
}

static void test_hist_print(void **state)
{
	struct hist *h = *state;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	for (int i = 0; i < 1000; i++)
		hist_record(h, 1500);
	hist_record(h, 2500000);
	hist_print_spectrum(h, f, 5, 1000);
	fclose(f);
	assert_non_null(strstr(buf, "       Value   Percentile   TotalCount 1/(1-Percentile)"));
	assert_non_null(strstr(buf, "       1.500     0.000000         1000         1.00\n"));
	assert_non_null(strstr(buf, "    2500.607     1.000000         1001          inf\n"));
	assert_non_null(strstr(buf, "#[Max     =     2500.607, Total count    =         1001]"));
	assert_non_null(strstr(buf, "#[Buckets =           16, SubBuckets     =         2048]"));
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hist_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hist_precision, setup, teardown),
		cmocka_unit_test(test_hist_percentiles_outlier),
		cmocka_unit_test_setup_teardown(test_hist_uniform, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hist_out_of_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hist_add, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hist_counters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hist_spectrum, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hist_print, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
