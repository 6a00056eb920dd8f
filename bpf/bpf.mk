# SPDX-License-Identifier: Apache-2.0
#
# eBPF objects and their skeletons: bpf/<x>.bpf.c -> build/bpf/<x>.bpf.o
# (clang) -> build/bpf/<x>.o (bpftool gen object, BTF linked) ->
# build/gen/<x>.skel.h (bpftool gen skeleton, struct velum_<x>). Only
# src/datapath/ and tests/bpf/ include the skeletons.

BPF_CFLAGS = --target=bpf -O2 -g -mcpu=v3 -Wall -Wextra -Werror -Wno-unused-parameter \
	-Iinclude -Ibpf -I/usr/include/$(shell $(CC) -dumpmachine) -MMD -MP

bpf_progs := bpf/endpoint.bpf.c
bpf_skels := $(patsubst bpf/%.bpf.c,$(BUILD)/gen/%.skel.h,$(bpf_progs))

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c | deps
	$(call msg,CLANG,$@)
	@mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/bpf/%.o: $(BUILD)/bpf/%.bpf.o
	$(call msg,GENOBJ,$@)
	$(Q)$(BPFTOOL) gen object $@ $<

$(BUILD)/gen/%.skel.h: $(BUILD)/bpf/%.o
	$(call msg,GENSKEL,$@)
	@mkdir -p $(@D)
	$(Q)$(BPFTOOL) gen skeleton $< name velum_$(subst -,_,$*) > $@.tmp && mv $@.tmp $@

.PHONY: bpf
bpf: $(bpf_skels)
all: $(bpf_skels)

# Keep the linked objects: the benchmark and bpftool users load them directly.
.SECONDARY: $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.o,$(bpf_progs)) \
	$(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(bpf_progs))
