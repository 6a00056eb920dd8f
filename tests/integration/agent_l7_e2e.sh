#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# L7 policy end to end through velumd (--proxy on) on real namespaces: the
# kernel redirects, velumd hands velum-proxy the policy's HTTP rules, the
# proxy judges each request. Checked with the bytes a real server received:
# - ingress rules (the paper's allow-list and the header actions of
#   proxy_standalone.sh's rules file): every case of proxy_cases.py
#   (pipelining, bodies, 100-continue, hostile input, upstream failures)
#   run from a client endpoint against the server endpoint's address; the
#   server sees the client's own address;
# - egress rules of a client endpoint;
# - both sides' rules on one request (it must pass both);
# - the host (not an endpoint) gets the server's ingress rules;
# - the proxy killed mid-traffic: no denied request ever reaches the
#   server, and service comes back by itself;
# - a policy update under load: every request is judged wholly by the old
#   or wholly by the new rules (requests that only a mix of the two would
#   allow are always denied), and once the import returns the new rules
#   are enforced.
set -u
if [ "$(id -u)" -ne 0 ]; then
	echo "agent_l7_e2e: not root, skipped"
	exit 77
fi
source "$(dirname "$0")/agent_lib.sh"
upstream=$top/build/tests/proxy_upstream
here=$(cd "$(dirname "$0")" && pwd)

agent_start --proxy on || exit 1
for e in server:app=server client:app=client eclient:app=eclient both:app=both; do
	"$velum" endpoint create "${e%%:*}" -l "${e#*:}" >/dev/null || exit 1
done
srv=$(ep_ip server)
cli=$(ep_ip client)

cat >"$T/server.yaml" <<'YAML'
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: server-ingress
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
        - {method: GET, path: "/v1(/.*)?"}
        - {method: HEAD, path: "/v1(/.*)?"}
        - {method: POST, path: /v1/request-landing}
        - method: GET
          path: /edit
          headerMatches:
          - {name: X-User, value: anon, mismatch: REPLACE}
          - {name: X-Debug, value: "0", mismatch: DELETE}
          - {name: X-Env, value: prod, mismatch: ADD}
          - {name: X-Token, value: secret, mismatch: LOG}
  - fromEndpoints:
    - matchLabels: {app: eclient}
    toPorts:
    - ports: [{port: "80", protocol: TCP}]
  - fromEndpoints:
    - matchLabels: {app: both}
    toPorts:
    - ports: [{port: "80", protocol: TCP}]
      rules:
        http:
        - {method: GET, path: "/(public|in)(/.*)?"}
  - fromEntities: [host]
    toPorts:
    - ports: [{port: "80", protocol: TCP}]
      rules:
        http:
        - {method: GET, path: "/v1(/.*)?"}
YAML
cat >"$T/egress.yaml" <<'YAML'
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: eclient-egress
spec:
  endpointSelector:
    matchLabels: {app: eclient}
  egress:
  - toEndpoints:
    - matchLabels: {app: server}
    toPorts:
    - ports: [{port: "80", protocol: TCP}]
      rules:
        http:
        - {method: GET, path: "/e(/.*)?"}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: both-egress
spec:
  endpointSelector:
    matchLabels: {app: both}
  egress:
  - toEndpoints:
    - matchLabels: {app: server}
    toPorts:
    - ports: [{port: "80", protocol: TCP}]
      rules:
        http:
        - {method: GET, path: "/(public|out)(/.*)?"}
YAML
run 0 policy import "$T/server.yaml" "$T/egress.yaml"

spawn_in "$T/up.out" server "$upstream" --any --port 80 --record "$T/record"
for _ in $(seq 100); do grep -q "listening on" "$T/up.out" 2>/dev/null && break; sleep 0.05; done
grep -q "listening on" "$T/up.out" || fail "the server did not start: $(cat "$T/up.out")"

# code NAME METHOD PATH: the HTTP status NAME's request gets (000: no answer)
code() {
	in_ep "$1" curl -s -m 5 -o /dev/null -w '%{http_code}' -X "$2" "http://$srv$3"
}
# record_size: bytes the server received so far
record_size() {
	stat -c %s "$T/record" 2>/dev/null || echo 0
}

# --- ingress: every proxy case, from the client endpoint ---
n=$((n + 1))
if ! in_ep client env PX_HOST="$srv" PX_NO_TIMEOUT_CASES=1 \
	python3 "$here/proxy_cases.py" 80 "$T/record" - >"$T/cases.out" 2>&1; then
	fail "proxy cases through velumd's proxy: $(grep -v '^ok' "$T/cases.out" | head -20)"
fi
echo "proxy cases through velumd: $(grep -c '^ok' "$T/cases.out") passed, $(grep -c '^SKIP' "$T/cases.out") group(s) skipped ($(grep '^SKIP' "$T/cases.out" | cut -c7- | paste -sd';'))"
grep -q "^peer $cli\b" "$T/up.out" || fail "the server did not see the client's address $cli: $(head -5 "$T/up.out")"

# --- a client port reused while the proxy's side of its last connection is
# in TIME_WAIT: the client asks to close and reads until the proxy closes,
# so the proxy closes first and its side stays in TIME_WAIT; the next
# connection from that port is answered at once (it once lost its
# handshake until the TIME_WAIT ended, a minute). Three ports: the
# upstream leg from the same port once met the server's side of the last
# one still in LAST_ACK, reset it, and the entry its retried SYN opened
# sent the client's FIN past the proxy (1 port in 5 failed) ---
n=$((n + 1))
cat >"$T/oneport.py" <<'PY'
import socket, sys, time
host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", port))
s.settimeout(5)
t0 = time.monotonic()
try:
    s.connect((host, 80))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while True:
        d = s.recv(4096)
        if not d:
            break
        data += d
    code = data[9:12].decode() if data.startswith(b"HTTP/1.1 ") else "000"
except OSError as e:
    code = "000 (%s)" % e
print(code, int((time.monotonic() - t0) * 1000))
PY
# tw_seen PORT: the proxy's side of the connection from PORT reaches TIME_WAIT
# (the client's FIN may still be on its way when the client has exited)
tw_seen() {
	local k
	for k in $(seq 50); do
		ss -Htan state time-wait "( sport = :80 and dport = :$1 )" | grep -q . && return 0
		sleep 0.02
	done
	return 1
}
for round in 1 2 3; do
	port=$((40000 + RANDOM % 20000))
	for i in 1 2 3; do
		read -r r ms < <(in_ep client python3 "$T/oneport.py" "$srv" "$port" "/v1/tw$i")
		[ "$r" = 200 ] || fail "request $i from port $port (proxy's side in TIME_WAIT: $i > 1): $r after ${ms:-?} ms"
		[[ "${ms:-}" =~ ^[0-9]+$ ]] && [ "$ms" -lt 2000 ] || fail "request $i from port $port took ${ms:-?} ms"
		[ "$i" = 1 ] && { tw_seen "$port" ||
			fail "the proxy's side of the first connection from port $port is not in TIME_WAIT: the check would prove nothing"; }
	done
done

# --- egress rules of the client endpoint (the server's ingress allows it at L4) ---
n=$((n + 1))
r=$(code eclient GET /e/1) && [ "$r" = 200 ] || fail "egress-allowed GET /e/1: $r"
before=$(record_size)
r=$(code eclient GET /v1) && [ "$r" = 403 ] || fail "egress-denied GET /v1: $r"
[ "$(record_size)" = "$before" ] || fail "an egress-denied request reached the server"

# --- both sides: a request must pass the client's egress and the server's ingress rules ---
n=$((n + 1))
r=$(code both GET /public/1) && [ "$r" = 200 ] || fail "both sides allow GET /public/1: $r"
before=$(record_size)
r=$(code both GET /out/1) && [ "$r" = 403 ] || fail "only egress allows GET /out/1: $r"
r=$(code both GET /in/1) && [ "$r" = 403 ] || fail "only ingress allows GET /in/1: $r"
[ "$(record_size)" = "$before" ] || fail "a request one side denied reached the server"

# --- the host is not an endpoint: the server's ingress rules for entity host ---
n=$((n + 1))
r=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://$srv/v1/from-host") && [ "$r" = 200 ] ||
	fail "host GET /v1/from-host: $r"
before=$(record_size)
r=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X PUT "http://$srv/v1/exhaust-port") &&
	[ "$r" = 403 ] || fail "host PUT /v1/exhaust-port: $r"
[ "$(record_size)" = "$before" ] || fail "the host's denied request reached the server"

# --- load: a client endpoint sends requests in a loop, each on its own
# connection, and writes "STATUS PATH" per request (000: no answer) ---
cat >"$T/load.py" <<'PY'
import re, signal, socket, sys, time
host, stop, paths = sys.argv[1], sys.argv[2], sys.argv[3:]


def expired(signum, frame):
    raise TimeoutError("request took over 4 s")


# every request ends within 4 s whatever blocks (counted as no answer)
signal.signal(signal.SIGALRM, expired)
i = 0
while True:
    try:
        open(stop).close()
        break
    except OSError:
        pass
    method, path = paths[i % len(paths)].split(" ", 1)
    i += 1
    code = "000"
    signal.alarm(4)
    try:
        s = socket.create_connection((host, 80), timeout=2)
        s.sendall(f"{method} {path} HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            d = s.recv(4096)
            if not d:
                break
            data += d
            head, sep, body = data.partition(b"\r\n\r\n")
            m = re.search(rb"(?i)content-length: *([0-9]+)", head)
            if sep and m and len(body) >= int(m.group(1)):
                break
        s.close()
        if data.startswith(b"HTTP/1.1 "):
            code = data[9:12].decode()
    except Exception:
        pass
    signal.alarm(0)
    print(code, method, path, flush=True)
PY

# lines FILE: its line count; wait_lines FILE N: until FILE has N lines (at most 30 s:
# on a loaded machine the generator may take seconds to start)
lines() {
	wc -l <"$1" 2>/dev/null || echo 0
}
wait_lines() {
	local i
	for i in $(seq 300); do
		[ "$(lines "$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# --- the proxy killed mid-traffic ---
n=$((n + 1))
run 0 status -o json
pid1=$(json_get 'j["proxy"]["pid"]')
before=$(record_size)
spawn_in "$T/kill.out" client python3 "$T/load.py" "$srv" "$T/stop-kill" "GET /v1/ok" "PUT /v1/exhaust-port"
loadpid=$spawned
wait_lines "$T/kill.out" 20
kill -9 "$pid1"
sleep 1
wait_lines "$T/kill.out" $(($(lines "$T/kill.out") + 20))
touch "$T/stop-kill"
wait "$loadpid"
[ -s "$T/kill.out" ] || fail "the load generator wrote nothing: $(cat "$T/kill.out")"
grep -q '^200 PUT' "$T/kill.out" && fail "a denied request was answered 200 while the proxy restarted"
grep -q '/v1/exhaust-port' <(tail -c +$((before + 1)) "$T/record") &&
	fail "a denied request reached the server while the proxy restarted"
# service came back by itself: the last requests are answered again
tail -4 "$T/kill.out" | grep -q '^200 GET' || fail "no service after the proxy's restart: $(tail -4 "$T/kill.out")"
tail -4 "$T/kill.out" | grep -q '^403 PUT' || fail "no denial after the proxy's restart: $(tail -4 "$T/kill.out")"
echo "proxy killed under load: $(wc -l <"$T/kill.out") requests, $(grep -c '^000' "$T/kill.out") without answer during the restart, none denied let through"
run 0 status -o json
json 'j["proxy"]["restarts"] == 1 and j["proxy"]["control"]["acked"]'

# --- a policy update under load: version A allows GET /a, version B POST /b;
# a mix (GET of one, path of the other) would allow GET /b or POST /a ---
n=$((n + 1))
policy_ver() { # policy_ver METHOD PATH
	sed -e "s|{method: GET, path: \"/v1(/.\*)?\"}|{method: $1, path: \"$2\"}|" \
		-e '/{method: HEAD/d' -e '/{method: POST, path: \/v1\/request-landing}/d' \
		"$T/server.yaml" >"$T/ver.yaml"
}
spawn_in "$T/mix.out" client python3 "$T/load.py" "$srv" "$T/stop-mix" \
	"GET /a" "POST /b" "GET /b" "POST /a"
loadpid=$spawned
wait_lines "$T/mix.out" 8
for i in $(seq 8); do
	if [ $((i % 2)) = 1 ]; then now="POST /b" gone="GET /a"; else now="GET /a" gone="POST /b"; fi
	policy_ver $now
	run 0 policy import "$T/ver.yaml"
	# enforced once the import returned: the version's request passes, the other's is denied
	r=$(code client $gone) && [ "$r" = 403 ] || fail "round $i: $gone after the import that denies it: $r"
	r=$(code client $now) && [ "$r" = 200 ] || fail "round $i: $now after the import that allows it: $r"
done
touch "$T/stop-mix"
wait "$loadpid"
grep -Eq '^200 (GET /b|POST /a)$' "$T/mix.out" &&
	fail "a request only a mix of two rule versions allows was forwarded: $(grep -E '^200 (GET /b|POST /a)$' "$T/mix.out" | head -3)"
# the check above means something only if the load saw both versions forwarding
grep -q '^200 GET /a$' "$T/mix.out" && grep -q '^200 POST /b$' "$T/mix.out" ||
	fail "the load did not see both rule versions forward: $(sort "$T/mix.out" | uniq -c)"
echo "policy updates under load: $(wc -l <"$T/mix.out") requests over 8 imports: $(sort "$T/mix.out" | uniq -c | paste -sd, | tr -s ' ')"
grep -q '^000 ' "$T/mix.out" &&
	fail "requests of the load got no answer: $(grep -c '^000 ' "$T/mix.out") of $(wc -l <"$T/mix.out")"

finish
