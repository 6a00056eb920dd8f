# SPDX-License-Identifier: Apache-2.0
#
# `make fuzz-policy [FUZZ_SECONDS=n]`: the policy decoder, engine and trace
# under libFuzzer with ASan/UBSan, on tests/fuzz/corpus-policy/ (committed
# seeds) plus build/fuzz/corpus-policy/ (found inputs). `make fuzz` runs
# every target.

fuzz_policy_srcs := tests/fuzz/fuzz_policy.c $(filter %.c,$(core_srcs))
fuzz_policy_cxx := $(filter %.cc,$(core_srcs))
fuzz_policy_cxxobjs := $(patsubst %.cc,$(BUILD)/fuzz/obj/%.o,$(fuzz_policy_cxx))

# The C++ shims, instrumented the same way (linked by the C link below).
$(BUILD)/fuzz/obj/%.o: %.cc
	$(call msg,FUZZ-CXX,$@)
	@mkdir -p $(@D)
	$(Q)clang++ $(CPPFLAGS) -g -O1 -fsanitize=fuzzer-no-link,address,undefined \
		-fno-sanitize-recover=all -std=gnu++17 -Wall -Wextra -Werror \
		$(call pkg_cflags,re2) -c $< -o $@

$(BUILD)/fuzz/fuzz_policy: $(fuzz_policy_srcs) $(fuzz_policy_cxxobjs) $(wildcard src/*/*.h)
	$(call msg,FUZZ-CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CLANG) $(CPPFLAGS) $(FUZZ_CFLAGS) -Wno-missing-field-initializers \
		$(call pkg_cflags,$(core_pkgs)) -o $@ \
		$(fuzz_policy_srcs) $(fuzz_policy_cxxobjs) $(call pkg_libs,$(core_pkgs)) -lm

.PHONY: fuzz-policy fuzz
fuzz-policy: $(BUILD)/fuzz/fuzz_policy
	@mkdir -p $(BUILD)/fuzz/corpus-policy
	cd $(BUILD)/fuzz && ./fuzz_policy -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
		-rss_limit_mb=2048 corpus-policy $(CURDIR)/tests/fuzz/corpus-policy

fuzz: fuzz-doc fuzz-policy
