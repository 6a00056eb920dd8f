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
#   haproxy-N-tT  the same with N (1 or 40) ACLs and T (1 or 2) threads
# L7 rules are enforced by velum-proxy, which velumd runs (--proxy on) when
# an l7 configuration is asked for.
# Each run: a warm-up, a closed-loop run (maximum throughput, and the CPU
# time of the proxy process and of the whole machine per request), then an
# open-loop run at a constant rate (latency spectrum, average throughput).
# A configuration velumd refuses (its message kept in refused-<config>.txt)
# is reported as not run, never measured. Then bench/report.py writes
# report.md and the figures. Everything made is named after this script's
# PID and removed on any exit.
#
#   bench/http.sh [--quick] [--paper] [--l7] [--out DIR] [--reps N] [--secs S]
#                 [--closed-secs S] [--rate R] [--conns C] [--threads T]
#                 [--server-threads N] [--server velum-hello|nginx]
#                 [--configs "limit l3 ..."] [--idle N]
#   bench/http.sh --wrk-check OUT.md [--wrk-target hello|haproxy] [--pairs 6]
#                 [--closed-secs S] [--conns C] ...
# --l7 (`make bench-l7`): the L7 proxies' comparison of issue 9: limit, l4,
# l7-1, l7-40 and HAProxy with 1 and 40 ACLs on 1 and 2 threads, 6
# repetitions of a 3 s closed loop and a 10 s open loop at 10,000 req/s over
# 100 connections (bench/report.py takes each configuration's latency
# percentiles over all its open-loop requests together: this VM's stalls of
# 1-20 ms come in bursts that one long run per configuration catches or
# misses by chance; short runs taken in turns spread them), then the memory
# step (--idle N, 10,000
# by default; 0 skips it): N idle keep-alive connections from the load
# endpoint, each after one request (denied for velum-proxy, allowed for
# HAProxy), and the resident memory of the proxy holding them.
# --server nginx: the hello endpoint runs nginx (Debian's nginx-light,
# --server-threads workers, `return 200 "hello\n"`) instead of velum-hello:
# the server issue 9's targets were calibrated with; a heavier server makes
# every ratio to the limit larger.
# --wrk-check: instead, closed-loop runs of wrk (Debian's) and velum-load
# taken in turns against the same target (velum-hello, or HAProxy in front
# of it; velum, no policy), and their requests/s compared in OUT.md
# (bench/wrk_compare.py). VELUMD_FLAGS adds
# options to velumd's command line.
set -u
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${BIN:-$top/build/bin}
all_configs="limit iptables l3 l4 l7-1 l7-40 haproxy haproxy-1-t1 haproxy-1-t2 haproxy-40-t1 haproxy-40-t2"
configs="limit iptables l3 l4 l7-1 l7-40 haproxy"
reps=3 secs=20 closed_secs=5 warm=1 rate=4000 conns=800 threads=2 server_threads=1 stall_secs=2
quick=0 out= wrk_check= pairs=6 wrk_target=hello l7=0 idle=0 server=velum-hello
usage() {
	sed -n '/^#   bench\/http.sh/,/^#  *\[--server/p' "$0" | sed 's/^# *//' >&2
	exit 2
}
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 reps=1 secs=1.5 closed_secs=0.8 warm=0.2 rate=1000 conns=50 threads=2 stall_secs=0.2 ;;
	--paper) secs=300 threads=4 rate=10000 conns=2000 ;;
	--l7) l7=1 rate=10000 conns=100 idle=10000 reps=6 secs=10 closed_secs=3
		configs="limit l4 l7-1 l7-40 haproxy-1-t1 haproxy-1-t2 haproxy-40-t1 haproxy-40-t2" ;;
	--idle) idle=$2; shift ;;
	--out) out=$2; shift ;;
	--reps) reps=$2; shift ;;
	--secs) secs=$2; shift ;;
	--closed-secs) closed_secs=$2; shift ;;
	--rate) rate=$2; shift ;;
	--conns) conns=$2; shift ;;
	--threads) threads=$2; shift ;;
	--server-threads) server_threads=$2; shift ;;
	--server) server=$2; shift ;;
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
case $server in velum-hello|nginx) ;; *) echo "bench: --server $server: not velum-hello or nginx" >&2; exit 2 ;; esac
[[ $reps =~ ^[1-9][0-9]*$ ]] || { echo "bench: --reps $reps: not a positive count" >&2; exit 2; }
[[ $idle =~ ^[0-9]+$ ]] || { echo "bench: --idle $idle: not a count" >&2; exit 2; }
# velumd runs velum-proxy when an L7 configuration is asked for
proxy_flags=()
[[ " $configs " == *" l7-"* ]] && proxy_flags=(--proxy on --proxy-bin "$bin/velum-proxy")
if [ "$(id -u)" -ne 0 ]; then
	echo "bench: needs root (namespaces, BPF, iptables)" >&2
	exit 77
fi
for b in velumd velum velum-dp velum-load velum-hello velum-stall ${proxy_flags[*]:+velum-proxy}; do
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
	# velumd's L7 proxy outlives velumd by design: end it, release its routing and lo program
	"$top/scripts/proxy-end" "$T/state" "$PIN" "$bin/velum-dp"
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
	--ifname-prefix "$IFP" --netns-prefix "$NSP" --metrics off "${proxy_flags[@]}" ${VELUMD_FLAGS:-} \
	>"$T/velumd.log" 2>&1 &
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
if [ "$server" = nginx ]; then
	command -v nginx >/dev/null || die "--server nginx: nginx is not installed (make deps)"
	"$top/bench/nginx-conf.sh" "$T" 80 "$server_threads" 65000 >"$T/nginx.conf"
	"$bin/velum" endpoint exec hello -- "${pin_srv[@]}" nginx -e "$T/nginx.err" -c "$T/nginx.conf" \
		-g 'daemon off;' >"$T/hello.log" 2>&1 &
else
	"$bin/velum" endpoint exec hello -- "${pin_srv[@]}" "$bin/velum-hello" --port 80 --threads "$server_threads" \
		>"$T/hello.log" 2>&1 &
fi
pids+=($!)
wait_port load "$hello_ip" 80

# haproxy_cfg N THREADS PORT: HAProxy allowing GET on the last N of the forty
# paths of bench/policies/l7-40.yaml (as ACLs, in order; the last is /hello),
# denying the rest with 403
haproxy_cfg() {
	local n=$1 th=$2 port=$3 i=0 p paths
	paths=$(sed -n 's/^ *path: "\(.*\)"$/\1/p' "$top/bench/policies/l7-40.yaml")
	[ "$(wc -l <<<"$paths")" -eq 40 ] || die "bench/policies/l7-40.yaml: $(wc -l <<<"$paths") paths, want 40"
	# two descriptors per connection: no more than half the descriptor limit
	local max=$((conns + idle + 100)) half=$((($(ulimit -Hn) - 200) / 2))
	[ "$max" -gt "$half" ] && max=$half
	cat <<EOF
global
	maxconn $max
	nbthread $th
defaults
	mode http
	option http-keep-alive
	timeout connect 5s
	timeout client 600s
	timeout server 600s
frontend bench
	bind :$port
EOF
	for p in $(tail -n "$n" <<<"$paths"); do
		i=$((i + 1))
		echo "	acl rule$i path_reg ^$p\$"
		echo "	http-request allow if METH_GET rule$i"
	done
	cat <<EOF
	http-request deny deny_status 403
	default_backend hello
backend hello
	server hello $hello_ip:80
EOF
}
# start_haproxy CONFIG N THREADS PORT: an HAProxy in the haproxy endpoint
declare -A hap_port hap_pid
start_haproxy() {
	haproxy_cfg "$2" "$3" "$4" >"$out/$1.cfg" || exit 1
	"$bin/velum" endpoint exec haproxy -- "${pin_srv[@]}" haproxy -db -f "$out/$1.cfg" \
		>"$T/$1.log" 2>&1 &
	pids+=($!)
	hap_pid[$1]=$! hap_port[$1]=$4
	sleep 0.2
	kill -0 "${hap_pid[$1]}" 2>/dev/null || die "HAProxy $1 exited: $(tail -n 5 "$T/$1.log")"
	wait_port load "$haproxy_ip" "$4"
}
# "haproxy" (the paper's: 40 ACLs) on port 8080, haproxy-N-tT on 8100 + 2N + T
for c in $configs; do
	case $c in
	haproxy) start_haproxy haproxy 40 "$server_threads" 8080 ;;
	haproxy-*-t*) n=${c#haproxy-} n=${n%-t*} th=${c##*-t}
		start_haproxy "$c" "$n" "$th" $((8100 + n * 2 + th)) ;;
	esac
done
# --wrk-check's HAProxy target
if [ -n "$wrk_check" ] && [ -z "${hap_pid[haproxy]:-}" ]; then
	start_haproxy haproxy 40 "$server_threads" 8080
fi

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

# target CONFIG: the address and port the load endpoint sends CONFIG's requests to
target() {
	case $1 in
	haproxy*) echo "$haproxy_ip:${hap_port[$1]}" ;;
	*) echo "$hello_ip:80" ;;
	esac
}
# proxy_pid CONFIG: the PID of the process that proxies CONFIG's requests, or nothing
proxy_pid() {
	case $1 in
	haproxy*) echo "${hap_pid[$1]:-}" ;;
	l7-*) cut -d' ' -f1 "$T/state/proxy.pid" 2>/dev/null ;;
	esac
}
# cpu_ticks PID: user + system clock ticks of PID (0 without one)
cpu_ticks() {
	if [ -n "$1" ] && [ -r "/proc/$1/stat" ]; then
		awk '{ print $14 + $15 }' "/proc/$1/stat"
	else
		echo 0
	fi
}
# busy_ticks: the whole machine's busy clock ticks (every CPU; all but idle and iowait)
busy_ticks() {
	awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

# load CONFIG NAME ARGS...: velum-load in the load endpoint against CONFIG's
# target; raw/NAME.cpu gets the proxy's and the machine's CPU ticks over the
# run, the ticks per second, the proxy's PID and velumd's CPU ticks (it
# turns the proxy's access events into flows); raw/NAME.others the CPU
# ticks of every other process and the hypervisor's steal (bench/others.py:
# bench/report.py leaves runs that other work disturbed out)
load() {
	local c=$1 name=$2 url pid p0 m0 a0
	url=http://$(target "$c")/hello
	shift 2
	pid=$(proxy_pid "$c")
	python3 "$top/bench/others.py" snap >"$T/others0"
	p0=$(cpu_ticks "$pid") m0=$(busy_ticks) a0=$(cpu_ticks "$agent")
	velum endpoint exec load -- "$bin/velum-load" -c "$conns" -t "$threads" "$@" \
		--json "$out/raw/$name.json" "$url" >"$out/raw/$name.txt" 2>&1 ||
		die "velum-load $*: $(cat "$out/raw/$name.txt")"
	# what else ran meanwhile: processes outside this benchmark, the hypervisor's steal
	python3 "$top/bench/others.py" snap >"$T/others1"
	python3 "$top/bench/others.py" diff "$T/others0" "$T/others1" $$ "$agent" \
		"$(cut -d' ' -f1 "$T/state/proxy.pid" 2>/dev/null)" >"$out/raw/$name.others"
	echo "$(($(cpu_ticks "$pid") - p0)) $(($(busy_ticks) - m0)) $(getconf CLK_TCK) ${pid:-none}" \
		"$(($(cpu_ticks "$agent") - a0))" >"$out/raw/$name.cpu"
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
	echo "command=bench/http.sh$(if [ $quick = 1 ]; then echo " --quick"; fi)$(if [ $l7 = 1 ]; then echo " --l7"; fi) --configs \"$configs\" --idle $idle --reps $reps --secs $secs --closed-secs $closed_secs --rate $rate --conns $conns --threads $threads --server-threads $server_threads --server $server"
	echo "configs=$configs"
	echo "reps=$reps"
	echo "secs=$secs"
	echo "closed_secs=$closed_secs"
	echo "rate=$rate"
	echo "conns=$conns"
	echo "threads=$threads"
	echo "server_threads=$server_threads"
	echo "server=$server"
	echo "quick=$quick"
	echo "stall_secs=$stall_secs"
	echo "l7=$l7"
	echo "idle=$idle"
	echo "cpus=$(nproc)"
	echo "cpu=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)"
	echo "kernel=$(uname -r)"
	echo "os=$(. /etc/os-release && echo "$PRETTY_NAME")"
	echo "velum=$(git -C "$top" describe --always --dirty 2>/dev/null || echo unknown)"
	echo "haproxy=$(haproxy -v | sed -n '1s/^HAProxy version \([^ ]*\).*/\1/p')"
	echo "iptables=$(iptables -V)"
	echo "gnuplot=$(gnuplot --version)"
	echo "loadavg_before=$(cut -d' ' -f1-3 /proc/loadavg)"
	# the time the machine takes from any process (see bench/stall.c)
	echo "stalls_before=$("$bin/velum-stall" --secs "$stall_secs" | paste -sd';' | sed 's/;/; /g')"
} >"$out/meta.txt"

# sockmap_sends: "CARRIED TCP" sends on the proxy's connections so far (velum status), or nothing
sockmap_sends() {
	velum status -o json 2>/dev/null | python3 -c 'import json,sys
s = json.load(sys.stdin).get("proxy", {}).get("sockmap")
if s: print(s["carried_sends"], s["tcp_sends"])' 2>/dev/null
}

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
		sm_before=$(sockmap_sends)
		load "$c" "warm-$c-$r" -d "$warm"
		load "$c" "closed-$c-$r" -d "$closed_secs"
		load "$c" "open-$c-$r" -d "$secs" -R "$rate" --latency
		# the proxy's sends during this configuration: carried socket to socket / the TCP way
		[ -z "$sm_before" ] || echo "$sm_before $(sockmap_sends)" >"$out/raw/sockmap-$c-$r.txt"
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
# The memory step: $idle keep-alive connections from the load endpoint, each
# after one request, held idle; the proxy's resident memory then.
# idle_conns CONFIG PATH N: appends "CONFIG PATH N answered RSS_BEFORE_KIB RSS_KIB PID" to
# memory.txt, answered counting the connections that got the expected status (200 for
# /hello, 403 otherwise)
idle_conns() {
	local c=$1 path=$2 n=$3 pid before res
	configure "$c" || { echo "$c $path $n refused - - -" >>"$out/memory.txt"; return; }
	pid=$(proxy_pid "$c")
	[ -n "$pid" ] && [ -r "/proc/$pid/status" ] || die "memory step: no proxy process for $c"
	before=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status")
	res=$(velum endpoint exec load -- python3 - "$(target "$c")" "$n" "$pid" "$path" <<'EOF'
import resource, socket, sys, time
addr, n, pid, path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
host, port = addr.rsplit(":", 1)
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
req = b"GET " + path.encode() + b" HTTP/1.1\r\nHost: bench\r\n\r\n"
# the answer each must get: /hello is allowed, anything else denied
want = b"HTTP/1.1 200" if path == "/hello" else b"HTTP/1.1 403"
socks, ok = [], 0
def collect(batch):
    global ok
    for t in batch:
        t.settimeout(10)
        try:
            if t.recv(4096).startswith(want):
                ok += 1
        except OSError:
            pass
# a connection that cannot be made counts as not answered (and stays out of the count)
for i in range(n):
    try:
        s = socket.create_connection((host, int(port)), timeout=10)
        s.sendall(req)
    except OSError:
        continue
    socks.append(s)
    if len(socks) % 500 == 0:
        collect(socks[-500:])
collect(socks[len(socks) - len(socks) % 500:])
time.sleep(1)
rss = [l.split()[1] for l in open("/proc/%s/status" % pid) if l.startswith("VmRSS")][0]
print(ok, rss)
EOF
	) || die "memory step $c $path: $res"
	echo "$c $path $n ${res% *} $before ${res#* } $pid" >>"$out/memory.txt"
	echo "memory $c GET $path: $n connections, ${res% *} answered, RSS $before -> ${res#* } KiB" >&2
}
if [ "$idle" -gt 0 ]; then
	# a proxy holds two descriptors per allowed connection (client and upstream)
	half=$((($(ulimit -Hn) - 200) / 2))
	nallow=$((idle < half ? idle : half))
	: >"$out/memory.txt"
	for c in $configs; do
		case $c in
		# denied (no upstream connection) and allowed (one upstream
		# connection each, from the client's own address and port)
		l7-40)
			idle_conns "$c" /nope "$idle"
			idle_conns "$c" /hello "$nallow"
			;;
		haproxy-40-t*) idle_conns "$c" /hello "$nallow" ;;
		esac
	done
fi
{
	echo "loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)"
	echo "stalls_after=$("$bin/velum-stall" --secs "$stall_secs" | paste -sd';' | sed 's/;/; /g')"
} >>"$out/meta.txt"
rm -f "$out"/raw/warm-*
cp "$T/velumd.log" "$out/raw/velumd.log"
python3 "$top/bench/report.py" "$out" || die "report failed"
echo "bench: report in $out/report.md" >&2
