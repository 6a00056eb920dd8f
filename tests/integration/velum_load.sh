#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# velum-load on loopback against velum-hello and against scripted servers
# that misbehave one way each: every failure kind lands in its own count
# (connect errors, time-outs, resets, non-2xx, bad responses) and never in
# the latencies; the open loop keeps its rate and charges a stalled server
# for every request due during the stall (no coordinated omission); bad
# arguments are refused by name. Needs no privileges.
set -u
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
load=$top/build/bin/velum-load
hello=$top/build/bin/velum-hello
# Debian's interpreter (a wrapper such as pyenv's is slow); a path, not a
# function, so that $! of a background server is the server's PID
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3
T=$(mktemp -d "${TMPDIR:-/tmp}/velum-load-test.$$.XXXXXX")
# below the ephemeral range (32768-60999), where a connection's local port
# could hold the one a server wants
base=$((20000 + ($$ % 1200) * 10))
pids=()
fails=0 n=0
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "FAIL: $*" >&2
	fails=$((fails + 1))
}

# A single-threaded server on 127.0.0.1:PORT that misbehaves as MODE says.
cat >"$T/srv.py" <<'EOF'
import selectors, socket, struct, sys, time
port, mode = int(sys.argv[1]), sys.argv[2]
ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(128)
sel = selectors.DefaultSelector()
sel.register(s, selectors.EVENT_READ)
first = None
stalled = False
keep = []
while True:
    for key, _ in sel.select():
        if key.fileobj is s:
            c, _ = s.accept()
            keep.append(c)
            sel.register(c, selectors.EVENT_READ)
            continue
        c = key.fileobj
        try:
            data = c.recv(65536)
        except OSError:
            data = b""
        if not data:
            sel.unregister(c)
            c.close()
            continue
        if mode == "silent":
            continue
        if mode == "reset":
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sel.unregister(c)
            c.close()
            continue
        if mode == "garbage":
            c.sendall(b"SPAM/9 what\r\n\r\n")
            continue
        now = time.monotonic()
        first = first or now
        if mode == "stall" and not stalled and now - first >= 0.5:
            # the whole server stops for 1 s, as a paused process would
            stalled = True
            time.sleep(1.0)
        c.sendall(ok * data.count(b"\r\n\r\n"))
EOF

# srv PORT MODE: starts the scripted server and waits until it listens
srv() {
	"$py" "$T/srv.py" "$1" "$2" 2>>"$T/srv.log" &
	pids+=($!)
	for _ in $(seq 1 400); do
		(exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
		kill -0 "${pids[-1]}" 2>/dev/null || break
		sleep 0.05
	done
	fail "server $2 on port $1 did not start: $(tail -n 3 "$T/srv.log" 2>/dev/null)"
}

# run NAME ARGS...: velum-load with --json $T/NAME.json, output in $T/NAME.txt
run() {
	local name=$1
	shift
	n=$((n + 1))
	"$load" "$@" --json "$T/$name.json" >"$T/$name.txt" 2>&1 ||
		fail "velum-load $* exited $?: $(cat "$T/$name.txt")"
}

# check NAME EXPR: a Python expression on the run's JSON (bound to j) must hold
check() {
	"$py" -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
		"$T/$1.json" "$2" 2>/dev/null || fail "$1: '$2' does not hold on: $(head -c 1500 "$T/$1.json" 2>/dev/null)"
}

# the only errors are the ones named (the others are 0)
only() {
	local name=$1
	shift
	check "$name" "all(v == 0 for k, v in j['errors'].items() if k not in '$*'.split())"
}

"$hello" --port "$base" 2>>"$T/srv.log" &
pids+=($!)
srv $((base + 1)) silent
srv $((base + 2)) reset
srv $((base + 3)) garbage
srv $((base + 4)) stall
# a loaded machine may take seconds to start it; say so if it never listens
hello_up=
for _ in $(seq 1 400); do
	(exec 3<>/dev/tcp/127.0.0.1/"$base") 2>/dev/null && hello_up=1 && break
	kill -0 "${pids[0]}" 2>/dev/null || break
	sleep 0.05
done
if [ -z "$hello_up" ]; then
	fail "velum-hello on port $base did not start: $(tail -n 3 "$T/srv.log" 2>/dev/null)"
	exit 1
fi

run ok -c 8 -t 2 -d 1 --latency "http://127.0.0.1:$base/hello"
check ok "j['mode'] == 'closed' and j['requests'] > 100 and j['rps'] > 100"
only ok
check ok "0 < j['latency_us']['p50'] <= j['latency_us']['p99'] <= j['latency_us']['max']"
grep -q "Detailed Percentile spectrum" "$T/ok.txt" || fail "ok: no spectrum in $(cat "$T/ok.txt")"

run notfound -c 4 -t 1 -d 0.5 "http://127.0.0.1:$base/nope"
check notfound "j['requests'] == 0 and j['errors']['non2xx'] > 10 and j['latency_us']['max'] == 0"
only notfound non2xx

# nothing listens on base + 5: every connect is refused, and retried
run refused -c 2 -t 1 -d 0.5 "http://127.0.0.1:$((base + 5))/hello"
check refused "j['requests'] == 0 and j['errors']['connect'] >= 2"
only refused connect

run silent -c 3 -t 1 -d 1 --timeout 0.3 "http://127.0.0.1:$((base + 1))/hello"
check silent "j['requests'] == 0 and j['errors']['timeout'] >= 3 and j['latency_us']['max'] == 0"
only silent timeout

run reset -c 2 -t 1 -d 0.5 "http://127.0.0.1:$((base + 2))/hello"
check reset "j['requests'] == 0 and j['errors']['reset'] >= 2"
only reset reset connect

run garbage -c 2 -t 1 -d 0.5 "http://127.0.0.1:$((base + 3))/hello"
check garbage "j['requests'] == 0 and j['errors']['bad_response'] >= 2"
only garbage bad_response

# open loop: the rate holds, whatever the number of connections
run open -c 20 -t 2 -d 2 -R 300 "http://127.0.0.1:$base/hello"
check open "j['mode'] == 'open' and 540 <= j['requests'] <= 600 and j['thread_rps']['samples'] >= 30"
only open

# a 1 s stall half a second in, at 100 req/s over 4 connections: the
# requests due during the stall wait for it, and their latency says so
run stall -c 4 -t 1 -d 2 -R 100 --timeout 5 "http://127.0.0.1:$((base + 4))/hello"
check stall "j['requests'] >= 190 and j['latency_us']['p90'] >= 500000 and j['latency_us']['p99'] >= 850000"
only stall

for bad in "-c 0" "-t 0" "-R fast" "-d -1" "--timeout 99"; do
	n=$((n + 1))
	# shellcheck disable=SC2086
	"$load" $bad "http://127.0.0.1:$base/hello" >"$T/bad.txt" 2>&1
	rc=$?
	[ "$rc" = 2 ] && grep -q -- "${bad%% *}" "$T/bad.txt" ||
		fail "velum-load $bad: exit $rc, want 2 and a message naming it: $(cat "$T/bad.txt")"
done
for url in "http://localhost/hello" "https://127.0.0.1/" "http://127.0.0.1:0/" "http://127.0.0.1:70000/"; do
	n=$((n + 1))
	"$load" -d 1 "$url" >"$T/bad.txt" 2>&1
	rc=$?
	[ "$rc" = 2 ] && grep -qF -- "$url" "$T/bad.txt" ||
		fail "velum-load $url: exit $rc, want 2 and a message naming it: $(cat "$T/bad.txt")"
done

echo "velum_load: $n runs, $fails failures"
[ "$fails" -eq 0 ]
