# SPDX-License-Identifier: Apache-2.0
#
# `make fuzz-l7 [FUZZ_SECONDS=n]`: request-target normalization, the HTTP
# matcher and the L7 snapshot deserializer under libFuzzer with ASan/UBSan,
# on tests/fuzz/corpus-l7/ (committed seeds) plus build/fuzz/corpus-l7/.

fuzz_l7_srcs := tests/fuzz/fuzz_l7.c $(filter %.c,$(core_srcs))

$(BUILD)/fuzz/fuzz_l7: $(fuzz_l7_srcs) $(fuzz_cxx_objs) $(wildcard src/*/*.h)
	$(call msg,FUZZ-CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CLANG) $(CPPFLAGS) $(FUZZ_CFLAGS) -Wno-missing-field-initializers \
		$(call pkg_cflags,$(core_pkgs)) -o $@ \
		$(fuzz_l7_srcs) $(fuzz_cxx_objs) $(call pkg_libs,$(core_pkgs)) -lm

.PHONY: fuzz-l7
fuzz-l7: $(BUILD)/fuzz/fuzz_l7
	@mkdir -p $(BUILD)/fuzz/corpus-l7
	cd $(BUILD)/fuzz && ./fuzz_l7 -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
		-rss_limit_mb=2048 corpus-l7 $(CURDIR)/tests/fuzz/corpus-l7

fuzz: fuzz-l7
