#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# velum-proxy standalone on loopback against a real upstream
# (proxy_upstream, which records every byte it receives): verdicts and the
# 403 bytes, pipelining, bodies, Expect, hostile input with the upstream's
# bytes checked (proxy_cases.py), then upstream unreachable, connection
# caps, metrics, rules-file errors and a clean SIGTERM exit. Needs no root.
set -euo pipefail

BUILD=${BUILD:-build}
PROXY=$BUILD/bin/velum-proxy
UPSTREAM=$BUILD/tests/proxy_upstream
here=$(dirname "$0")
tmp=$(mktemp -d "/tmp/velum-proxy-test.$$.XXXXXX")
pids=()

cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
	echo "FAIL  $*" >&2
	exit 1
}

# Starts "$@" in the background with stdout in $1-named file; waits for "listening on".
start() {
	local out=$1 i
	shift
	"$@" >"$out" 2>"$out.err" &
	pids+=($!)
	for i in $(seq 100); do
		grep -q "listening on" "$out" 2>/dev/null && return 0
		kill -0 "${pids[-1]}" 2>/dev/null || break
		sleep 0.05
	done
	cat "$out.err" >&2
	fail "$* did not start"
}

port_of() {
	sed -n 's/^listening on .*[^0-9]\([0-9][0-9]*\)$/\1/p; s/^listening on \([0-9][0-9]*\)$/\1/p' "$1" | head -1
}

cat >"$tmp/rules.yaml" <<'YAML'
# the deathstar's API as the Star Wars demo's L7 policy allows it, plus HEAD
- method: GET
  path: "/v1(/.*)?"
- method: HEAD
  path: "/v1(/.*)?"
- method: POST
  path: /v1/request-landing
# headerMatches mismatch actions: the head the server receives is edited
- method: GET
  path: /edit
  headerMatches:
  - name: X-User
    value: anon
    mismatch: REPLACE
  - name: X-Debug
    value: "0"
    mismatch: DELETE
  - name: X-Env
    value: prod
    mismatch: ADD
  - name: X-Token
    value: secret
    mismatch: LOG
YAML

start "$tmp/up.out" "$UPSTREAM" --record "$tmp/record"
up_port=$(port_of "$tmp/up.out")
start "$tmp/px.out" "$PROXY" --listen 127.0.0.1:0 --upstream "127.0.0.1:$up_port" \
	--rules "$tmp/rules.yaml" --header-timeout 1 --access-log "$tmp/access.jsonl" \
	--metrics-socket "$tmp/metrics.sock"
px_pid=${pids[-1]}
px_port=$(port_of "$tmp/px.out")

python3 "$here/proxy_cases.py" "$px_port" "$tmp/record" "$tmp/access.jsonl"

# Metrics over the unix socket.
metrics=$(python3 -c 'import socket,sys
s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); d=b""
while True:
    c=s.recv(65536)
    if not c: break
    d+=c
print(d.decode())' "$tmp/metrics.sock")
for k in received forwarded denied parse_errors; do
	v=$(sed -n "s/^velum_policy_l7_total{rule=\"$k\"} //p" <<<"$metrics")
	[ -n "$v" ] && [ "$v" -gt 0 ] || fail "metrics: velum_policy_l7_total{rule=\"$k\"} is '$v'"
done
grep -q '^velum_proxy_upstream_reply_seconds_count [1-9]' <<<"$metrics" ||
	fail "metrics: no upstream reply latency recorded"
echo "ok    metrics: velum_policy_l7_total by rule, upstream reply histogram"

# SIGTERM: a clean exit, status 0.
kill -TERM "$px_pid"
for i in $(seq 50); do
	kill -0 "$px_pid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$px_pid" 2>/dev/null && fail "velum-proxy still running 5 s after SIGTERM"
rc=0
wait "$px_pid" || rc=$?
[ "$rc" = 0 ] || fail "velum-proxy exited $rc on SIGTERM"
echo "ok    SIGTERM: exit 0"

# Upstream unreachable: 503 and an access event, no hang.
dead_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start "$tmp/px2.out" "$PROXY" --listen 127.0.0.1:0 --upstream "127.0.0.1:$dead_port" \
	--rules "$tmp/rules.yaml" --access-log "$tmp/access2.jsonl" --max-conns-per-source 3
px2_port=$(port_of "$tmp/px2.out")
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$px2_port/v1")
[ "$code" = 503 ] || fail "unreachable upstream: got '$code', want 503"
grep -q '"code":503' "$tmp/access2.jsonl" || fail "unreachable upstream: no 503 access event"
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X PUT "http://127.0.0.1:$px2_port/v1/exhaust-port")
[ "$code" = 403 ] || fail "denied request needs no upstream: got '$code', want 403"
echo "ok    unreachable upstream: 503 with an access event; denials still answered"

# Connection cap per source: the fourth idle connection is closed at once,
# and a slot frees when one closes.
python3 - "$px2_port" <<'PY' || fail "per-source connection cap"
import socket, sys, time
port = int(sys.argv[1])
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
time.sleep(0.2)
extra = socket.create_connection(("127.0.0.1", port))
extra.settimeout(2)
try:
    got = extra.recv(1)
except ConnectionResetError:
    got = b""
assert got == b"", "4th connection was not closed"
held.pop().close()
time.sleep(0.2)
again = socket.create_connection(("127.0.0.1", port))
again.settimeout(2)
again.sendall(b"PUT /x HTTP/1.1\r\nHost: d\r\n\r\n")
assert again.recv(100).startswith(b"HTTP/1.1 403"), "freed slot not usable"
print("ok    per-source connection cap: over-cap connection closed, freed slot reused")
PY

# Rules-file errors: file:line: field, exit 2, nothing started.
printf -- '- method: GET\n  path: "/v1("\n' >"$tmp/bad1.yaml"
printf -- '- method: GET\n  pathh: /v1\n' >"$tmp/bad2.yaml"
printf -- '[{"method": "GET"}, {"headerMatches": [{"value": "x"}]}]\n' >"$tmp/bad3.json"
for f in bad1.yaml:2:.*path bad2.yaml:2:.*pathh bad3.json:1:.*headerMatches.*name; do
	file=${f%%:*}
	rc=0
	"$PROXY" --listen 127.0.0.1:0 --upstream 127.0.0.1:1 --rules "$tmp/$file" \
		>"$tmp/err.out" 2>&1 || rc=$?
	[ "$rc" = 2 ] || fail "rules $file: exit $rc, want 2"
	grep -q "$tmp/${f}" "$tmp/err.out" || fail "rules $file: message '$(cat "$tmp/err.out")'"
done
echo "ok    bad rules files: file:line: field errors, exit 2"
echo "proxy standalone: all passed"
