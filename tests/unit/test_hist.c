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
		cmocka_unit_test_setup_teardown(test_hist_spectrum, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hist_print, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
