#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# The agent at scale (issue 14): import, restart (restore) and `policy get`
# of POLICIES CiliumNetworkPolicies in one file, `policy delete --all`,
# then the same for CIDRS toCIDR prefixes (over the ipcache's 65,536 the
# import is refused at once); for each step its time, velumd's peak RSS (VmHWM) and the
# longest time `velum status` (no lock), `velum endpoint list` and `velum policy get keep` (both
# take velumd's readers' lock) waited meanwhile, each run every 200 ms. A private velumd (own
# state, socket, pins, names from this script's PID); everything it made is
# removed on exit. Writes bench/results/agent-scale.md.
#   bench/agent_scale.sh VELUMD VELUM [OUT]   (POLICIES=100000 CIDRS=100000 STEP_TIMEOUT=900)
set -u
velumd=${1:?usage: agent_scale.sh VELUMD VELUM [OUT]}
velum=${2:?usage: agent_scale.sh VELUMD VELUM [OUT]}
out=${3:-bench/results/agent-scale.md}
policies=${POLICIES:-100000}
cidrs=${CIDRS:-100000}
export VELUM_TIMEOUT=${STEP_TIMEOUT:-900}

[ "$(id -u)" -eq 0 ] || { echo "bench-agent-scale: needs root" >&2; exit 1; }
id=$$
T=$(mktemp -d "${TMPDIR:-/tmp}/velum-bench-scale.$id.XXXXXX")
PIN=/sys/fs/bpf/velum-bs$id
export VELUM_SOCKET=$T/velum.sock
agent=
cleanup() {
	[ "$BASHPID" = "$$" ] || return 0 # not in a subshell that inherited the trap
	[ -n "$agent" ] && kill "$agent" 2>/dev/null && wait "$agent" 2>/dev/null
	rm -rf "$PIN" "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start() {
	"$velumd" --state-dir "$T/${state:-state}" --socket "$VELUM_SOCKET" --pin-dir "$PIN" \
		--pool "10.$((210 + id % 40)).0.0/16" --ifname-prefix "vs$((id % 100000))" \
		--netns-prefix "vbs$id-" --metrics off >>"$T/velumd.log" 2>&1 &
	agent=$!
}
# SIGTERM; SIGKILL after 60 s (a single file being parsed, or a regeneration, is not interrupted)
stop() {
	local i
	kill "$agent" 2>/dev/null
	for i in $(seq 1 600); do
		kill -0 "$agent" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$agent" 2>/dev/null
	wait "$agent" 2>/dev/null
	agent=
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
peak_mb() { awk '/^VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$agent/status" 2>/dev/null; }

# watch NAME ARGS...: velum ARGS every 200 ms until $T/stop exists; its longest wait (ms) into
# $T/waited.NAME
watch() {
	local name=$1 max=0 t0 d
	shift
	while [ ! -e "$T/stop" ]; do
		t0=$(now_ms)
		"$velum" "$@" >/dev/null 2>&1
		d=$(($(now_ms) - t0))
		[ "$d" -gt "$max" ] && max=$d
		sleep 0.2
	done
	echo "$max" >"$T/waited.$name"
}

# step NAME CMD...: times CMD with the three watchers running; one table row
step() {
	local name=$1 t0 rc ms
	shift
	rm -f "$T/stop"
	watch status status &
	local w1=$!
	watch list endpoint list &
	local w2=$!
	watch get policy get keep &
	local w3=$!
	t0=$(now_ms)
	"$@" >"$T/step.out" 2>&1
	rc=$?
	ms=$(($(now_ms) - t0))
	touch "$T/stop"
	wait "$w1" "$w2" "$w3"
	printf '| %s | %s | %.1f s | %s MB | %s ms | %s ms | %s ms | %s |\n' "$name" \
		"$([ $rc -eq 0 ] && echo ok || echo "failed ($rc)")" "$(echo "$ms / 1000" | bc -l)" \
		"$(peak_mb)" "$(cat "$T/waited.status")" "$(cat "$T/waited.list")" \
		"$(cat "$T/waited.get")" "$(head -c 160 "$T/step.out" | tr '\n|' '  ')" >>"$T/table.md"
}

restart() {
	stop
	start
	for _ in $(seq 1 $((VELUM_TIMEOUT * 10))); do
		"$velum" status >/dev/null 2>&1 && return 0
		kill -0 "$agent" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
get_bytes() { "$velum" policy get -o json | wc -c; }

# in files of 40,000 (the CLI takes files of up to 16 MiB, the parser 1,000,000 nodes)
mkdir "$T/cnp"
python3 - "$policies" "$T/cnp" <<'PY'
import sys
n, d = int(sys.argv[1]), sys.argv[2]
out = None
for i in range(n):
    if i % 40000 == 0:
        out = open(f"{d}/p{i // 40000}.yaml", "w")
    out.write(f'--- {{apiVersion: cilium.io/v2, kind: CiliumNetworkPolicy, metadata: {{name: p{i}}}, '
          f'spec: {{endpointSelector: {{matchLabels: {{app: a{i}}}}}, ingress: [{{fromEndpoints: '
          f'[{{matchLabels: {{app: b{i}}}}}], toPorts: [{{ports: [{{port: "80", protocol: TCP}}]}}]}}]}}}}\n')
PY
# CIDRS /32 prefixes, 1,000 per policy (10.0.0.0/8 onwards)
python3 - "$cidrs" >"$T/cidr.yaml" <<'PY'
import sys
n = int(sys.argv[1])
for p in range((n + 999) // 1000):
    lo, hi = p * 1000, min(n, p * 1000 + 1000)
    cs = ", ".join(f"{10 + (i >> 24)}.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}/32" for i in range(lo, hi))
    print(f'--- {{apiVersion: cilium.io/v2, kind: CiliumNetworkPolicy, metadata: {{name: c{p}}}, '
          f'spec: {{endpointSelector: {{matchLabels: {{app: c{p}}}}}, egress: [{{toCIDR: [{cs}]}}]}}}}')
PY

echo "| step | result | time | velumd peak RSS | longest wait: \`velum status\` | \`endpoint list\` | \`policy get keep\` | output |" >"$T/table.md"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |" >>"$T/table.md"
# keep: one small policy of its own file, what `policy get keep` reads (with its source)
printf '%s\n' '{apiVersion: cilium.io/v2, kind: CiliumNetworkPolicy, metadata: {name: keep},' \
	'  spec: {endpointSelector: {matchLabels: {app: keep}}, ingress: [{}]}}' >"$T/keep.yaml"
start
restart || { cat "$T/velumd.log" >&2; exit 1; }
"$velum" policy import "$T/keep.yaml" >/dev/null || { cat "$T/velumd.log" >&2; exit 1; }
load_before=$(cat /proc/loadavg)
step "import $policies CNPs ($(($(du -sk "$T/cnp" | cut -f1))) KiB, $(ls "$T/cnp" | wc -l) file(s))" "$velum" policy import "$T/cnp"
step "policy get ($policies)" get_bytes
step "restart: restore $policies" restart
step "policy get after restore" get_bytes
step "policy delete --all ($policies)" "$velum" policy delete --all
step "import $cidrs toCIDR prefixes ($(((cidrs + 999) / 1000)) policies)" "$velum" policy import "$T/cidr.yaml"
step "restart: restore the CIDR policies" restart
step "policy delete --all (the CIDR policies)" "$velum" policy delete --all
load_after=$(cat /proc/loadavg)
mkdir -p "$(dirname "$out")"
{
	echo "# Agent at scale"
	echo
	echo "Command: \`POLICIES=$policies CIDRS=$cidrs bench/agent_scale.sh build/bin/velumd build/bin/velum\` (part of \`make bench-agent\`)  "
	echo "Date: $(date)  "
	echo "Machine: $(nproc) CPUs, kernel $(uname -r); load average before / after: $load_before / $load_after (other work shares the machine)"
	echo
	echo "Each step's time is the client's; peak RSS is velumd's VmHWM after the step (it only grows);"
	echo "the wait columns are the longest of the \`velum status\` (no lock), \`velum endpoint list\` and"
	echo "\`velum policy get keep\` (both take velumd's readers' lock) calls made every 200 ms during the step"
	echo "(\`policy delete --all\` deletes keep too: later gets fail, after taking the lock)."
	echo "policy get: the output column is the answer's size in bytes."
	echo
	cat "$T/table.md"
} >"$out"
cat "$out"
