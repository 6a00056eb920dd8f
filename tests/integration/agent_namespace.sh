#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Namespaces with labels through velumd on real namespaces and traffic: a
# NetworkPolicy's namespaceSelector decides by the client's namespace labels;
# `velum namespace label` while probes flow flips the verdict at once (the
# first probe after the command returns sees it), as does a `kind:
# Namespace` object in `velum policy import`; the live trace agrees;
# relabels that change no verdict drop no flow. Also the CLI (tables,
# -o json|yaml, kubectl's k=v / k- / --overwrite, label commands at once
# that all land, delete refused while endpoints live in the namespace), the
# API's merge form, endpoints that try to set namespace labels
# themselves, all-or-nothing imports with file:line:field
# errors, and the labels restored on restart and kept by a schema-2 store's
# upgrade; velumd --allow-localhost policy and always (status, the host's
# traffic to an endpoint, the live trace).
set -u
if [ "$(id -u)" -ne 0 ]; then
	echo "agent_namespace: not root, skipped"
	exit 77
fi
source "$(dirname "$0")/agent_lib.sh"

agent_start || exit 1

run 0 endpoint create server --namespace prod -l app=server
run 0 endpoint create client --namespace team-a -l app=client
srv=$(ep_ip prod/server)

# endpoints cannot carry namespace labels of their own
run 2 endpoint create forged --namespace team-a -l io.cilium.k8s.namespace.labels.team=payments
expect_err "set by velum, not by endpoints"

cat >"$T/np.yaml" <<'EOF'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-payments, namespace: prod}
spec:
  podSelector: {matchLabels: {app: server}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: payments}}
EOF
run 0 policy import "$T/np.yaml"

spawn_in "$T/serve.out" prod/server "$traffic" serve 7000
for _ in $(seq 1 50); do
	grep -q ready "$T/serve.out" && break
	sleep 0.1
done
probe team-a/client udp "$srv" 7000 && fail "unlabelled team-a -> server should be dropped"

# traffic flows all along: a probe loop in the background, one line per probe
(
	while :; do
		if in_ep team-a/client "$traffic" probe udp "$srv" 7000 200 >/dev/null 2>&1; then
			echo pass
		else
			echo drop
		fi
	done
) >"$T/flow.log" 2>&1 &
bg_pids+=("$!")
sleep 0.5

# ---- the label flips the verdict at once -----------------------------------------------------
run 0 namespace label team-a team=payments
expect_out "namespace team-a labeled"
probe team-a/client udp "$srv" 7000 || fail "team=payments: team-a -> server should pass at once"
run 0 policy trace --from team-a/client --to prod/server --dport 7000/UDP
expect_out "Final verdict: ALLOWED"
run 0 endpoint get team-a/client -o json
json '"k8s:io.cilium.k8s.namespace.labels.team=payments" in j["identity_labels"]'
json 'not any("namespace.labels" in l for l in j["labels"])'
sleep 0.5
run 0 namespace label team-a team-
probe team-a/client udp "$srv" 7000 && fail "team- : team-a -> server should be dropped at once"
run 0 policy trace --from team-a/client --to prod/server --dport 7000/UDP
expect_out "Final verdict: DENIED"
sleep 0.5
n=$((n + 1))
grep -q pass "$T/flow.log" && grep -q drop "$T/flow.log" ||
	fail "the probe loop saw no flip: $(sort "$T/flow.log" | uniq -c)"

# ---- kubectl's forms and the output formats -----------------------------------------------------
run 0 namespace label team-a team=ops env=dev
run 2 namespace label team-a team=payments
expect_err "'team' already has a value (ops), and --overwrite is false"
run 0 namespace label team-a team=ops
run 0 namespace label team-a team=payments --overwrite
probe team-a/client udp "$srv" 7000 || fail "team=payments (--overwrite): should pass"

# relabels that change no verdict drop no flow: the server's map knows the client's new identity
# before the client has it, and its old one until it has switched (each datagram a new flow)
spawn_in "$T/serve2.out" prod/server "$traffic" serve 7100
srv2_pid=$spawned
for _ in $(seq 1 50); do
	grep -q ready "$T/serve2.out" && break
	sleep 0.1
done
spawn_in "$T/flood.out" team-a/client "$traffic" flood udp "$srv" 7100 1000 4
flood_pid=$spawned
sleep 0.3
for i in $(seq 1 20); do
	run 0 namespace label team-a "epoch=$i" --overwrite
	sleep 0.1
done
wait "$flood_pid"
sleep 0.3
kill -TERM "$srv2_pid"
wait "$srv2_pid"
sent=$(awk '{ print $2 }' "$T/flood.out")
got=$(awk '$1 == "udp" && $3 == 7100 { n += $4 } END { print n + 0 }' "$T/serve2.out")
n=$((n + 1))
[ -n "$sent" ] && [ "$sent" -gt 0 ] && [ "$got" = "$sent" ] ||
	fail "relabels that change no verdict: $got of ${sent:-?} flows arrived ($(cat "$T/flood.out"))"
run 0 namespace label team-a epoch-
run 2 namespace label team-a env=a env-
expect_err "key 'env' is given twice"
run 2 namespace label team-a 'bad key=x'
expect_err "not a valid label key"
run 2 namespace label team-a kubernetes.io/metadata.name=other --overwrite
expect_err "set by velum"
run 0 namespace list
expect_out "NAME"
expect_out "team-a"
expect_out "env=dev"
expect_out "team=payments"
run 0 namespace list -o json
json 'sorted(x["name"] for x in j) == ["prod", "team-a"]'
json '[x for x in j if x["name"] == "team-a"][0]["labels"] == {"kubernetes.io/metadata.name": "team-a", "env": "dev", "team": "payments"}'
run 0 namespace list -o name
expect_out "prod"
run 0 namespace get team-a -o yaml
expect_out "team: payments"
run 0 namespace get prod
expect_out "Endpoints:   1"
expect_out "kubernetes.io/metadata.name=prod"
run 1 namespace get nowhere
expect_err "no namespace 'nowhere'"
run 0 namespace --help
expect_out "label NAME k=v"
run 0 completion bash
expect_out "_velum_namespaces"

# a namespace with no endpoint, labelled then deleted; one with endpoints refused
run 0 namespace label empty tier=x
run 0 namespace delete empty
expect_out "namespace empty deleted"
run 1 namespace delete prod
expect_err "namespace 'prod' has 1 endpoint(s): delete them first"
run 0 namespace get prod -o json
json 'j["endpoints"] == 1'

# label commands on different keys at once all land: velumd applies each to the labels it has
race_pids=()
for i in $(seq 1 16); do
	"$velum" namespace label race "k$i=v" >"$T/race.$i" 2>&1 &
	race_pids+=("$!")
done
for p in "${race_pids[@]}"; do
	n=$((n + 1))
	wait "$p" || fail "concurrent namespace label exited $?: $(cat "$T"/race.*)"
done
run 0 namespace get race -o json
json 'sorted(j["labels"]) == sorted(["kubernetes.io/metadata.name"] + ["k%d" % i for i in range(1, 17)])'
run 0 namespace delete race

# the API itself: bad bodies and names are 400, unknown namespaces 404, other methods 405
api() {
	curl -s -o "$T/api.out" -w '%{http_code}' --unix-socket "$VELUM_SOCKET" "$@"
}
api_is() {
	local want=$1 body
	shift
	n=$((n + 1))
	code=$(api "$@")
	body=$(cat "$T/api.out")
	[ "$code" = "$want" ] || fail "curl $*: HTTP $code, want $want: $body"
	python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/api.out" ||
		fail "curl $*: not JSON: $body"
}
api_is 400 -X PATCH -d '{"labels": ["team=x"]}' http://velum/v1/namespaces/team-a
api_is 400 -X PATCH -d '{"labels": {"team": 7}}' http://velum/v1/namespaces/team-a
api_is 400 -X PATCH -d '{"labels": {}, "extra": 1}' http://velum/v1/namespaces/team-a
api_is 400 -X PATCH -d '{"labels": {}}' http://velum/v1/namespaces/Bad_Name
grep -q "namespace name 'Bad_Name'" "$T/api.out" || fail "bad name: $(cat "$T/api.out")"
api_is 404 http://velum/v1/namespaces/nowhere
api_is 404 -X DELETE http://velum/v1/namespaces/nowhere
api_is 405 -X POST -d '{}' http://velum/v1/namespaces
api_is 200 http://velum/v1/namespaces
api_is 409 -X DELETE http://velum/v1/namespaces/prod
run 0 namespace get team-a -o json
json 'j["labels"]["team"] == "payments"'
# merge: kubectl label's changes, applied by velumd to the labels it has (null removes)
api_is 400 -X PATCH -d '{"labels": {}, "merge": {}}' http://velum/v1/namespaces/team-a
api_is 400 -X PATCH -d '{"labels": {}, "overwrite": true}' http://velum/v1/namespaces/team-a
api_is 400 -X PATCH -d '{"merge": {"team": 7}}' http://velum/v1/namespaces/team-a
api_is 400 -X PATCH -d '{"merge": {"team": "ops"}, "overwrite": false}' http://velum/v1/namespaces/team-a
grep -q "'team' already has a value (payments), and --overwrite is false" "$T/api.out" ||
	fail "merge without overwrite: $(cat "$T/api.out")"
api_is 200 -X PATCH -d '{"merge": {"tier": "x", "env": null, "gone": null}}' http://velum/v1/namespaces/team-a
api_is 200 -X PATCH -d '{"merge": {"tier": "y"}}' http://velum/v1/namespaces/team-a
run 0 namespace get team-a -o json
json 'j["labels"] == {"kubernetes.io/metadata.name": "team-a", "team": "payments", "tier": "y"}'

# ---- kind: Namespace in policy import ----------------------------------------------------------
# a namespace and its policy in one manifest (the policy as before)
{
	printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n  labels: {env: dev}\n---\n'
	cat "$T/np.yaml"
} >"$T/ns.yaml"
run 0 policy import "$T/ns.yaml"
expect_out "Namespace team-a"
probe team-a/client udp "$srv" 7000 && fail "imported team-a without team: should be dropped"
run 0 namespace get team-a -o json
json 'j["labels"] == {"kubernetes.io/metadata.name": "team-a", "env": "dev"}'
# all or nothing: a bad namespace label drops the whole file, a bad policy its namespaces
sed -e 's/{env: dev}/{env: dev, team: payments, bad: -x}/' "$T/ns.yaml" >"$T/bad1.yaml"
run 2 policy import "$T/bad1.yaml"
expect_err "bad1.yaml:5: metadata.labels.bad:"
sed -e 's/{env: dev}/{team: payments}/' -e 's/podSelector: {matchLabels/podSelector: {matchLabelz/' \
	"$T/ns.yaml" >"$T/bad2.yaml"
run 2 policy import "$T/bad2.yaml"
expect_err "bad2.yaml:11: spec.podSelector.matchLabelz"
run 0 namespace get team-a -o json
json 'j["labels"] == {"kubernetes.io/metadata.name": "team-a", "env": "dev"}'
sed -e 's/{env: dev}/{env: dev, team: payments}/' "$T/ns.yaml" >"$T/good.yaml"
run 0 policy import "$T/good.yaml" -o json
json 'j["namespaces"] == ["team-a"] and not j["unchanged"]'
probe team-a/client udp "$srv" 7000 || fail "imported team=payments: should pass at once"
run 0 policy import "$T/good.yaml" -o json
json 'j["unchanged"]'

# ---- restart: the labels come back from the store (a later relabel, not the imported file) -----
run 0 namespace label team-a extra=1
ident=$(ep_field team-a/client identity)
agent_stop
agent_start || exit 1
run 0 namespace get team-a -o json
json 'j["labels"] == {"kubernetes.io/metadata.name": "team-a", "env": "dev", "team": "payments", "extra": "1"}'
n=$((n + 1))
[ "$(ep_field team-a/client identity)" = "$ident" ] || fail "identity changed over the restart"
probe team-a/client udp "$srv" 7000 || fail "after restart: team-a -> server should pass"

# ---- a schema-2 store (no namespaces table) is upgraded to 3 ----------------------------------
agent_stop
python3 - "$T/state/state.db" <<'PY' || fail "could not make a schema 2 store"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.executescript("DROP TABLE namespaces; PRAGMA user_version=2;")
db.close()
PY
agent_start || exit 1
run 0 status -o json
json "j['store']['schema'] == 3"
run 0 namespace list -o json
json 'sorted(x["name"] for x in j) == ["prod", "team-a"]'
run 0 namespace label team-a team=payments
probe team-a/client udp "$srv" 7000 || fail "after the upgrade: relabelled team-a -> server should pass"

# ---- allow-localhost: policy (default) and always, applied by the datapath and the trace --------
run 0 status -o json
json 'j["allow_localhost"] == "policy"'
run 0 status
expect_out "Host access: policy"
n=$((n + 1))
"$traffic" probe udp "$srv" 7000 300 >/dev/null 2>&1 && fail "policy: host -> server should be dropped"
run 0 policy trace --from host --to prod/server --dport 7000/UDP
expect_out "Final verdict: DENIED"
agent_stop
agent_start --allow-localhost always || exit 1
run 0 status -o json
json 'j["allow_localhost"] == "always"'
run 0 status
expect_out "Host access: always"
n=$((n + 1))
"$traffic" probe udp "$srv" 7000 300 >/dev/null 2>&1 || fail "always: host -> server should pass"
run 0 observe --from host --to prod/server -o raw
ndjson 'any(f["verdict"] == "FORWARDED" and f["policy"] == "allow-localhost always" and f["rule"] is None for f in js)'
run 0 policy trace --from host --to prod/server --dport 7000/UDP
expect_out "the host reaches every local endpoint (velumd --allow-localhost always)"
expect_out "Final verdict: ALLOWED"
# endpoints are still judged by the policy
run 0 namespace label team-a team-
probe team-a/client udp "$srv" 7000 && fail "always: team-a without team -> server should be dropped"
agent_stop
agent_start --allow-localhost policy || exit 1
n=$((n + 1))
"$traffic" probe udp "$srv" 7000 300 >/dev/null 2>&1 && fail "back to policy: host -> server should be dropped"
agent_stop
if "$velumd" --allow-localhost sometimes >"$T/bad.out" 2>&1; then
	fail "velumd --allow-localhost sometimes should fail"
fi
n=$((n + 1))
grep -q "expected always or policy" "$T/bad.out" || fail "velumd --allow-localhost sometimes: $(cat "$T/bad.out")"

finish
