#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# velumd's API through every velum command, on the real datapath with real
# namespaces and traffic: endpoints, labels (label commands at once that
# all land, PATCH's merge form), identities, policies (import,
# get, delete, audit), the live trace (byte-identical to the offline one on
# the same state), the enforced map, observe with its filters and --follow,
# status, metrics, completion, --help everywhere, and the errors users get
# for bad input, an agent that is not running, a second agent on the same
# state and a corrupt store; each error changes nothing.
set -u
if [ "$(id -u)" -ne 0 ]; then
	echo "agent_api: not root, skipped"
	exit 77
fi
source "$(dirname "$0")/agent_lib.sh"
sw=$top/examples/starwars

revision() {
	"$velum" status -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["store"]["revision"])'
}

# ---- before the agent runs ----------------------------------------------------------
run 1 status
expect_err "velum: cannot reach velumd at $VELUM_SOCKET: No such file or directory. Is it running? Start it with: velumd"
run 1 -H "$T/nowhere.sock" endpoint list
expect_err "cannot reach velumd at $T/nowhere.sock"

# a corrupt store and a foreign SQLite file are refused and left as they are
mkdir -p "$T/bad"
head -c 8192 /dev/urandom >"$T/bad/state.db"
sum=$(md5sum <"$T/bad/state.db")
rc=0
"$velumd" --state-dir "$T/bad" --socket "$T/bad.sock" --pin-dir "$PIN" --pool "$POOL" \
	--metrics off >"$T/bad.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "velumd on a corrupt store exited $rc"
grep -qF "is not a readable SQLite database" "$T/bad.out" || fail "corrupt store message: $(cat "$T/bad.out")"
grep -qF "refuses to use or overwrite it" "$T/bad.out" || fail "corrupt store advice: $(cat "$T/bad.out")"
[ "$(md5sum <"$T/bad/state.db")" = "$sum" ] || fail "velumd modified a corrupt store"
rm -f "$T/bad/state.db"
python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("create table t(a)"); c.commit()' "$T/bad/state.db"
sum=$(md5sum <"$T/bad/state.db")
rc=0
"$velumd" --state-dir "$T/bad" --socket "$T/bad.sock" --pin-dir "$PIN" --pool "$POOL" \
	--metrics off >"$T/bad.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "velumd on a foreign store exited $rc"
grep -qF "is a SQLite database but not a velum state store" "$T/bad.out" || fail "foreign store message: $(cat "$T/bad.out")"
[ "$(md5sum <"$T/bad/state.db")" = "$sum" ] || fail "velumd modified a foreign store"
[ -e "$T/bad.sock" ] && fail "a refused velumd left its socket"

agent_start || exit 1

# a second agent on the same state is refused
rc=0
"$velumd" --state-dir "$T/state" --socket "$T/second.sock" --pin-dir "$PIN" --pool "$POOL" \
	--metrics off >"$T/second.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "a second velumd on the same state exited $rc"
grep -qF "another velumd (pid $agent_pid) is already using the state directory $T/state" \
	"$T/second.out" || fail "second agent message: $(cat "$T/second.out")"
# ... and so is one with its own state on the same datapath, before it changes
# anything there (its other pool and routing are not written)
rc=0
timeout 10 "$velumd" --state-dir "$T/other-state" --socket "$T/other.sock" --pin-dir "$PIN" \
	--pool 10.254.0.0/24 --host-routing legacy --metrics off >"$T/other.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "a second velumd on the same pin folder exited $rc"
grep -qF "the pin folder $PIN is owned by a running agent (velumd)" "$T/other.out" ||
	fail "second owner message: $(cat "$T/other.out")"
[ -e "$T/other.sock" ] && fail "a refused second owner left its socket"
"$top/build/bin/velum-dp" --pin-dir "$PIN" status | grep -qx "host routing: bpf" ||
	fail "a refused second owner changed the node's routing"
# velum-dp destroy does not pull the datapath from under a running agent
rc=0
"$top/build/bin/velum-dp" --pin-dir "$PIN" destroy >"$T/destroy.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "velum-dp destroy under a running agent exited $rc"
grep -qF "is owned by a running agent" "$T/destroy.out" || fail "destroy message: $(cat "$T/destroy.out")"
[ -e "$PIN/velum_policy" ] || fail "velum-dp destroy removed pins of a running agent"
run 0 status
expect_out "Agent:       Ok"
expect_out "Store:       Ok"
expect_out "host routing BPF"
# the routing is the node's: a change by another process shows at once
"$top/build/bin/velum-dp" --pin-dir "$PIN" --host-routing legacy status >/dev/null ||
	fail "velum-dp --host-routing legacy"
run 0 status
expect_out "host routing Legacy"
"$top/build/bin/velum-dp" --pin-dir "$PIN" --host-routing bpf status >/dev/null ||
	fail "velum-dp --host-routing bpf"
run 0 status
expect_out "host routing BPF"
rc=0
"$velumd" --host-routing fast >"$T/routing.out" 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "velumd --host-routing fast exited $rc"
grep -qF -- "--host-routing 'fast': expected bpf or legacy" "$T/routing.out" ||
	fail "bad --host-routing message: $(cat "$T/routing.out")"

# ---- --help on every command ----------------------------------------------------------
for args in "--help" "endpoint --help" "endpoint create --help" "endpoint delete --help" \
	"endpoint list --help" "endpoint get --help" "endpoint label --help" \
	"endpoint config --help" "endpoint exec --help" "policy --help" "policy import --help" \
	"policy get --help" "policy delete --help" "policy trace --help" "policy resolve --help" \
	"identity --help" "identity list --help" "identity get --help" "bpf policy get --help" \
	"bpf endpoint list --help" "bpf ipcache list --help" "bpf ct list --help" \
	"observe --help" "status --help" "completion --help"; do
	# shellcheck disable=SC2086
	run 0 $args
	expect_out "usage: velum"
done
"$velumd" --help | grep -qF "usage: velumd" || fail "velumd --help"
run 2 endpoint frobnicate
expect_err "unknown verb 'frobnicate'"
run 2 nosuchcommand
expect_err "unknown command 'nosuchcommand'"

# ---- endpoints ----------------------------------------------------------------------------
run 0 endpoint create deathstar -l org=empire -l class=deathstar --port http:80/TCP -o json
json 'j["name"] == "default/deathstar" and j["identity"] == 256 and j["state"] == "ready"'
json 'j["ports"] == [{"name": "http", "port": 80, "protocol": "TCP"}] and "k8s:org=empire" in j["labels"]'
json '"k8s:io.kubernetes.pod.namespace=default" in j["identity_labels"] and j["netns"].startswith("/run/netns/")'
run 0 endpoint create tiefighter --label org=empire --label class=tiefighter
expect_out "endpoint default/tiefighter created: id 2, identity 257"
run 0 endpoint create default/xwing -l org=alliance -l class=xwing
run 0 endpoint create probe --namespace rebels -l org=alliance
expect_out "endpoint rebels/probe created"
rev=$(revision)

# errors: each leaves everything as it was
run 1 endpoint create xwing -l org=alliance
expect_err "endpoint 'default/xwing' already exists"
run 2 endpoint create bad1 -l 'org=@@'
expect_err "label 'org=@@'"
run 2 endpoint create bad2 -l 'k8s:io.kubernetes.pod.namespace=kube-system'
expect_err "labels are set by velum"
run 2 endpoint create Bad_Name
expect_err "endpoint name 'Bad_Name': only lower-case letters"
run 2 endpoint create bad3 --netns /run/netns/does-not-exist-$run_id
expect_err "does-not-exist"
run 2 endpoint create bad4 --port nope
expect_err "--port 'nope'"
run 1 endpoint get nosuch
expect_err "no endpoint 'default/nosuch'"
run 1 endpoint delete nosuch
expect_err "no endpoint 'default/nosuch'"
run 1 endpoint label nosuch a=b
expect_err "no endpoint 'default/nosuch'"
run 2 endpoint label xwing 'x=@'
expect_err "is not a valid label value"
run 2 endpoint create
expect_err "an endpoint NAME is required"
[ "$(revision)" = "$rev" ] || fail "a failed call changed the revision"
run 0 endpoint list -o json
json 'len(j) == 4 and [e["name"] for e in j] == ["default/deathstar", "default/tiefighter", "default/xwing", "rebels/probe"]'
[ -z "$(ls /run/netns | grep -E "^${NSP}[5-9]")" ] || fail "a failed create left a namespace"

run 0 endpoint list
expect_out "ENDPOINT   NAME"
expect_out "ENFORCEMENT"
expect_out "k8s:class=deathstar"
run 0 endpoint list -o name
expect_out "rebels/probe"
run 0 endpoint get deathstar
expect_out "Name:             default/deathstar"
expect_out "Ports:            http 80/TCP"
run 0 endpoint get probe -n rebels -o json
json 'j["namespace"] == "rebels" and j["policy"] == {"ingress": "disabled", "egress": "disabled"}'

# an adopted namespace is used as it is and left in place on delete
ip netns add "${NSP}adopt"
run 0 endpoint create adopted --netns "/run/netns/${NSP}adopt" -l app=adopted -o json
json 'j["netns"] == "/run/netns/'"${NSP}adopt"'" and j["state"] == "ready"'
ip netns exec "${NSP}adopt" ip -4 -o addr show dev eth0 | grep -qF "$(ep_ip adopted)/32" ||
	fail "the adopted namespace lacks the endpoint's address"
run 0 endpoint delete adopted
[ -e "/run/netns/${NSP}adopt" ] || fail "deleting an endpoint removed its adopted namespace"
ip netns del "${NSP}adopt"

# exec runs inside the endpoint's namespace
xw=$(ep_ip xwing)
run 0 endpoint exec xwing -- ip -4 -o addr show dev eth0
expect_out "$xw/32"
run 127 endpoint exec xwing -- /nonexistent-$run_id
ds=$(ep_ip deathstar)
tf=$(ep_ip tiefighter)

# ---- policies --------------------------------------------------------------------------------
run 0 policy import "$sw/policies/l3-ingress.yaml" "$sw/policies/l3-egress.json"
expect_out "imported 2 policies"
expect_out "CiliumNetworkPolicy default/deathstar-ingress"
run 0 policy get
expect_out "deathstar-ingress"
expect_out "l3-egress"
expect_out "Revision: "
run 0 policy get deathstar-ingress
expect_out "# source of CiliumNetworkPolicy deathstar-ingress"
expect_out "fromEndpoints"
run 0 policy get -o json
json '[p["name"] for p in j["policies"]] == ["deathstar-ingress", "deathstar-egress"] and j["policies"][0]["first_rule_id"] == 16'
run 1 policy get nosuch
run 0 endpoint get deathstar -o json
json 'j["policy"] == {"ingress": "enforced", "egress": "enforced"}'

# the enforced map, read back from the kernel
run 0 bpf policy get deathstar -o json
json 'any(e["direction"] == "ingress" and e["verdict"] == "ALLOW" and e["port"] == "TCP/80" and e["peer"]["identity"] == 257 and e["rule"]["ref"] == "CiliumNetworkPolicy default/deathstar-ingress spec.ingress[0]" for e in j["entries"])'
json 'not any(e["peer"]["identity"] == 258 for e in j["entries"])'
run 0 bpf policy get deathstar
expect_out "POLICY   DIRECTION   LABELS (source:key[=value])"
expect_out "k8s:class=tiefighter"
run 0 bpf policy get deathstar -n
expect_out "257"
run 1 bpf policy get nosuch
# BPF host routing's targets, read back from the kernel: every endpoint once,
# with its address, id, identity, host veth and MACs (the endpoint's own inside)
run 0 bpf endpoint list -o json
nep=$("$velum" endpoint list -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
json 'j["host_routing"] == "bpf" and len(j["endpoints"]) == '"$nep"' and len({e["name"] for e in j["endpoints"]}) == '"$nep"
json '{e["name"]: e["address"] for e in j["endpoints"] if e["name"].startswith("default/")} == {"default/deathstar": "'"$ds"'", "default/tiefighter": "'"$tf"'", "default/xwing": "'"$xw"'"}'
json '[e["identity"] for e in j["endpoints"] if e["name"] == "default/tiefighter"] == [257]'
ds_sel='[e for e in j["endpoints"] if e["name"] == "default/deathstar"][0]'
ds_host_if=$IFP$(json_get "$ds_sel[\"id\"]")
[ "$(json_get "$ds_sel[\"ifindex\"]")" = "$(cat "/sys/class/net/$ds_host_if/ifindex")" ] ||
	fail "bpf endpoint list: the deathstar's ifindex is not its host veth's"
[ "$(json_get "$ds_sel[\"host_mac\"]")" = "$(cat "/sys/class/net/$ds_host_if/address")" ] ||
	fail "bpf endpoint list: the deathstar's host MAC is not its host veth's"
ds_mac=$(in_ep deathstar ip -o link show dev eth0 | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2)
[ "$(json_get "$ds_sel[\"mac\"]")" = "$ds_mac" ] ||
	fail "bpf endpoint list: the deathstar's MAC $(json_get "$ds_sel[\"mac\"]") is not its eth0's ($ds_mac)"
run 0 bpf endpoint list
expect_out "host routing: bpf"
expect_out "IP ADDRESS"
expect_out "default/xwing"
run 2 bpf endpoint list extra
expect_err "unexpected argument 'extra'"

# identities
run 0 identity list
expect_out "reserved:world"
expect_out "default/tiefighter"
run 0 identity get 257 -o json
json 'j["id"] == 257 and j["endpoints"] == ["default/tiefighter"] and "k8s:class=tiefighter" in j["labels"]'
run 0 identity get 2
expect_out "reserved:world"
run 1 identity get 99999
expect_err "no identity 99999"

# the live trace says exactly what the offline trace says on the same state
"$velum" endpoint list -o json | python3 -c '
import json, sys
eps = []
for e in json.load(sys.stdin):
    labels = {}
    for l in e["labels"]:
        k, _, v = l.partition("=")
        labels[k] = v
    eps.append({"name": e["name"], "namespace": e["namespace"], "labels": labels,
                "ips": [e["ipv4"]], "ports": e["ports"]})
json.dump(eps, sys.stdout)' >"$T/eps.json"
for q in "--from tiefighter --to deathstar --dport 80" "--from xwing --to deathstar --dport 80" \
	"--from deathstar --to rebels/probe --dport 21" "--from world --to deathstar --icmp-type 8" \
	"--from $tf --to $ds --dport 80/udp"; do
	# shellcheck disable=SC2086
	live=$("$velum" policy trace $q 2>&1)
	# shellcheck disable=SC2086
	offline=$("$velum" policy trace --offline --endpoints "$T/eps.json" \
		--policy "$sw/policies/l3-ingress.yaml" --policy "$sw/policies/l3-egress.json" $q 2>&1)
	[ "$live" = "$offline" ] || fail "live and offline traces differ for '$q':
--- live
$live
--- offline
$offline"
	# shellcheck disable=SC2086
	livej=$("$velum" policy trace $q -o json 2>&1)
	# shellcheck disable=SC2086
	offj=$("$velum" policy trace --offline --endpoints "$T/eps.json" \
		--policy "$sw/policies/l3-ingress.yaml" --policy "$sw/policies/l3-egress.json" $q -o json 2>&1)
	[ "$livej" = "$offj" ] || fail "live and offline JSON traces differ for '$q'"
	n=$((n + 2))
done
run 0 policy trace --from xwing --to deathstar --dport 80
expect_out "DENIED by default deny"
expect_out "Final verdict: DENIED"
run 2 policy trace --from nobody --to deathstar --dport 80
expect_err "from: 'nobody' is not an endpoint"
run 2 policy trace --from xwing --to deathstar --dport 80 --policy x.yaml
expect_err "--policy and --endpoints need --offline"

# ---- traffic and flows --------------------------------------------------------------------------
spawn_in "$T/serve.out" deathstar "$traffic" serve 80
for _ in $(seq 1 50); do
	grep -q ready "$T/serve.out" && break
	sleep 0.1
done
probe tiefighter tcp "$ds" 80 || fail "tiefighter -> deathstar:80 should pass"
probe xwing tcp "$ds" 80 && fail "xwing -> deathstar:80 should be dropped"
sleep 0.5
# the kernel's conntrack and ipcache, read back: the allowed flow has its
# egress (tiefighter's) and ingress (deathstar's) entries; the dropped one no
# ingress entry (its source's egress allowed it, as in Cilium)
run 0 bpf ct list -o json
json 'any(e["protocol"] == "TCP" and e["direction"] == "ingress" and e["source"].startswith("'"$tf"':") and e["destination"] == "'"$ds"':80" and e["peer_identity"] == 257 and e["rule"]["ref"] == "CiliumNetworkPolicy default/deathstar-ingress spec.ingress[0]" and e["expires_in"] > 0 for e in j["entries"])'
json 'any(e["direction"] == "egress" and e["source"].startswith("'"$tf"':") and e["destination"] == "'"$ds"':80" for e in j["entries"])'
json 'not any(e["direction"] == "ingress" and e["source"].startswith("'"$xw"':") and e["destination"] == "'"$ds"':80" for e in j["entries"])'
run 0 bpf ct list
expect_out "PROTO   DIRECTION   SOURCE"
expect_out "$ds:80"
run 0 bpf ipcache list -o json
json 'any(e["prefix"] == "'"$ds"'/32" and e["identity"] == 256 and e["endpoint"] == "default/deathstar" and "k8s:org=empire" in e["labels"] for e in j["entries"])'
run 0 bpf ipcache list
expect_out "$ds/32"
run 2 bpf ct list extra
expect_err "unexpected argument 'extra'"
run 0 observe --last 100
expect_out "default/tiefighter:"
expect_out "-> default/deathstar:80 (ID:256) policy-verdict:L3-L4 INGRESS ALLOWED (TCP Flags: SYN) BY CiliumNetworkPolicy default/deathstar-ingress spec.ingress[0]"
expect_out "-> default/deathstar:80 (ID:256) policy-verdict:none INGRESS DENIED (TCP Flags: SYN) BY default deny"
expect_out "-> default/deathstar:80 (ID:256) Policy denied DROPPED (TCP Flags: SYN) BY default deny"
run 0 observe --from xwing --verdict DROPPED -o raw
ndjson 'len(js) >= 2 and all(f["verdict"] == "DROPPED" and f["source"]["endpoint"] == "default/xwing" and f["policy"] == "default deny" and f["rule"] is None for f in js)'
ndjson 'any(f["type"] == "drop" and f["reason"] == "Policy denied" and f["destination"]["port"] == 80 for f in js)'
run 0 observe --to deathstar --verdict FORWARDED --port 80 -o raw
ndjson 'len(js) >= 1 and all(f["destination"]["endpoint"] == "default/deathstar" and f["verdict"] == "FORWARDED" for f in js)'
ndjson 'any(f["rule"] and f["rule"]["name"] == "deathstar-ingress" and f["match"] == "L3-L4" for f in js)'
run 0 observe --label class=xwing --verdict DROPPED --to-port 80 --last 1 -o raw
ndjson 'len(js) == 1 and "k8s:class=xwing" in js[0]["source"]["labels"]'
run 0 observe --from "$xw" --to "$ds/32" --since 1m -o raw
ndjson 'len(js) >= 2 and all(f["source"]["ip"] == "'"$xw"'" for f in js)'
run 0 observe --from ID:258 --verdict dropped --last 1 -o raw
ndjson 'len(js) == 1 and js[0]["source"]["identity"] == 258'
run 0 observe --since 2030-01-01T00:00:00Z
[ -z "$out" ] || fail "observe --since in the future printed: $out"
run 2 observe --verdict MAYBE
expect_err "expected FORWARDED, DROPPED, AUDIT, REDIRECTED or ERROR"
run 2 observe --since yesterday
expect_err "expected a duration"
# --follow streams new flows
timeout 4 "$velum" observe -f --from xwing >"$T/follow.out" 2>&1 &
fpid=$!
sleep 0.7
probe xwing tcp "$ds" 80
wait "$fpid"
grep -qF "default/xwing" "$T/follow.out" || fail "observe --follow showed nothing: $(cat "$T/follow.out")"
grep -qF "BY default deny" "$T/follow.out" || fail "observe --follow lacks the rule"
n=$((n + 1))

# relabel: xwing joins the empire, gets another identity, and passes
run 0 endpoint label xwing org=empire -o json
json 'j["identity"] != 258 and "k8s:org=empire" in j["labels"] and "k8s:org=alliance" not in j["labels"] and "k8s:class=xwing" in j["labels"]'
probe xwing tcp "$ds" 80 || fail "relabelled xwing -> deathstar:80 should pass"
run 0 endpoint label xwing org=alliance
probe xwing tcp "$ds" 80 && fail "xwing back in the alliance should be dropped"
run 0 endpoint label xwing extra=1 class-
run 0 endpoint get xwing -o json
json 'sorted(j["labels"]) == ["k8s:extra=1", "k8s:org=alliance"]'
run 0 endpoint label xwing --replace org=alliance class=xwing
run 0 endpoint get xwing -o json
json 'sorted(j["labels"]) == ["k8s:class=xwing", "k8s:org=alliance"]'

# label commands on different keys at once all land: velumd applies each to the labels it has
api() {
	curl -s -o "$T/api.out" -w '%{http_code}' --unix-socket "$VELUM_SOCKET" "$@"
}
run 0 endpoint create racer -l app=racer -l r1=v -l r2=v -l r3=v -l r4=v -l r5=v -l r6=v -l r7=v -l r8=v
race_pids=()
for i in $(seq 1 8); do
	"$velum" endpoint label racer "k$i=v" >"$T/race.k$i" 2>&1 &
	race_pids+=("$!")
	"$velum" endpoint label racer "r$i-" >"$T/race.r$i" 2>&1 &
	race_pids+=("$!")
done
for p in "${race_pids[@]}"; do
	n=$((n + 1))
	wait "$p" || fail "concurrent endpoint label exited $?: $(cat "$T"/race.*)"
done
run 0 endpoint get racer -o json
lost=$(json_get 'sum("k8s:k%d=v" % i not in j["labels"] for i in range(1, 9)) + sum("k8s:r%d=v" % i in j["labels"] for i in range(1, 9))')
[ "$lost" = 0 ] || fail "concurrent endpoint label: $lost of 16 changes lost: $out"
json 'sorted(j["labels"]) == sorted(["k8s:app=racer"] + ["k8s:k%d=v" % i for i in range(1, 9)])'
# the API's merge form: bad bodies are 400 (404 for an unknown endpoint) and change nothing
# refused STATUS BODY [MESSAGE] [ENDPOINT]: PATCH BODY answers STATUS with MESSAGE in its error
refused() {
	n=$((n + 1))
	local code
	code=$(api -X PATCH -d "$2" "http://v/v1/endpoints/${4:-default/racer}")
	[ "$code" = "$1" ] || fail "PATCH $2: $code, want $1: $(cat "$T/api.out")"
	[ -z "${3:-}" ] || grep -qF -- "$3" "$T/api.out" || fail "PATCH $2: $(cat "$T/api.out"), want '$3'"
}
rev=$(revision)
refused 400 '{"labels": [], "merge": {}}' '(the user labels, all of them)'
refused 400 '{"merge": ["k1=v"]}' 'null removes'
refused 400 '{"merge": {"k1": 7}}' 'merge.k1: expected a string or null'
refused 400 '{"merge": {"k1=v": "w"}}' "merge: 'k1=v': expected a label key"
refused 400 '{"merge": {"app": "x", "k8s:app": null}}' "key 'app' is given twice ('app', 'k8s:app'): one value per key"
refused 400 '{"merge": {"k1": null, "container:k1": "w"}}' "key 'k1' is given twice"
refused 400 '{"merge": {"container:app": "x"}}' "label 'container:app=x': key 'app' is given twice"
refused 400 '{"merge": {"x": "@"}}' "label 'x=@': '@' is not a valid label value"
refused 400 '{"merge": {"io.kubernetes.pod.namespace": "kube-system"}}' \
	"label 'io.kubernetes.pod.namespace=kube-system': namespace and cluster labels are set by velum, not by endpoints"
refused 400 '{"merge": {"reserved:host": ""}}' "label 'reserved:host': reserved labels are set by velum"
refused 400 '{"merge": {"nosuch:app": "x"}}' "'nosuch' is not a label source"
refused 404 '{"merge": {"a": "b"}}' "no endpoint 'default/nosuch'" default/nosuch
[ "$(revision)" = "$rev" ] || fail "a refused merge changed the revision"
run 0 endpoint get racer -o json
json 'sorted(j["labels"]) == sorted(["k8s:app=racer"] + ["k8s:k%d=v" % i for i in range(1, 9)]) and j["audit"] is False'
n=$((n + 2))
[ "$(api -X PATCH -d '{"merge": {"k1": null, "gone": null, "k8s:k2": "w", "container:extra": "1", "flag": ""}, "audit": true}' \
	http://v/v1/endpoints/default/racer)" = 200 ] || fail "merge: $(cat "$T/api.out")"
[ "$(api -X PATCH -d '{"merge": {}}' http://v/v1/endpoints/default/racer)" = 200 ] || fail "empty merge: $(cat "$T/api.out")"
run 0 endpoint get racer -o json
json 'sorted(j["labels"]) == sorted(["k8s:app=racer", "k8s:k2=w", "container:extra=1", "k8s:flag"] + ["k8s:k%d=v" % i for i in range(3, 9)]) and j["audit"] is True'
# k- names a source and key as k=v does: extra- (k8s:) leaves container:extra alone
run 0 endpoint label racer extra- k3-
run 0 endpoint get racer -o json
json '"container:extra=1" in j["labels"] and "k8s:k3=v" not in j["labels"]'
run 0 endpoint label racer container:extra-
run 0 endpoint get racer -o json
json 'not any("extra" in l for l in j["labels"])'
run 0 endpoint delete racer
# an endpoint whose labels are not known yet (reserved:init) stays init until its first label
run 0 endpoint create initer -l reserved:init
run 0 endpoint label initer gone-
run 0 endpoint get initer -o json
json 'j["labels"] == ["reserved:init"] and j["identity"] == 5'
run 0 endpoint label initer app=initer
run 0 endpoint get initer -o json
json 'j["labels"] == ["k8s:app=initer"] and j["identity"] > 255'
run 0 endpoint delete initer

# ---- audit modes ----------------------------------------------------------------------------------
# per endpoint: would-be drops pass and are reported AUDIT
run 0 endpoint config deathstar PolicyAuditMode=Enabled
expect_out "PolicyAuditMode=Enabled"
run 0 endpoint get deathstar -o json
json 'j["audit"] is True and j["policy"]["ingress"] == "audit"'
probe xwing tcp "$ds" 80 || fail "endpoint audit mode: xwing -> deathstar:80 should pass"
sleep 0.3
run 0 observe --from xwing --verdict AUDIT --last 1
expect_out "policy-verdict:all INGRESS AUDITED (TCP Flags: SYN) BY default deny"
run 0 endpoint config deathstar PolicyAuditMode=Disabled
probe xwing tcp "$ds" 80 && fail "audit mode off: xwing should be dropped again"
run 2 endpoint config deathstar Frobnicate=1
# per policy: only that policy's denials pass
cat >"$T/deny-tie.yaml" <<'YAML'
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: no-tiefighters
spec:
  endpointSelector:
    matchLabels: {class: deathstar}
  ingressDeny:
  - fromEndpoints:
    - matchLabels: {class: tiefighter}
YAML
run 0 policy import --audit "$T/deny-tie.yaml"
expect_out "in audit mode"
probe tiefighter tcp "$ds" 80 || fail "audited deny: tiefighter should pass"
probe xwing tcp "$ds" 80 && fail "the other policy still enforces: xwing dropped"
sleep 0.3
run 0 observe --from tiefighter --verdict AUDIT --last 1 -o raw
ndjson 'len(js) == 1 and js[0]["rule"]["name"] == "no-tiefighters" and js[0]["policy"] == "CiliumNetworkPolicy default/no-tiefighters spec.ingressDeny[0]"'
run 0 policy get no-tiefighters -o json
json 'j["policies"][0]["audit"] is True'
run 0 policy import "$T/deny-tie.yaml"
probe tiefighter tcp "$ds" 80 && fail "enforced deny: tiefighter should be dropped"
sleep 0.3
run 0 observe --from tiefighter --verdict DROPPED --last 1
expect_out "Policy denied by denylist DROPPED (TCP Flags: SYN) BY CiliumNetworkPolicy default/no-tiefighters spec.ingressDeny[0]"

# CIDR identities: allocated for the prefixes a policy uses, freed with it
cat >"$T/cidr.yaml" <<'YAML'
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: tiefighter-out
spec:
  endpointSelector:
    matchLabels: {class: tiefighter}
  egress:
  - toCIDR: [192.0.2.0/24]
YAML
run 0 policy import "$T/cidr.yaml"
run 0 identity list -o json
json 'any(i["cidr"] == "192.0.2.0/24" and "cidr:192.0.2.0/24" in i["labels"] and i["id"] >= 0x1000000 for i in j)'
run 0 bpf policy get tiefighter -o json
json 'any(e["direction"] == "egress" and "cidr:192.0.2.0/24" in e["peer"]["labels"] for e in j["entries"])'
run 0 policy trace --from tiefighter --to 192.0.2.9 --dport 443
expect_out "allowed by CiliumNetworkPolicy default/tiefighter-out spec.egress[0]"
run 0 policy delete tiefighter-out
run 0 identity list -o json
json 'not any(i["cidr"] for i in j)'

# ---- metrics --------------------------------------------------------------------------------------
m=$(curl -s "http://$(metrics_addr)/metrics")
for want in 'velum_drop_count_total{reason="Policy denied",direction="INGRESS"}' \
	'velum_drop_count_total{reason="Policy denied by denylist",direction="INGRESS"}' \
	'velum_forward_count_total{direction="EGRESS"}' \
	'velum_policy_verdict_total{verdict="forwarded",match="L3-L4",direction="ingress"}' \
	'velum_policy_verdict_total{verdict="audit",' 'velum_endpoint 4' \
	'velum_identity{type="allocated"}' 'velum_policy 3' \
	'velum_endpoint_regeneration_time_stats_seconds_bucket{scope="total",le="+Inf"}' \
	'velum_policy_import_to_enforced_seconds_count ' '# TYPE velum_drop_count_total counter'; do
	grep -qF -- "$want" <<<"$m" || fail "metrics lack '$want'"
	n=$((n + 1))
done

# ---- raw API errors --------------------------------------------------------------------------------
[ "$(api http://v/v1/nothing)" = 404 ] || fail "unknown path: not 404"
[ "$(api -X POST -d '{not json' http://v/v1/endpoints)" = 400 ] || fail "bad JSON: not 400"
[ "$(api -X POST -d '{"name":"x","colour":"red"}' http://v/v1/endpoints)" = 400 ] || fail "unknown field: not 400"
[ "$(api -X POST -d '{"files":[]}' http://v/v1/policies)" = 400 ] || fail "no files: not 400"
[ "$(api -X DELETE 'http://v/v1/policies?name=nosuch')" = 404 ] || fail "delete unknown policy: not 404"
[ "$(api 'http://v/v1/flows?last=x')" = 400 ] || fail "bad last: not 400"
[ "$(stat -c %a "$VELUM_SOCKET")" = 600 ] || fail "socket mode is not 0600"
n=$((n + 7))
# errors the HTTP library answers itself: JSON of the API's shape, one status line, then close
python3 - "$VELUM_SOCKET" <<'PY' || fail "raw HTTP errors (see above)"
import json, socket, sys
path, bad = sys.argv[1], 0
def raw(data):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.settimeout(5)
    try:
        s.sendall(data)
    except BrokenPipeError:
        pass
    out = b""
    while True:
        try:
            b = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not b:
            break
        out += b
    return out
cases = [
    ("Content-Length of 21 digits", 413,
     b"POST /v1/policies HTTP/1.1\r\nHost: v\r\nContent-Length: 999999999999999999999\r\n\r\n"),
    ("a 100 KB URL", 414, b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: v\r\n\r\n"),
    ("5,000 headers", 431, b"GET /v1/status HTTP/1.1\r\nHost: v\r\n" +
     b"".join(b"X-%d: y\r\n" % i for i in range(5000)) + b"\r\n"),
    ("HTTP/2.0", 505, b"GET /v1/status HTTP/2.0\r\nHost: v\r\n\r\n"),
    ("a bad chunk", 400, b"POST /v1/policies HTTP/1.1\r\nHost: v\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
    ("a good request", 200, b"GET /v1/status HTTP/1.1\r\nHost: v\r\n\r\n"),
    ("an API error", 404, b"GET /v1/nothing HTTP/1.1\r\nHost: v\r\n\r\n"),
]
for what, want, req in cases:
    out = raw(req)
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
    why = []
    nstatus = out.count(b"\r\nHTTP/1.") + out.startswith(b"HTTP/1.")
    if nstatus != 1:
        why.append("%d status lines" % nstatus)
    if not lines[0].startswith("HTTP/1.1 %d " % want):
        why.append("status line %r" % lines[0])
    if hdrs.get("content-type") != "application/json":
        why.append("content type %r" % hdrs.get("content-type"))
    if "x-velum-api" in hdrs:
        why.append("the front door's mark leaked")
    try:
        j = json.loads(body)
        if want >= 400 and not (isinstance(j, dict) and list(j) == ["error"] and j["error"]):
            why.append("body %r" % body[:200])
    except ValueError:
        why.append("body not JSON: %r" % body[:200])
    if len(body) != int(hdrs.get("content-length", -1)):
        why.append("body of %d bytes, Content-Length %s" % (len(body), hdrs.get("content-length")))
    print("  %s: %s %s" % (what, lines[0], body[:80].decode("latin-1").strip()))
    if why:
        print("FAIL: %s: %s" % (what, "; ".join(why)), file=sys.stderr)
        bad += 1
sys.exit(1 if bad else 0)
PY
n=$((n + 1))

# ---- completion -------------------------------------------------------------------------------------
run 0 completion bash
bash -n <<<"$out" || fail "completion script has syntax errors"
comp() {
	bash -c 'source <("$1" completion bash); COMP_WORDS=($2); COMP_WORDS[0]=$1; COMP_CWORD=$3; _velum; printf "%s\n" "${COMPREPLY[@]}"' \
		_ "$velum" "$1" "$2"
}
comp "velum endpoint c" 2 | grep -qx create || fail "completion: endpoint verbs"
comp "velum endpoint get x" 3 | grep -qx xwing || fail "completion: endpoint names"
comp "velum observe --verdict D" 3 | grep -qx DROPPED || fail "completion: verdicts"
n=$((n + 3))

# ---- deletes ------------------------------------------------------------------------------------------
run 1 policy delete nosuch
expect_err "no policy named 'nosuch'"
run 2 policy delete
expect_err "give a policy NAME or --all"
run 0 policy delete no-tiefighters -o json
json 'j["deleted"] == 1'
probe tiefighter tcp "$ds" 80 || fail "deny deleted: tiefighter should pass"
run 0 policy delete --all
expect_out "deleted 2 policies"
probe xwing tcp "$ds" 80 || fail "no policy: xwing should pass"
run 0 endpoint get deathstar -o json
json 'j["policy"] == {"ingress": "disabled", "egress": "disabled"}'
run 0 endpoint delete rebels/probe -o json
json 'j["revision"] > 0'
run 0 endpoint delete xwing
[ -e "/run/netns/${NSP}3" ] && fail "deleted endpoint's namespace remains"
run 0 endpoint list -o json
json '[e["name"] for e in j] == ["default/deathstar", "default/tiefighter"]'

# ---- the state survives a restart ----------------------------------------------------------------
"$velum" endpoint list -o json >"$T/before.json"
"$velum" identity list -o json >"$T/ids-before.json"
rev=$(revision)
agent_stop
agent_start || exit 1
"$velum" endpoint list -o json >"$T/after.json"
"$velum" identity list -o json >"$T/ids-after.json"
cmp -s "$T/before.json" "$T/after.json" || fail "endpoints differ after a restart"
cmp -s "$T/ids-before.json" "$T/ids-after.json" || fail "identities differ after a restart"
[ "$(revision)" = "$rev" ] || fail "revision changed over a restart"
probe tiefighter tcp "$ds" 80 || fail "after restart: tiefighter -> deathstar should pass"
n=$((n + 4))

# a namespace removed while the agent was down: the endpoint reports the error
run 0 endpoint create doomed -l app=doomed
doomed_ns=$("$velum" endpoint get doomed -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["netns"])')
agent_stop
ip netns del "$(basename "$doomed_ns")"
agent_start || exit 1
run 0 endpoint get doomed -o json
json 'j["state"] == "error" and "is gone" in j["error"]'
run 0 status
expect_out "Datapath:    Degraded"
run 0 endpoint delete doomed
run 0 status
expect_out "Datapath:    Ok"

finish
