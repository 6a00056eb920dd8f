# SPDX-License-Identifier: Apache-2.0
# The main job: the paper's Star Wars experiment. Until the agent and the
# datapath run it on real namespaces, it traces the paper's policies.
.PHONY: demo
demo: $(BUILD)/bin/velum
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
