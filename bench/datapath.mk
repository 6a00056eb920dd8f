# SPDX-License-Identifier: Apache-2.0
#
# `make bench-datapath`: velum vs. no filtering vs. iptables, HTTP between
# two endpoints; the report in a new bench/results/datapath-DATE-TIME.md
# (datapath.md summarizes the runs by hand). Not part of `make test`.

dp_bench_srcs := bench/dp_bench.c bench/dp_http.c bench/hist.c
dp_bench_objs := $(patsubst %.c,$(BUILD)/obj/%.o,$(dp_bench_srcs))

$(dp_bench_objs): $(bpf_skels)

$(BUILD)/bench/dp_bench: $(dp_bench_objs) $(BUILD)/libvelum-dp.a $(BUILD)/libvelum-core.a
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -o $@ $(dp_bench_objs) $(BUILD)/libvelum-dp.a $(BUILD)/libvelum-core.a \
		$(call pkg_libs,libbpf) -lpthread -lm

.PHONY: bench-datapath
bench-datapath: $(BUILD)/bench/dp_bench
	$(Q)bench/datapath.sh $<

