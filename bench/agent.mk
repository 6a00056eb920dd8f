# SPDX-License-Identifier: Apache-2.0
# `make bench-agent`: the agent's control plane at 10, 100 and 1,000
# endpoints (endpoint create, import-to-enforced, memory); results in
# bench/results/agent.md. Then `make bench-agent-scale`: import, restore and
# policy get of 100,000 policies and 100,000 CIDR prefixes (time, peak RSS,
# longest `velum status` wait); results in bench/results/agent-scale.md.
# Not part of `make test`.
bins += velum-bench-agent
velum-bench-agent_srcs = bench/agent_bench.c $(client_srcs)
velum-bench-agent_libs := jansson

.PHONY: bench-agent bench-agent-scale
bench-agent: $(BUILD)/bin/velumd $(BUILD)/bin/velum-bench-agent $(BUILD)/bin/velum-proxy $(BUILD)/bin/velum-dp
	$(Q)bench/agent.sh $(BUILD)/bin/velumd $(BUILD)/bin/velum-bench-agent
	$(Q)bench/agent_scale.sh $(BUILD)/bin/velumd $(BUILD)/bin/velum

bench-agent-scale: $(BUILD)/bin/velumd $(BUILD)/bin/velum
	$(Q)bench/agent_scale.sh $(BUILD)/bin/velumd $(BUILD)/bin/velum

