#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# velumd against a hostile or clumsy operator: adopted namespaces that are
# not what they claim (velumd's own, a FIFO, a plain file, one whose
# interface name is taken), leftovers of a crash under velumd's names, idle
# and streaming clients, state-file permissions. Root only.
set -u
[ "$(id -u)" -eq 0 ] || exit 77
. "$(dirname "$0")/agent_lib.sh"

scratch=h$run_id
cleanup_harden() {
	ip netns del "$scratch" 2>/dev/null
	agent_cleanup
}
trap cleanup_harden EXIT

mkdir -m 0755 "$T/state"
agent_start || exit 1
v6=/proc/sys/net/ipv6/conf
host_all=$(cat $v6/all/disable_ipv6)
host_def=$(cat $v6/default/disable_ipv6)

# ---- adopted namespaces ----------------------------------------------------------------------------
# velumd's own namespace: refused, and the host's IPv6 settings untouched
run 2 endpoint create selfns --netns /proc/self/ns/net
expect_err "own network namespace"
run 2 endpoint create selfns --netns /proc/$agent_pid/ns/net
expect_err "own network namespace"
if [ "$(cat $v6/all/disable_ipv6)" != "$host_all" ] || [ "$(cat $v6/default/disable_ipv6)" != "$host_def" ]; then
	fail "adopting velumd's namespace changed the host's disable_ipv6"
	echo "$host_def" >$v6/default/disable_ipv6
	echo "$host_all" >$v6/all/disable_ipv6
fi

# not a namespace at all
run 2 endpoint create notns --netns /etc/passwd
expect_err "/etc/passwd: not a network namespace"
run 2 endpoint create notns --netns /etc
expect_err "/etc: not a network namespace"
run 2 endpoint create notns --netns "$T/nonexistent"
expect_err "No such file or directory"

# a FIFO never blocks the agent
mkfifo "$T/fifo"
n=$((n + 1))
if ! timeout 10 "$velum" endpoint create fifo --netns "$T/fifo" >"$T/out" 2>"$T/err"; then
	grep -qF "not a network namespace" "$T/err" || fail "FIFO namespace: $(cat "$T/err")"
else
	fail "a FIFO was adopted as a namespace"
fi
n=$((n + 1))
if ! timeout 10 "$velum" status >/dev/null 2>&1; then
	fail "velumd does not answer after a FIFO was named as a namespace"
	timeout 2 sh -c ': >"$1"' - "$T/fifo"
fi

# the interface name is taken inside: refused naming it, the target untouched
ip netns add "$scratch"
ip -n "$scratch" link add eth0 type veth peer name p
in_all=$(ip netns exec "$scratch" cat $v6/all/disable_ipv6)
in_def=$(ip netns exec "$scratch" cat $v6/default/disable_ipv6)
run 1 endpoint create taken --netns "/run/netns/$scratch"
expect_err "has an interface eth0 already"
[ "$(ip netns exec "$scratch" cat $v6/all/disable_ipv6)" = "$in_all" ] &&
	[ "$(ip netns exec "$scratch" cat $v6/default/disable_ipv6)" = "$in_def" ] ||
	fail "a failed adoption changed disable_ipv6 inside the target"
ip -n "$scratch" -o link show | grep -q ": p@" || fail "the target's own veth is gone"
run 1 endpoint get taken
# once the name is free, the same namespace is adopted
ip -n "$scratch" link del eth0
run 0 endpoint create taken --netns "/run/netns/$scratch" -o json
json 'j["state"] == "ready"'
[ "$(ip netns exec "$scratch" cat $v6/all/disable_ipv6)" = 1 ] ||
	fail "an adopted namespace keeps IPv6 on"
run 0 endpoint delete taken
ip netns del "$scratch"

# ---- leftovers under velumd's names ----------------------------------------------------------------
# the empty file a crash between creating and mounting leaves at the next id
run 0 endpoint create first -l app=first -o json
id1=$(json_get 'j["id"]')
for i in 1 2 3 4 5 6; do
	[ -e "/run/netns/$NSP$((id1 + i))" ] || : >"/run/netns/$NSP$((id1 + i))"
done
run 0 endpoint create second -l app=second -o json
json 'j["state"] == "ready"'
second_ns=$(json_get 'j["netns"]')
second_if=$(json_get 'j["host_ifname"]')
in_ep second ip -4 -o addr show dev eth0 | grep -qF "$(ep_ip second)/32" ||
	fail "the endpoint made over a stale namespace file is not configured"

# the datapath forgot the endpoints (pin folder removed): status says so at
# once; restore makes them anew over their leftover veth and namespace, and
# delete removes both
rm -rf "$PIN"
run 0 status -o json
json 'j["datapath"]["state"] == "error" and "restarting velumd" in j["datapath"]["error"]'
run 0 status
expect_out "Datapath:    Error"
expect_out "the pinned datapath was removed"
agent_stop
agent_start || exit 1
run 0 status -o json
json 'j["datapath"]["state"] == "ok"'
run 0 endpoint get second -o json
json 'j["state"] == "ready"'
run 0 endpoint delete second
[ -e "$second_ns" ] && fail "endpoint delete left $second_ns behind"
ip link show "$second_if" >/dev/null 2>&1 && fail "endpoint delete left $second_if behind"
run 0 endpoint delete first
for i in 1 2 3 4 5 6; do
	rm -f "/run/netns/$NSP$((id1 + i))"
done

# a host veth deleted while velumd was down: restore reports the endpoint
# in error with the reason instead of ready, and delete still removes it
run 0 endpoint create vethgone -l app=vethgone -o json
gone_if=$(json_get 'j["host_ifname"]')
agent_stop
ip link del "$gone_if"
agent_start || exit 1
run 0 endpoint get vethgone -o json
json 'j["state"] == "error" and "host interface '"$gone_if"'" in j["error"] and "is gone" in j["error"]'
run 0 endpoint delete vethgone
run 1 endpoint get vethgone

# a store with a bad row: velumd refuses to start naming the row and the
# field, and the kernel keeps the working endpoint's datapath
run 0 endpoint create keeper -l app=keeper -o json
keeper_id=$(json_get 'j["id"]')
keeper_if=$(json_get 'j["host_ifname"]')
agent_stop
cp "$T/state/state.db" "$T/good.db"
db() { sqlite3 "$T/state/state.db" "$1"; }
bad_store() { # bad_store SQL EXPECTED-ERROR
	cp "$T/good.db" "$T/state/state.db"
	rm -f "$T/state/state.db-wal" "$T/state/state.db-shm"
	db "$1"
	n=$((n + 1))
	if timeout 20 "$velumd" --state-dir "$T/state" --socket "$VELUM_SOCKET" --pin-dir "$PIN" \
		--pool "$POOL" --ifname-prefix "$IFP" --netns-prefix "$NSP" --metrics off \
		>"$T/bad.out" 2>&1; then
		fail "velumd started on a store with $1"
	fi
	grep -qF -- "$2" "$T/bad.out" || fail "store with $1: $(tail -n 3 "$T/bad.out")"
	n=$((n + 1))
	"$top/build/bin/velum-dp" --pin-dir "$PIN" --pool "$POOL" --ifname-prefix "$IFP" \
		--netns-prefix "$NSP" status 2>/dev/null | grep -q "^$keeper_id " &&
		ip link show "$keeper_if" >/dev/null 2>&1 ||
		fail "a refused start ($1) removed endpoint $keeper_id ($keeper_if) from the kernel"
}
bad_store "UPDATE endpoints SET id = 70000 WHERE name = 'default/keeper'" \
	"endpoint default/keeper: id 70000 not in 1..65535"
bad_store "UPDATE meta SET value = 'abc' WHERE key = 'revision'" \
	"meta revision 'abc': not a number"
bad_store "UPDATE endpoints SET name = 'default/../x' WHERE name = 'default/keeper'" \
	"endpoint default/../x: endpoint name '../x'"
bad_store "UPDATE endpoints SET ipv4 = '192.0.2.7' WHERE name = 'default/keeper'" \
	"endpoint default/keeper: address 192.0.2.7: outside the pool"
cp "$T/good.db" "$T/state/state.db"
rm -f "$T/state/state.db-wal" "$T/state/state.db-shm"
agent_start || exit 1
run 0 endpoint get keeper -o json
json 'j["state"] == "ready"'
run 0 endpoint delete keeper

# ---- files that are not files ----------------------------------------------------------------------
sw=$top/examples/starwars
n=$((n + 2))
timeout 10 "$velum" policy import "$T/fifo" >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" = 2 ] && grep -qF "$T/fifo: not a regular file" "$T/err" ||
	fail "policy import FIFO: exit $rc, $(cat "$T/err")"
timeout 10 "$velum" policy trace --offline --endpoints "$sw/endpoints.json" --policy "$T/fifo" \
	--from tiefighter --to deathstar --dport 80 >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -qF "$T/fifo: not a regular file" "$T/err" ||
	fail "policy trace --policy FIFO: exit $rc, $(cat "$T/err")"

# ---- clients that wait, and agents that do not answer ----------------------------------------------
# 140 partial requests and 260 followers: commands still answer, the 257th
# follower is refused by name, and idle partial requests are closed
python3 - "$VELUM_SOCKET" >"$T/idle.out" 2>&1 <<'PY' &
import socket, sys, time
path = sys.argv[1]
def conn(data):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall(data)
    return s
partial = [conn(b"GET /v1/sta") for _ in range(140)]
followers = [conn(b"GET /v1/flows?follow=1 HTTP/1.1\r\nHost: x\r\n\r\n") for _ in range(260)]
refused = 0
for s in followers:
    s.settimeout(1)
    a = b""
    try:
        while b"\r\n\r\n" not in a or (b" 503 " in a and b"too many followers" not in a):
            d = s.recv(4096)
            if not d:
                break
            a += d
    except TimeoutError:
        pass
    if b" 503 " in a.split(b"\r\n")[0] and b"too many followers" in a:
        refused += 1
print("refused", refused, flush=True)
t0 = time.time()
closed = 0
for s in partial:
    s.settimeout(max(0.1, 25 - (time.time() - t0)))
    try:
        if s.recv(1) == b"":
            closed += 1
    except (TimeoutError, ConnectionError):
        pass
print("closed", closed, "in %.0f s" % (time.time() - t0), flush=True)
PY
idle_py=$!
bg_pids+=("$idle_py")
for _ in $(seq 1 100); do
	grep -q refused "$T/idle.out" && break
	sleep 0.2
done
n=$((n + 1))
timeout 10 "$velum" status >/dev/null 2>&1 || fail "velum status waits behind idle and streaming clients"
run 0 endpoint list
wait "$idle_py"
grep -qx "refused 4" "$T/idle.out" || fail "followers beyond 256: $(cat "$T/idle.out")"
grep -q "^closed 140 " "$T/idle.out" || fail "idle partial requests: $(cat "$T/idle.out")"
n=$((n + 2))

# an agent that accepts and never answers: the CLI gives up, saying so
python3 - "$T/mute.sock" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(8)
c, _ = s.accept()
time.sleep(30)
PY
bg_pids+=("$!")
for _ in $(seq 1 50); do
	[ -S "$T/mute.sock" ] && break
	sleep 0.1
done
start=$(date +%s)
VELUM_SOCKET=$T/mute.sock run 1 --timeout 1 status
[ $(($(date +%s) - start)) -le 5 ] || fail "velum --timeout 1 waited $(($(date +%s) - start)) s"
expect_err "did not answer within 1000 ms"
expect_err "--timeout SECONDS"
run 2 --timeout soon status
expect_err "--timeout soon: not a number of seconds"
VELUM_TIMEOUT=-1 run 2 status
expect_err "VELUM_TIMEOUT -1"

# a NUL byte escaped in the path is refused, not cut off
run 0 endpoint create nulvictim -l app=nul
n=$((n + 1))
st=$(python3 - "$VELUM_SOCKET" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b"DELETE /v1/endpoints/default%2Fnulvictim%00junk HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
a = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    a += d
print(a.split(b"\r\n")[0].decode(), a.split(b"\r\n\r\n", 1)[-1].decode())
PY
)
grep -qF " 400 " <<<"$st" && grep -qF "NUL" <<<"$st" || fail "DELETE nulvictim%00junk: $st"
run 0 endpoint get nulvictim
run 0 endpoint delete nulvictim

# ---- input refused, errors that name the fault ----------------------------------------------------
# api METHOD PATH [BODY]: the status and body of one request to velumd
api() {
	curl -s --unix-socket "$VELUM_SOCKET" -X "$1" -w ' %{http_code}' ${3+--data-binary "$3"} \
		"http://x$2"
}
run 2 endpoint create duplabel -l app=a -l k8s:app=b
expect_err "key 'app' is given twice"
run 2 endpoint create badport --port 'HTTP!:80'
expect_err "port name 'HTTP!'"
run 2 endpoint create twoports --port http:80 --port http:8080
expect_err "port name 'http' is given twice"
run 1 endpoint get twoports
# `endpoint label` merges its arguments into the endpoint's labels: a key twice is refused there
run 0 endpoint create relabel -l app=x
run 2 endpoint label relabel app=a app=b
expect_err "label 'app=b': key 'app' is given twice"
run 2 endpoint label relabel app=a k8s:app-
expect_err "key 'app' is given twice"
run 0 endpoint get relabel -o json
json '"k8s:app=x" in j["labels"]'
run 0 endpoint delete relabel
n=$((n + 1))
a=$(api POST /v1/policies '[1]')
grep -qF 'expected a JSON object, got an array' <<<"$a" && grep -q ' 400$' <<<"$a" ||
	fail "JSON array body: $a"
n=$((n + 1))
a=$(api GET /v1/identities/-1)
grep -qF "'-1' is not an identity number" <<<"$a" && grep -q ' 400$' <<<"$a" ||
	fail "identities/-1: $a"
printf 'apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n  name: x\0y\n' >"$T/nul.yaml"
run 2 policy import "$T/nul.yaml"
expect_err "$T/nul.yaml:4:10: a NUL byte"
n=$((n + 1))
a=$(api POST /v1/policies '{"files":[{"name":"a.yaml","content":"a\u0000"}]}')
grep -qF 'a string holds a NUL byte' <<<"$a" && grep -q ' 400$' <<<"$a" || fail "NUL in a body: $a"
run 0 endpoint create tracer -l app=tracer
run 2 policy trace --from tracer --to tracer --dport 80 --http-method GET --http-path / \
	--http-header $'X-Id: 1\r\nInjected: yes'
expect_err "header 'X-Id': CR or LF in the value"
run 2 policy trace --from tracer --to tracer --dport 80 --http-method '' --http-path /
expect_err "the HTTP method is empty"
n=$((n + 1))
a=$(api POST /v1/trace '{"from":"tracer","to":"tracer","dport":80,"http":{"method":"GET","path":"","headers":["X: a\nb"]}}')
grep -qF 'http: the HTTP path is empty' <<<"$a" && grep -q ' 400$' <<<"$a" ||
	fail "trace with an empty path: $a"
n=$((n + 1))
a=$(api POST /v1/trace '{"from":"tracer","to":"tracer","dport":80,"http":{"method":"GET","path":"/","headers":["X: a\nb"]}}')
grep -qF "http: header 'X': CR or LF in the value" <<<"$a" && grep -q ' 400$' <<<"$a" ||
	fail "trace with LF in a header: $a"
run 0 endpoint delete tracer

# `[]` as raw rules replaces the file's earlier rules with none: the policy goes
echo '[{"endpointSelector": {"matchLabels": {"app": "a"}}, "ingress": [{}]}]' >"$T/rr.json"
run 0 policy import "$T/rr.json"
echo '[]' >"$T/rr.json"
run 0 policy import "$T/rr.json"
expect_err "rr.json: no rules: CiliumRules rr (its earlier rules) removed"
run 0 policy get -o json
json '"rr" not in [p["name"] for p in j["policies"]]'
run 0 policy import "$T/rr.json"
expect_err "no CiliumRules rr to remove"

# ---- state for root only ---------------------------------------------------------------------------
mode() { stat -c %a "$1"; }
run 0 policy import "$top/examples/starwars/policies/l3-ingress.yaml"
for f in "$T/state" "$T/state/state.db" "$T/state/state.db-wal" "$T/state/state.db-shm"; do
	n=$((n + 1))
	want=600
	[ -d "$f" ] && want=700
	[ ! -e "$f" ] || [ "$(mode "$f")" = $want ] || fail "$f is $(mode "$f"), want $want"
done
[ -e "$T/state/state.db-wal" ] || fail "no state.db-wal to check"
agent_stop
chmod 755 "$T/state"
chmod 644 "$T/state"/state.db*
agent_start || exit 1
n=$((n + 2))
[ "$(mode "$T/state")" = 700 ] || fail "a 0755 state folder stays $(mode "$T/state")"
[ "$(mode "$T/state/state.db")" = 600 ] || fail "a 0644 state.db stays $(mode "$T/state/state.db")"
run 0 policy get -o json
json '"rr" not in [p["name"] for p in j["policies"]]' # the removal was stored
run 0 policy delete --all

finish
