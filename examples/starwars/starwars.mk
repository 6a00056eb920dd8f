# SPDX-License-Identifier: Apache-2.0
# The main job: the paper's Star Wars experiment on real namespaces (root),
# and its policies traced offline (no privileges).
demo_bins := $(BUILD)/bin/velum $(BUILD)/bin/velumd $(BUILD)/bin/velum-dp $(BUILD)/bin/deathstar

.PHONY: demo demo-trace
demo: $(demo_bins)
	VELUM_BIN=$(CURDIR)/$(BUILD)/bin examples/starwars/demo.sh

demo-trace: $(BUILD)/bin/velum
	VELUM=$(CURDIR)/$(BUILD)/bin/velum examples/starwars/trace-demo.sh

# The demo's HTTP API (see deathstar.c).
bins += deathstar
deathstar_srcs := examples/starwars/deathstar.c
deathstar_libs := libcurl

.PHONY: test-starwars-app
test-starwars-app: $(BUILD)/bin/deathstar
	@echo "== tests/integration/starwars_app.sh"
	$(Q)tests/integration/starwars_app.sh $(BUILD)/bin/deathstar

test-integration: test-starwars-app
test_goals += test-starwars-app

# The main job itself, checked: the demo's output must show the kernel's verdicts.
.PHONY: test-starwars-demo
test-starwars-demo: $(demo_bins)
	@echo "== tests/integration/starwars_demo.sh"
	$(Q)$(root_test) tests/integration/starwars_demo.sh $(CURDIR)/$(BUILD)/bin

test-integration: test-starwars-demo
test_goals += test-starwars-demo
