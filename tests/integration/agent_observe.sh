#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# `velum observe` speaks Hubble, through velumd on real namespaces and
# traffic: hubble observe's filter flags with its semantics (a flag repeated:
# OR; different flags: AND; --pod/--ip/--port on either side; --not), a
# filter that can never match (a malformed prefix, an unknown endpoint or
# identity) is exit 2, --first/--last/--all/--until, the peers of --from/--to
# read as policy trace reads them (one parser), the outputs compact,
# dict, table and jsonpb (Hubble's flow JSON: jq expressions of the kind
# Cilium's documentation uses work on it unchanged), and --input-file
# re-filters saved jsonpb (from a file or stdin) as the agent would; and
# /metrics: Hubble's flow metrics, per-rule hits (also in policy get), and
# the agent metrics with Cilium's names (endpoint state, map pressure,
# warnings, policy imports, process_*); and policy import --dry-run, whose
# predicted flips are confirmed by importing for real and replaying; and
# trace events (velumd --trace-events medium, the default): a connection's
# SYN, SYN-ACK and FINs as Hubble's TRACE flows (to-endpoint/from-endpoint,
# replies marked), each flow with its own uuid; across a restart, rule hits
# kept and an endpoint whose namespace went counted as an error. Until then
# velumd runs with --trace-events off: the counts there are of policy
# verdicts and drops.
set -u
if [ "$(id -u)" -ne 0 ]; then
	echo "agent_observe: not root, skipped"
	exit 77
fi
source "$(dirname "$0")/agent_lib.sh"
sw=$top/examples/starwars

agent_start --trace-events off || exit 1
[ "$(status_field 'j["trace_events"]')" = off ] || fail "status: trace_events off"
"$velum" endpoint create deathstar -l org=empire -l class=deathstar >/dev/null || exit 1
"$velum" endpoint create tiefighter -l org=empire -l class=tiefighter >/dev/null || exit 1
"$velum" endpoint create xwing -l org=alliance -l class=xwing >/dev/null || exit 1
"$velum" endpoint create probe --namespace rebels -l org=alliance >/dev/null || exit 1
ds=$(ep_ip deathstar)
tf=$(ep_ip tiefighter)
xw=$(ep_ip xwing)
pr=$(ep_ip rebels/probe)
dsid=$(ep_field deathstar identity)
xwid=$(ep_field xwing identity)
run 0 policy import "$sw/policies/l3-ingress.yaml"
spawn_in "$T/serve.out" deathstar "$traffic" serve 80
for _ in $(seq 1 50); do
	grep -q ready "$T/serve.out" && break
	sleep 0.1
done
probe tiefighter tcp "$ds" 80 || fail "tiefighter -> deathstar:80 should pass"
probe xwing tcp "$ds" 80 && fail "xwing -> deathstar:80 should be dropped"
probe rebels/probe tcp "$ds" 80 && fail "rebels/probe -> deathstar:80 should be dropped"
sleep 0.5

# ---- metrics: Hubble's flow metrics, rule hits, agent metrics with Cilium's names ------------------
out=$(curl -s -m 5 "http://$(metrics_addr)/metrics")
printf '%s\n' "$out" >"$T/metrics.txt"
# metric 'NAME{labels}' VALUE-EXPR: the sample exists and its value v satisfies the expression
metric() {
	n=$((n + 1))
	python3 - "$T/metrics.txt" "$1" "$2" <<'PY' || fail "metric $1 not $2: $(grep -F "${1%%\{*}" "$T/metrics.txt" | head -30)"
import re, sys
text, want, expr = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3]
name, _, labels = want.partition("{")
wl = dict(re.findall(r'(\w+)="([^"]*)"', labels))
for line in text.splitlines():
    if line.startswith("#") or not line.startswith(name):
        continue
    m = re.match(r'([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)$', line)
    if not m or m.group(1) != name:
        continue
    ll = dict(re.findall(r'(\w+)="([^"]*)"', m.group(3) or ""))
    if all(ll.get(k) == v for k, v in wl.items()):
        v = float(m.group(4))
        sys.exit(0 if eval(expr) else 1)
sys.exit(1)
PY
}
metric 'hubble_flows_processed_total{protocol="TCP",type="PolicyVerdict",subtype="",verdict="FORWARDED"}' 'v == 4'
metric 'hubble_flows_processed_total{protocol="TCP",type="PolicyVerdict",verdict="DROPPED"}' 'v == 2'
metric 'hubble_flows_processed_total{protocol="TCP",type="Drop",verdict="DROPPED"}' 'v == 2'
metric 'hubble_drop_total{reason="POLICY_DENIED",protocol="TCP"}' 'v >= 2'
metric 'hubble_policy_verdicts_total{direction="ingress",match="l3-l4",action="forwarded"}' 'v == 1'
metric 'hubble_policy_verdicts_total{direction="ingress",match="none",action="dropped"}' 'v == 2'
metric 'hubble_policy_verdicts_total{direction="egress",match="all",action="forwarded"}' 'v == 3'
metric 'hubble_tcp_flags_total{flag="SYN",family="IPv4"}' 'v == 4'
grep -q '^# TYPE hubble_http_requests_total counter' "$T/metrics.txt" || fail "no hubble_http_requests_total"
grep -q '^# TYPE hubble_http_request_duration_seconds histogram' "$T/metrics.txt" || fail "no hubble_http_request_duration_seconds"
metric 'velum_policy_rule_hits_total{rule="CiliumNetworkPolicy default/deathstar-ingress spec.ingress[0]",verdict="allowed"}' 'v == 1'
metric 'velum_policy_rule_hits_total{rule="CiliumNetworkPolicy default/deathstar-ingress spec.ingress[0]",verdict="denied"}' 'v == 0'
metric 'velum_endpoint_state{endpoint_state="ready"}' 'v == 4'
metric 'velum_endpoint_state{endpoint_state="error"}' 'v == 0'
metric 'velum_bpf_map_pressure{map_name="velum_ct"}' '0 < v < 0.01'
metric 'velum_bpf_map_pressure{map_name="velum_ipcache"}' '0 < v < 0.01'
metric 'velum_bpf_map_pressure{map_name="velum_policy"}' '0 < v < 0.01'
# every map with a fill level, and each endpoint's policy map by its kernel name
metric 'velum_bpf_map_pressure{map_name="velum_endpoints"}' '0 < v < 0.01'
metric 'velum_bpf_map_pressure{map_name="velum_lxc"}' '0 < v < 0.01'
metric 'velum_bpf_map_pressure{map_name="velum_ratelim"}' '0 < v < 0.01'
metric 'velum_bpf_map_pressure{map_name="velum_frag"}' 'v == 0'
metric 'velum_bpf_map_pressure{map_name="velum_sock"}' 'v == 0'
metric 'velum_bpf_map_pressure{map_name="velum_sock_ref"}' 'v == 0'
metric 'velum_bpf_map_pressure{map_name="velum_ep_netns"}' '0 < v < 0.01'
metric "velum_bpf_map_pressure{map_name=\"velum_pol_$(ep_field deathstar id)\"}" '0 < v < 0.01'
grep -qE '^velum_bpf_map_pressure\{map_name="velum_(metrics|events|config|sock_stats)"' "$T/metrics.txt" &&
	fail "map pressure of a map without a fill level"
metric 'velum_policy_change_total{outcome="success"}' 'v == 1'
metric 'velum_policy_change_total{outcome="fail"}' 'v == 0'
metric 'velum_policy_max_revision' 'v >= 1'
metric 'process_open_fds' 'v > 3'
metric 'process_max_fds' 'v > 3'
metric 'process_resident_memory_bytes' 'v > 1e6'
metric 'process_cpu_seconds_total' 'v >= 0'
metric 'process_start_time_seconds' 'abs(v - '"$(date +%s)"') < 600'
echo 'garbage: [' >"$T/broken.yaml"
run 2 policy import "$T/broken.yaml"
out=$(curl -s -m 5 "http://$(metrics_addr)/metrics")
printf '%s\n' "$out" >"$T/metrics.txt"
metric 'velum_policy_change_total{outcome="fail"}' 'v == 1'
# warnings by subsystem: a failed endpoint exec is not one; a policy that selects nothing is
grep -q '^# TYPE velum_errors_warnings_total counter' "$T/metrics.txt" || fail "no velum_errors_warnings_total"
# rule hits in policy get
run 0 policy get
expect_out "ALLOWED"
grep -E "deathstar-ingress +1 +16\+ +no +1 +0 " <<<"$out" >/dev/null || fail "policy get: hits 1/0: $out"
run 0 policy get deathstar-ingress
expect_out "# flows each rule decided"
grep -E "^16 +CiliumNetworkPolicy default/deathstar-ingress spec.ingress\[0\] +1 +0" <<<"$out" >/dev/null ||
	fail "policy get NAME: per-rule hits: $out"
run 0 policy get deathstar-ingress -o json
json 'j["policies"][0]["hits"] == [{"id": 16, "rule": "CiliumNetworkPolicy default/deathstar-ingress spec.ingress[0]", "allowed": 1, "denied": 0}]'

# cnt WANT ARGS...: velum observe --all ARGS prints WANT lines (into $out)
cnt() {
	local want=$1
	shift
	run 0 observe --all "$@"
	[ "$(grep -c . <<<"$out")" = "$want" ] || fail "observe --all $*: want $want lines: $out"
}
run 0 observe --all
all=$(grep -c . <<<"$out")
[ "$all" = 8 ] || fail "want 8 flows: $out"
# each connection: the client's egress verdict (no policy) and the deathstar's
# ingress verdict; a denied one also a drop
cnt 3 --from-pod xwing
cnt 3 --from-pod default/xwing
cnt 3 --from-pod rebels/probe
cnt 6 --from-pod xwing --from-pod rebels/
cnt 2 --from-pod tiefighter
cnt 0 --to-pod xwing
cnt 3 --pod xwing
cnt 1 --from-pod xwing --type drop
cnt 1 --from-pod xwing --type drop --drop-reason-desc POLICY_DENIED
cnt 2 --to-pod deathstar --verdict DROPPED --type policy-verdict --type drop --not --from-pod rebels/probe
cnt 3 --namespace rebels
cnt 3 -n rebels
cnt 3 --from-ip "$xw"
cnt 3 --ip "$xw"
cnt 0 --to-ip "$xw"
cnt 8 --to-ip "$ds/32" --port 80
cnt 8 --to-ip "$ds" --to-port 80 --protocol tcp
cnt 0 --to-ip "$ds" --protocol udp
cnt 0 --from-port 80
cnt 3 --from-identity "$xwid"
cnt 8 --to-identity "$dsid"
cnt 3 --from-label class=xwing
cnt 6 --from-label org=alliance --to-label k8s:class=deathstar
cnt 2 --from-label org=empire
cnt 8 -l class=deathstar
cnt 3 --from-label 'org in (alliance),class=xwing'
cnt 2 --from-label 'org!=alliance'
cnt 3 --from-label '!class'
cnt 5 --traffic-direction ingress
cnt 3 --traffic-direction egress
cnt 8 --tcp-flags syn
cnt 0 --tcp-flags syn,ack
cnt 0 --type trace
cnt 4 --verdict DROPPED
cnt 4 --not --verdict DROPPED
cnt 3 --verdict FORWARDED --not --from-pod xwing
cnt 1 --verdict FORWARDED --not --from-pod xwing --traffic-direction ingress
cnt 0 --until 2000-01-01T00:00:00Z
cnt "$all" --since 1h --until 1s
run 0 observe --first 1 --to-pod deathstar
grep -qF "default/tiefighter" <<<"$out" || fail "--first 1: the allowed connection came first: $out"
run 0 observe --last 1 --to-pod deathstar
grep -qF "rebels/probe" <<<"$out" || fail "--last 1: the probe's drop came last: $out"

# filters that can never match: exit 2, the flag and the value named
run 2 observe --from-ip 10.0.0.0/33
expect_err "velum observe: --from-ip '10.0.0.0/33': expected an IPv4 address or prefix"
run 2 observe --ip deathstar
expect_err "--ip 'deathstar'"
run 2 observe --from-pod nosuchpod
expect_err "from-pod: no endpoint named 'default/nosuchpod...'"
run 2 observe --not --to-pod nosuch/ds
expect_err "not-to-pod: no endpoint"
run 2 observe --namespace nosuchns
expect_err "namespace: no endpoint in namespace 'nosuchns'"
run 2 observe --from nosuch
expect_err "from: no endpoint 'default/nosuch'"
run 2 observe --identity 99999
expect_err "identity: no identity 99999"
run 2 observe --to-identity notareservedname
expect_err "expected an identity number or a reserved name"
run 2 observe --tcp-flags syn,nope
run 2 observe --traffic-direction sideways
run 2 observe --drop-reason-desc NOT_A_REASON
run 2 observe --not
expect_err "--not must be followed by a filter"
run 2 observe --not --last 3
expect_err "--not must be followed by a filter"
run 2 observe --first 2 --last 2
run 2 observe --first 2 -f
run 2 observe -o xml
# known ones: reserved identities, and endpoints gone but in kept flows
run 0 observe --identity world
"$velum" endpoint delete rebels/probe >/dev/null || fail "endpoint delete rebels/probe"
cnt 3 --from-pod rebels/probe
# the API refuses them too
code=$(curl -s -o "$T/api.out" -w '%{http_code}' --unix-socket "$VELUM_SOCKET" \
	"http://v/v1/flows?from-pod=nosuch")
[ "$code" = 400 ] || fail "GET /v1/flows?from-pod=nosuch: $code, want 400"
code=$(curl -s -o "$T/api.out" -w '%{http_code}' --unix-socket "$VELUM_SOCKET" \
	"http://v/v1/flows?not-from-pod=xwing&all=1")
[ "$code" = 200 ] || fail "GET /v1/flows?not-from-pod=xwing: $code"
out=$(cat "$T/api.out")
ndjson 'len(js) == '"$((all - 3))"' and all(f["source"]["endpoint"] != "default/xwing" for f in js)'

# ---- one peer syntax: policy trace and observe read --from/--to alike ----------------------------
xwep=$(ep_field xwing id)
tfep=$(ep_field tiefighter id)
# same_peer PEER WANT: trace --from PEER --to deathstar says WANT, observe --from PEER finds xwing's flows
same_peer() {
	run 0 policy trace --from "$1" --to deathstar --dport 80
	expect_out "Final verdict: $2"
	run 0 observe --all --from "$1" --to deathstar --type drop
	[ "$(grep -c . <<<"$out")" = "$3" ] || fail "observe --from $1: want $3 drops: $out"
}
same_peer xwing DENIED 1
same_peer default/xwing DENIED 1
same_peer "$xwep" DENIED 1
same_peer "ID:$xwid" DENIED 1
same_peer "identity:$xwid" DENIED 1
same_peer "$xw" DENIED 1
same_peer "$tfep" ALLOWED 0
same_peer world DENIED 0
same_peer host DENIED 0
# the same refusals, exit 2, the same words
for peer in 10.0.0.0/33 10.0.0 "ID:x" 99999999999 a/b/c; do
	run 2 policy trace --from "$peer" --to deathstar --dport 80
	terr=$err
	run 2 observe --from "$peer"
	msg=${terr#*: }
	msg=${msg#*: }
	expect_err "$msg"
done
for peer in nosuch 4242 "ID:99999"; do
	run 2 policy trace --from "$peer" --to deathstar --dport 80
	run 2 observe --from "$peer"
done
expect_err "from: no identity 99999"
run 2 observe --to 4242
expect_err "to: no endpoint with id 4242"
# a prefix or a label selects many peers: observe takes them, a trace needs one
run 0 observe --from "$xw/24" --to-port 80
run 2 policy trace --from "$xw/24" --to deathstar --dport 80
expect_err "is a prefix: a trace needs one address"
run 2 policy trace --from org=alliance --to deathstar --dport 80
expect_err "is a label: a trace needs one peer"
# endpoint ids need the agent
run 2 observe --from "$xwep" --input-file /dev/null
expect_err "with --input-file give the endpoint's name"

# ---- outputs ---------------------------------------------------------------------------------
run 0 observe --from-pod xwing --type drop
expect_out "default/xwing:"
expect_out "-> default/deathstar:80 (ID:$dsid) Policy denied DROPPED (TCP Flags: SYN) BY default deny"
run 0 observe --from-pod xwing --type drop -o dict
expect_out "  TIMESTAMP: "
expect_out "     SOURCE: default/xwing:"
expect_out "DESTINATION: default/deathstar:80 (ID:$dsid)"
expect_out "       TYPE: Policy denied"
expect_out "    VERDICT: DROPPED"
expect_out "    SUMMARY: TCP Flags: SYN BY default deny"
run 0 observe --to-pod deathstar -o table
head -1 <<<"$out" | grep -qE "^TIMESTAMP +NODE +SOURCE +DESTINATION +TYPE +VERDICT +SUMMARY" ||
	fail "table header: $out"
expect_out "policy-verdict:L3-L4 INGRESS"
expect_out "BY CiliumNetworkPolicy default/deathstar-ingress spec.ingress[0]"

# jsonpb: Hubble's flow JSON; jq recipes in the form Cilium's documentation gives them
run 0 observe --all -o jsonpb
printf '%s\n' "$out" >"$T/flows.jsonpb"
[ "$(grep -c . "$T/flows.jsonpb")" = "$all" ] || fail "jsonpb: want $all lines"
# jqt JQ-ARGS...: jq over the saved flows prints $want
jqt() {
	local got
	n=$((n + 1))
	got=$(jq "$@" <"$T/flows.jsonpb" 2>&1)
	[ "$got" = "$want" ] || fail "jq $*: got '$got', want '$want'"
}
want=$(printf 'default/xwing -> default/deathstar:80 DROPPED\nrebels/probe -> default/deathstar:80 DROPPED')
jqt -r 'select(.flow.verdict == "DROPPED" and .flow.event_type.type == 1) | .flow | "\(.source.namespace)/\(.source.pod_name) -> \(.destination.namespace)/\(.destination.pod_name):\(.l4.TCP.destination_port) \(.verdict)"'
want=$(printf '{"src":"xwing","dst":"deathstar","reason":"POLICY_DENIED"}\n{"src":"probe","dst":"deathstar","reason":"POLICY_DENIED"}')
jqt -c 'select(.flow.drop_reason_desc) | .flow | {src: .source.pod_name, dst: .destination.pod_name, reason: .drop_reason_desc}'
want='[{"name":"deathstar-ingress","namespace":"default","kind":"CiliumNetworkPolicy"}]'
jqt -c '.flow | select(.ingress_allowed_by or .egress_allowed_by) | .ingress_allowed_by | map({name, namespace, kind})'
want=$(printf '%s\n' "$tf" "$tf" "$xw" "$xw" "$xw" "$pr" "$pr" "$pr")
jqt -r '.flow.IP.source'
want=$(printf '%s\n' "$dsid" "$dsid" "$dsid" "$dsid" "$dsid" "$dsid" "$dsid" "$dsid")
jqt -r '.flow.destination.identity'
want=$(printf 'EGRESS\nINGRESS\nEGRESS\nINGRESS\nINGRESS\nEGRESS\nINGRESS\nINGRESS')
jqt -r '.flow.traffic_direction'
want=true
jqt -s 'all(.flow.time == .time and (.node_name | length > 0) and .flow.l4.TCP.flags.SYN and .flow.Summary == "TCP Flags: SYN" and (.flow.source.labels | index("k8s:org=empire") or index("k8s:org=alliance")))'
want=3
jqt -s '[.[] | select(.flow.source.labels | index("k8s:class=xwing"))] | length'
# -o json is the same as -o jsonpb (hubble's alias)
run 0 observe --all -o json
[ "$out" = "$(cat "$T/flows.jsonpb")" ] || fail "-o json differs from -o jsonpb"

# --input-file: saved jsonpb re-filtered and printed as the agent's flows are
run 0 observe --all
live=$out
run 0 observe --all --input-file "$T/flows.jsonpb"
[ "$out" = "$live" ] || fail "--input-file compact differs from the live one: $out // $live"
run 0 observe --from-pod xwing --type drop --input-file "$T/flows.jsonpb"
expect_out "-> default/deathstar:80 (ID:$dsid) Policy denied DROPPED (TCP Flags: SYN) BY default deny"
[ "$(grep -c . <<<"$out")" = 1 ] || fail "--input-file filtered: $out"
out=$("$velum" observe --all -o jsonpb | "$velum" observe --input-file - --verdict FORWARDED --traffic-direction ingress -o jsonpb | jq -r '.flow.ingress_allowed_by[0].name')
[ "$out" = "deathstar-ingress" ] || fail "jsonpb through --input-file - and back: $out"
out=$("$velum" observe --all -o jsonpb | "$velum" observe --input-file - --all -o jsonpb)
[ "$out" = "$(cat "$T/flows.jsonpb")" ] || fail "jsonpb through --input-file - changed: $out"
out=$("$velum" observe --all -o jsonpb | "$velum" observe --input-file - --not --pod xwing --first 1)
grep -qF "default/tiefighter" <<<"$out" || fail "--input-file --first 1: $out"
# and the agent's own objects, and refusals
run 0 observe --all -o raw
printf '%s\n' "$out" >"$T/flows.raw"
run 0 observe --input-file "$T/flows.raw" --last 2
[ "$(grep -c . <<<"$out")" = 2 ] || fail "--input-file of -o raw --last 2: $out"
echo '{"flow": {"verdict": "DROPPED"}}' >"$T/bad.jsonpb"
run 1 observe --input-file "$T/bad.jsonpb"
expect_err "bad.jsonpb:1: flow.time"
run 1 observe --input-file "$T/nosuchfile"
run 2 observe --input-file "$T/flows.jsonpb" --from-ip 1.2.3.4/99
run 2 observe --input-file "$T/flows.jsonpb" -f

# ---- policy import --dry-run: predicted flips, then confirmed for real ---------------------------
cat >"$T/no-tie.yaml" <<'YAML'
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: no-tie
spec:
  endpointSelector:
    matchLabels: {class: deathstar}
  ingressDeny:
  - fromEndpoints:
    - matchLabels: {class: tiefighter}
YAML
cat >"$T/allow-xwing.yaml" <<'YAML'
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: deathstar-ingress
spec:
  endpointSelector:
    matchLabels: {class: deathstar}
  ingress:
  - fromEndpoints:
    - matchLabels: {class: xwing}
    toPorts:
    - ports: [{port: "80", protocol: TCP}]
YAML
rev0=$("$velum" status -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["store"]["revision"])')
run 0 policy import --dry-run "$T/no-tie.yaml"
expect_out "default/deathstar (endpoint 1): enforced entries added (+) and removed (-)"
# the rows of velum bpf policy get, marked
grep -qE '^ +POLICY +DIRECTION +LABELS \(source:key\[=value\]\) +PORT/PROTO +PROXY PORT +PREFIX +RULE$' <<<"$out" ||
	fail "dry run: bpf policy get's header: $out"
grep -qE '^\+ +Deny +Ingress +k8s:class=tiefighter +ANY +NONE +0 +CiliumNetworkPolicy default/no-tie spec.ingressDeny\[0\]$' <<<"$out" ||
	fail "dry run: the deny entry added: $out"
grep -qE '^- +Allow +Ingress +k8s:class=tiefighter +TCP/80 +NONE +24 +CiliumNetworkPolicy default/deathstar-ingress spec.ingress\[0\]$' <<<"$out" ||
	fail "dry run: the allow entry removed: $out"
expect_out "1 flow from default/tiefighter to default/deathstar:80/TCP would be DROPPED by CiliumNetworkPolicy default/no-tie spec.ingressDeny[0] (ingress)"
expect_out "dry run: nothing was changed"
grep -q "xwing" <<<"$out" && fail "dry run: xwing's verdicts do not flip: $out"
# replacing deathstar-ingress: the empire loses, the xwing gains
run 0 policy import --dry-run "$T/allow-xwing.yaml"
expect_out "1 flow from default/xwing to default/deathstar:80/TCP would be ALLOWED by CiliumNetworkPolicy default/deathstar-ingress spec.ingress[0] (ingress)"
expect_out "1 flow from default/tiefighter to default/deathstar:80/TCP would be DROPPED by default deny (ingress)"
grep -qE '^\+ +Allow +Ingress +k8s:class=xwing +TCP/80 +NONE +24 +CiliumNetworkPolicy default/deathstar-ingress spec.ingress\[0\]$' <<<"$out" ||
	fail "dry run: xwing's allow entry added: $out"
# a Namespace object in the files labels its namespace before the policies see it
cat >"$T/ns-deny.yaml" <<'YAML'
apiVersion: v1
kind: Namespace
metadata:
  name: default
  labels: {zone: core}
---
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata:
  name: core-no-xwing
spec:
  endpointSelector:
    matchLabels: {k8s:io.cilium.k8s.namespace.labels.zone: core, class: deathstar}
  ingressDeny:
  - fromEndpoints:
    - matchLabels: {class: xwing}
YAML
run 0 policy import --dry-run "$T/ns-deny.yaml"
grep -qE '^\+ +Deny +Ingress +k8s:class=xwing ' <<<"$out" || fail "dry run with a Namespace object: $out"
expect_out "CiliumClusterwideNetworkPolicy core-no-xwing spec.ingressDeny[0]"
# invalid files: refused as an import refuses them
echo 'kind: [' >"$T/bad.yaml"
run 2 policy import --dry-run "$T/bad.yaml"
expect_err "nothing was changed"
# nothing changed
rev1=$("$velum" status -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["store"]["revision"])')
[ "$rev0" = "$rev1" ] || fail "dry runs changed the revision: $rev0 -> $rev1"
run 1 policy get no-tie
probe tiefighter tcp "$ds" 80 || fail "after the dry runs tiefighter -> deathstar:80 still passes"
# confirmed: imported for real, the traffic replayed is dropped by the predicted rule
run 0 policy import "$T/no-tie.yaml"
probe tiefighter tcp "$ds" 80 && fail "no-tie imported: tiefighter should be dropped"
sleep 0.5
run 0 observe --from-pod tiefighter --to-pod deathstar --type policy-verdict --traffic-direction ingress --last 1
expect_out "INGRESS DENIED (TCP Flags: SYN) BY CiliumNetworkPolicy default/no-tie spec.ingressDeny[0]"
run 0 policy import "$T/allow-xwing.yaml"
probe xwing tcp "$ds" 80 || fail "allow-xwing imported: xwing should pass"

# --follow with Hubble's filters; a followed table prints its header once
timeout 4 "$velum" observe -f -o table --from-pod tiefighter --type drop >"$T/follow.out" 2>&1 &
fpid=$!
bg_pids+=("$fpid")
sleep 0.7
probe tiefighter tcp "$ds" 80 && fail "tiefighter should still be dropped"
sleep 0.3
probe tiefighter tcp "$ds" 80
wait "$fpid"
n=$((n + 1))
[ "$(grep -c '^TIMESTAMP  NODE  SOURCE  DESTINATION  TYPE  VERDICT  SUMMARY$' "$T/follow.out")" = 1 ] ||
	fail "followed table: one header: $(cat "$T/follow.out")"
[ "$(grep -c 'default/tiefighter:[0-9]* (ID:[0-9]*)  default/deathstar:80 (ID:[0-9]*)  Policy denied by denylist  DROPPED  TCP Flags: SYN BY CiliumNetworkPolicy default/no-tie spec.ingressDeny\[0\]$' "$T/follow.out")" -ge 1 ] ||
	fail "followed table rows: $(cat "$T/follow.out")"
grep -q "xwing" "$T/follow.out" && fail "followed --from-pod tiefighter showed xwing: $(cat "$T/follow.out")"

# policy changes: three imports and a delete succeeded, one import failed
run 0 policy delete no-tie
run 1 policy delete nosuch
out=$(curl -s -m 5 "http://$(metrics_addr)/metrics")
printf '%s\n' "$out" >"$T/metrics.txt"
metric 'velum_policy_change_total{outcome="success"}' 'v == 4'
metric 'velum_policy_change_total{outcome="fail"}' 'v == 1'

# ---- a restart: rule hits kept, an endpoint whose namespace went is an error --------------------
"$velum" endpoint create doomed -l org=doomed >/dev/null || fail "endpoint create doomed"
doomed_ns=$(ep_field doomed netns)
out=$(curl -s -m 5 "http://$(metrics_addr)/metrics")
printf '%s\n' "$out" >"$T/metrics.txt"
hits=$(sed -n 's/^velum_policy_rule_hits_total{rule="CiliumNetworkPolicy default\/deathstar-ingress spec.ingress\[0\]",rule_id="[0-9]*",verdict="allowed"} //p' "$T/metrics.txt")
[ -n "$hits" ] && [ "$hits" -ge 1 ] || fail "rule hits before the restart: '$hits'"
agent_stop
ip netns delete "$(basename "$doomed_ns")" || fail "ip netns delete $doomed_ns"

# ---- trace events: velumd --trace-events medium (the default) ----------------------------------
agent_start || exit 1
out=$(curl -s -m 5 "http://$(metrics_addr)/metrics")
printf '%s\n' "$out" >"$T/metrics.txt"
metric 'velum_policy_rule_hits_total{rule="CiliumNetworkPolicy default/deathstar-ingress spec.ingress[0]",verdict="allowed"}' "v == $hits"
# "velumd: endpoint default/doomed: namespace ... is gone", then "velumd: restore: ... not in sync"
metric 'velum_errors_warnings_total{level="error",subsystem="velumd"}' 'v == 1'
metric 'velum_errors_warnings_total{level="error",subsystem="restore"}' 'v == 1'
metric 'velum_endpoint_state{endpoint_state="error"}' 'v == 1'
run 0 policy get deathstar-ingress -o json
json 'j["policies"][0]["hits"][0]["allowed"] == '"$hits"
run 0 endpoint delete doomed
[ "$(status_field 'j["trace_events"]')" = medium ] || fail "status: trace_events medium"
probe xwing tcp "$ds" 80 || fail "xwing -> deathstar:80 should pass"
sleep 0.5
# one connection, closed by both sides: SYN, SYN-ACK, FIN, FIN back, each
# leaving one endpoint (from-endpoint) and entering the other (to-endpoint)
cnt 8 --type trace
cnt 8 --type trace --verdict FORWARDED --pod xwing
cnt 0 --type trace --not --verdict FORWARDED
cnt 4 --type trace --tcp-flags syn
cnt 2 --type trace --tcp-flags syn,ack
cnt 4 --type trace --tcp-flags fin
cnt 4 --type trace --from-pod xwing
cnt 4 --type trace --from-pod deathstar
cnt 4 --type trace --traffic-direction egress
run 0 observe --all --type trace
sport=$(sed -n 's/.*default\/xwing:\([0-9]*\) .*/\1/p' <<<"$out" | head -1)
xwidv=$(ep_field xwing identity)
expect_out "default/xwing:$sport (ID:$xwidv) -> default/deathstar:80 (ID:$dsid) from-endpoint FORWARDED (TCP Flags: SYN)"
expect_out "default/xwing:$sport (ID:$xwidv) -> default/deathstar:80 (ID:$dsid) to-endpoint FORWARDED (TCP Flags: SYN)"
expect_out "default/xwing:$sport (ID:$xwidv) <- default/deathstar:80 (ID:$dsid) from-endpoint FORWARDED (TCP Flags: SYN, ACK)"
expect_out "default/xwing:$sport (ID:$xwidv) <- default/deathstar:80 (ID:$dsid) to-endpoint FORWARDED (TCP Flags: SYN, ACK)"
expect_out "default/xwing:$sport (ID:$xwidv) -> default/deathstar:80 (ID:$dsid) to-endpoint FORWARDED (TCP Flags: ACK, FIN)"
expect_out "default/xwing:$sport (ID:$xwidv) <- default/deathstar:80 (ID:$dsid) to-endpoint FORWARDED (TCP Flags: ACK, FIN)"
grep -q " BY " <<<"$out" && fail "a trace names no rule: $out"
run 0 observe --all -o jsonpb
printf '%s\n' "$out" >"$T/flows.jsonpb"
want=$(printf '%s\n' "L3_L4 FROM_ENDPOINT false EGRESS TCP Flags: SYN" \
	"L3_L4 TO_ENDPOINT false INGRESS TCP Flags: SYN" \
	"L3_L4 FROM_ENDPOINT true INGRESS TCP Flags: SYN, ACK" \
	"L3_L4 TO_ENDPOINT true EGRESS TCP Flags: SYN, ACK")
jqt -r 'select(.flow.event_type.type == 4 and .flow.l4.TCP.flags.SYN) | .flow | "\(.Type) \(.trace_observation_point) \(.is_reply) \(.traffic_direction) \(.Summary)"'
# the endpoint named by ID: the one the packet leaves (from-endpoint) or enters (to-endpoint)
want=$(printf '%s\n' "$(ep_field xwing id)" "$(ep_field deathstar id)" "$(ep_field deathstar id)" "$(ep_field xwing id)")
jqt -r 'select(.flow.event_type.type == 4 and .flow.l4.TCP.flags.SYN) | .flow | if .trace_observation_point == "FROM_ENDPOINT" then .source.ID else .destination.ID end'
# policy verdicts are never replies; every flow has its own uuid
want=true
jqt -s '([.[] | select(.flow.event_type.type == 5) | .flow.is_reply] | all(. == false)) and ([.[] | .flow.uuid | select(test("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"))] | length) == length and ([.[].flow.uuid] | unique | length) == length'
out=$("$velum" observe --all -o jsonpb | "$velum" observe --input-file - --all -o jsonpb)
[ "$out" = "$(cat "$T/flows.jsonpb")" ] || fail "trace jsonpb through --input-file - changed: $out"
out=$(curl -s -m 5 "http://$(metrics_addr)/metrics")
printf '%s\n' "$out" >"$T/metrics.txt"
metric 'hubble_flows_processed_total{protocol="TCP",type="Trace",subtype="to-endpoint",verdict="FORWARDED"}' 'v == 4'
metric 'hubble_flows_processed_total{protocol="TCP",type="Trace",subtype="from-endpoint",verdict="FORWARDED"}' 'v == 4'
# two allowed policy verdicts and two traces of the SYN; the SYN-ACK and FINs by trace only
metric 'hubble_tcp_flags_total{flag="SYN",family="IPv4"}' 'v == 4'
metric 'hubble_tcp_flags_total{flag="SYN-ACK",family="IPv4"}' 'v == 2'
metric 'hubble_tcp_flags_total{flag="FIN",family="IPv4"}' 'v == 4'
metric 'velum_policy_rule_hits_total{rule="CiliumNetworkPolicy default/deathstar-ingress spec.ingress[0]",verdict="allowed"}' "v == $hits + 1"

finish
