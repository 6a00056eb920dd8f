# SPDX-License-Identifier: Apache-2.0
# `make bench-l7` (not a test): velum-proxy standalone vs no proxy vs
# HAProxy with 1 and 40 rules, on loopback with wrk and nginx; the report
# goes to stdout (bench/results/l7.md keeps a run with its command).
BENCH_L7_FLAGS ?=

.PHONY: bench-l7
bench-l7: $(BUILD)/bin/velum-proxy
	$(Q)BUILD=$(BUILD) bench/l7.sh $(BENCH_L7_FLAGS)
