# SPDX-License-Identifier: Apache-2.0
#
# velumd and velum end to end: the real agent on the real datapath with real
# namespaces and traffic. Root only (exit 77 otherwise, never in CI, which
# runs as root). `make test-agent` (part of `make test` and
# `make test-integration`).

$(BUILD)/tests/agent_traffic: tests/integration/agent_traffic.c | deps
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $<

agent_test_deps := $(BUILD)/bin/velumd $(BUILD)/bin/velum $(BUILD)/bin/velum-dp $(BUILD)/tests/agent_traffic

# velumd and velum with ASan, LSan and UBSan, for the tests that feed them
# bad input (tests/integration/sanitized.sh fails on any report). A build
# of their own tree: the sub-make is incremental. GCC's null-argument
# analysis misfires under the sanitizers (-Wformat-truncation), hence the
# one warning turned off there.
ASAN_BUILD := $(BUILD)/asan
.PHONY: asan-agent
asan-agent: | deps
	$(Q)$(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) \
		EXTRA_CFLAGS="$(SAN) -Wno-format-truncation" LDFLAGS="$(SAN)" \
		$(ASAN_BUILD)/bin/velumd $(ASAN_BUILD)/bin/velum $(ASAN_BUILD)/bin/velum-cni

.PHONY: test-agent test-agent-api test-agent-restart test-agent-broken test-agent-harden \
	test-agent-scale test-agent-proxy test-agent-l7 test-agent-l7-e2e test-agent-sockmap test-agent-daytwo \
	test-agent-observe test-agent-namespace test-integration
test-agent-api: $(agent_test_deps) asan-agent
	@echo "== tests/integration/agent_api.sh (velumd and velum with ASan, LSan, UBSan)"
	$(Q)$(root_test) tests/integration/sanitized.sh $(ASAN_BUILD) tests/integration/agent_api.sh

# Day-two commands: version, endpoints by id, -o yaml, status --verbose,
# unchanged re-imports, raw rules named by their name label.
test-agent-daytwo: $(agent_test_deps)
	@echo "== tests/integration/agent_daytwo.sh"
	$(Q)$(root_test) tests/integration/agent_daytwo.sh

# velum observe speaks Hubble: its filters and semantics, refusals of filters
# that can never match, dict/table/jsonpb outputs, jq over jsonpb, --input-file.
test-agent-observe: $(agent_test_deps)
	@echo "== tests/integration/agent_observe.sh"
	$(Q)$(root_test) tests/integration/agent_observe.sh

test-agent-restart: $(agent_test_deps)
	@echo "== tests/integration/agent_restart.sh"
	$(Q)$(root_test) tests/integration/agent_restart.sh

test-agent-broken: $(agent_test_deps) asan-agent
	@echo "== tests/integration/agent_broken_policy.sh (velumd and velum with ASan, LSan, UBSan)"
	$(Q)$(root_test) tests/integration/sanitized.sh $(ASAN_BUILD) tests/integration/agent_broken_policy.sh

test-agent-harden: $(agent_test_deps)
	@echo "== tests/integration/agent_harden.sh"
	$(Q)$(root_test) tests/integration/agent_harden.sh

# Namespaces with labels: namespaceSelector verdicts flip with a relabel while traffic flows;
# the namespace CLI, kind: Namespace imports, restore and the schema 3 upgrade.
test-agent-namespace: $(agent_test_deps) asan-agent
	@echo "== tests/integration/agent_namespace.sh (velumd and velum with ASan, LSan, UBSan)"
	$(Q)$(root_test) tests/integration/sanitized.sh $(ASAN_BUILD) tests/integration/agent_namespace.sh

# Work that grows with the input, not faster (sizes that finish in seconds)
test-agent-scale: $(agent_test_deps)
	@echo "== tests/integration/agent_scale.sh"
	$(Q)$(root_test) tests/integration/agent_scale.sh

test-agent-proxy: $(agent_test_deps) $(BUILD)/bin/deathstar \
		$(if $(wildcard src/proxy/proxy.mk),$(BUILD)/bin/velum-proxy)
	@echo "== tests/integration/agent_proxy.sh"
	$(Q)$(root_test) tests/integration/agent_proxy.sh

# L7 policy end to end through velumd and its proxy.
test-agent-l7-e2e: $(agent_test_deps) $(BUILD)/bin/velum-proxy $(BUILD)/tests/proxy_upstream
	@echo "== tests/integration/agent_l7_e2e.sh"
	$(Q)$(root_test) tests/integration/agent_l7_e2e.sh

# Kernel-carried bytes on the proxy's connections (bpf/lib/sockmap.h).
test-agent-sockmap: $(agent_test_deps) $(BUILD)/bin/velum-proxy
	@echo "== tests/integration/agent_sockmap.sh"
	$(Q)$(root_test) tests/integration/agent_sockmap.sh

# The proxy's access events in the flow log, filters and metrics.
test-agent-l7: $(agent_test_deps) $(BUILD)/bin/deathstar $(BUILD)/bin/velum-proxy
	@echo "== tests/integration/agent_l7.sh"
	$(Q)$(root_test) tests/integration/agent_l7.sh

test-agent: test-agent-api test-agent-restart test-agent-broken test-agent-harden \
	test-agent-scale test-agent-proxy test-agent-l7 test-agent-l7-e2e test-agent-sockmap test-agent-daytwo \
	test-agent-observe test-agent-namespace

test-integration: test-agent
test_goals += test-agent
