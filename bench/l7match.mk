# SPDX-License-Identifier: Apache-2.0
# `make bench-l7match`: the HTTP rule matcher (RE2 sets, as shipped) against
# Vectorscan and against one RE2 per rule, for 1 and 40 rules.
bins += velum-bench-l7match
velum-bench-l7match_srcs := bench/l7match_bench.c
velum-bench-l7match_libs := libhs

$(BUILD)/obj/bench/l7match_bench.o: EXTRA_CFLAGS += $(call pkg_cflags,libhs)

.PHONY: bench-l7match
bench-l7match: $(BUILD)/bin/velum-bench-l7match
	$(BUILD)/bin/velum-bench-l7match

bench: bench-l7match
