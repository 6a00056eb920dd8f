# SPDX-License-Identifier: Apache-2.0
#
# Shared by the agent and CLI integration tests (agent_*.sh, cli_*.sh): a
# private velumd per test run (own state dir, socket, pin folder, address
# pool, interface and namespace prefixes, all derived from the test's PID so
# that concurrent runs never collide), helpers to run velum and check its
# output, and a cleanup that removes everything the run made, even if the
# agent is dead. Source it, then call agent_start.

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
velumd=${VELUMD:-$top/build/bin/velumd}
velum=${VELUM:-$top/build/bin/velum}
traffic=${TRAFFIC:-$top/build/tests/agent_traffic}

# Debian's interpreter: a wrapper (pyenv) can cost 0.4 s a call
if [ -x /usr/bin/python3 ]; then
	python3() { /usr/bin/python3 "$@"; }
fi

run_id=$$
T=$(mktemp -d "${TMPDIR:-/tmp}/velum-at.$run_id.XXXXXX")
PIN=/sys/fs/bpf/velum-at$run_id
IFP=va$((run_id % 1000000))
NSP=vat$run_id-
POOL=172.$((16 + run_id % 16)).$(((run_id / 16) % 256)).0/24
export VELUM_SOCKET=$T/velum.sock
agent_pid=
bg_pids=()
fails=0
n=0

fail() {
	echo "FAIL: $*" >&2
	fails=$((fails + 1))
}

agent_cleanup() {
	local p l ns
	for p in "${bg_pids[@]}"; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	if [ -n "$agent_pid" ]; then
		kill "$agent_pid" 2>/dev/null
		wait "$agent_pid" 2>/dev/null
	fi
	for ns in /run/netns/"$NSP"*; do
		[ -e "$ns" ] && ip netns del "$(basename "$ns")" 2>/dev/null
	done
	ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 |
		grep -E "^$IFP[0-9]+$" | while read -r l; do
		ip link del "$l" 2>/dev/null
	done
	# velumd --proxy on leaves its proxy running by design: end it, release its routing
	"$top/scripts/proxy-end" "$T/state" "$PIN" "${VELUM_DP:-$top/build/bin/velum-dp}"
	rm -rf "$PIN"
	if [ "$fails" -ne 0 ] && [ -s "$T/velumd.log" ]; then
		echo "--- velumd log ($T/velumd.log):" >&2
		tail -n 40 "$T/velumd.log" >&2
	fi
	rm -rf "$T"
}
trap agent_cleanup EXIT
trap 'exit 130' INT TERM

# agent_start [velumd options]: starts velumd and waits until it answers
agent_start() {
	"$velumd" --state-dir "$T/state" --socket "$VELUM_SOCKET" --pin-dir "$PIN" \
		--pool "$POOL" --ifname-prefix "$IFP" --netns-prefix "$NSP" \
		--metrics 127.0.0.1:0 "$@" >>"$T/velumd.log" 2>&1 &
	agent_pid=$!
	for _ in $(seq 1 200); do
		if "$velum" status >/dev/null 2>&1; then
			return 0
		fi
		if ! kill -0 "$agent_pid" 2>/dev/null; then
			wait "$agent_pid"
			echo "velumd exited with $?:" >&2
			cat "$T/velumd.log" >&2
			agent_pid=
			return 1
		fi
		sleep 0.05
	done
	echo "velumd did not become ready; its log:" >&2
	tail -n 20 "$T/velumd.log" >&2
	return 1
}

agent_stop() {
	[ -n "$agent_pid" ] || return 0
	kill "$agent_pid"
	wait "$agent_pid" 2>/dev/null
	agent_pid=
}

agent_kill9() {
	kill -9 "$agent_pid"
	wait "$agent_pid" 2>/dev/null
	agent_pid=
}

# run EXPECTED_RC ARGS...: runs velum, keeps stdout/stderr in $out/$err
run() {
	local want=$1 rc=0
	shift
	n=$((n + 1))
	"$velum" "$@" >"$T/out" 2>"$T/err" || rc=$?
	out=$(cat "$T/out")
	err=$(cat "$T/err")
	if [ "$rc" != "$want" ]; then
		fail "velum $* exited $rc, want $want; stderr: $err; stdout: ${out:0:400}"
	fi
}

expect_out() {
	grep -qF -- "$1" <<<"$out" || fail "stdout lacks '$1' in: ${out:0:2000}"
}

expect_err() {
	grep -qF -- "$1" <<<"$err" || fail "stderr lacks '$1' in: $err"
}

# json EXPR: a Python expression on the parsed JSON stdout (bound to j) must hold
json() {
	python3 -c 'import json,sys; j=json.loads(sys.stdin.read()); sys.exit(0 if eval(sys.argv[1]) else 1)' \
		"$1" <<<"$out" || fail "JSON check '$1' failed on: ${out:0:2000}"
}

# json_get EXPR: prints the expression on the JSON stdout of the last run (bound to j)
json_get() {
	python3 -c 'import json,sys; j=json.loads(sys.stdin.read()); print(eval(sys.argv[1]))' \
		"$1" <<<"$out"
}

# ndjson EXPR: the expression on the list of objects of NDJSON stdout (bound to js)
ndjson() {
	python3 -c 'import json,sys; js=[json.loads(l) for l in sys.stdin if l.strip()]; sys.exit(0 if eval(sys.argv[1]) else 1)' \
		"$1" <<<"$out" || fail "NDJSON check '$1' failed on: ${out:0:3000}"
}

# status_field EXPR: EXPR on `velum status -o json` (bound to j)
status_field() {
	"$velum" status -o json | python3 -c 'import json,sys; j=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}
# ep_field NAME FIELD: FIELD of endpoint NAME (`velum endpoint get -o json`)
ep_field() {
	"$velum" endpoint get "$1" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"
}
# ep_ip NAME: the endpoint's address
ep_ip() {
	ep_field "$1" ipv4
}

# in_ep NAME CMD...: runs a command inside the endpoint (through velum endpoint exec)
in_ep() {
	local ep=$1
	shift
	"$velum" endpoint exec "$ep" -- "$@"
}

# spawn_in OUT NAME CMD...: starts a command inside the endpoint in the
# background (stdout and stderr to OUT); $spawned is its PID (velum execs the
# command, so the PID is the command's), and cleanup kills it
spawn_in() {
	local out=$1 ep=$2
	shift 2
	"$velum" endpoint exec "$ep" -- "$@" >"$out" 2>&1 &
	spawned=$!
	bg_pids+=("$spawned")
}

# probe NAME tcp|udp ADDR PORT: 0 if a round trip to the echo server works
probe() {
	in_ep "$1" "$traffic" probe "$2" "$3" "$4" 300 >/dev/null 2>&1
}

metrics_addr() {
	"$velum" status -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["metrics"])'
}

finish() {
	echo "$(basename "$0" .sh): $n runs, $fails failures"
	[ "$fails" -eq 0 ]
}
