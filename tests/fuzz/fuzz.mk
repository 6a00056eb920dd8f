# SPDX-License-Identifier: Apache-2.0
#
# libFuzzer targets, outside `make test`. `make fuzz-doc [FUZZ_SECONDS=n]
# [FUZZ_FLAGS='-max_len=16384 ...']`
# builds the document readers from source with clang's fuzzer and
# sanitizers and runs them on tests/fuzz/corpus-doc/ (the committed seeds)
# plus build/fuzz/corpus-doc/ (what the fuzzer finds; not committed).
# Crashes land in build/fuzz/ as crash-*; fixed ones become unit tests.

FUZZ_SECONDS ?= 60
FUZZ_FLAGS ?=
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-std=gnu11 -Wall -Wextra -Werror

# The core's C++ shims (src/l7/re2set.cc), instrumented the same way; the
# targets that link the core link these too.
fuzz_cxx_objs := $(patsubst %.cc,$(BUILD)/fuzz/obj/%.o,$(filter %.cc,$(core_srcs)))

$(BUILD)/fuzz/obj/%.o: %.cc
	$(call msg,FUZZ-CXX,$@)
	@mkdir -p $(@D)
	$(Q)clang++ $(CPPFLAGS) -g -O1 -fsanitize=fuzzer-no-link,address,undefined \
		-fno-sanitize-recover=all -std=gnu++17 -Wall -Wextra -Werror \
		$(call pkg_cflags,re2) -c $< -o $@

fuzz_doc_srcs := tests/fuzz/fuzz_doc.c src/policy/doc.c src/policy/doc_json.c \
	src/policy/doc_yaml.c src/lib/errbuf.c

$(BUILD)/fuzz/fuzz_doc: $(fuzz_doc_srcs) src/policy/doc.h src/policy/doc_internal.h \
		src/lib/errbuf.h
	$(call msg,FUZZ-CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CLANG) $(CPPFLAGS) $(FUZZ_CFLAGS) $(call pkg_cflags,yaml-0.1) -o $@ \
		$(fuzz_doc_srcs) $(call pkg_libs,yaml-0.1) -lm

.PHONY: fuzz-doc
fuzz-doc: $(BUILD)/fuzz/fuzz_doc
	@mkdir -p $(BUILD)/fuzz/corpus-doc
	cd $(BUILD)/fuzz && ./fuzz_doc -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
		-rss_limit_mb=2048 $(FUZZ_FLAGS) corpus-doc $(CURDIR)/tests/fuzz/corpus-doc
