# SPDX-License-Identifier: Apache-2.0
# The main job: the paper's Star Wars experiment. Until the agent and the
# datapath run it on real namespaces, it traces the paper's policies.
.PHONY: demo
demo: $(BUILD)/bin/velum
	VELUM=$(CURDIR)/$(BUILD)/bin/velum examples/starwars/trace-demo.sh
