#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Runs the datapath benchmark and writes its report to OUT, by default a
# new dated file bench/results/datapath-YYYYMMDD-HHMM.md (datapath.md is
# the hand-kept summary of the runs: a run never overwrites it); on any
# exit removes what the run made (namespaces, links, pins, iptables chain:
# all named after the benchmark's PID).
set -u
bin=${1:?usage: datapath.sh BIN [OUT [dp_bench options, e.g. --reps 12 --secs 3]]}
out=${2:-bench/results/datapath-$(date -u +%Y%m%d-%H%M).md}
shift 2 2>/dev/null || shift $#

[ "$(id -u)" -eq 0 ] || { echo "bench-datapath: needs root" >&2; exit 1; }
pid=
cleanup() {
	[ -n "$pid" ] || return 0
	for ns in /run/netns/vb"$pid"-*; do
		[ -e "$ns" ] && ip netns del "$(basename "$ns")" 2>/dev/null
	done
	ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 |
		grep -E "^vb$((pid % 10000000))[0-9]+$" | while read -r l; do
		ip link del "$l" 2>/dev/null
	done
	if iptables -S "VB$pid" >/dev/null 2>&1; then
		iptables -D FORWARD -j "VB$pid" 2>/dev/null
		iptables -F "VB$pid"; iptables -X "VB$pid"
	fi
	rm -rf "/sys/fs/bpf/velum-bench-$pid" "/tmp/dp_bench_$pid.rules"
}
trap cleanup EXIT INT TERM

mkdir -p "$(dirname "$out")"
"$bin" --out "$out.tmp" "$@" &
pid=$!
wait "$pid" || exit 1
{ cat "$out.tmp"; echo; echo "iptables: \`$(iptables -V)\`"; } > "$out"
rm -f "$out.tmp"
cat "$out"
