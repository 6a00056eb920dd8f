# SPDX-License-Identifier: Apache-2.0
# velum-proxy, the L7 HTTP proxy. llhttp comes as generated C sources
# (Debian's node-llhttp); they build here as third-party code with their own
# flags (strict mode on, our warnings off), plain and sanitized.

LLHTTP_SRC := /usr/share/llhttp
LLHTTP_INC := /usr/share/include/llhttp
LLHTTP_CFLAGS := -std=gnu11 -O2 -g -w -DLLHTTP_STRICT_MODE=1 -I$(LLHTTP_INC)
llhttp_names := llhttp api http
llhttp_objs := $(patsubst %,$(BUILD)/obj/llhttp/%.o,$(llhttp_names))
llhttp_sobjs := $(patsubst %,$(BUILD)/san/llhttp/%.o,$(llhttp_names))

$(BUILD)/obj/llhttp/%.o: $(LLHTTP_SRC)/%.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(LLHTTP_CFLAGS) -c $< -o $@

$(BUILD)/san/llhttp/%.o: $(LLHTTP_SRC)/%.c
	$(call msg,CC-SAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(LLHTTP_CFLAGS) $(SAN) -c $< -o $@

# The session layer and rules, shared by the binary, unit tests and fuzzer.
px_core_srcs := src/proxy/session.c src/proxy/rules.c src/proxy/access.c
# llhttp's header lives outside the default include path.
CPPFLAGS += -I$(LLHTTP_INC)

bins += velum-proxy
velum-proxy_srcs := src/proxy/main.c src/proxy/proxy.c src/proxy/control.c $(px_core_srcs)
velum-proxy_deps = $(llhttp_objs) $(dp_lib)
velum-proxy_libs := libbpf
velum-proxy_ldlibs := -lpthread


# Standalone integration test (loopback only, no root): `make test-proxy`.
$(BUILD)/tests/proxy_upstream: tests/integration/proxy_upstream.c $(llhttp_objs)
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -I$(LLHTTP_INC) $(CFLAGS) -o $@ $< $(llhttp_objs)

.PHONY: test-proxy
test-proxy: $(BUILD)/bin/velum-proxy $(BUILD)/tests/proxy_upstream
	@echo "== tests/integration/proxy_standalone.sh"
	$(Q)BUILD=$(BUILD) tests/integration/proxy_standalone.sh
test_goals += test-proxy

unit_tests += tests/unit/test_proxy.c
test_proxy_extra = $(call sobj,$(px_core_srcs)) $(llhttp_sobjs)

# Transparent mode behind the real datapath (root): `make test-proxy-transparent`.
px_ttest_objs = $(call obj,tests/integration/proxy_transparent.c tests/integration/dp_net.c)
$(BUILD)/obj/tests/integration/proxy_transparent.o: $(bpf_skels)

$(BUILD)/tests/proxy_transparent: $(BUILD)/obj/tests/integration/proxy_transparent.o \
		$(BUILD)/obj/tests/integration/dp_net.o $(BUILD)/libvelum-dp.a $(BUILD)/libvelum-core.a
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -o $@ $(px_ttest_objs) $(BUILD)/libvelum-dp.a $(BUILD)/libvelum-core.a \
		$(call pkg_libs,$(core_pkgs) libbpf) -lpthread -lm

.PHONY: test-proxy-transparent
test-proxy-transparent: $(BUILD)/tests/proxy_transparent $(BUILD)/bin/velum-proxy \
		$(BUILD)/tests/proxy_upstream
	@echo "== tests/integration/proxy_transparent.sh"
	$(Q)BUILD=$(BUILD) tests/integration/proxy_transparent.sh
test_goals += test-proxy-transparent
