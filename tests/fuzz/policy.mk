# SPDX-License-Identifier: Apache-2.0
#
# `make fuzz-policy [FUZZ_SECONDS=n]`: the policy decoder, engine and trace
# under libFuzzer with ASan/UBSan, on tests/fuzz/corpus-policy/ (committed
# seeds) plus build/fuzz/corpus-policy/ (found inputs). `make fuzz` runs
# every target.

fuzz_policy_srcs := tests/fuzz/fuzz_policy.c $(filter %.c,$(core_srcs))

$(BUILD)/fuzz/fuzz_policy: $(fuzz_policy_srcs) $(fuzz_cxx_objs) $(wildcard src/*/*.h)
	$(call msg,FUZZ-CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CLANG) $(CPPFLAGS) $(FUZZ_CFLAGS) -Wno-missing-field-initializers \
		$(call pkg_cflags,$(core_pkgs)) -o $@ \
		$(fuzz_policy_srcs) $(fuzz_cxx_objs) $(call pkg_libs,$(core_pkgs)) -lm

.PHONY: fuzz-policy fuzz
fuzz-policy: $(BUILD)/fuzz/fuzz_policy
	@mkdir -p $(BUILD)/fuzz/corpus-policy
	cd $(BUILD)/fuzz && ./fuzz_policy -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
		-rss_limit_mb=2048 corpus-policy $(CURDIR)/tests/fuzz/corpus-policy

fuzz: fuzz-doc fuzz-policy
