#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Kernel-carried bytes on the L7 proxy's connections (bpf/lib/sockmap.h)
# through velumd on real namespaces:
# - on (the default): requests through the proxy are answered and the sends
#   were carried socket to socket (velum status, metrics); the proxy's
#   connections are in velum_sock while open;
# - flow control: a client that reads nothing of a 64 MB answer, and a
#   server that reads nothing of a 64 MB upload, hold a bounded amount of
#   the host's TCP memory (redirected bytes bypass TCP's window; the
#   verdict falls back to TCP when the reader's queue is full), and every
#   byte then arrives, in order (so the switches between the two paths
#   never reorder the stream);
# - pipelined requests on one connection;
# - off (--proxy-sockmap off): the same requests, nothing carried.
set -u
if [ "$(id -u)" -ne 0 ]; then
	echo "agent_sockmap: not root, skipped"
	exit 77
fi
source "$(dirname "$0")/agent_lib.sh"
peer=$(cd "$(dirname "$0")" && pwd)/sockmap_peer.py

agent_start --proxy on || exit 1
for e in server:app=server client:app=client; do
	"$velum" endpoint create "${e%%:*}" -l "${e#*:}" >/dev/null || exit 1
done
srv=$(ep_ip server)
cat >"$T/l7.yaml" <<'YAML'
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: l7
spec:
  endpointSelector:
    matchLabels: {app: server}
  ingress:
  - fromEndpoints:
    - matchLabels: {app: client}
    toPorts:
    - ports: [{port: "80", protocol: TCP}]
      rules:
        http:
        - {method: GET, path: "/(big/[0-9]+|small)"}
        - {method: POST, path: "/up.*"}
YAML
run 0 policy import "$T/l7.yaml"
spawn_in "$T/srv.out" server python3 "$peer" server 80
for _ in $(seq 100); do grep -q "listening on" "$T/srv.out" 2>/dev/null && break; sleep 0.05; done
grep -q "listening on" "$T/srv.out" || fail "the server did not start: $(cat "$T/srv.out")"

# sockstat NAME: "carried_sends tcp_sends" of velum status
sockstat() {
	status_field 'str(j["proxy"]["sockmap"]["carried_sends"]) + " " + str(j["proxy"]["sockmap"]["tcp_sends"])'
}

n=$((n + 1))
[ "$(status_field 'j["proxy"]["sockmap"]["enabled"]')" = True ] || fail "sockmap not on by default"
read -r c0 t0 <<<"$(sockstat)"
n=$((n + 1))
r=$(in_ep client python3 "$peer" small "$srv" 80 200 2>&1)
[ "$r" = ok ] || fail "pipelined requests through the proxy: $r"
read -r c1 t1 <<<"$(sockstat)"
n=$((n + 1))
# 200 requests and answers: most sends carried (the first request may go the TCP way)
[ $((c1 - c0)) -ge 300 ] || fail "only $((c1 - c0)) send(s) carried for 200 requests ($((t1 - t0)) the TCP way)"
n=$((n + 1))
run 0 status
expect_out "Sockmap:     On"
n=$((n + 1))
curl -s "http://$(metrics_addr)/metrics" >"$T/metrics" || fail "metrics scrape"
grep -q '^velum_proxy_sockmap_sends_total{path="socket"} [1-9]' "$T/metrics" ||
	fail "metrics lack carried sends: $(grep sockmap "$T/metrics")"

# An open connection is in velum_sock, its four ends; another endpoint that
# gives itself both addresses and makes the same 4-tuple inside its own
# namespace gets none of it (its sockets never enter the map)
"$velum" endpoint create evil -l app=evil >/dev/null || exit 1
cli=$(ep_ip client)
count_ends() {
	bpftool -j map dump pinned "$PIN/velum_sock" 2>"$T/bpftool.err" |
		python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' 2>>"$T/bpftool.err"
}
n=$((n + 1))
spawn_in "$T/hold.out" client python3 -c '
import os, socket, sys, time
c = socket.create_connection((sys.argv[1], 80), 5)
c.settimeout(5)
print("port", c.getsockname()[1], flush=True)
for i in range(2):
    c.sendall(b"GET /small HTTP/1.1\r\nHost: s\r\n\r\n")
    print("answer", c.recv(100).split(b"\r\n")[0].decode(), flush=True)
    while i == 0 and not os.path.exists(sys.argv[2]):
        time.sleep(0.05)' "$srv" "$T/go"
for _ in $(seq 100); do grep -q "answer" "$T/hold.out" 2>/dev/null && break; sleep 0.05; done
port=$(awk '/^port/ {print $2}' "$T/hold.out")
ends=$(count_ends)
[ "${ends:-0}" -eq 4 ] ||
	fail "velum_sock holds ${ends:-?} socket(s) while one proxied connection is open (want 4): $(cat "$T/bpftool.err")"
n=$((n + 1))
r=$(in_ep evil sh -c "ip addr add $srv/32 dev lo && ip addr add $cli/32 dev lo && python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 80)); s.listen(1)
c = socket.socket(); c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
c.bind((sys.argv[2], int(sys.argv[3]))); c.connect((sys.argv[1], 80))
s.settimeout(3); c.settimeout(3)
a, _ = s.accept(); a.settimeout(3); c.sendall(b\"x\")
print(\"same tuple\" if a.recv(1) == b\"x\" else \"lost\")
' $srv $cli $port" 2>&1)
[ "$r" = "same tuple" ] || fail "the look-alike connection: $r"
ends=$(count_ends)
[ "${ends:-0}" -eq 4 ] || fail "velum_sock holds ${ends:-?} socket(s) after a look-alike connection (want 4)"
touch "$T/go"
for _ in $(seq 100); do [ "$(grep -c answer "$T/hold.out")" -ge 2 ] && break; sleep 0.05; done
grep -q "answer HTTP/1.1 200 OK" <<<"$(sed -n '3p' "$T/hold.out")" ||
	fail "the held connection after the look-alike: $(cat "$T/hold.out")"

# Flow control and order: 64 MB nobody reads for 2 s
size=$((64 << 20))
n=$((n + 1))
r=$(in_ep client python3 "$peer" big "$srv" 80 "$size" 2 2>&1)
grep -qx ok <<<"$r" || fail "64 MB answer to a stalled client: $r"
read -r _ before during <<<"$(grep '^mem' <<<"$r")"
# pages: 8192 = 32 MB, half the body; without the bound it holds it all
[ $((during - before)) -lt 8192 ] ||
	fail "a stalled client made the host hold $(((during - before) / 256)) MB of TCP memory"
n=$((n + 1))
r=$(in_ep client python3 "$peer" up "$srv" 80 "$size" 2 2>&1)
grep -qx "ok $size" <<<"$r" || fail "64 MB upload to a stalled server: $r"
read -r _ before during <<<"$(grep '^mem' <<<"$r")"
[ $((during - before)) -lt 8192 ] ||
	fail "a stalled server made the host hold $(((during - before) / 256)) MB of TCP memory"
read -r c2 t2 <<<"$(sockstat)"
n=$((n + 1))
[ "$t2" -gt "$t1" ] || fail "the stalled readers never made a sender fall back to TCP"

# Off: the same requests, nothing carried
agent_stop
agent_start --proxy on --proxy-sockmap off || exit 1
n=$((n + 1))
[ "$(status_field 'j["proxy"]["sockmap"]["enabled"]')" = False ] || fail "sockmap still on"
read -r c3 _ <<<"$(sockstat)"
n=$((n + 1))
r=$(in_ep client python3 "$peer" small "$srv" 80 50 2>&1)
[ "$r" = ok ] || fail "requests with the sockmap off: $r"
read -r c4 _ <<<"$(sockstat)"
n=$((n + 1))
[ "$c4" = "$c3" ] || fail "$((c4 - c3)) send(s) carried with the sockmap off"
finish
