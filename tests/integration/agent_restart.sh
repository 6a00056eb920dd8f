#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Restart without a gap: allowed and denied flows run continuously (every
# UDP datagram and TCP connection a new flow, so each one is decided by the
# policy in the kernel) while velumd is killed with SIGKILL, stays down, and
# comes back. Counts what crossed the wrong way: denied traffic that arrived,
# and allowed traffic that did not. Both must be 0. Then checks that the
# restarted agent holds the same state (endpoints, identities, policies, the
# kernel's maps) and reports the flows of its downtime.
set -u
if [ "$(id -u)" -ne 0 ]; then
	echo "agent_restart: not root, skipped"
	exit 77
fi
source "$(dirname "$0")/agent_lib.sh"

SECS=${RESTART_SECS:-8}
UDP_RATE=300
TCP_RATE=40

agent_start || exit 1
"$velum" endpoint create server -l app=server >/dev/null || exit 1
"$velum" endpoint create good -l app=good >/dev/null || exit 1
"$velum" endpoint create bad -l app=bad >/dev/null || exit 1
cat >"$T/policy.yaml" <<'YAML'
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: server-ingress
spec:
  endpointSelector:
    matchLabels: {app: server}
  ingress:
  - fromEndpoints:
    - matchLabels: {app: good}
    toPorts:
    - ports:
      - {port: "7000", protocol: UDP}
      - {port: "7001", protocol: TCP}
YAML
"$velum" policy import "$T/policy.yaml" >/dev/null || exit 1
srv=$(ep_ip server)
good=$(ep_ip good)
bad=$(ep_ip bad)

snapshot() {
	"$velum" endpoint list -o json >"$T/$1.eps"
	"$velum" identity list -o json >"$T/$1.ids"
	"$velum" policy get -o json | python3 -c 'import json,sys; j=json.load(sys.stdin); [(p.pop("imported"), p.pop("hits")) for p in j["policies"]]; print(json.dumps(j, sort_keys=True))' >"$T/$1.pols"
	for e in server good bad; do
		"$velum" bpf policy get "$e" -o json |
			python3 -c 'import json,sys; j=json.load(sys.stdin); print(json.dumps(sorted(j["entries"], key=lambda e: json.dumps(e, sort_keys=True)), sort_keys=True))'
	done >"$T/$1.maps"
}
snapshot before

spawn_in "$T/serve.out" server "$traffic" serve 7000 7001
srv_pid=$spawned
for _ in $(seq 1 50); do
	grep -q ready "$T/serve.out" && break
	sleep 0.1
done
probe good udp "$srv" 7000 || fail "before: good -> server udp/7000 should pass"
probe bad udp "$srv" 7000 && fail "before: bad -> server udp/7000 should be dropped"

# the flows; each flood prints "sent N ok M fail K" when done
flood() {
	spawn_in "$T/flood.$1.$2" "$1" "$traffic" flood "$2" "$srv" "$3" "$4" "$SECS"
	flood_pids+=("$spawned")
}
flood_pids=()
flood good udp 7000 $UDP_RATE
flood good tcp 7001 $TCP_RATE
flood bad udp 7000 $UDP_RATE
flood bad tcp 7001 $TCP_RATE

sleep 2
old_pid=$agent_pid
agent_kill9
echo "velumd $old_pid killed with SIGKILL"
run 1 status
expect_err "cannot reach velumd"
sleep 2
agent_start || exit 1
echo "velumd restarted as $agent_pid"
for p in "${flood_pids[@]}"; do
	wait "$p"
done
sleep 0.5
kill -TERM "$srv_pid"
wait "$srv_pid"

# what arrived, per source: "udp|tcp SRC PORT COUNT"
got() {
	awk -v p="$1" -v s="$2" '$1 == p && $2 == s { n += $4 } END { print n + 0 }' "$T/serve.out"
}
field() {
	awk -v f="$2" '{ for (i = 1; i < NF; i++) if ($i == f) print $(i + 1) }' "$T/flood.$1"
}
good_udp_sent=$(field good.udp sent)
good_tcp_sent=$(field good.tcp sent)
good_tcp_ok=$(field good.tcp ok)
bad_udp_sent=$(field bad.udp sent)
bad_tcp_sent=$(field bad.tcp sent)
bad_tcp_ok=$(field bad.tcp ok)
echo "good: udp sent $good_udp_sent arrived $(($(got udp "$good") - 1)); tcp sent $good_tcp_sent connected $good_tcp_ok accepted $(got tcp "$good")"
echo "bad:  udp sent $bad_udp_sent arrived $(got udp "$bad"); tcp sent $bad_tcp_sent connected $bad_tcp_ok accepted $(got tcp "$bad")"
# the good probe before the floods delivered one datagram of its own
good_udp_arrived=$(($(got udp "$good") - 1))
wrong=$(($(got udp "$bad") + $(got tcp "$bad") + bad_tcp_ok + (good_udp_sent - good_udp_arrived) + (good_tcp_sent - good_tcp_ok)))
echo "packets that crossed the wrong way: $wrong"
n=$((n + 1))
[ "$wrong" -eq 0 ] || fail "$wrong flows crossed the wrong way over the restart"
[ "${good_udp_sent:-0}" -ge $((UDP_RATE * SECS * 8 / 10)) ] || fail "too few good datagrams sent: $good_udp_sent"
[ "${bad_udp_sent:-0}" -ge $((UDP_RATE * SECS * 8 / 10)) ] || fail "too few bad datagrams sent: $bad_udp_sent"
[ "${bad_tcp_sent:-0}" -ge $((TCP_RATE * SECS * 8 / 10)) ] || fail "too few bad connections tried: $bad_tcp_sent"

# same state after the restart, and the downtime's flows were not lost
snapshot after
for f in eps ids pols maps; do
	cmp -s "$T/before.$f" "$T/after.$f" || fail "$f differ after the restart: $(diff "$T/before.$f" "$T/after.$f" | head -5)"
	n=$((n + 1))
done
run 0 observe --from bad --verdict DROPPED --port 7000 --last 100000 -o raw
ndjson 'len(js) > 0 and all(f["policy"] == "default deny" for f in js)'
run 0 status -o json
json 'j["datapath"]["endpoints"] == 3 and j["datapath"]["endpoints_failed"] == 0'
grep -q "removing\|re-creating" "$T/velumd.log" && fail "the restart touched endpoints: $(grep "removing\|re-creating" "$T/velumd.log")"

# SIGKILL in the middle of changes: after the restart the kernel's maps are
# what the store says, whichever side of the commit the kill fell on
for i in $(seq 0 19); do
	"$velum" endpoint create "crash$i" -l role=crash >/dev/null || fail "create crash$i"
done
crash_policy() {
	cat <<YAML
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: crash
spec:
  endpointSelector:
    matchLabels: {role: crash}
  ingress:
  - fromEndpoints:
    - matchLabels: {app: good}
    toPorts:
    - ports:
      - {port: "$1", protocol: TCP}
YAML
}
for round in 1 2 3 4 5 6; do
	crash_policy $((9000 + round)) >"$T/crash.yaml"
	"$velum" policy import "$T/crash.yaml" >/dev/null 2>&1 &
	imp=$!
	sleep "0.0$(printf %02d $((RANDOM % 20)))"
	agent_kill9
	wait "$imp"
	agent_start || exit 1
	stored=$("$velum" policy get crash -o json 2>/dev/null |
		python3 -c 'import json,re,sys; print(re.search(r"port: \"(\d+)\"", json.load(sys.stdin)["sources"][0]["content"]).group(1))' 2>/dev/null)
	bad_maps=0
	for i in $(seq 0 19); do
		"$velum" bpf policy get "crash$i" -o json | python3 -c '
import json, sys
j = json.load(sys.stdin)
ports = {e["port"] for e in j["entries"] if e["direction"] == "ingress" and e["verdict"] == "ALLOW"}
want = sys.argv[1]
sys.exit(0 if (ports == {"TCP/" + want} if want else ports == {"ANY"}) else 1)' "$stored" ||
			bad_maps=$((bad_maps + 1))
	done
	echo "crash round $round: import of port $((9000 + round)) killed; stored port ${stored:-none}, $bad_maps map(s) differ"
	n=$((n + 1))
	[ "$bad_maps" -eq 0 ] || fail "round $round: $bad_maps of 20 kernel maps differ from the store (stored port '${stored:-none}')"
done

# an upgrade: pinned state of an older datapath ABI (its config says ABI 1
# and it has no velum_lxc) is taken over by loading this build's programs
# behind the old ones, maps kept; it is not refused, and enforcement goes on
agent_kill9
cfg=$(bpftool -j map lookup pinned "$PIN/velum_config" key 0 0 0 0 |
	python3 -c 'import json,sys; v=[int(b, 16) for b in json.load(sys.stdin)["value"]]; v[12:16]=[1,0,0,0]; print(" ".join(map(str, v)))')
bpftool map update pinned "$PIN/velum_config" key 0 0 0 0 value $cfg || fail "could not age the pinned config"
rm -f "$PIN/velum_lxc"
agent_start || exit 1
grep -q "pinned datapath of another ABI version (this is [0-9]*).*reloading the programs" "$T/velumd.log" ||
	fail "no reload on an older ABI: $(tail -3 "$T/velumd.log")"
[ -e "$PIN/velum_lxc" ] || fail "the reload did not pin velum_lxc"
# ... and filled it for the endpoints made before it, from their veths
nep=$("$velum" endpoint list -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
run 0 bpf endpoint list -o json
json 'len(j["endpoints"]) == '"$nep"' and all(e["name"] and e["mac"] != "00:00:00:00:00:00" for e in j["endpoints"])'
spawn_in "$T/serve2.out" server "$traffic" serve 7000 7001
for _ in $(seq 1 50); do
	grep -q ready "$T/serve2.out" && break
	sleep 0.1
done
n=$((n + 1))
probe good udp "$srv" 7000 || fail "after the upgrade: good -> server udp/7000 should pass"
probe bad udp "$srv" 7000 && fail "after the upgrade: bad -> server udp/7000 should be dropped"
"$velum" endpoint create good2 -l app=good >/dev/null || fail "create an endpoint after the upgrade"
probe good2 udp "$srv" 7000 || fail "after the upgrade: a new good endpoint -> server udp/7000 should pass"
run 0 status
expect_out "host routing BPF"

finish
