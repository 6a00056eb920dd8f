# SPDX-License-Identifier: Apache-2.0
#
# BPF program tests (BPF_PROG_TEST_RUN on crafted packets): each
# tests/bpf/test_*.c links libbpf, cmocka and the shared harness
# (tests/bpf/harness.c: skeleton set-up, packet builder, checksums, event
# capture) and includes the production skeleton. `make test-bpf` runs them;
# they need root (CAP_BPF, CAP_NET_ADMIN).

bpf_tests := $(wildcard tests/bpf/test_*.c)
bpf_test_bins := $(foreach t,$(bpf_tests),$(BUILD)/tests/$(notdir $(basename $(t))))
bpf_harness_obj := $(BUILD)/san/tests/bpf/harness.o

$(bpf_harness_obj): $(bpf_skels)

define bpf_test_rule
$(BUILD)/tests/$(notdir $(basename $(1))): $(BUILD)/san/$(basename $(1)).o $(bpf_harness_obj) $(BUILD)/libvelum-core-san.a
	$$(call msg,LD-SAN,$$@)
	@mkdir -p $$(@D)
	$$(Q)$$(CC) $$(CFLAGS) $$(SAN) -o $$@ $(BUILD)/san/$(basename $(1)).o $(bpf_harness_obj) \
		$(BUILD)/libvelum-core-san.a $$(call pkg_libs,$(core_pkgs) libbpf cmocka) -lm
$(BUILD)/san/$(basename $(1)).o: $(bpf_skels)
endef
$(foreach t,$(bpf_tests),$(eval $(call bpf_test_rule,$(t))))

.PHONY: test-bpf
test-bpf: $(bpf_test_bins)
	@set -e; for t in $(bpf_test_bins); do \
		echo "== $$t"; \
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
			$(root_test) --check $$t; \
	done

test_goals += test-bpf
