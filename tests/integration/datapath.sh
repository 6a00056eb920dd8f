#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Runs the datapath integration tests (build/tests/dp_integration) and, on
# any exit, removes whatever that run made: its namespaces, links and pin
# folder all carry the test process's PID. Exits 77 (skip) without root.
set -u
bin=${1:?usage: datapath.sh BIN [ARGS...]}

if [ "$(id -u)" -ne 0 ]; then
	echo "datapath integration: not root, skipped"
	exit 77
fi

pid=
cleanup() {
	[ -n "$pid" ] || return 0
	for ns in /run/netns/vt"$pid"-*; do
		[ -e "$ns" ] || continue
		ip netns del "$(basename "$ns")" 2>/dev/null
	done
	ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 |
		grep -E "^vt$((pid % 10000000))[0-9]+$" | while read -r l; do
		ip link del "$l" 2>/dev/null
	done
	rm -rf "/sys/fs/bpf/velum-test-$pid"
}
trap cleanup EXIT INT TERM

"$bin" "${@:2}" &
pid=$!
wait "$pid"
rc=$?
exit $rc
