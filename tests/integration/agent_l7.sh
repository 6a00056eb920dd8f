#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# The L7 proxy's access events in velumd's flow log: through velumd
# --proxy on, on real namespaces, allowed and denied HTTP requests appear in
# `velum observe` as http-request and http-response lines (identities,
# verdict, the rule that allowed or the reason of a denial), -o raw
# carries Hubble's l7 object, --type, --http-status, --http-method and
# --http-path select what they should (repeated: OR; combined: AND) and
# refuse bad values with exit 2; malformed datagrams sent to the events
# socket are counted and change nothing; velumd's metrics include the
# proxy's (velum_policy_l7_total with the right counts, and Hubble's
# hubble_http_* and L7 flow counts) and say when the
# proxy does not answer; a velumd restart that adopts the running proxy
# gets its events too.
set -u
if [ "$(id -u)" -ne 0 ]; then
	echo "agent_l7: not root, skipped"
	exit 77
fi
source "$(dirname "$0")/agent_lib.sh"
proxy=$top/build/bin/velum-proxy

# (agent_cleanup ends the proxy, a stopped one too: scripts/proxy-end)
proxy_pid=

# l7_count: the number of l7 flows velumd holds
l7_count() {
	"$velum" observe --type l7 --last 100000 -o raw | grep -c '"type":"l7"'
}

# wait_l7 N: waits (at most 5 s) until velumd holds at least N l7 flows
wait_l7() {
	for _ in $(seq 100); do
		[ "$(l7_count)" -ge "$1" ] && return 0
		sleep 0.05
	done
	fail "velumd holds $(l7_count) l7 flows, want $1"
}

# scrape: velumd's metrics into $out
scrape() {
	out=$(curl -s -m 5 "http://$(metrics_addr)/metrics")
}

agent_start --proxy on || exit 1
"$velum" endpoint create server -l app=server >/dev/null || exit 1
"$velum" endpoint create client -l app=client >/dev/null || exit 1
srv=$(ep_ip server)
cli=$(ep_ip client)
sid=$(ep_field server identity)
cid=$(ep_field client identity)
cat >"$T/l7.yaml" <<'YAML'
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: server-http
spec:
  endpointSelector:
    matchLabels: {app: server}
  ingress:
  - fromEndpoints:
    - matchLabels: {app: client}
    toPorts:
    - ports:
      - {port: "80", protocol: TCP}
      rules:
        http:
        - {method: GET, path: "/v1"}
YAML
run 0 policy import "$T/l7.yaml"
spawn_in "$T/ds.out" server "$top/build/bin/deathstar" --listen 0.0.0.0 --port 80
for _ in $(seq 50); do
	in_ep server curl -s -o /dev/null "http://127.0.0.1/v1" && break
	sleep 0.1
done
[ "$(l7_count)" = 0 ] || fail "l7 flows before any request through the proxy"

# two allowed requests, two denied ones
for path in /v1 /v1; do
	code=$(in_ep client curl -s -m 5 -o /dev/null -w '%{http_code}' "http://$srv$path")
	[ "$code" = 200 ] || fail "GET $path: $code"
done
code=$(in_ep client curl -s -m 5 -o /dev/null -w '%{http_code}' -X PUT "http://$srv/v1/exhaust-port")
[ "$code" = 403 ] || fail "PUT /v1/exhaust-port: $code"
code=$(in_ep client curl -s -m 5 -o /dev/null -w '%{http_code}' "http://$srv/v2/x?y=1")
[ "$code" = 403 ] || fail "GET /v2/x: $code"
# each request has its request and its response event
wait_l7 8

rule="CiliumNetworkPolicy default/server-http spec.ingress\[0\]"
c="default/client:[0-9]+ \(ID:$cid\)"
s="default/server:80 \(ID:$sid\)"
run 0 observe --type l7 --last 100
[ "$(grep -c . <<<"$out")" = 8 ] || fail "--type l7: want 8 lines: $out"
grep -qE "^[A-Z][a-z]{2} [ 0-9][0-9] [0-9:.]{12}: $c -> $s http-request FORWARDED \(HTTP/1.1 GET http://$srv/v1\) BY $rule$" <<<"$out" ||
	fail "no http-request FORWARDED line for GET /v1: $out"
grep -qE ": $c <- $s http-response FORWARDED \(HTTP/1.1 200 [0-9]+ms \(GET http://$srv/v1\)\) BY $rule$" <<<"$out" ||
	fail "no http-response line for GET /v1: $out"
grep -qE ": $c -> $s http-request DROPPED \(HTTP/1.1 PUT http://$srv/v1/exhaust-port\) BY no HTTP rule matched$" <<<"$out" ||
	fail "no http-request DROPPED line for PUT /v1/exhaust-port: $out"
grep -qE ": $c <- $s http-response [A-Z]+ \(HTTP/1.1 403 [0-9]+ms \(PUT http://$srv/v1/exhaust-port\)\)" <<<"$out" ||
	fail "no http-response 403 line for PUT /v1/exhaust-port: $out"
grep -qE "http-request DROPPED \(HTTP/1.1 GET http://$srv/v2/x\?y=1\) BY no HTTP rule matched$" <<<"$out" ||
	fail "no http-request DROPPED line for GET /v2/x?y=1: $out"

# trace events of the redirected connections: the client's SYN leaves it
# (from-endpoint) and goes to the proxy (to-proxy), not to the server
run 0 observe --type trace --last 1000
grep -qE ": $c -> $s from-endpoint FORWARDED \(TCP Flags: SYN\)$" <<<"$out" ||
	fail "no from-endpoint trace of a redirected SYN: $out"
grep -qE ": $c -> $s to-proxy FORWARDED \(TCP Flags: SYN\)$" <<<"$out" ||
	fail "no to-proxy trace of a redirected SYN: $out"
grep -qE ": $c -> $s to-endpoint FORWARDED \(TCP Flags: SYN\)$" <<<"$out" &&
	fail "a redirected SYN traced as delivered to the server: $out"
run 0 observe --type trace --last 1000 -o jsonpb
grep -q '"trace_observation_point":"TO_PROXY"' <<<"$out" && grep -q '"sub_type":1' <<<"$out" ||
	fail "jsonpb of a to-proxy trace: $out"

# -o raw: Hubble's l7 object, verdict, direction, both sides with identities and labels
run 0 observe --type l7 --last 100 -o raw
ndjson 'len(js) == 8 and all(f["type"] == "l7" and f["traffic_direction"] == "INGRESS" for f in js)'
ndjson 'all(f["l7"]["type"] in ("REQUEST", "RESPONSE") and f["l7"]["http"]["protocol"] == "HTTP/1.1" for f in js)'
ndjson '[f["l7"]["http"]["method"] for f in js if f["l7"]["type"] == "REQUEST"] == ["GET", "GET", "PUT", "GET"]'
ndjson 'all(f["l7"]["http"]["headers"] == [{"key": "host", "value": "'"$srv"'"}] for f in js)'
ndjson 'all((f["source"]["endpoint"], f["source"]["identity"], f["destination"]["endpoint"]) == ("default/client", '"$cid"', "default/server") for f in js if f["l7"]["type"] == "REQUEST")'
ndjson 'all((f["source"]["endpoint"], f["destination"]["endpoint"], f["destination"]["identity"], f["is_reply"]) == ("default/server", "default/client", '"$cid"', True) for f in js if f["l7"]["type"] == "RESPONSE")'
ndjson 'all("k8s:app=client" in f["source"]["labels"] for f in js if not f["is_reply"])'
ndjson 'all(f["source"]["ip"] == "'"$cli"'" and f["destination"]["ip"] == "'"$srv"'" and f["destination"]["port"] == 80 for f in js if not f["is_reply"])'
ndjson 'sorted(f["l7"]["http"]["code"] for f in js if f["l7"]["type"] == "RESPONSE") == [200, 200, 403, 403]'
ndjson 'all(f["l7"]["http"]["code"] == 0 and f["l7"]["latency_ns"] == 0 for f in js if f["l7"]["type"] == "REQUEST")'
ndjson 'all(f["l7"]["latency_ns"] > 0 for f in js if f["l7"]["type"] == "RESPONSE")'
ndjson '[f["verdict"] for f in js if f["l7"]["type"] == "REQUEST"] == ["FORWARDED", "FORWARDED", "DROPPED", "DROPPED"]'
ndjson 'all(f["rule"]["ref"] == "CiliumNetworkPolicy default/server-http spec.ingress[0]" and f["rule"]["name"] == "server-http" and f["rule"]["namespace"] == "default" for f in js if f["verdict"] == "FORWARDED" and f["l7"]["type"] == "REQUEST")'
ndjson 'all(f["reason"] == "no HTTP rule matched" and f["policy"] == "no HTTP rule matched" for f in js if f["verdict"] == "DROPPED" and f["l7"]["type"] == "REQUEST")'
ndjson '"http://'"$srv"'/v2/x?y=1" in [f["l7"]["http"]["url"] for f in js]'

# filters: each selects what it should; repeated = OR, combined = AND
# sel WANT ARGS...: velum observe --last 1000 ARGS prints WANT lines (into $out)
sel() {
	local want=$1
	shift
	run 0 observe --last 1000 "$@"
	[ "$(grep -c . <<<"$out")" = "$want" ] || fail "observe $*: want $want lines: $out"
}
sel 2 --type l7 --http-method PUT
grep -q "GET" <<<"$out" && fail "--http-method PUT let GET through: $out"
sel 2 --http-method put
sel 8 --http-method PUT --http-method GET
sel 2 --http-status 200
grep -q "http-request" <<<"$out" && fail "--http-status let a request through: $out"
sel 2 --http-status 4+
grep -q " 200 " <<<"$out" && fail "--http-status 4+ let 200 through: $out"
sel 4 --http-status 40+ --http-status 2+
sel 0 --http-status 5+
sel 4 --http-path '^/v1$'
sel 2 --http-path exhaust
sel 4 --http-path exhaust --http-path '^/v2/'
sel 2 --http-path '^/v2/x$'
sel 2 --http-path /v1 --http-method GET --http-status 200
sel 4 --type l7 --verdict DROPPED
grep -q "FORWARDED" <<<"$out" && fail "--verdict DROPPED let FORWARDED through: $out"
sel 4 --type l7 --from client
grep -q "http-response" <<<"$out" && fail "--from client let a response through: $out"
sel 4 --type l7 --to client
sel 2 --type l7 --from client --verdict FORWARDED
run 0 observe --type policy-verdict --last 1000
grep -q "http-re" <<<"$out" && fail "--type policy-verdict let l7 flows through: $out"
grep -q "policy-verdict:" <<<"$out" || fail "--type policy-verdict shows no kernel verdicts: $out"
kernel=$(grep -c . <<<"$out")
sel $((kernel + 8)) --type l7 --type policy-verdict
run 0 observe --last 1000 -o raw
ndjson 'any(f["type"] == "l7" for f in js) and any(f["type"] == "policy-verdict" for f in js)'
ndjson '[f["time"] for f in js if f["type"] == "l7"] == sorted(f["time"] for f in js if f["type"] == "l7")'
for bad in "--http-status=7+" "--http-status=2000" "--http-status=abc" "--http-status=" \
	"--http-path=(" "--type=trace-bogus" "--http-method=G/T" "--verdict=NOPE"; do
	run 2 observe "$bad"
	expect_err "velum observe: ${bad%%=*} "
done
run 2 observe --http-path '(a'
expect_err "missing )"
run 2 observe -t bogus
expect_err "expected drop, policy-verdict, trace or l7"
# the API refuses them too (the CLI checks first)
out=$(curl -s --unix-socket "$VELUM_SOCKET" -o /dev/null -w '%{http_code}' "http://v/v1/flows?http-status=9%2B")
[ "$out" = 400 ] || fail "GET /v1/flows?http-status=9+: $out"

# metrics: the proxy's counters in velumd's scrape
scrape
grep -qx 'velum_policy_l7_total{rule="received"} 4' <<<"$out" || fail "received: $(grep l7_total <<<"$out")"
grep -qx 'velum_policy_l7_total{rule="forwarded"} 2' <<<"$out" || fail "forwarded: $(grep l7_total <<<"$out")"
grep -qx 'velum_policy_l7_total{rule="denied"} 2' <<<"$out" || fail "denied: $(grep l7_total <<<"$out")"
grep -qx 'velum_proxy_up 1' <<<"$out" || fail "velum_proxy_up is not 1"
grep -q '^velum_proxy_upstream_reply_seconds_count 2$' <<<"$out" || fail "upstream reply histogram: $(grep upstream_reply <<<"$out")"
# Hubble's HTTP metrics (at each response) and its L7 flow and verdict counts
for want in 'hubble_http_requests_total{method="GET",protocol="HTTP/1.1",status="200",reporter="server"} 2' \
	'hubble_http_requests_total{method="PUT",protocol="HTTP/1.1",status="403",reporter="server"} 1' \
	'hubble_http_requests_total{method="GET",protocol="HTTP/1.1",status="403",reporter="server"} 1' \
	'hubble_http_request_duration_seconds_count{method="GET",reporter="server"} 3' \
	'hubble_http_request_duration_seconds_count{method="PUT",reporter="server"} 1' \
	'hubble_flows_processed_total{protocol="HTTP",type="L7",subtype="HTTP",verdict="FORWARDED"} 4' \
	'hubble_flows_processed_total{protocol="HTTP",type="L7",subtype="HTTP",verdict="DROPPED"} 4' \
	'hubble_policy_verdicts_total{direction="ingress",match="l7/http",action="forwarded"} 2' \
	'hubble_policy_verdicts_total{direction="ingress",match="l7/http",action="dropped"} 2'; do
	n=$((n + 1))
	grep -qxF "$want" <<<"$out" || fail "no '$want' in: $(grep '^hubble_' <<<"$out")"
done
grep -q '^hubble_http_request_duration_seconds_bucket{method="GET",reporter="server",le="+Inf"} 3$' <<<"$out" ||
	fail "hubble_http_request_duration_seconds buckets: $(grep duration <<<"$out")"
grep -qx 'velum_proxy_access_events_total{outcome="accepted"} 8' <<<"$out" || fail "accepted events: $(grep access_events <<<"$out")"
grep -qx 'velum_endpoint 2' <<<"$out" || fail "velumd's own metrics are missing"

# policy import --dry-run re-judges the proxy's requests in the flow buffer
# (2 GET /v1 allowed, PUT /v1/exhaust-port and GET /v2/x?y=1 denied)
l7_dry() { # l7_dry FILE RULES...: a server-http with these HTTP rules, dry-run
	{ sed -n '1,/http:$/p' "$T/l7.yaml"; printf '        - %s\n' "${@:2}"; } >"$1"
	run 0 policy import --dry-run "$1"
}
from="from default/client to default/server:80/TCP"
rule0="CiliumNetworkPolicy default/server-http spec.ingress[0]"
l7_dry "$T/dry1.yaml" '{method: GET, path: "/v1"}' '{method: PUT, path: "/v1/exhaust-port"}'
expect_out "1 request $from PUT http://$srv/v1/exhaust-port would be ALLOWED by $rule0 (ingress)"
expect_out "dry run: nothing was changed"
[ "$(grep -c ' would be ' <<<"$out")" = 1 ] || fail "dry run 1: only the PUT flips: $out"
l7_dry "$T/dry2.yaml" '{method: GET, path: "/v2/.*"}'
expect_out "2 requests $from GET http://$srv/v1 would be DROPPED by no HTTP rule matched (ingress)"
expect_out "1 request $from GET http://$srv/v2/x?y=1 would be ALLOWED by $rule0 (ingress)"
grep -q exhaust-port <<<"$out" && fail "dry run 2: PUT /v1/exhaust-port stays denied: $out"
# the same file as loaded: nothing flips
l7_dry "$T/dry3.yaml" '{method: GET, path: "/v1"}'
expect_out "no policy verdict or HTTP request in the agent's flow buffer would flip"
code=$(in_ep client curl -s -m 5 -o /dev/null -w '%{http_code}' -X PUT "http://$srv/v1/exhaust-port")
[ "$code" = 403 ] || fail "after the dry runs PUT /v1/exhaust-port: $code"
wait_l7 10

# malformed datagrams: counted, dropped, nothing else changes
before=$(l7_count)
python3 - "$T/state/proxy-events.sock" <<'PY' || fail "cannot send to the events socket"
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.connect(sys.argv[1])
ok = bytearray(904)
struct.pack_into("=HBBBBH", ok, 0, 2, 1, 1, 1, 1, 0)
for off in (36, 60):        # src, dst: IPv4-mapped 10.0.0.1
    ok[off + 10:off + 16] = b"\xff\xff\x0a\x00\x00\x01"
bad = []
bad.append(b"short")                                   # size
bad.append(bytes(ok) + b"x")                           # size (one byte more)
v = bytearray(ok); struct.pack_into("=H", v, 0, 9); bad.append(bytes(v))     # version
v = bytearray(ok); v[2] = 7; bad.append(bytes(v))      # type
v = bytearray(ok); v[3] = 0; bad.append(bytes(v))      # verdict
v = bytearray(ok); v[96:904] = b"A" * 808; bad.append(bytes(v))  # strings without NUL
v = bytearray(ok); v[36:52] = b"\x20\x01" + b"\x00" * 14; bad.append(bytes(v))  # IPv6
bad.append(bad[3] + bad[4])                            # two records, both bad: 2
bad.append(bytes(ok) * 65)                             # over 64 records: 1
for b in bad:
    s.send(b)
PY
sleep 0.5
run 0 status
[ "$(l7_count)" = "$before" ] || fail "malformed datagrams changed the flows: $before -> $(l7_count)"
scrape
grep -qx 'velum_proxy_access_events_total{outcome="malformed"} 10' <<<"$out" ||
	fail "malformed events: $(grep access_events <<<"$out")"
grep -qx 'velum_proxy_access_events_total{outcome="accepted"} 10' <<<"$out" ||
	fail "accepted events after malformed ones: $(grep access_events <<<"$out")"
# and velumd still records the next request
code=$(in_ep client curl -s -m 5 -o /dev/null -w '%{http_code}' "http://$srv/v1")
[ "$code" = 200 ] || fail "GET /v1 after malformed datagrams: $code"
wait_l7 $((before + 2))

# a proxy that does not answer: the scrape still succeeds and says so
proxy_pid=$(status_field 'j["proxy"]["pid"]')
kill -STOP "$proxy_pid"
t0=$(date +%s%N)
scrape
ms=$((($(date +%s%N) - t0) / 1000000))
kill -CONT "$proxy_pid"
grep -qx 'velum_proxy_up 0' <<<"$out" || fail "velum_proxy_up is not 0 with the proxy stopped"
grep -qx 'velum_endpoint 2' <<<"$out" || fail "the scrape without the proxy lost velumd's metrics"
grep -q 'velum_policy_l7_total' <<<"$out" && fail "a stopped proxy's metrics in the scrape"
[ "$ms" -lt 2000 ] || fail "the scrape waited $ms ms for a stopped proxy"

# velumd restarts and adopts the running proxy: the socket is bound anew
# and the next request's events reach the new velumd (flows live in memory)
agent_stop
agent_start --proxy on || exit 1
run 0 status -o json
json 'j["proxy"]["adopted"] and j["proxy"]["pid"] == '"$proxy_pid"
code=$(in_ep client curl -s -m 5 -o /dev/null -w '%{http_code}' -X PUT "http://$srv/v1/exhaust-port")
[ "$code" = 403 ] || fail "PUT /v1/exhaust-port after velumd's restart: $code"
wait_l7 2
run 0 observe --type l7 --http-method PUT
grep -qE ": $c -> $s http-request DROPPED \(HTTP/1.1 PUT http://$srv/v1/exhaust-port\) BY no HTTP rule matched$" <<<"$out" ||
	fail "no http-request line after velumd adopted the proxy: $out"
[ "$(stat -c %a "$T/state/proxy-events.sock")" = 600 ] || fail "the events socket is not 0600"

finish
