#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Day-two commands through velumd's API: velum version (the agent's from
# GET /v1/version; an agent unreachable or without it is said, exit 1),
# endpoints by numeric id in every verb and route that takes a name,
# -o yaml (the same document as -o json), status --verbose, the output of
# `velum endpoint list -o json` as the offline trace's --endpoints (the same
# answer as the live trace), a re-import of unchanged files (no revision,
# no store write, "unchanged"), and raw Cilium rules named by their `name`
# label.
set -u
if [ "$(id -u)" -ne 0 ]; then
	echo "agent_daytwo: not root, skipped"
	exit 77
fi
source "$(dirname "$0")/agent_lib.sh"
sw=$top/examples/starwars

revision() {
	"$velum" status -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["store"]["revision"])'
}
api() {
	curl -s -o "$T/api.out" -w '%{http_code}' --unix-socket "$VELUM_SOCKET" "$@"
}
# same_doc ARGS...: `velum ARGS -o yaml` is the document `velum ARGS -o json` prints
same_doc() {
	n=$((n + 1))
	"$velum" "$@" -o json >"$T/doc.json" 2>"$T/doc.err" || fail "velum $* -o json: $(cat "$T/doc.err")"
	"$velum" "$@" -o yaml >"$T/doc.yaml" 2>"$T/doc.err" || fail "velum $* -o yaml: $(cat "$T/doc.err")"
	python3 -c 'import json,sys,yaml
j=json.load(open(sys.argv[1])); y=yaml.safe_load(open(sys.argv[2]))
sys.exit(0 if j == y else 1)' "$T/doc.json" "$T/doc.yaml" ||
		fail "velum $* -o yaml differs from -o json: $(head -c 1500 "$T/doc.yaml")"
}

# ---- version, before the agent runs ---------------------------------------------------------------
run 1 version
expect_out "Client: velum 0.4.0"
expect_out "Daemon: velumd at $VELUM_SOCKET not reachable"
expect_err "cannot reach velumd at $VELUM_SOCKET"
run 1 version -o json
json 'j["client"]["version"] == "0.4.0" and j["daemon"] is None and "not reachable" in j["daemon_error"]'

# an agent that answers but has no /v1/version (an older velumd): said, exit 1
python3 - "$T/old.sock" <<'EOF' &
import http.server, os, socketserver, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"error": "no such API path (see docs/api.md)"}\n'
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
class S(socketserver.UnixStreamServer):
    def get_request(self):
        req, _ = super().get_request()
        return req, ("old", 0)
s = S(sys.argv[1], H)
s.handle_request()
EOF
bg_pids+=($!)
for _ in $(seq 1 100); do [ -S "$T/old.sock" ] && break; sleep 0.05; done
run 1 -H "$T/old.sock" version
expect_out "Client: velum 0.4.0"
expect_out "Daemon: velumd at $T/old.sock did not say its version"

agent_start || exit 1

run 0 version
expect_out "Client: velum 0.4.0"
expect_out "Daemon: velumd 0.4.0 (pid $agent_pid) at $VELUM_SOCKET"
run 0 version -o json
json 'j["client"]["version"] == j["daemon"]["version"] == "0.4.0" and "daemon_error" not in j'
[ "$(api http://v/v1/version)" = 200 ] || fail "GET /v1/version: not 200"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if j["version"] == "0.4.0" and j["api"] == "v1" else 1)' \
	"$T/api.out" || fail "GET /v1/version: $(cat "$T/api.out")"
n=$((n + 2))

# ---- endpoints by numeric id ------------------------------------------------------------------------
run 0 endpoint create deathstar -l org=empire -l class=deathstar --port http:80/TCP
run 0 endpoint create xwing -l org=alliance -l class=xwing
run 0 endpoint create tiefighter -l org=empire -l class=tiefighter
# relabelled below: its identity changes, the others' stay what an offline model gives them
run 0 endpoint create probe --namespace rebels -l app=probe
run 0 policy import "$sw/policies/l3-ingress.yaml"
ds=$(ep_field deathstar id)
xw=$(ep_field xwing id)
tf=$(ep_field tiefighter id)
pb=$(ep_field rebels/probe id)
run 0 endpoint get "$ds" -o json
json 'j["name"] == "default/deathstar"'
run 0 endpoint get "$ds"
expect_out "Name:             default/deathstar"
run 1 endpoint get 999
expect_err "velum endpoint get: no endpoint with id 999"
run 1 endpoint delete 999
expect_err "no endpoint with id 999"
run 1 endpoint label 999 a=b
expect_err "no endpoint with id 999"
run 1 bpf policy get 999
expect_err "no endpoint with id 999"
run 0 bpf policy get "$ds"
expect_out "default/deathstar (endpoint $ds):"
expect_out "CiliumNetworkPolicy default/deathstar-ingress"
run 0 endpoint label "$pb" extra=1
expect_out "endpoint $pb labelled"
run 0 endpoint get rebels/probe -o json
json '"k8s:extra=1" in j["labels"]'
run 0 endpoint config "$pb" PolicyAuditMode=Enabled
run 0 endpoint get rebels/probe -o json
json 'j["audit"] is True'
run 0 endpoint config "$pb" PolicyAuditMode=Disabled
# the trace takes ids for peers; the answer is the one for the names
run 0 policy trace --from tiefighter --to deathstar --dport 80
by_name=$out
run 0 policy trace --from "$tf" --to "$ds" --dport 80
[ "$out" = "$by_name" ] || fail "trace by id differs from trace by name: $out"
run 2 policy trace --from 999 --to "$ds" --dport 80
expect_err "no endpoint with id 999"
# the API: GET, PATCH, DELETE and bpf-policy by id; an unknown id is 404 with its message
[ "$(api "http://v/v1/endpoints/$ds")" = 200 ] || fail "GET /v1/endpoints/ID: not 200"
grep -qF '"name": "default/deathstar"' "$T/api.out" || grep -qF '"name":"default/deathstar"' "$T/api.out" ||
	fail "GET /v1/endpoints/ID: $(cat "$T/api.out")"
[ "$(api http://v/v1/endpoints/999)" = 404 ] || fail "GET /v1/endpoints/999: not 404"
grep -qF 'no endpoint with id 999' "$T/api.out" || fail "unknown id message: $(cat "$T/api.out")"
[ "$(api http://v/v1/endpoints/999/bpf-policy)" = 404 ] || fail "bpf-policy of an unknown id: not 404"
[ "$(api "http://v/v1/endpoints/$ds/bpf-policy")" = 200 ] || fail "bpf-policy by id: not 200"
[ "$(api -X PATCH -d '{"audit": false}' http://v/v1/endpoints/999)" = 404 ] || fail "PATCH unknown id: not 404"
[ "$(api -X DELETE http://v/v1/endpoints/999)" = 404 ] || fail "DELETE unknown id: not 404"
[ "$(api http://v/v1/endpoints/default/deathstar)" = 200 ] || fail "GET by name broke"
n=$((n + 9))

# ---- -o yaml: the same document as -o json -------------------------------------------------------------
same_doc endpoint list
same_doc endpoint get "$ds"
same_doc identity list
same_doc policy get
same_doc policy get deathstar-ingress # with the file's text: a string of many lines
same_doc bpf policy get deathstar
same_doc bpf ipcache list
same_doc policy trace --from xwing --to deathstar --dport 80
same_doc policy trace --offline --policy "$sw/policies/l3-ingress.yaml" --endpoints "$sw/endpoints.json" \
	--from xwing --to deathstar --dport 80
run 0 version -o yaml
python3 -c 'import sys,yaml; y=yaml.safe_load(sys.stdin); sys.exit(0 if y["daemon"]["version"] == "0.4.0" else 1)' <<<"$out" ||
	fail "version -o yaml: $out"
# observe: a stream of YAML documents, one per flow, the flows -o raw prints one per line
# (a denied connection makes flows: policy-verdict and drop)
probe xwing tcp "$(ep_ip deathstar)" 80
for _ in $(seq 1 40); do
	[ -n "$("$velum" observe --last 1 -o raw)" ] && break
	sleep 0.05
done
run 0 observe --last 50 -o raw
[ -n "$out" ] || fail "no flows to print as YAML"
printf '%s\n' "$out" >"$T/flows.json"
run 0 observe --last 50 -o yaml
python3 -c 'import json,sys,yaml
js=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ys=[d for d in yaml.safe_load_all(sys.stdin) if d is not None]
sys.exit(0 if js == ys else 1)' "$T/flows.json" <<<"$out" || fail "observe -o yaml differs from -o raw: ${out:0:1500}"
run 2 endpoint list -o xml
expect_err "-o 'xml'"

# ---- status --verbose ----------------------------------------------------------------------------------
run 0 status --verbose
expect_out "Agent:       Ok"
expect_out "Endpoints:   4"
expect_out "default/deathstar"
expect_out "ready"
expect_out "BPF maps:"
expect_out "velum_ct"
expect_out "velum_ipcache"
expect_out "velum_policy"
expect_out "Proxy:"
run 0 status -v
expect_out "BPF maps:"
run 0 status
grep -qF "BPF maps:" <<<"$out" && fail "plain status prints the verbose part"

# ---- endpoint list -o json as the offline trace's endpoints ----------------------------------------------
run 0 endpoint list -o json
printf '%s\n' "$out" >"$T/eps.json"
for pair in "xwing deathstar" "tiefighter deathstar" "$xw $ds" "$tf $ds"; do
	set -- $pair
	run 0 policy trace --from "$1" --to "$2" --dport 80
	live=$out
	run 0 policy trace --offline --policy "$sw/policies/l3-ingress.yaml" --endpoints "$T/eps.json" \
		--from "$1" --to "$2" --dport 80
	[ "$out" = "$live" ] || fail "offline trace on endpoint list -o json ($pair) differs from the live one:
$out
--- live:
$live"
done
run 0 policy resolve --offline --policy "$sw/policies/l3-ingress.yaml" --endpoints "$T/eps.json"
expect_out "endpoint default/deathstar (id $ds,"

# ---- re-importing unchanged files changes nothing ----------------------------------------------------------
rev=$(revision)
run 0 policy get -o json
before=$(json_get 'j["policies"]')
sums() { md5sum "$T/state/state.db"* 2>/dev/null; }
s0=$(sums)
run 0 policy import "$sw/policies/l3-ingress.yaml"
expect_out "unchanged"
[ "$(revision)" = "$rev" ] || fail "an unchanged import made revision $(revision) (was $rev)"
[ "$(sums)" = "$s0" ] || fail "an unchanged import wrote the store"
run 0 policy import "$sw/policies/l3-ingress.yaml" -o json
json 'j["unchanged"] is True and j["revision"] == '"$rev"' and len(j["policies"]) == 1'
run 0 policy get -o json
[ "$(json_get 'j["policies"]')" = "$before" ] || fail "an unchanged import changed the policies: $out"
# the same text under another audit flag, or changed text, is a change
run 0 policy import --audit "$sw/policies/l3-ingress.yaml" -o json
json 'j["unchanged"] is False and j["revision"] == '"$((rev + 1))"
run 0 policy import "$sw/policies/l3-ingress.yaml" -o json
json 'j["unchanged"] is False'
sed 's/class: deathstar/class: deathstar # a comment/' "$sw/policies/l3-ingress.yaml" >"$T/l3-ingress.yaml"
run 0 policy import "$T/l3-ingress.yaml" -o json
json 'j["unchanged"] is False'
run 0 policy import "$T/l3-ingress.yaml" -o json
json 'j["unchanged"] is True'
rev=$(revision)
run 0 policy import "$T/l3-ingress.yaml" "$sw/policies/l3-egress.json"
expect_out "imported 2 policies"
run 0 policy import "$T/l3-ingress.yaml" "$sw/policies/l3-egress.json"
expect_out "unchanged"
[ "$(revision)" = "$((rev + 1))" ] || fail "two unchanged files made a revision"

# ---- raw Cilium rules named by their name label ------------------------------------------------------------
cat >"$T/raw-rules.json" <<'EOF'
[{
  "labels": [{"key": "name", "value": "l3-rule"}],
  "endpointSelector": {"matchLabels": {"class": "deathstar"}},
  "ingress": [{"fromEndpoints": [{"matchLabels": {"class": "tiefighter"}}]}]
}, {
  "labels": [{"key": "name", "value": "xwing-out"}],
  "endpointSelector": {"matchLabels": {"class": "xwing"}},
  "egress": [{"toEndpoints": [{"matchLabels": {"class": "deathstar"}}]}]
}, {
  "endpointSelector": {"matchLabels": {"class": "tiefighter"}},
  "egress": [{"toEndpoints": [{"matchLabels": {"class": "deathstar"}}]}]
}]
EOF
run 0 policy import "$T/raw-rules.json" -o json
json 'sorted(p["name"] for p in j["policies"]) == ["l3-rule", "raw-rules", "xwing-out"] and all(p["kind"] == "CiliumRules" for p in j["policies"])'
run 0 policy get l3-rule
expect_out "l3-rule"
run 0 policy trace --from tiefighter --to deathstar --dport 81
expect_out "CiliumRules l3-rule rules[0].ingress[0]"
expect_out "CiliumRules raw-rules rules[2].egress[0]"
run 0 policy trace --from xwing --to deathstar --dport 80
expect_out "CiliumRules xwing-out rules[1].egress[0]"
run 0 policy delete l3-rule
run 0 policy get -o json
json 'sorted(p["name"] for p in j["policies"] if p["kind"] == "CiliumRules") == ["deathstar-egress", "raw-rules", "xwing-out"]'

# ---- deletes by id --------------------------------------------------------------------------------------------
run 0 endpoint delete "$ds"
run 1 endpoint get deathstar
[ "$(api -X DELETE "http://v/v1/endpoints/$xw")" = 200 ] || fail "DELETE by id: not 200"
run 1 endpoint get xwing
n=$((n + 1))

# ---- a store from before raw rules were named by their name label ----------------------------------------
# (then l3-egress.json's policy was CiliumRules l3-egress): velumd starts, loads it by its new
# name and renames the stored row
agent_stop
python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1])
c.execute("UPDATE policies SET name=? WHERE kind=? AND name=?", ("l3-egress", "CiliumRules", "deathstar-egress")); c.commit()' \
	"$T/state/state.db"
agent_start || exit 1
run 0 policy get -o json
json 'any(p["name"] == "deathstar-egress" and p["rules"] == 1 for p in j["policies"]) and not any(p["name"] == "l3-egress" for p in j["policies"])'
grep -qF "CiliumRules l3-egress: its rules are named by their name labels now" "$T/velumd.log" ||
	fail "no word of the renamed policy in the log"
agent_stop
agent_start || exit 1
run 0 policy get -o json
json 'any(p["name"] == "deathstar-egress" and p["rules"] == 1 for p in j["policies"])'
n=$((n + 1))

finish
