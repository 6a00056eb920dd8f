#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# velum-cni driven as a container runtime drives it: CNI_* variables and the
# network configuration on stdin, against a private velumd and namespaces
# this test makes. ADD (interface name, requested address, result of 0.4.0
# and 1.0.0, reserved:init until labelled), CHECK, DEL (twice, without a
# namespace, after the namespace is gone), GC, STATUS, VERSION with
# placeholder variables, the spec's error objects, and failed ADDs that
# leave nothing behind. Root only (exit 77 otherwise).
set -u
if [ "$(id -u)" != 0 ]; then
	echo "cni_plugin: needs root, skipped"
	exit 77
fi
# shellcheck source=agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"
plugin=${VELUM_CNI:-$top/build/bin/velum-cni}

conf() { # conf VERSION [extra JSON members]
	printf '{"cniVersion": "%s", "name": "velum-test", "type": "velum-cni", "socket": "%s"%s}' \
		"$1" "$VELUM_SOCKET" "${2:+, $2}"
}

# cni RC COMMAND CONTAINERID IFNAME NETNS [CNI_ARGS] < conf: runs the plugin
# with only the CNI variables (as a runtime does); stdout in $out
cni() {
	local want=$1 cmd=$2 cid=$3 ifn=$4 ns=$5 args=${6:-} rc=0
	n=$((n + 1))
	env -i PATH="$PATH" CNI_COMMAND="$cmd" CNI_CONTAINERID="$cid" CNI_IFNAME="$ifn" \
		CNI_NETNS="$ns" CNI_ARGS="$args" CNI_PATH=/nonexistent "$plugin" >"$T/out" 2>"$T/err" ||
		rc=$?
	out=$(cat "$T/out")
	if [ "$rc" != "$want" ]; then
		fail "velum-cni $cmd $cid $ifn exited $rc, want $want: ${out:0:600} $(cat "$T/err")"
	fi
}

# cni_error CODE TEXT: the last run printed the spec's error object with that code
cni_error() {
	json "j['code'] == $1 and j['msg'] and set(j) == {'cniVersion', 'code', 'msg', 'details'}"
	grep -qF -- "$2" <<<"$out" || fail "error lacks '$2': $out"
}

# count of endpoints, and of host veths with our prefix
ep_count() { "$velum" endpoint list -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
veth_count() { ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -c "^$IFP" || true; }

netns() { # netns SUFFIX: makes /run/netns/$NSP<suffix>; cleanup removes it
	ip netns add "$NSP$1"
	echo "/run/netns/$NSP$1"
}

agent_start || exit 1
NS1=$(netns c1) NS2=$(netns c2) NS3=$(netns c3)

# ---- VERSION: answers from stdin alone, with placeholder variables, fast:
# 20 calls of the plain build (the sanitizers' start-up would dominate) cost
# about what 20 runs of true cost, measured alike as the machine's load
# affects both
version() {
	env -i CNI_COMMAND=VERSION CNI_CONTAINERID='!!' CNI_NETNS=relative CNI_IFNAME= \
		CNI_ARGS='bad;;' "$1" <<<'{"cniVersion": "0.4.0", "socket": "/nonexistent"}'
}
n=$((n + 1))
out=$(version "$plugin") || fail "VERSION failed: $out"
json "j == {'cniVersion': '0.4.0', 'supportedVersions': ['0.4.0', '1.0.0', '1.1.0']}"
t0=$(date +%s%N)
for _ in $(seq 1 20); do
	out=$(version "$top/build/bin/velum-cni") || fail "VERSION failed: $out"
done
ms=$((($(date +%s%N) - t0) / 1000000))
t0=$(date +%s%N)
for _ in $(seq 1 20); do
	base=$(env -i CNI_COMMAND=VERSION true <<<'{"cniVersion": "0.4.0"}')
done
base=$((($(date +%s%N) - t0) / 1000000))
json "j == {'cniVersion': '0.4.0', 'supportedVersions': ['0.4.0', '1.0.0', '1.1.0']}"
[ "$ms" -lt $((3 * base + 1500)) ] || fail "20 VERSION calls took $ms ms (20 runs of true: $base ms)"
echo "VERSION: 20 calls in $ms ms (20 runs of true: $base ms)"
out=$(env -i CNI_COMMAND=VERSION "$plugin" </dev/null)
json "j['cniVersion'] == '1.1.0' and '1.0.0' in j['supportedVersions']"

# ---- ADD (1.0.0): the container's name, init identity, a result naming both interfaces
cni 0 ADD c1 eth0 "$NS1" "IgnoreUnknown=1;K8S_POD_NAME=Web_One;K8S_POD_INFRA_CONTAINER_ID=x" <<<"$(conf 1.0.0)"
cp "$T/out" "$T/add1"
mac1=$(ip netns exec "${NS1##*/}" cat /sys/class/net/eth0/address)
json "j['cniVersion'] == '1.0.0' and len(j['interfaces']) == 2 and j['interfaces'][1] == {'name': 'eth0', 'mac': '$mac1', 'sandbox': '$NS1'}"
json "len(j['ips']) == 1 and j['ips'][0]['interface'] == 1 and 'version' not in j['ips'][0] and j['ips'][0]['address'].endswith('/32') and j['ips'][0]['gateway'] == '169.254.1.1'"
json "j['routes'] == [{'dst': '0.0.0.0/0', 'gw': '169.254.1.1'}]"
host1=$(json_get "j['interfaces'][0]['name']")
hmac1=$(json_get "j['interfaces'][0]['mac']")
ip1=$(json_get "j['ips'][0]['address'].split('/')[0]")
[ "$(cat "/sys/class/net/$host1/address" 2>/dev/null)" = "$hmac1" ] || fail "host veth $host1 lacks mac $hmac1"
ip netns exec "${NS1##*/}" ip -o -4 addr show eth0 | grep -qF "$ip1/32" || fail "eth0 in $NS1 lacks $ip1"
run 0 endpoint get web-one -o json
json "j['labels'] == ['reserved:init'] and j['identity'] == 5 and j['identity_labels'] == ['reserved:init']"
json "j['policy'] == {'ingress': 'enforced', 'egress': 'enforced'} and j['container_id'] == 'c1' and j['ifname'] == 'eth0' and j['netns'] == '$NS1' and j['ipv4'] == '$ip1'"

# ---- ADD (0.4.0) with another interface name and a requested address
want_ip=$(python3 -c "import ipaddress,sys; print(ipaddress.ip_network(sys.argv[1])[200])" "$POOL")
cni 0 ADD c2 net1 "$NS2" "IgnoreUnknown=1;K8S_POD_NAME=other;IP=$want_ip" <<<"$(conf 0.4.0)"
json "j['cniVersion'] == '0.4.0' and j['ips'][0] == {'version': '4', 'address': '$want_ip/32', 'gateway': '169.254.1.1', 'interface': 1} and j['interfaces'][1]['name'] == 'net1'"
ip netns exec "${NS2##*/}" ip -o -4 addr show net1 | grep -qF "$want_ip/32" || fail "net1 in $NS2 lacks $want_ip"
run 0 endpoint get other-net1 -o json
json "j['ifname'] == 'net1' and j['identity'] == 5"

# reserved:init is never open: both directions enforced, nothing selects init
n=$((n + 1))
ip netns exec "${NS1##*/}" busybox ping -c 1 -W 1 "$want_ip" >/dev/null 2>&1 &&
	fail "init endpoint reached another init endpoint"
for _ in $(seq 1 40); do # the flow thread reads events in batches
	"$velum" observe --from web-one --verdict DROPPED -o raw | grep -q . && break
	sleep 0.1
done
run 0 observe --from web-one --verdict DROPPED -o raw
ndjson "any(f['source']['endpoint'] == 'default/web-one' and f['source']['identity'] == 5 and f['direction'] == 'egress' and f['policy'] == 'default deny' for f in js)"
# `velum endpoint label` works for any runtime: the endpoints leave init
run 0 endpoint label web-one app=one
run 0 endpoint label other-net1 app=other
run 0 endpoint get web-one -o json
json "j['labels'] == ['k8s:app=one'] and j['identity'] > 255 and j['policy']['egress'] == 'disabled'"
n=$((n + 1))
ip netns exec "${NS1##*/}" busybox ping -c 1 -W 2 "$want_ip" >/dev/null 2>&1 ||
	fail "labelled endpoints without policy cannot talk"

# ---- CHECK against the ADD result
python3 -c 'import json,sys; c=json.loads(sys.argv[1]); c["prevResult"]=json.load(open(sys.argv[2])); print(json.dumps(c))' \
	"$(conf 1.0.0)" "$T/add1" >"$T/check1"
cni 0 CHECK c1 eth0 "$NS1" <"$T/check1"
[ -z "$out" ] || fail "CHECK printed: $out"
sed 's/"address": "[0-9.]*\/32"/"address": "10.9.9.9\/32"/' "$T/check1" >"$T/check_bad"
cni 1 CHECK c1 eth0 "$NS1" <"$T/check_bad"
cni_error 102 "not what prevResult says"
cni 1 CHECK c1 eth0 "$NS1" <<<"$(conf 1.0.0)"
cni_error 7 "prevResult"
cni 1 CHECK c9 eth0 "$NS1" <"$T/check1"
cni_error 102 "no endpoint for container c9"

# ---- failed ADDs leave nothing behind
eps=$(ep_count) veths=$(veth_count)
cni 1 ADD c3 eth0 "$NS3" "IP=192.0.2.7" <<<"$(conf 1.0.0)"
cni_error 100 "outside the pool"
cni 1 ADD c3 eth0 "$NS1" "K8S_POD_NAME=fresh" <<<"$(conf 1.0.0)" # eth0 exists in NS1
cni_error 100 "fresh"
cni 1 ADD c3 eth0 "$NS3" "K8S_POD_NAME=web-one" <<<"$(conf 1.0.0)" # the name is taken
cni_error 100 "already exists"
[ "$(ep_count)" = "$eps" ] || fail "a failed ADD left an endpoint: $("$velum" endpoint list)"
[ "$(veth_count)" = "$veths" ] || fail "a failed ADD left a veth: $(ip -br link)"
[ "$(ip netns exec "${NS3##*/}" ip -o link | wc -l)" = 1 ] || fail "a failed ADD left links in $NS3"

# ---- the spec's errors, on stdout, exit status 1
cni 1 ADD c3 eth0 "$NS3" <<<"$(conf 0.2.0)"
cni_error 1 "cniVersion 0.2.0"
cni 1 ADD c3 eth0 "$NS3" <<<'{"cniVersion": '
cni_error 6 "stdin"
cni 1 ADD c3 "" "$NS3" <<<"$(conf 1.0.0)"
cni_error 4 "CNI_IFNAME"
cni 1 ADD "-bad" eth0 "$NS3" <<<"$(conf 1.0.0)"
cni_error 4 "CNI_CONTAINERID"
cni 1 ADD c3 eth0 "" <<<"$(conf 1.0.0)"
cni_error 4 "CNI_NETNS"
cni 1 ADD c3 eth0 "$NS3" "FOO=bar" <<<"$(conf 1.0.0)"
cni_error 4 "unknown key 'FOO'"
cni 1 ADD c3 eth0 "$NS3" <<<"$(conf 1.0.0 '"prevResult": {"cniVersion": "1.0.0"}')"
cni_error 7 "first plugin"
cni 1 ADD c3 eth0 "$NS3" <<<"$(conf 1.0.0 '"ipam": {"type": "host-local"}')"
cni_error 2 "ipam"
cni 1 ADD c3 eth0 "$NS3" <<<"$(conf 1.0.0 '"runtime": "docker"')"
cni_error 2 "runtime"
cni 1 FROB c3 eth0 "$NS3" <<<"$(conf 1.0.0)"
cni_error 4 "CNI_COMMAND 'FROB'"
[ "$(ep_count)" = "$eps" ] || fail "a refused ADD left an endpoint"

# ---- velumd keeps the interface name and container id across a restart
agent_stop
agent_start || exit 1
run 0 endpoint get other-net1 -o json
json "j['ifname'] == 'net1' and j['container_id'] == 'c2' and j['state'] == 'ready'"
cni 0 CHECK c1 eth0 "$NS1" <"$T/check1"

# ---- DEL: idempotent, without a namespace, after the namespace is gone
cni 0 DEL c1 eth0 "$NS1" <<<"$(conf 1.0.0)"
run 1 endpoint get web-one
ip netns exec "${NS1##*/}" ip link show eth0 >/dev/null 2>&1 && fail "DEL left eth0 in $NS1"
cni 0 DEL c1 eth0 "$NS1" <<<"$(conf 1.0.0)"
cni 0 DEL c2 net1 "" <<<"$(conf 0.4.0)"
run 1 endpoint get other-net1
NS5=$(netns c5)
cni 0 ADD c5 eth0 "$NS5" <<<"$(conf 1.0.0)"
ip netns del "${NS5##*/}"
cni 0 DEL c5 eth0 "$NS5" <<<"$(conf 1.0.0)"
run 0 endpoint list -o json
json "not any(e['container_id'] == 'c5' for e in j)"

# ---- GC (1.1.0): removes the endpoints of attachments the runtime no longer has
NS6=$(netns c6) NS7=$(netns c7)
cni 0 ADD c6 eth0 "$NS6" <<<"$(conf 1.1.0)"
cni 0 ADD c7 eth0 "$NS7" <<<"$(conf 1.1.0)"
run 0 endpoint create manual # not a runtime's: GC leaves it
cni 0 GC "" "" "" <<<"$(conf 1.1.0 '"cni.dev/valid-attachments": [{"containerID": "c6", "ifname": "eth0"}]')"
run 0 endpoint list -o json
json "sorted(e['name'] for e in j) == ['default/cni-c6', 'default/manual']"
cni 0 DEL c6 eth0 "$NS6" <<<"$(conf 1.1.0)"

# ---- STATUS, and velumd not running
cni 0 STATUS "" "" "" <<<"$(conf 1.1.0)"
agent_stop
cni 1 STATUS "" "" "" <<<"$(conf 1.1.0)"
cni_error 50 "Start it with: velumd"
cni 1 ADD c8 eth0 "$NS3" <<<"$(conf 1.0.0)"
cni_error 11 "velumd is not running"
cni 1 DEL c8 eth0 "$NS3" <<<"$(conf 1.0.0)"
cni_error 11 "Start it with: velumd"

# ---- a store of schema 1 (before interface names, container ids and namespaces) is upgraded
python3 - "$T/state/state.db" <<'PY' || fail "could not make a schema 1 store"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.executescript("ALTER TABLE endpoints DROP COLUMN ifname;"
                 "ALTER TABLE endpoints DROP COLUMN container_id; DROP TABLE namespaces;"
                 "PRAGMA user_version=1;")
db.close()
PY
agent_start || exit 1
run 0 status -o json
json "j['store']['schema'] == 3"
run 0 endpoint get manual -o json
json "j['ifname'] == 'eth0' and j['container_id'] is None and j['state'] == 'ready'"
n=$((n + 1))
python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("PRAGMA user_version").fetchone()[0])' \
	"$T/state/state.db" | grep -qx 3 || fail "the store was not upgraded to schema 3"

finish
