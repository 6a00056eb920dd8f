# SPDX-License-Identifier: Apache-2.0
#
# velum-cni end to end: driven directly as a runtime drives it
# (cni_plugin.sh), and under podman with the CNI backend (cni_podman.sh),
# both with velumd, velum (and for cni_plugin.sh, which feeds it bad
# input, velum-cni) built with ASan, LSan and UBSan (sanitized.sh; the
# asan-agent build is in agent.mk). Root only (exit 77 otherwise).
# `make test-cni` (part of `make test` and `make test-integration`).

cni_test_deps := $(BUILD)/bin/velumd $(BUILD)/bin/velum $(BUILD)/bin/velum-cni

.PHONY: test-cni test-cni-plugin test-cni-podman
test-cni-plugin: $(cni_test_deps) asan-agent
	@echo "== tests/integration/cni_plugin.sh (velumd, velum and velum-cni with ASan, LSan, UBSan)"
	$(Q)VELUM_CNI=$(ASAN_BUILD)/bin/velum-cni \
		$(root_test) tests/integration/sanitized.sh $(ASAN_BUILD) tests/integration/cni_plugin.sh

test-cni-podman: $(cni_test_deps) asan-agent
	@echo "== tests/integration/cni_podman.sh (velumd and velum with ASan, LSan, UBSan)"
	$(Q)$(root_test) tests/integration/sanitized.sh $(ASAN_BUILD) tests/integration/cni_podman.sh

test-cni: test-cni-plugin test-cni-podman

test-integration: test-cni
test_goals += test-cni

# make install into a scratch DESTDIR: every file where the README says
.PHONY: test-install
test-install: $(cni_test_deps)
	@echo "== make install DESTDIR=..."
	$(Q)d=$$(mktemp -d) && trap 'rm -rf "$$d"' EXIT && \
	$(MAKE) --no-print-directory install DESTDIR="$$d" PREFIX=/usr >/dev/null && \
	for f in usr/sbin/velumd usr/sbin/velum-proxy usr/bin/velum opt/cni/bin/velum-cni; do \
		[ -x "$$d/$$f" ] || { echo "make install: no $$f"; exit 1; }; done && \
	for f in usr/share/velum/cni/velum.conflist usr/share/bash-completion/completions/velum; do \
		[ -f "$$d/$$f" ] || { echo "make install: no $$f"; exit 1; }; done && \
	python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); assert c["plugins"][0]["type"] == "velum-cni"' \
		"$$d/usr/share/velum/cni/velum.conflist" && \
	[ "$$(find "$$d" -type f | wc -l)" = 6 ] || { echo "make install: unexpected files"; find "$$d"; exit 1; }

test_goals += test-install
