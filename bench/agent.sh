#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Runs velum-bench-agent against a private velumd (own state, socket, pins,
# address pool, interface and namespace prefixes, all named after this
# script's PID) and writes bench/results/agent.md; on any exit removes
# everything the run made.
set -u
velumd=${1:?usage: agent.sh VELUMD BENCH [OUT]}
bench=${2:?usage: agent.sh VELUMD BENCH [OUT]}
out=${3:-bench/results/agent.md}
here=$(cd "$(dirname "$0")" && pwd)

[ "$(id -u)" -eq 0 ] || { echo "bench-agent: needs root" >&2; exit 1; }
id=$$
T=$(mktemp -d "${TMPDIR:-/tmp}/velum-bench-agent.$id.XXXXXX")
PIN=/sys/fs/bpf/velum-ba$id
IFP=vg$((id % 1000000))
NSP=vba$id-
POOL=10.$((210 + id % 40)).0.0/16
agent=
cleanup() {
	local ns l
	[ -n "$agent" ] && kill "$agent" 2>/dev/null && wait "$agent" 2>/dev/null
	# the L7 proxy outlives velumd by design: end ours, release its routing
	"$here/../scripts/proxy-end" "$T/state" "$PIN" "$(dirname "$velumd")/velum-dp"
	for ns in /run/netns/"$NSP"*; do
		[ -e "$ns" ] && ip netns del "$(basename "$ns")" 2>/dev/null
	done
	ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 |
		grep -E "^$IFP[0-9]+$" | while read -r l; do
		ip link del "$l" 2>/dev/null
	done
	rm -rf "$PIN" "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$velumd" --state-dir "$T/state" --socket "$T/velum.sock" --pin-dir "$PIN" --pool "$POOL" \
	--ifname-prefix "$IFP" --netns-prefix "$NSP" --metrics off ${VELUMD_FLAGS:---proxy on} >"$T/velumd.log" 2>&1 &
agent=$!
for _ in $(seq 1 100); do
	[ -S "$T/velum.sock" ] && break
	sleep 0.05
done
load_before=$(cat /proc/loadavg)
"$bench" "$T/velum.sock" "$agent" "$T/table.md" || { cat "$T/velumd.log" >&2; exit 1; }
[ -n "${KEEP_LOG:-}" ] && cp "$T/velumd.log" "$KEEP_LOG"
load_after=$(cat /proc/loadavg)
mkdir -p "$(dirname "$out")"
{
	echo "# Agent benchmark"
	echo
	echo "Command: \`make bench-agent\` (bench/agent.sh: a private velumd, then build/bin/velum-bench-agent)  "
	echo "Date: $(date)  "
	echo "Machine: $(nproc) CPUs, kernel $(uname -r); load average before / after: $load_before / $load_after (other work shares the machine)"
	echo
	echo "Latencies are measured by the client over velumd's unix socket: a request's round trip,"
	echo "and the agent answers only after the change is enforced (every affected policy map swapped"
	echo "in the kernel and the store committed). Every endpoint has its own identity (app=epN);"
	echo "5 are clients, the rest servers. Each import alternates the allowed port (80, 8080) so"
	echo "that every import changes the maps, and each is verified afterwards by reading a changed"
	echo "map back from the kernel. Store: SQLite in WAL mode with synchronous=FULL (an fsync per"
	echo "change)."
	echo
	cat "$T/table.md"
	echo
	echo "Targets: import-to-enforced p99 under 10 ms for one endpoint and under 200 ms for 1,000;"
	echo "agent memory under 50 MB at 1,000 endpoints."
} >"$out"
cat "$out"
