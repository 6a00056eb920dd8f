# SPDX-License-Identifier: Apache-2.0
# `make bench-policy`: the policy engine at 10,000 endpoints / 1,000 policies.
bins += velum-bench-policy
velum-bench-policy_srcs := bench/policy_bench.c

.PHONY: bench-policy
bench-policy: $(BUILD)/bin/velum-bench-policy
	$(BUILD)/bin/velum-bench-policy

