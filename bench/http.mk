# SPDX-License-Identifier: Apache-2.0
#
# `make bench`: the paper's HTTP experiment (bench/http.sh) with velum-load
# (the load generator) against velum-hello (the target), both in endpoints
# made by velumd; report and plots in bench/results/<timestamp>/.
# `make bench QUICK=1` runs every configuration briefly; `make test` runs
# that check (test-bench-quick). The histogram's unit test is test-hist.

bins += velum-load velum-hello velum-stall
velum-load_srcs := bench/load.c bench/dp_http.c bench/hist.c
velum-load_ldlibs := -lpthread
velum-hello_srcs := bench/hello.c
velum-hello_ldlibs := -lpthread
velum-stall_srcs := bench/stall.c
velum-stall_ldlibs := -lpthread

$(BUILD)/tests/test_hist: $(BUILD)/san/tests/unit/test_hist.o $(BUILD)/san/bench/hist.o
	$(call msg,LD-SAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(call pkg_libs,cmocka) -lm
$(BUILD)/san/tests/unit/test_hist.o: EXTRA_CFLAGS += -Ibench

.PHONY: test-hist
test-hist: $(BUILD)/tests/test_hist
	@echo "== $<"
	$(Q)ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 $<
test_goals += test-hist

# velum-load's failure counts, rates and coordinated-omission correction on
# loopback against velum-hello and scripted servers (no privileges needed)
.PHONY: test-velum-load
test-velum-load: $(BUILD)/bin/velum-load $(BUILD)/bin/velum-hello
	@echo "== tests/integration/velum_load.sh"
	$(Q)tests/integration/velum_load.sh
test_goals += test-velum-load

http_bench_deps := $(BUILD)/bin/velumd $(BUILD)/bin/velum $(BUILD)/bin/velum-dp \
	$(BUILD)/bin/velum-load $(BUILD)/bin/velum-hello $(BUILD)/bin/velum-proxy \
	$(BUILD)/bin/velum-stall

# BENCH_FLAGS passes bench/http.sh options, e.g. BENCH_FLAGS=--paper
.PHONY: bench test-bench-quick bench-wrk-check
ifeq ($(QUICK),1)
bench: test-bench-quick
else
bench: $(http_bench_deps)
	$(Q)bench/http.sh $(BENCH_FLAGS)
endif

# every configuration briefly, then the pipeline's output checked (not the speed)
test-bench-quick: $(http_bench_deps)
	@echo "== tests/integration/bench_quick.sh"
	$(Q)rc=0; tests/integration/bench_quick.sh || rc=$$?; \
	if [ $$rc = 77 ]; then echo "SKIP: bench_quick needs root"; elif [ $$rc != 0 ]; then exit $$rc; fi
test_goals += test-bench-quick

# velum-load against wrk, closed loop, same target (server and tool on CPUs of
# their own): bench/results/loadgen-vs-wrk.md (velum-hello, where the tools'
# own costs can decide on a busy machine), loadgen-vs-wrk-haproxy.md
# (HAProxy in front of it, slower than either tool)
bench-wrk-check: $(http_bench_deps)
	$(Q)bench/http.sh --wrk-check bench/results/loadgen-vs-wrk.md --conns 100 --threads 1 --closed-secs 5
	$(Q)bench/http.sh --wrk-check bench/results/loadgen-vs-wrk-haproxy.md --wrk-target haproxy \
		--conns 100 --threads 1 --closed-secs 5
