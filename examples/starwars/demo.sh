#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Experiment 1 of the paper on this machine, for real: velumd, the eBPF
# datapath, five endpoints in their own network namespaces (deathstar,
# tiefighter, xwing, two FTP log servers running vsftpd), the deathstar API
# answering curl from the ships, and the paper's three policies imported one
# after the other. Every verdict shown comes from the kernel (requests and
# uploads that pass or time out) and from velum's flow log.
#
# L7 (policy 3) needs velum's HTTP proxy, and velumd does not yet hand the
# proxy a policy's HTTP rules: the demo runs velumd without the proxy, the
# agent refuses the L7 policy (as Cilium does with its proxy disabled) and the
# demo shows the offline trace of what the proxy will answer, and says so.
#
# Needs root. Everything it makes (agent state, namespaces, veths, pins,
# processes) has names unique to this run and is removed on exit.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${VELUM_BIN:-$top/build/bin}
pol=$top/examples/starwars/policies
run=$$
state=$(mktemp -d "${TMPDIR:-/tmp}/velum-starwars.$run.XXXXXX")
pins=/sys/fs/bpf/velum-sw$run
export VELUM_SOCKET=$state/velum.sock
pids=()
agent=

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
run_cmd() {
	printf '$ %s\n' "$*"
	"$@"
}
velum() { "$bin/velum" "$@"; }

cleanup() {
	set +e
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	if [ -n "$agent" ]; then
		for e in deathstar tiefighter xwing ftp-updated ftp-maintenance; do
			velum endpoint delete "$e" >/dev/null 2>&1
		done
		kill "$agent" 2>/dev/null
		wait "$agent" 2>/dev/null
	fi
	"$bin/velum-dp" --pin-dir "$pins" --netns-prefix "velum-sw$run-" destroy >/dev/null 2>&1
	wait 2>/dev/null
	rm -rf "$state"
}
trap cleanup EXIT

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: needs root (namespaces, veths, eBPF)" >&2
	exit 1
fi

say "Starting velumd (state $state)"
"$bin/velumd" --state-dir "$state" --socket "$VELUM_SOCKET" --pin-dir "$pins" \
	--pool 10.212.0.0/24 --ifname-prefix "sw$((run % 100000))x" --netns-prefix "velum-sw$run-" \
	--metrics off >"$state/velumd.log" 2>&1 &
agent=$!
for _ in $(seq 100); do
	[ -S "$VELUM_SOCKET" ] && velum status >/dev/null 2>&1 && break
	sleep 0.1
done
velum status

say "Endpoints: the deathstar, two ships, two FTP log servers"
run_cmd velum endpoint create deathstar --label org=empire --label class=deathstar --port http:80/TCP
run_cmd velum endpoint create tiefighter --label org=empire --label class=tiefighter
run_cmd velum endpoint create xwing --label org=alliance --label class=xwing
run_cmd velum endpoint create ftp-updated --label app=ftp-log --label status=updated --port ftp:21/TCP
run_cmd velum endpoint create ftp-maintenance --label app=ftp-log --label status=awaiting-maintenance --port ftp:21/TCP
run_cmd velum endpoint list

ip_of() {
	velum endpoint get "$1" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["ipv4"])'
}
ds_ip=$(ip_of deathstar)
up_ip=$(ip_of ftp-updated)
mt_ip=$(ip_of ftp-maintenance)

# the FTP log servers: real vsftpd in their namespaces
for s in ftp-updated ftp-maintenance; do
	root=$state/$s
	mkdir -p "$root/root/incoming" "$root/empty"
	chmod 555 "$root/root"
	chmod 777 "$root/root/incoming"
	sed -e "s|@ROOT@|$root|g" -e "s|@ADDR@|$(ip_of "$s")|" -e "s|@PORT@|21|" \
		"$top/examples/starwars/vsftpd.conf.in" >"$root/vsftpd.conf"
	# the binary itself, not the shell function: $! must be the server's PID
	"$bin/velum" endpoint exec "$s" -- /usr/sbin/vsftpd "$root/vsftpd.conf" &
	pids+=($!)
done

start_deathstar() {
	"$bin/velum" endpoint exec deathstar -- "$bin/deathstar" --port 80 --log "$state/api.log" \
		--ftp "ftp://$up_ip/incoming/deathstar-api.log" \
		--ftp "ftp://$mt_ip/incoming/deathstar-api.log" --upload-interval 2 \
		>>"$state/deathstar.log" 2>&1 &
	ds_pid=$!
	pids+=("$ds_pid")
	for _ in $(seq 50); do
		velum endpoint exec tiefighter -- curl -s -m 1 -o /dev/null "http://$ds_ip/v1" && return
		sleep 0.1
	done
}
start_deathstar

# ship METHOD PATH: a request from a ship, as in the paper
ship() {
	local who=$1 method=$2 path=$3 out rc=0
	printf '$ velum endpoint exec %s -- curl -s -m 3 -X%s http://deathstar%s\n' "$who" "$method" "$path"
	out=$(velum endpoint exec "$who" -- curl -s -m 3 -X"$method" "http://$ds_ip$path") || rc=$?
	if [ "$rc" = 28 ]; then
		echo "(no answer: the request timed out; the kernel dropped it)"
	elif [ "$rc" != 0 ]; then
		echo "(curl failed: exit $rc)"
	else
		printf '%s\n' "$out"
	fi
}

# uploads SERVER: how many uploads of the API log the server has received
# (vsftpd logs a line for each finished one; a file's size could be read in
# the middle of an upload)
uploads() {
	local n
	n=$(grep -c "OK UPLOAD" "$state/$1/vsftpd.log" 2>/dev/null) || true
	echo "${n:-0}"
}

say "1. No policy: every ship may land, the log goes to both FTP servers"
ship tiefighter POST /v1/request-landing
ship xwing POST /v1/request-landing
sleep 3
echo "API log uploads received: ftp-updated $(uploads ftp-updated), ftp-maintenance $(uploads ftp-maintenance)"

say "2. Policy 1, L3 ingress by label: only org=empire may reach the deathstar"
run_cmd velum policy import "$pol/l3-ingress.yaml"
ship tiefighter POST /v1/request-landing
ship xwing POST /v1/request-landing
run_cmd velum observe --last 4 --to deathstar --verdict DROPPED

say "   An empire ship can still hit the exhaust port: L3/L4 cannot see API calls"
ship tiefighter PUT /v1/exhaust-port
sleep 0.5
if kill -0 "$ds_pid" 2>/dev/null; then
	echo "(the deathstar is still running)"
else
	echo "(the deathstar process exited: it exploded; restarting it)"
	start_deathstar
fi

say "3. Policy 2, L3 egress by label: the deathstar uploads its log only to status=updated"
run_cmd velum policy import "$pol/l3-egress.json"
sleep 0.5 # uploads already under way when the policy came finish first
before_up=$(uploads ftp-updated)
before_mt=$(uploads ftp-maintenance)
ship tiefighter GET /v1
# the deathstar tries both servers every 2 s: wait for two more rounds (at most 10 s)
for _ in $(seq 40); do
	[ "$(uploads ftp-updated)" -ge $((before_up + 2)) ] && break
	sleep 0.25
done
echo "API log uploads received by ftp-updated: $before_up -> $(uploads ftp-updated) (they keep arriving)"
echo "API log uploads received by ftp-maintenance: $before_mt -> $(uploads ftp-maintenance) (they are dropped)"
run_cmd velum observe --last 2 --from deathstar --to ftp-maintenance

say "4. Policy 3, L7 allow-list: only POST /v1/request-landing and GET /v1"
echo "velumd does not yet hand its HTTP proxy a policy's rules, so the demo runs it without"
echo "the proxy. Like Cilium with its proxy disabled, the agent refuses L7 rules rather than"
echo "enforce them partly; nothing changes:"
run_cmd velum policy import "$pol/l7-http.yaml" || true
echo
echo "What the policy decides, and what the proxy will answer (the offline trace on the"
echo "demo's endpoints):"
for req in "POST /v1/request-landing" "GET /v1" "PUT /v1/exhaust-port"; do
	set -- $req
	printf '\n$ velum policy trace --offline --endpoints endpoints.json --policy l7-http.yaml --policy l3-egress.json --from tiefighter --to deathstar --dport 80 --http-method %s --http-path %s\n' "$1" "$2"
	velum policy trace --offline --endpoints "$top/examples/starwars/endpoints.json" \
		--policy "$pol/l7-http.yaml" --policy "$pol/l3-egress.json" --from tiefighter \
		--to deathstar --dport 80 --http-method "$1" --http-path "$2" | sed -n '/^Ingress/,$p'
done

say "What the kernel enforces for the deathstar now"
run_cmd velum bpf policy get deathstar
