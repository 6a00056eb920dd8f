# SPDX-License-Identifier: Apache-2.0
# The velum command line, end to end (no privileges needed).
.PHONY: test-cli
test-cli: $(BUILD)/bin/velum
	@echo "== tests/integration/trace_cli.sh"
	$(Q)tests/integration/trace_cli.sh $(BUILD)/bin/velum

test-integration: test-cli
test_goals += test-cli
