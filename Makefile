# SPDX-License-Identifier: Apache-2.0
#
# velum's one, non-recursive GNU Makefile. Each directory contributes `*.mk`
# fragments (src/*/*.mk, bpf/*.mk, tests/*/*.mk, bench/*.mk) that append to
# the lists below; this file owns the flags, the pattern rules and the
# top-level goals.
#
#   core_srcs     pure C (src/lib, src/policy, src/identity): no BPF, no sockets
#   dp_srcs       src/datapath: libbpf users
#   bins          names of programs in build/bin; each has <name>_srcs, <name>_libs
#   unit_tests    tests/unit/test_*.c, each linked with the sanitized core
#                 (plus <test>_ldflags, e.g. -Wl,--wrap= for fault injection)
#   test_goals    extra goals `make test` runs after the unit tests
#
# `make V=1` shows commands. `SAN=` disables the sanitizers of unit tests.

.SUFFIXES:
.DELETE_ON_ERROR:
.DEFAULT_GOAL := all
SHELL := /bin/bash

BUILD := build
ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-8s %s\n' $(1) $(2)
endif

CC := gcc
CXX := g++
CLANG := clang
BPFTOOL := bpftool
PKG_CONFIG := pkg-config

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wformat=2 -Werror -Wno-missing-field-initializers
CPPFLAGS := -Iinclude -Isrc -I$(BUILD)/gen -D_GNU_SOURCE
CFLAGS := -std=gnu11 -O2 -g $(WARN) -MMD -MP
# C++ only for thin shims over C++ libraries (src/l7/re2set.cc).
CXXFLAGS := -std=gnu++17 -O2 -g -Wall -Wextra -Wshadow -Wformat=2 -Werror -MMD -MP
SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS :=

core_pkgs := yaml-0.1 re2
pkg_cflags = $(shell $(PKG_CONFIG) --cflags $(1))
# RE2 is C++: whatever links it links the C++ runtime too.
pkg_libs = $(shell $(PKG_CONFIG) --libs $(1))$(if $(filter re2,$(1)), -lstdc++)

core_srcs :=
dp_srcs :=
bins :=
unit_tests :=
test_goals :=
clean_extra :=

include $(sort $(wildcard src/*/*.mk bpf/*.mk tests/*/*.mk bench/*.mk examples/*/*.mk))

# Object lists: the plain build and the sanitized build for unit tests.
obj = $(patsubst %.cc,$(BUILD)/obj/%.o,$(patsubst %.c,$(BUILD)/obj/%.o,$(1)))
sobj = $(patsubst %.cc,$(BUILD)/san/%.o,$(patsubst %.c,$(BUILD)/san/%.o,$(1)))

core_objs := $(call obj,$(core_srcs))
core_sobjs := $(call sobj,$(core_srcs))
dp_objs := $(call obj,$(dp_srcs))

# Tests that need root run through $(root_test): exit 77 becomes a SKIP.
root_test = VELUM_SKIP_DIR=$(BUILD)/tests/skipped tests/root-test

# `deps` installs the Debian packages the build, tests and demos need
# (scripts/ensure-deps; it only asks dpkg when all are there). Everything
# that compiles waits for it (order-only), so `make test` and `make demo`
# install what they need on a fresh machine, while `make -n` and `make clean`
# install nothing. Sub-makes (MAKELEVEL > 0) rely on their parent's run.
.PHONY: deps
deps:
ifeq ($(MAKELEVEL),0)
	$(call msg,DEPS,scripts/ensure-deps)
	$(Q)./scripts/ensure-deps
endif

$(BUILD)/obj/%.o: %.c | deps
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(EXTRA_CFLAGS) -c $< -o $@

$(BUILD)/san/%.o: %.c | deps
	$(call msg,CC-SAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(SAN) $(EXTRA_CFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.cc | deps
	$(call msg,CXX,$@)
	@mkdir -p $(@D)
	$(Q)$(CXX) $(CPPFLAGS) $(call pkg_cflags,re2) $(CXXFLAGS) $(EXTRA_CFLAGS) -c $< -o $@

$(BUILD)/san/%.o: %.cc | deps
	$(call msg,CXX-SAN,$@)
	@mkdir -p $(@D)
	$(Q)$(CXX) $(CPPFLAGS) $(call pkg_cflags,re2) $(CXXFLAGS) $(SAN) $(EXTRA_CFLAGS) -c $< -o $@

$(BUILD)/libvelum-core.a: $(core_objs)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/libvelum-core-san.a: $(core_sobjs)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

# Programs: <name>_srcs are its own sources; it links the core archive plus
# <name>_libs (pkg-config names) and <name>_ldlibs (raw flags).
define bin_rule
$(BUILD)/bin/$(1): $(call obj,$($(1)_srcs)) $($(1)_deps) $(BUILD)/libvelum-core.a
	$$(call msg,LD,$$@)
	@mkdir -p $$(@D)
	$$(Q)$$(CC) $$(CFLAGS) $(LDFLAGS) -o $$@ $(call obj,$($(1)_srcs)) $($(1)_deps) \
		$(BUILD)/libvelum-core.a $$(call pkg_libs,$(core_pkgs) $($(1)_libs)) $($(1)_ldlibs) -lm
endef
$(foreach b,$(bins),$(eval $(call bin_rule,$(b))))

# Unit tests: tests/unit/test_X.c -> build/tests/test_X, sanitized, cmocka, plus
# test_X_extra (sanitized objects of code outside the core archive).
define unit_rule
$(BUILD)/tests/$(notdir $(basename $(1))): $(call sobj,$(1)) $$($(notdir $(basename $(1)))_extra) \
		$(BUILD)/libvelum-core-san.a
	$$(call msg,LD-SAN,$$@)
	@mkdir -p $$(@D)
	$$(Q)$$(CC) $$(CFLAGS) $$(SAN) -o $$@ $(call sobj,$(1)) $$($(notdir $(basename $(1)))_extra) \
		$(BUILD)/libvelum-core-san.a \
		$$(call pkg_libs,$(core_pkgs) cmocka) -lm $$($(notdir $(basename $(1)))_ldflags)
endef
$(foreach t,$(unit_tests),$(eval $(call unit_rule,$(t))))
unit_bins := $(foreach t,$(unit_tests),$(BUILD)/tests/$(notdir $(basename $(t))))

.PHONY: all test test-unit check check-layers clean format
all: $(foreach b,$(bins),$(BUILD)/bin/$(b))

test-unit: $(unit_bins)
	@set -e; for t in $(unit_bins); do \
		echo "== $$t"; \
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 $$t; \
	done

# The include graph follows the layers of docs/architecture.md.
check-layers:
	@scripts/check-layers

test: all test-unit check-layers $(test_goals)
	@if compgen -G "$(BUILD)/tests/skipped/*" >/dev/null; then \
		echo "all tests that ran passed; skipped (need root):" $$(ls $(BUILD)/tests/skipped); \
	else \
		echo "all tests passed"; \
	fi

# Installation: velumd, velum, the CNI plugin where runtimes look for plugins,
# a sample network configuration list and the bash completion. Nothing goes
# to /etc: the sample is copied there (or to podman's network_config_dir) by
# the administrator (README.md).
PREFIX ?= /usr/local
DESTDIR ?=
CNI_BIN_DIR ?= /opt/cni/bin
.PHONY: install
install: $(BUILD)/bin/velumd $(BUILD)/bin/velum-proxy $(BUILD)/bin/velum $(BUILD)/bin/velum-cni
	install -D -m 0755 $(BUILD)/bin/velumd $(DESTDIR)$(PREFIX)/sbin/velumd
	install -D -m 0755 $(BUILD)/bin/velum-proxy $(DESTDIR)$(PREFIX)/sbin/velum-proxy
	install -D -m 0755 $(BUILD)/bin/velum $(DESTDIR)$(PREFIX)/bin/velum
	install -D -m 0755 $(BUILD)/bin/velum-cni $(DESTDIR)$(CNI_BIN_DIR)/velum-cni
	install -D -m 0644 contrib/cni/velum.conflist \
		$(DESTDIR)$(PREFIX)/share/velum/cni/velum.conflist
	install -D -m 0644 contrib/bash-completion/velum \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/velum

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

check: all test-unit check-layers
	@out=$$(git ls-files '*.c' '*.h' | grep -v '^tests/fuzz/' | xargs clang-format --dry-run 2>&1); \
	if [ -n "$$out" ]; then echo "$$out" | head -40; echo "clang-format: run 'make format'"; exit 1; fi

clean:
	rm -rf $(BUILD) $(clean_extra)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
