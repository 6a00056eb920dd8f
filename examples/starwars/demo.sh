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
# L7 (policy 3) is enforced by velum's HTTP proxy (velumd --proxy on): the
# deathstar's port-80 flows go through it, and the tiefighter's PUT
# /v1/exhaust-port gets 403 Access denied while landing still works.
#
# Each act checks its outcome against the paper's story; the demo exits 1
# if any differs (and says which).
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
differs=()

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
run_cmd() {
	printf '$ %s\n' "$*"
	"$@"
}
velum() { "$bin/velum" "$@"; }
# story WHAT EXPECTED ACTUAL: the story says WHAT gives EXPECTED
story() {
	if [ "$2" != "$3" ]; then
		differs+=("$1: expected '$2', got '$3'")
		printf '\033[1m(differs from the story: %s: expected %s, got %s)\033[0m\n' "$1" "$2" "$3"
	fi
}

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
	# the proxy outlives velumd by design: end ours (the pid file names it)
	"$top/scripts/proxy-end" "$state" "$pins" "$bin/velum-dp"
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
	--pool "10.212.$((run % 250)).0/24" --ifname-prefix "sw$((run % 100000))x" --netns-prefix "velum-sw$run-" \
	--metrics off --proxy on >"$state/velumd.log" 2>&1 &
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

# ship WHO METHOD PATH EXPECTED: a request from a ship, as in the paper;
# EXPECTED is the story's outcome: landed, index (the API's description),
# denied (403 Access denied), timeout (the kernel dropped it) or exploded
ship() {
	local who=$1 method=$2 path=$3 out rc=0 got
	printf '$ velum endpoint exec %s -- curl -s -m 3 -X%s http://deathstar%s\n' "$who" "$method" "$path"
	out=$(velum endpoint exec "$who" -- curl -s -m 3 -X"$method" "http://$ds_ip$path") || rc=$?
	if [ "$rc" = 28 ]; then
		echo "(no answer: the request timed out; the kernel dropped it)"
		got=timeout
	elif [ "$rc" != 0 ]; then
		echo "(curl failed: exit $rc)"
		got="curl exit $rc"
	else
		printf '%s\n' "$out"
		case $out in
		"Ship landed") got=landed ;;
		"Access denied"*) got=denied ;;
		"Panic: deathstar exploded"*) got=exploded ;;
		*'"name": "Death Star"'*) got=index ;;
		*) got="an unexpected answer" ;;
		esac
	fi
	story "$who $method $path" "$4" "$got"
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
ship tiefighter POST /v1/request-landing landed
ship xwing POST /v1/request-landing landed
for _ in $(seq 40); do
	[ "$(uploads ftp-updated)" -ge 1 ] && [ "$(uploads ftp-maintenance)" -ge 1 ] && break
	sleep 0.25
done
echo "API log uploads received: ftp-updated $(uploads ftp-updated), ftp-maintenance $(uploads ftp-maintenance)"
story "uploads to ftp-updated without policy" yes "$([ "$(uploads ftp-updated)" -ge 1 ] && echo yes || echo no)"
story "uploads to ftp-maintenance without policy" yes "$([ "$(uploads ftp-maintenance)" -ge 1 ] && echo yes || echo no)"

say "2. Policy 1, L3 ingress by label: only org=empire may reach the deathstar"
run_cmd velum policy import "$pol/l3-ingress.yaml"
ship tiefighter POST /v1/request-landing landed
ship xwing POST /v1/request-landing timeout
run_cmd velum observe --last 4 --to deathstar --verdict DROPPED

say "   An empire ship can still hit the exhaust port: L3/L4 cannot see API calls"
ship tiefighter PUT /v1/exhaust-port exploded
sleep 0.5
if kill -0 "$ds_pid" 2>/dev/null; then
	echo "(the deathstar is still running)"
	story "the deathstar after PUT /v1/exhaust-port with L3 only" exploded running
else
	echo "(the deathstar process exited: it exploded; restarting it)"
	start_deathstar
fi

say "3. Policy 2, L3 egress by label: the deathstar uploads its log only to status=updated"
run_cmd velum policy import "$pol/l3-egress.json"
sleep 0.5 # uploads already under way when the policy came finish first
before_up=$(uploads ftp-updated)
before_mt=$(uploads ftp-maintenance)
ship tiefighter GET /v1 index
# the deathstar tries both servers every 2 s: wait for two more rounds (at most 10 s)
for _ in $(seq 40); do
	[ "$(uploads ftp-updated)" -ge $((before_up + 2)) ] && break
	sleep 0.25
done
echo "API log uploads received by ftp-updated: $before_up -> $(uploads ftp-updated) (they keep arriving)"
echo "API log uploads received by ftp-maintenance: $before_mt -> $(uploads ftp-maintenance) (they are dropped)"
story "uploads to ftp-updated under policy 2" yes "$([ "$(uploads ftp-updated)" -ge $((before_up + 2)) ] && echo yes || echo no)"
story "uploads to ftp-maintenance under policy 2" "$before_mt" "$(uploads ftp-maintenance)"
run_cmd velum observe --last 2 --from deathstar --to ftp-maintenance

say "4. Policy 3, L7 allow-list: only POST /v1/request-landing and GET /v1"
echo "It replaces policy 1 (same name): empire ships still reach port 80, now through"
echo "velum's HTTP proxy, which judges every request by the allow-list."
run_cmd velum policy import "$pol/l7-http.yaml"
ship tiefighter POST /v1/request-landing landed
ship tiefighter GET /v1 index
ship tiefighter PUT /v1/exhaust-port denied
sleep 0.5
if kill -0 "$ds_pid" 2>/dev/null; then
	echo "(the deathstar is still running: the request never reached it)"
else
	echo "(the deathstar process exited: the request reached it)"
	story "the deathstar after PUT /v1/exhaust-port with L7" running exploded
fi
ship xwing POST /v1/request-landing timeout
echo
echo "What the proxy saw: every request and response in the flow log, the denied one"
echo "with its reason, the allowed ones with the rule that allowed them:"
# the proxy's access events reach velumd within milliseconds; wait at most 2 s
for _ in $(seq 20); do
	velum observe --type l7 --http-method PUT --http-path '^/v1/exhaust-port$' --last 1 |
		grep -q "http-request DROPPED" && break
	sleep 0.1
done
run_cmd velum observe --type l7 --last 6
denied=$(velum observe --type l7 --from tiefighter --http-method PUT --http-path '^/v1/exhaust-port$' --last 1)
story "the flow log's line for PUT /v1/exhaust-port" "http-request DROPPED, no HTTP rule matched" \
	"$(grep -q 'http-request DROPPED (HTTP/1.1 PUT http://[^ ]*/v1/exhaust-port) BY no HTTP rule matched$' <<<"$denied" &&
		echo "http-request DROPPED, no HTTP rule matched" || echo "'$denied'")"
echo
echo "Why the exhaust port is closed (the live trace, from the agent's state):"
run_cmd velum policy trace --from tiefighter --to deathstar --dport 80 --http-method PUT --http-path /v1/exhaust-port

say "What the kernel enforces for the deathstar now"
run_cmd velum bpf policy get deathstar

if [ "${#differs[@]}" -ne 0 ]; then
	say "The outcome differs from the paper's story in ${#differs[@]} place(s):"
	printf '  %s\n' "${differs[@]}"
	exit 1
fi
say "Every act's outcome matches the paper's story."
