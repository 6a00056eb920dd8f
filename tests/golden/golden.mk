# SPDX-License-Identifier: Apache-2.0
# Golden tests of resolution: policy files in, enforced map entries out.
.PHONY: test-golden
test-golden: $(BUILD)/bin/velum
	@echo "== tests/golden/run.sh"
	$(Q)tests/golden/run.sh $(BUILD)/bin/velum

test_goals += test-golden
