#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# `make bench`: the paper's HTTP experiment. A private velumd makes three
# endpoints: "hello" (velum-hello, GET /hello), "load" (velum-load) and
# "haproxy" (the L7 reference). Seven configurations run interleaved, their
# order rotating each repetition:
#   limit     no filtering: the endpoints' programs detached (velum-dp bypass)
#   iptables  no velum policy; 40 iptables rules in the server's namespace,
#             the 40th accepting the client, then a drop (as the paper)
#   l3 l4     1 L3 rule, 1 L4 rule (bench/policies/l3.yaml, l4.yaml)
#   l7-1 l7-40  1 and 40 HTTP rules (bench/policies/l7-1.yaml, l7-40.yaml)
#   haproxy   no velum policy; the load goes through HAProxy with the same
#             40 rules as ACLs
# Each run: a warm-up, a closed-loop run (maximum throughput), then an
# open-loop run at a constant rate (latency spectrum, average throughput).
# A configuration velumd refuses (its message kept in refused-<config>.txt)
# is reported as not run, never measured. Then bench/report.py writes
# report.md and the figures. Everything made is named after this script's
# PID and removed on any exit.
#
#   bench/http.sh [--quick] [--paper] [--out DIR] [--reps N] [--secs S]
#                 [--closed-secs S] [--rate R] [--conns C] [--threads T]
#                 [--server-threads N] [--configs "limit l3 ..."]
#   bench/http.sh --wrk-check OUT.md [--wrk-target hello|haproxy] [--pairs 6]
#                 [--closed-secs S] [--conns C] ...
# --wrk-check: instead, closed-loop runs of wrk (Debian's) and velum-load
# taken in turns against the same target (velum-hello, or HAProxy in front
# of it; velum, no policy), and their requests/s compared in OUT.md
# (bench/wrk_compare.py). VELUMD_FLAGS adds
# options to velumd's command line.
set -u
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${BIN:-$top/build/bin}
all_configs="limit iptables l3 l4 l7-1 l7-40 haproxy"
configs=$all_configs
reps=3 secs=20 closed_secs=5 warm=1 rate=4000 conns=800 threads=2 server_threads=1
quick=0 out= wrk_check= pairs=6 wrk_target=hello
usage() {
	sed -n '/^#   bench\/http.sh/,/^#  *\[--server/p' "$0" | sed 's/^# *//' >&2
	exit 2
}
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 reps=1 secs=1.5 closed_secs=0.8 warm=0.2 rate=1000 conns=50 threads=2 ;;
	--paper) secs=300 threads=4 rate=10000 conns=2000 ;;
	--out) out=$2; shift ;;
	--reps) reps=$2; shift ;;
	--secs) secs=$2; shift ;;
	--closed-secs) closed_secs=$2; shift ;;
	--rate) rate=$2; shift ;;
	--conns) conns=$2; shift ;;
	--threads) threads=$2; shift ;;
	--server-threads) server_threads=$2; shift ;;
	--configs) configs=$2; shift ;;
	--wrk-check) wrk_check=$2; shift ;;
	--wrk-target) wrk_target=$2; shift ;;
	--pairs) pairs=$2; shift ;;
	*) usage ;;
	esac
	shift
done
for c in $configs; do
	[[ " $all_configs " == *" $c "* ]] || { echo "bench: unknown configuration '$c' (have: $all_configs)" >&2; exit 2; }
done
[[ $reps =~ ^[1-9][0-9]*$ ]] || { echo "bench: --reps $reps: not a positive count" >&2; exit 2; }
if [ "$(id -u)" -ne 0 ]; then
	echo "bench: needs root (namespaces, BPF, iptables)" >&2
	exit 77
fi
for b in velumd velum velum-dp velum-load velum-hello; do
	[ -x "$bin/$b" ] || { echo "bench: $bin/$b missing (run make)" >&2; exit 1; }
done
stamp=$(date -u +%Y%m%d-%H%M%S)
out=${out:-$top/bench/results/$stamp}
[ -n "$wrk_check" ] && out=$(mktemp -d "${TMPDIR:-/tmp}/velum-wrk-check.$$.XXXXXX")
mkdir -p "$out/raw" || exit 1

id=$$
T=$(mktemp -d "${TMPDIR:-/tmp}/velum-bench-http.$id.XXXXXX")
PIN=/sys/fs/bpf/velum-bh$id
IFP=vh$((id % 1000000))
NSP=vbh$id-
POOL=10.$((160 + id % 40)).$((id / 40 % 256)).0/24
export VELUM_SOCKET=$T/velum.sock
agent= pids=()
cleanup() {
	local p ns l
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	[ -n "$agent" ] && kill "$agent" 2>/dev/null && wait "$agent" 2>/dev/null
	for ns in /run/netns/"$NSP"*; do
		[ -e "$ns" ] || continue
		# whatever still runs in an endpoint would keep its namespace alive
		for p in $(ip netns pids "$(basename "$ns")" 2>/dev/null); do
			kill "$p" 2>/dev/null
		done
		ip netns del "$(basename "$ns")" 2>/dev/null
	done
	ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 |
		grep -E "^$IFP[0-9]+$" | while read -r l; do
		ip link del "$l" 2>/dev/null
	done
	rm -rf "$PIN" "$T"
	[ -n "$wrk_check" ] && rm -rf "$out"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Debian's interpreter: a wrapper (pyenv) can cost 0.4 s a call
if [ -x /usr/bin/python3 ]; then
	python3() { /usr/bin/python3 "$@"; }
fi
die() {
	echo "bench: $*" >&2
	[ -s "$T/velumd.log" ] && { echo "--- velumd log:" >&2; tail -n 20 "$T/velumd.log" >&2; }
	exit 1
}
velum() { "$bin/velum" "$@"; }
# ep_field NAME FIELD: a field of the endpoint's JSON
ep_field() {
	velum endpoint get "$1" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"
}
# wait_port NAME ADDR PORT: until something accepts there, seen from endpoint NAME
wait_port() {
	for _ in $(seq 1 100); do
		velum endpoint exec "$1" -- bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null && return 0
		sleep 0.05
	done
	die "nothing listens on $2:$3"
}

"$bin/velumd" --state-dir "$T/state" --socket "$VELUM_SOCKET" --pin-dir "$PIN" --pool "$POOL" \
	--ifname-prefix "$IFP" --netns-prefix "$NSP" --metrics off ${VELUMD_FLAGS:-} >"$T/velumd.log" 2>&1 &
agent=$!
for _ in $(seq 1 200); do
	velum status >/dev/null 2>&1 && break
	kill -0 "$agent" 2>/dev/null || die "velumd exited"
	sleep 0.05
done
velum status >/dev/null 2>&1 || die "velumd did not become ready"
for ep in hello load haproxy; do
	velum endpoint create "$ep" --label app="$ep" >/dev/null || die "endpoint create $ep"
done
load0=$(cut -d' ' -f1-3 /proc/loadavg)
hello_ip=$(ep_field hello ipv4) load_ip=$(ep_field load ipv4) haproxy_ip=$(ep_field haproxy ipv4)
ep_ids="$(ep_field hello id) $(ep_field load id) $(ep_field haproxy id)"

# --wrk-check measures the server's capacity as each tool sees it: the server
# on CPU 0, the tool on CPU 1, so that neither tool's own cost takes the
# server's CPU
pin_srv=() pin_cli=()
if [ -n "$wrk_check" ] && [ "$(nproc)" -ge 2 ]; then
	pin_srv=(taskset -c 0) pin_cli=(taskset -c 1)
fi
# (velum, not the function: velum execs the command, so $! is the server's PID)
"$bin/velum" endpoint exec hello -- "${pin_srv[@]}" "$bin/velum-hello" --port 80 --threads "$server_threads" \
	>"$T/hello.log" 2>&1 &
pids+=($!)
wait_port load "$hello_ip" 80

# HAProxy with the forty paths of bench/policies/l7-40.yaml as ACLs, in order
{
	cat <<EOF
global
	maxconn $((conns + 100))
	nbthread $server_threads
defaults
	mode http
	option http-keep-alive
	timeout connect 5s
	timeout client 60s
	timeout server 60s
frontend bench
	bind :8080
EOF
	n=0
	for p in $(sed -n 's/^ *path: "\(.*\)"$/\1/p' "$top/bench/policies/l7-40.yaml"); do
		n=$((n + 1))
		echo "	acl rule$n path_reg ^$p\$"
		echo "	http-request allow if METH_GET rule$n"
	done
	[ "$n" -eq 40 ] || die "bench/policies/l7-40.yaml: $n paths, want 40"
	cat <<EOF
	http-request deny deny_status 403
	default_backend hello
backend hello
	server hello $hello_ip:80
EOF
} >"$out/haproxy.cfg"
"$bin/velum" endpoint exec haproxy -- "${pin_srv[@]}" haproxy -db -f "$out/haproxy.cfg" >"$T/haproxy.log" 2>&1 &
pids+=($!)
wait_port load "$haproxy_ip" 8080

# iptables-restore input: 39 rules for other clients, the 40th for ours, then a drop
{
	echo "*filter"
	echo ":VBENCH - [0:0]"
	for i in $(seq 1 39); do
		echo "-A VBENCH -s 100.64.0.$i/32 -p tcp --dport 80 -j ACCEPT"
	done
	echo "-A VBENCH -s $load_ip/32 -p tcp --dport 80 -j ACCEPT"
	echo "-A VBENCH -p tcp --dport 80 -j DROP"
	echo "-A INPUT -j VBENCH"
	echo "COMMIT"
} >"$out/iptables.rules"

policy_loaded=0
# configure CONFIG: undoes every other configuration, applies CONFIG; 1 if velumd refuses it
configure() {
	local c=$1
	for e in $ep_ids; do
		"$bin/velum-dp" --pin-dir "$PIN" bypass "$e" off >/dev/null 2>&1 || die "bypass $e off"
	done
	velum endpoint exec hello -- iptables -F INPUT || die "iptables -F"
	velum endpoint exec hello -- iptables -F VBENCH 2>/dev/null
	velum endpoint exec hello -- iptables -X VBENCH 2>/dev/null
	if [ "$policy_loaded" = 1 ]; then
		velum policy delete --all >/dev/null || die "policy delete --all"
		policy_loaded=0
	fi
	case $c in
	limit)
		for e in $ep_ids; do
			"$bin/velum-dp" --pin-dir "$PIN" bypass "$e" on >/dev/null 2>&1 || die "bypass $e on"
		done ;;
	iptables)
		velum endpoint exec hello -- iptables-restore --noflush <"$out/iptables.rules" ||
			die "iptables-restore" ;;
	l3 | l4 | l7-1 | l7-40)
		# a path relative to the tree: messages name the file as the repository does
		if ! (cd "$top" && velum policy import "bench/policies/$c.yaml") >"$T/import.out" 2>&1; then
			{ echo "velum policy import bench/policies/$c.yaml:"; cat "$T/import.out"; } \
				>"$out/refused-$c.txt"
			return 1
		fi
		policy_loaded=1 ;;
	esac
	return 0
}

# load CONFIG NAME ARGS...: velum-load in the load endpoint against CONFIG's target
load() {
	local c=$1 name=$2 url=http://$hello_ip:80/hello
	shift 2
	[ "$c" = haproxy ] && url=http://$haproxy_ip:8080/hello
	velum endpoint exec load -- "$bin/velum-load" -c "$conns" -t "$threads" "$@" \
		--json "$out/raw/$name.json" "$url" >"$out/raw/$name.txt" 2>&1 ||
		die "velum-load $*: $(cat "$out/raw/$name.txt")"
}

if [ -n "$wrk_check" ]; then
	case $wrk_target in
	hello) url=http://$hello_ip:80/hello target="velum-hello (\`GET /hello\`, $server_threads thread(s))" ;;
	haproxy) url=http://$haproxy_ip:8080/hello target="HAProxy with 40 ACLs ($server_threads thread(s)) in front of velum-hello, each in its endpoint," ;;
	*) die "--wrk-target $wrk_target: not hello or haproxy" ;;
	esac
	# cmd NAME TOOL ARGS...: a closed-loop run on CPU 1 (the server has CPU 0), timed
	cmd() {
		local name=$1
		shift
		velum endpoint exec load -- /usr/bin/time -f "%U %S" -o "$out/$name.cpu" \
			"${pin_cli[@]}" "$@" -c "$conns" -t "$threads" -d "$closed_secs" "$url" \
			>"$out/$name.txt" 2>&1 || die "$*: $(cat "$out/$name.txt")"
	}
	# field NAME: requests/s, requests and client CPU seconds of run NAME
	field() {
		echo "$(sed -n 's/^Requests\/sec: *//p' "$out/$1.txt")" \
			"$(sed -n 's/^ *\([0-9]*\) requests in .*/\1/p' "$out/$1.txt")" \
			"$(awk '{print $1 + $2}' "$out/$1.cpu")"
	}
	for i in $(seq 1 "$pairs"); do
		# the order alternates, so that a drift of the machine favours neither
		if [ $((i % 2)) = 1 ]; then
			cmd "wrk-$i" wrk
			cmd "velum-load-$i" "$bin/velum-load"
		else
			cmd "velum-load-$i" "$bin/velum-load"
			cmd "wrk-$i" wrk
		fi
		w=$(field "wrk-$i") v=$(field "velum-load-$i")
		[ "$(wc -w <<<"$w $v")" = 6 ] || die "pair $i: unparsable output ($w / $v)"
		echo "$i $w $v" >>"$out/pairs"
		echo "pair $i: wrk $w, velum-load $v (req/s, requests, CPU s)" >&2
	done
	python3 "$top/bench/wrk_compare.py" "$out/pairs" "$wrk_check" \
		"bench/http.sh --wrk-check OUT --wrk-target $wrk_target --pairs $pairs --closed-secs $closed_secs --conns $conns --threads $threads --server-threads $server_threads" \
		"Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); machine: $(nproc) CPUs, kernel $(uname -r); load average before / after: $load0 / $(cut -d' ' -f1-3 /proc/loadavg) (other work may share the machine)" \
		"$(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2) (Debian), velum-load of velum $(git -C "$top" describe --always --dirty 2>/dev/null)" \
		"Both against $target${pin_srv[*]:+ pinned to CPU 0,} in an endpoint made by velumd (no policy), run from another endpoint${pin_cli[*]:+ pinned to CPU 1}, taken in turns ($pairs pairs, the order alternating): \`wrk -c $conns -t $threads -d $closed_secs URL\` and \`velum-load -c $conns -t $threads -d $closed_secs URL\`, each under /usr/bin/time for its CPU time." ||
		die "comparison failed"
	cat "$wrk_check"
	rm -rf "$out"
	exit 0
fi

{
	echo "date=$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "command=bench/http.sh $(if [ $quick = 1 ]; then echo --quick; fi) --reps $reps --secs $secs --closed-secs $closed_secs --rate $rate --conns $conns --threads $threads --server-threads $server_threads"
	echo "configs=$configs"
	echo "reps=$reps"
	echo "secs=$secs"
	echo "closed_secs=$closed_secs"
	echo "rate=$rate"
	echo "conns=$conns"
	echo "threads=$threads"
	echo "server_threads=$server_threads"
	echo "quick=$quick"
	echo "cpus=$(nproc)"
	echo "cpu=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)"
	echo "kernel=$(uname -r)"
	echo "os=$(. /etc/os-release && echo "$PRETTY_NAME")"
	echo "velum=$(git -C "$top" describe --always --dirty 2>/dev/null || echo unknown)"
	echo "haproxy=$(haproxy -v | sed -n '1s/^HAProxy version \([^ ]*\).*/\1/p')"
	echo "iptables=$(iptables -V)"
	echo "gnuplot=$(gnuplot --version)"
	echo "loadavg_before=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/meta.txt"

set -- $configs
nconf=$#
for r in $(seq 1 "$reps"); do
	for j in $(seq 0 $((nconf - 1))); do
		k=$(((j + r - 1) % nconf + 1))
		c=${!k}
		if ! configure "$c"; then
			echo "rep $r $c: not run: velumd refused the policy ($(tail -n 1 "$out/refused-$c.txt"))" >&2
			continue
		fi
		load "$c" "warm-$c-$r" -d "$warm"
		load "$c" "closed-$c-$r" -d "$closed_secs"
		load "$c" "open-$c-$r" -d "$secs" -R "$rate" --latency
		python3 - "$out/raw" "$c" "$r" <<'EOF' >&2
import json, sys
d, c, r = sys.argv[1:]
cl, op = (json.load(open("%s/%s-%s-%s.json" % (d, k, c, r))) for k in ("closed", "open"))
print("rep %s %-9s closed %8.0f req/s   open %6.0f req/s at %s, p99 %s us, errors %s" % (
    r, c, cl["rps"], op["rps"], op["rate"], op["latency_us"]["p99"],
    sum(cl["errors"].values()) + sum(op["errors"].values())))
EOF
	done
done
echo "loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/meta.txt"
rm -f "$out"/raw/warm-*
cp "$T/velumd.log" "$out/raw/velumd.log"
python3 "$top/bench/report.py" "$out" || die "report failed"
echo "bench: report in $out/report.md" >&2
