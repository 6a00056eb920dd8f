# SPDX-License-Identifier: Apache-2.0
#
# `make fuzz-proxy [FUZZ_SECONDS=n]`: velum-proxy's request path
# (src/proxy/session.c with llhttp, the rules and the matcher) under
# libFuzzer with ASan/UBSan, on tests/fuzz/corpus-proxy/ (committed seeds)
# plus build/fuzz/corpus-proxy/ (found inputs).

fuzz_proxy_srcs := tests/fuzz/fuzz_proxy.c src/proxy/session.c src/proxy/rules.c \
	$(filter %.c,$(core_srcs))
fuzz_llhttp_objs := $(patsubst %,$(BUILD)/fuzz/llhttp/%.o,$(llhttp_names))

# llhttp is third-party code: instrumented like the rest, our warnings off.
$(BUILD)/fuzz/llhttp/%.o: $(LLHTTP_SRC)/%.c
	$(call msg,FUZZ-CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CLANG) -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
		-w -DLLHTTP_STRICT_MODE=1 -I$(LLHTTP_INC) -c $< -o $@

$(BUILD)/fuzz/fuzz_proxy: $(fuzz_proxy_srcs) $(fuzz_llhttp_objs) $(fuzz_cxx_objs) \
		$(wildcard src/*/*.h)
	$(call msg,FUZZ-CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CLANG) $(CPPFLAGS) $(FUZZ_CFLAGS) -Wno-missing-field-initializers \
		$(call pkg_cflags,$(core_pkgs)) -o $@ \
		$(fuzz_proxy_srcs) $(fuzz_llhttp_objs) $(fuzz_cxx_objs) \
		$(call pkg_libs,$(core_pkgs)) -lm

.PHONY: fuzz-proxy
fuzz-proxy: $(BUILD)/fuzz/fuzz_proxy
	@mkdir -p $(BUILD)/fuzz/corpus-proxy
	cd $(BUILD)/fuzz && ./fuzz_proxy -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
		-rss_limit_mb=2048 $(FUZZ_FLAGS) corpus-proxy $(CURDIR)/tests/fuzz/corpus-proxy

fuzz: fuzz-proxy
