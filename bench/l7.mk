# SPDX-License-Identifier: Apache-2.0
# `make bench-l7` (not a test): issue 9's L7 comparison between two endpoints
# made by velumd (bench/http.sh --l7: the limit, velum L4, velum L7 with 1
# and 40 rules through velum-proxy, HAProxy with 1 and 40 ACLs on 1 and 2
# threads; throughput, latency at 10,000 req/s, CPU per request, memory of
# 10,000 idle connections); report in bench/results/<timestamp>/.
# BENCH_L7_FLAGS adds bench/http.sh options (e.g. --reps 2 --closed-secs 3).
# `make bench-l7-loopback`: velum-proxy standalone on loopback against nginx
# with wrk, beside HAProxy (bench/l7.sh: the proxy's own cost, no datapath);
# its report goes to stdout. BENCH_L7_LOOPBACK_FLAGS adds bench/l7.sh options.
BENCH_L7_FLAGS ?=
BENCH_L7_LOOPBACK_FLAGS ?=

.PHONY: bench-l7 bench-l7-loopback
bench-l7: $(http_bench_deps)
	$(Q)bench/http.sh --l7 $(BENCH_L7_FLAGS)

bench-l7-loopback: $(BUILD)/bin/velum-proxy
	$(Q)BUILD=$(BUILD) bench/l7.sh $(BENCH_L7_LOOPBACK_FLAGS)
