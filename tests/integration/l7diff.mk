# SPDX-License-Identifier: Apache-2.0
# Differential test, offline trace vs the real velum-proxy on random HTTP rule
# sets and requests (loopback only, no root): `make test-l7-diff`. The driver
# links the core library the velum CLI links (not sanitized: resolving 40
# rules costs several times more under ASan, and the unit tests run that
# code sanitized already).
l7diff_obj := $(BUILD)/obj/tests/integration/l7_diff.o

$(BUILD)/tests/l7_diff: $(l7diff_obj) $(BUILD)/libvelum-core.a
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -o $@ $(l7diff_obj) $(BUILD)/libvelum-core.a \
		$(call pkg_libs,$(core_pkgs) jansson) -lm

.PHONY: test-l7-diff
test-l7-diff: $(BUILD)/tests/l7_diff $(BUILD)/bin/velum-proxy $(BUILD)/bin/velum \
		$(BUILD)/tests/proxy_upstream
	@echo "== tests/integration/l7_diff.c"
	$(Q)$(BUILD)/tests/l7_diff --build $(BUILD)
test_goals += test-l7-diff
