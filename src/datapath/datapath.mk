# SPDX-License-Identifier: Apache-2.0
#
# src/datapath: the libbpf side (loading, pinning, endpoint plumbing). Built
# into build/libvelum-dp.a; programs that use it list it in <name>_deps and
# libbpf in <name>_libs.
dp_srcs += src/datapath/dp.c src/datapath/endpoint.c src/datapath/nl.c src/datapath/proxy.c

dp_lib := $(BUILD)/libvelum-dp.a
dp_lib_objs := $(patsubst %.c,$(BUILD)/obj/%.o,$(dp_srcs))

$(dp_lib_objs): $(bpf_skels)

$(dp_lib): $(dp_lib_objs)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

# velum-dp: the debugging command (status, events, endpoints, conntrack GC).
bins += velum-dp
velum-dp_srcs = src/datapath/dp_main.c $(mon_srcs)
velum-dp_deps := $(dp_lib)
velum-dp_libs := libbpf
$(BUILD)/obj/src/datapath/dp_main.o: $(bpf_skels)
