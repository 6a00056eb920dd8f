#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# `velum policy trace --offline` as users and scripts call it: the paper's
# three policies with their expected verdicts (text and JSON), exit
# statuses, and the errors bad input gets. Needs no privileges.
set -euo pipefail
velum=${1:?usage: trace_cli.sh path/to/velum}
top=$(cd "$(dirname "$0")/../.." && pwd)
sw=$top/examples/starwars
tmp=$(mktemp -d "${TMPDIR:-/tmp}/velum-trace-cli.$$.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fails=0
n=0

fail() {
	echo "FAIL: $*" >&2
	fails=$((fails + 1))
}

# run EXPECTED_RC ARGS...: runs velum, keeps stdout/stderr in $out/$err
run() {
	local want=$1 rc=0
	shift
	n=$((n + 1))
	"$velum" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
	out=$(cat "$tmp/out")
	err=$(cat "$tmp/err")
	if [ "$rc" != "$want" ]; then
		fail "velum $* exited $rc, want $want; stderr: $err"
	fi
}

expect_out() {
	grep -qF -- "$1" <<<"$out" || fail "stdout lacks '$1' in: $out"
}

expect_err() {
	grep -qF -- "$1" <<<"$err" || fail "stderr lacks '$1' in: $err"
}

# json EXPR: evaluates a Python expression on the parsed JSON stdout (bound to j)
json() {
	python3 -c 'import json,sys; j=json.loads(sys.stdin.read()); sys.exit(0 if eval(sys.argv[1]) else 1)' \
		"$1" <<<"$out" || fail "JSON check '$1' failed on: $out"
}

base=(policy trace --offline --endpoints "$sw/endpoints.json")
p1=(--policy "$sw/policies/l3-ingress.yaml")
p2=(--policy "$sw/policies/l3-egress.json")
p3=(--policy "$sw/policies/l7-http.yaml")

# policy 1: L3 ingress by label
run 0 "${base[@]}" "${p1[@]}" --from tiefighter --to deathstar --dport 80
expect_out "Final verdict: ALLOWED"
expect_out "allowed by CiliumNetworkPolicy default/deathstar-ingress spec.ingress[0] (match L3-L4)"
run 0 "${base[@]}" "${p1[@]}" --from default/xwing --to deathstar --dport 80
expect_out "DENIED by default deny"
expect_out "Final verdict: DENIED"
run 0 "${base[@]}" "${p1[@]}" --from xwing --to deathstar --dport 80 -o json
json 'j["verdict"] == "denied" and j["ingress"]["verdict"] == "denied" and j["ingress"]["rule"] is None and j["ingress"]["reason"] == "default deny"'
json 'j["egress"]["verdict"] == "allowed" and j["egress"]["reason"] == "no policy selects the endpoint"'
run 0 "${base[@]}" "${p1[@]}" --from tiefighter --to deathstar --dport 81/tcp -o json
json 'j["verdict"] == "denied" and j["dport"] == 81'
run 0 "${base[@]}" "${p1[@]}" --from tiefighter --to deathstar --icmp-type 8 -o json
json 'j["verdict"] == "denied" and j["protocol"] == "ICMP" and j["icmp_type"] == 8'
# addresses resolve to endpoints; unknown ones are world
run 0 "${base[@]}" "${p1[@]}" --from 10.200.0.11 --to 10.200.0.10 --dport 80 -o json
json 'j["verdict"] == "allowed" and j["from"]["name"] == "default/tiefighter"'
run 0 "${base[@]}" "${p1[@]}" --from 203.0.113.9 --to deathstar --dport 80 -o json
json 'j["verdict"] == "denied" and j["from"]["identity"] == 2'
run 0 "${base[@]}" "${p1[@]}" --from host --to deathstar --dport 80 -o json
json 'j["verdict"] == "denied" and j["from"]["identity"] == 1 and j["egress"]["checked"] is False'

# policy 2: L3 egress by label
run 0 "${base[@]}" "${p1[@]}" "${p2[@]}" --from deathstar --to ftp-updated --dport 21 -o json
json 'j["verdict"] == "allowed" and j["egress"]["rule"]["kind"] == "CiliumRules" and j["egress"]["match"] == "L3-Only"'
run 0 "${base[@]}" "${p1[@]}" "${p2[@]}" --from deathstar --to ftp-maintenance --dport 21 -o json
json 'j["verdict"] == "denied" and j["egress"]["verdict"] == "denied" and j["ingress"]["verdict"] == "allowed" and j["ingress"]["reached"] is False'
run 0 "${base[@]}" "${p1[@]}" "${p2[@]}" --from xwing --to ftp-maintenance --dport 21
expect_out "Final verdict: ALLOWED"

# policy 3: L7 allow-list
run 0 "${base[@]}" "${p3[@]}" "${p2[@]}" --from tiefighter --to deathstar --dport 80 \
	--http-method POST --http-path /v1/request-landing -o json
json 'j["verdict"] == "allowed" and j["ingress"]["action"] == "REDIRECT" and j["ingress"]["l7"]["http_rule_index"] == 0 and j["http_status"] is None'
run 0 "${base[@]}" "${p3[@]}" "${p2[@]}" --from tiefighter --to deathstar --dport 80 \
	--http-method GET --http-path /v1 -o json
json 'j["verdict"] == "allowed" and j["ingress"]["l7"]["http_rule_index"] == 1'
run 0 "${base[@]}" "${p3[@]}" "${p2[@]}" --from tiefighter --to deathstar --dport 80 \
	--http-method PUT --http-path /v1/exhaust-port -o json
json 'j["verdict"] == "denied" and j["http_status"] == 403 and j["ingress"]["l7"]["verdict"] == "denied"'
run 0 "${base[@]}" "${p3[@]}" "${p2[@]}" --from tiefighter --to deathstar --dport 80 \
	--http-method PUT --http-path /v1/exhaust-port
expect_out "403 Forbidden"
expect_out "Final verdict: DENIED"
run 0 "${base[@]}" "${p3[@]}" "${p2[@]}" --from xwing --to deathstar --dport 80 \
	--http-method GET --http-path /v1 -o json
json 'j["verdict"] == "denied" and j["http_status"] is None and j["http_outcome"] == "dropped"'
# anchored full match: a longer path or a query string is not /v1
run 0 "${base[@]}" "${p3[@]}" --from tiefighter --to deathstar --dport 80 \
	--http-method GET --http-path '/v1?x=1' -o json
json 'j["http_status"] == 403'

# bad input: exit 2, the error on stderr, nothing on stdout
cat >"$tmp/bad.yaml" <<'YAML'
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: bad
spec:
  endpointSelector: {}
  ingress:
  - toPorts:
    - ports:
      - port: "70000"
YAML
run 2 "${base[@]}" --policy "$tmp/bad.yaml" --from tiefighter --to deathstar --dport 80
expect_err "bad.yaml:10: spec.ingress[0].toPorts[0].ports[0].port: 70000 is not a port"
[ -z "$out" ] || fail "stdout not empty on bad input: $out"
run 2 "${base[@]}" "${p1[@]}" --from nobody --to deathstar --dport 80
expect_err "--from: 'nobody' is not an endpoint, an endpoint id, an identity (ID:N), 'host', 'world' or an IPv4 address"
run 2 "${base[@]}" "${p1[@]}" --from tiefighter --to deathstar --dport 0
expect_err "--dport '0'"
run 2 "${base[@]}" "${p1[@]}" --from tiefighter --to deathstar
expect_err "give exactly one of --dport and --icmp-type"
run 2 "${base[@]}" "${p1[@]}" --from tiefighter --to deathstar --dport 53/udp --http-method GET --http-path /
expect_err "an HTTP trace needs a TCP --dport"
run 2 "${base[@]}" --policy "$tmp/missing.yaml" --from tiefighter --to deathstar --dport 80
expect_err "missing.yaml: No such file or directory"
printf '[{"name": "a", "labels": {"app": 1}}]' >"$tmp/eps.json"
run 2 policy trace --offline --endpoints "$tmp/eps.json" "${p1[@]}" --from a --to a --dport 80
expect_err "eps.json:1: [0].labels.app: expected a string"
printf '[{"name": "a", "color": "red"}]' >"$tmp/eps.json"
run 2 policy trace --offline --endpoints "$tmp/eps.json" "${p1[@]}" --from a --to a --dport 80
expect_err "[0].color: unknown field 'color'"
run 0 policy trace --help
expect_out "usage: velum policy trace --offline"

# -o yaml: the document -o json prints
run 0 "${base[@]}" "${p1[@]}" "${p2[@]}" --from tiefighter --to deathstar --dport 80 -o json
printf '%s\n' "$out" >"$tmp/trace.json"
run 0 "${base[@]}" "${p1[@]}" "${p2[@]}" --from tiefighter --to deathstar --dport 80 -o yaml
python3 -c 'import json,sys,yaml
sys.exit(0 if json.load(open(sys.argv[1])) == yaml.safe_load(sys.stdin) else 1)' "$tmp/trace.json" <<<"$out" ||
	fail "trace -o yaml differs from -o json: $out"
expect_out 'address: "'
run 2 "${base[@]}" "${p1[@]}" --from tiefighter --to deathstar --dport 80 -o xml
expect_err "-o 'xml'"

# the endpoints as velum endpoint list -o json prints them: ids kept, labels as strings,
# ipv4, audit; the agent's own fields ignored. Peers by id.
cat >"$tmp/agent-eps.json" <<'EOF2'
[{"id": 7, "name": "default/deathstar", "namespace": "default",
  "labels": ["k8s:class=deathstar", "k8s:org=empire"], "identity": 300,
  "identity_labels": ["k8s:class=deathstar"], "ipv4": "10.200.0.10", "netns": "/run/netns/x",
  "host_ifname": "vlm7", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
  "audit": false, "policy": {"ingress": "enforced", "egress": "disabled"}, "state": "ready",
  "created": "2026-11-24T21:00:00Z", "ifname": "eth0", "gateway": "169.254.1.1",
  "container_id": null},
 {"id": 3, "name": "default/xwing", "namespace": "default",
  "labels": ["k8s:class=xwing", "k8s:org=alliance"], "ipv4": "10.200.0.12", "ports": [],
  "audit": true, "state": "error", "error": "gone"},
 {"name": "default/tiefighter", "labels": {"org": "empire", "class": "tiefighter"},
  "ips": ["10.200.0.11"]}]
EOF2
run 0 policy trace --offline --endpoints "$tmp/agent-eps.json" "${p1[@]}" --from 3 --to 7 --dport 80
expect_out "Tracing from: default/xwing (10.200.0.12)"
expect_out "to: default/deathstar (10.200.0.10)"
expect_out "DENIED"
run 0 policy trace --offline --endpoints "$tmp/agent-eps.json" "${p1[@]}" --from tiefighter --to 7 --dport 80
expect_out "Final verdict: ALLOWED"
run 2 policy trace --offline --endpoints "$tmp/agent-eps.json" "${p1[@]}" --from 9 --to 7 --dport 80
expect_err "--from: no endpoint with id 9"
run 0 policy resolve --offline --endpoints "$tmp/agent-eps.json" "${p1[@]}"
expect_out "endpoint default/deathstar (id 7,"
expect_out "endpoint default/xwing (id 3,"
expect_out "endpoint default/tiefighter (id 1,"

# allow-localhost: policy (default) judges the host by the ingress policy; always lets it in
# where only the default deny would drop it; a deny rule on the host still wins
run 0 "${base[@]}" "${p1[@]}" --from host --to deathstar --dport 80
expect_out "DENIED by default deny"
expect_out "Final verdict: DENIED"
run 0 "${base[@]}" "${p1[@]}" --from host --to deathstar --dport 80 --allow-localhost policy
expect_out "Final verdict: DENIED"
run 0 "${base[@]}" "${p1[@]}" --from host --to deathstar --dport 80 --allow-localhost always
expect_out "verdict: allowed: the host reaches every local endpoint (velumd --allow-localhost always)"
expect_out "Final verdict: ALLOWED"
run 0 "${base[@]}" "${p1[@]}" --from host --to deathstar --dport 80 --allow-localhost always -o json
json 'j["ingress"]["reason"] == "allow-localhost always" and j["ingress"]["verdict"] == "allowed" and j["ingress"]["rule"] is None'
run 0 "${base[@]}" "${p1[@]}" --from xwing --to deathstar --dport 80 --allow-localhost always
expect_out "Final verdict: DENIED"
cat >"$tmp/deny-host.yaml" <<'EOF2'
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: no-host}
spec:
  endpointSelector: {matchLabels: {class: deathstar}}
  ingressDeny: [{fromEntities: [host]}]
EOF2
run 0 "${base[@]}" "${p1[@]}" --policy "$tmp/deny-host.yaml" --from host --to deathstar --dport 80 --allow-localhost always
expect_out "DENIED by CiliumNetworkPolicy default/no-host"
run 2 "${base[@]}" "${p1[@]}" --from host --to deathstar --dport 80 --allow-localhost sometimes
expect_err "--allow-localhost 'sometimes': expected always or policy"
run 2 policy trace --from host --to deathstar --dport 80 --allow-localhost always
expect_err "--allow-localhost is for --offline"

# namespaces with labels: {"namespaces": [...], "endpoints": [...]}; ports without a name
g=$top/tests/golden/namespaces
nsp=(--policy "$g/policy.yaml")
run 0 policy trace --offline --endpoints "$g/endpoints.json" "${nsp[@]}" --from y/b --to x/a --dport 80
expect_out "allowed by NetworkPolicy x/from-payments spec.ingress[0]"
expect_out "Final verdict: ALLOWED"
run 0 policy trace --offline --endpoints "$g/endpoints.json" "${nsp[@]}" --from z/b --to x/a --dport 80
expect_out "Final verdict: DENIED"
# the unnamed port 9090 is no named port: the policy's port "http" is 80 only
run 0 policy trace --offline --endpoints "$g/endpoints.json" "${nsp[@]}" --from y/b --to x/a --dport 9090
expect_out "Final verdict: DENIED"
# team=payments moved from y to z: the verdicts follow the labels
sed -e 's/"ns": "y", "team": "payments"/"ns": "y"/' \
	-e 's/"ns": "z", "env": "prod"/"ns": "z", "env": "prod", "team": "payments"/' \
	"$g/endpoints.json" >"$tmp/ns-moved.json"
run 0 policy trace --offline --endpoints "$tmp/ns-moved.json" "${nsp[@]}" --from z/b --to x/a --dport 80
expect_out "Final verdict: ALLOWED"
run 0 policy trace --offline --endpoints "$tmp/ns-moved.json" "${nsp[@]}" --from y/b --to x/a --dport 80
expect_out "Final verdict: DENIED"
# a Namespace object among the policies labels its namespace as the endpoints file does
printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: z\n  labels: {ns: z, team: payments}\n' >"$tmp/ns-z.yaml"
run 0 policy trace --offline --endpoints "$g/endpoints.json" "${nsp[@]}" --policy "$tmp/ns-z.yaml" --from z/b --to x/a --dport 80
expect_out "Final verdict: ALLOWED"
printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: z\n  labels: {team: 7}\n' >"$tmp/ns-zbad.yaml"
run 2 policy trace --offline --endpoints "$g/endpoints.json" "${nsp[@]}" --policy "$tmp/ns-zbad.yaml" --from z/b --to x/a --dport 80
expect_err "ns-zbad.yaml:5: metadata.labels.team: expected a string"
printf '{"namespaces": [{"name": "x", "labels": {"team": 7}}], "endpoints": []}\n' >"$tmp/ns-bad1.json"
run 2 policy resolve --offline --endpoints "$tmp/ns-bad1.json" "${nsp[@]}"
expect_err "ns-bad1.json:1: namespaces[0].labels.team: expected a string"
printf '{"namespaces": [\n {"name": "x", "labels": {"kubernetes.io/metadata.name": "y"}}],\n "endpoints": []}\n' >"$tmp/ns-bad2.json"
run 2 policy resolve --offline --endpoints "$tmp/ns-bad2.json" "${nsp[@]}"
expect_err "ns-bad2.json:2: namespaces[0]: label 'kubernetes.io/metadata.name=y'"
printf '{"namespaces": [], "endpoints": [], "pods": []}\n' >"$tmp/ns-bad3.json"
run 2 policy resolve --offline --endpoints "$tmp/ns-bad3.json" "${nsp[@]}"
expect_err "ns-bad3.json:1: pods: unknown field"
printf '{"namespaces": [{"name": "Bad_Name"}], "endpoints": []}\n' >"$tmp/ns-bad4.json"
run 2 policy resolve --offline --endpoints "$tmp/ns-bad4.json" "${nsp[@]}"
expect_err "namespace name 'Bad_Name'"
printf '[{"name": "a", "ports": [{"port": 99999}]}]\n' >"$tmp/ns-bad5.json"
run 2 policy resolve --offline --endpoints "$tmp/ns-bad5.json" "${nsp[@]}"
expect_err "ns-bad5.json:1: [0].ports[0]: expected"

echo "trace_cli: $n runs, $fails failures"
[ "$fails" -eq 0 ]
