# SPDX-License-Identifier: Apache-2.0
# `make bench-agent`: the agent's control plane at 10, 100 and 1,000
# endpoints (endpoint create, import-to-enforced, memory); results in
# bench/results/agent.md. Not part of `make test`.
bins += velum-bench-agent
velum-bench-agent_srcs = bench/agent_bench.c $(client_srcs)
velum-bench-agent_libs := jansson

.PHONY: bench-agent
bench-agent: $(BUILD)/bin/velumd $(BUILD)/bin/velum-bench-agent $(BUILD)/bin/velum-proxy $(BUILD)/bin/velum-dp
	$(Q)bench/agent.sh $(BUILD)/bin/velumd $(BUILD)/bin/velum-bench-agent

