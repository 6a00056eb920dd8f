# SPDX-License-Identifier: Apache-2.0
#
# Datapath integration tests: real namespaces, veths and traffic, driven
# through the src/datapath API. Root only; `make test-datapath` (part of
# `make test` and `make test-integration`). dp_redirect covers L7
# redirection through a test-only transparent proxy.

dp_net_srcs := tests/integration/dp_net.c
dp_itest_srcs := tests/integration/dp_integration.c $(dp_net_srcs)
dp_itest_objs := $(patsubst %.c,$(BUILD)/obj/%.o,$(dp_itest_srcs))
dp_rtest_srcs := tests/integration/dp_redirect.c $(dp_net_srcs)
dp_rtest_objs := $(patsubst %.c,$(BUILD)/obj/%.o,$(dp_rtest_srcs))

$(BUILD)/tests/dp_integration: $(dp_itest_objs) $(BUILD)/libvelum-dp.a $(BUILD)/libvelum-core.a
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -o $@ $(dp_itest_objs) $(BUILD)/libvelum-dp.a $(BUILD)/libvelum-core.a \
		$(call pkg_libs,$(core_pkgs) libbpf cmocka) -lpthread -lm

$(BUILD)/tests/dp_redirect: $(dp_rtest_objs) $(BUILD)/libvelum-dp.a $(BUILD)/libvelum-core.a
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -o $@ $(dp_rtest_objs) $(BUILD)/libvelum-dp.a $(BUILD)/libvelum-core.a \
		$(call pkg_libs,$(core_pkgs) libbpf cmocka) -lpthread -lm

$(dp_itest_objs) $(dp_rtest_objs): $(bpf_skels)

.PHONY: test-datapath test-integration
test-datapath: $(BUILD)/tests/dp_integration $(BUILD)/tests/dp_redirect
	@echo "== $<"
	$(Q)$(root_test) tests/integration/datapath.sh $<
	@echo "== $(BUILD)/tests/dp_redirect"
	$(Q)$(root_test) tests/integration/datapath.sh $(BUILD)/tests/dp_redirect

test-integration: test-datapath
test_goals += test-datapath
