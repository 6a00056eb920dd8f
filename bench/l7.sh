#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# `make bench-l7`: velum-proxy standalone on loopback against nginx
# (hello world), compared with no proxy (the limit) and HAProxy (Debian)
# in the same path, with 1 and 40 equivalent rules/ACLs (the allowed
# request matches the last one). Closed-loop throughput and latency by wrk,
# CPU per request of the proxy process (from /proc/PID/stat), and the
# proxy's memory holding 10,000 idle keep-alive connections. Interleaved
# and repeated. Prints a Markdown report on stdout.
#
#   bench/l7.sh [-d SECONDS] [-r ROUNDS] [-c CONNECTIONS] [-n IDLE_CONNS]
#
# Not a test: it loads both cores for minutes.
set -euo pipefail

BUILD=${BUILD:-build}
PROXY=$BUILD/bin/velum-proxy
DUR=10
ROUNDS=3
CONNS=32
IDLE=10000
while getopts d:r:c:n: o; do
	case $o in
	d) DUR=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	c) CONNS=$OPTARG ;;
	n) IDLE=$OPTARG ;;
	*) exit 2 ;;
	esac
done
for t in wrk nginx haproxy python3; do
	command -v "$t" >/dev/null || { echo "bench-l7: $t not installed" >&2; exit 1; }
done

top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d "/tmp/velum-bench-l7.$$.XXXXXX")
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"
# A proxy holds two descriptors per allowed keep-alive connection.
MAXFD=$(ulimit -n)
HALF=$(((MAXFD - 200) / 2))

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {
	local i
	for i in $(seq 100); do
		python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),0.2)' \
			"$1" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "bench-l7: nothing listens on port $1" >&2
	tail -n 5 "$tmp"/*.out "$tmp"/*.err >&2 2>/dev/null || true
	exit 1
}

# The origin: nginx, one worker, "hello" to every GET.
NGX=$(free_port)
"$top/bench/nginx-conf.sh" "$tmp" "127.0.0.1:$NGX" 1 $((MAXFD - 100)) >"$tmp/nginx.conf"
nginx -e "$tmp/nginx.err" -c "$tmp/nginx.conf" -g 'daemon off;' &
pids+=($!)
wait_port "$NGX"

# Rules: N-1 that do not match, then the one that does (worst case for a scan).
rules_file() {
	local n=$1 i
	for ((i = 1; i < n; i++)); do
		printf -- '- method: GET\n  path: "/api/v%d/items/[0-9]+"\n' "$i"
	done
	printf -- '- method: GET\n  path: "/hello"\n'
}
haproxy_cfg() {
	local n=$1 threads=$2 port=$3 i
	cat <<EOF
global
	nbthread $threads
	maxconn $HALF
defaults
	mode http
	timeout connect 5s
	timeout client 600s
	timeout server 600s
	option http-keep-alive
frontend f
	bind 127.0.0.1:$port
	maxconn $HALF
EOF
	for ((i = 1; i < n; i++)); do
		printf '\thttp-request allow if METH_GET { path_reg ^/api/v%d/items/[0-9]+$ }\n' "$i"
	done
	printf '\thttp-request allow if METH_GET { path_reg ^/hello$ }\n'
	printf '\thttp-request deny deny_status 403\n'
	cat <<EOF
	default_backend b
backend b
	http-reuse always
	server s1 127.0.0.1:$NGX maxconn $HALF
EOF
}

# Starts configuration $1; sets PORT and PID (0 for the limit).
start_cfg() {
	local cfg=$1 n
	PID=0
	case $cfg in
	limit) PORT=$NGX ;;
	velum-*)
		n=${cfg#velum-}
		rules_file "$n" >"$tmp/rules-$n.yaml"
		PORT=$(free_port)
		"$PROXY" --listen "127.0.0.1:$PORT" --upstream "127.0.0.1:$NGX" \
			--rules "$tmp/rules-$n.yaml" >"$tmp/px.out" 2>&1 &
		PID=$!
		;;
	haproxy-*)
		n=${cfg#haproxy-}
		n=${n%-t*}
		PORT=$(free_port)
		haproxy_cfg "$n" "${cfg##*-t}" "$PORT" >"$tmp/haproxy.cfg"
		haproxy -db -f "$tmp/haproxy.cfg" >"$tmp/haproxy.out" 2>&1 &
		PID=$!
		;;
	esac
	[ "$PID" = 0 ] || pids+=("$PID")
	wait_port "$PORT"
	# the allowed request really passes, a denied one gets 403 (not the limit)
	[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/hello")" = 200 ] ||
		{ echo "bench-l7: $cfg does not pass /hello" >&2; exit 1; }
	if [ "$cfg" != limit ]; then
		[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/nope")" = 403 ] ||
			{ echo "bench-l7: $cfg does not deny /nope" >&2; exit 1; }
	fi
}
stop_cfg() {
	if [ "$PID" != 0 ]; then
		kill "$PID"
		wait "$PID" 2>/dev/null || true
	fi
}
cpu_ticks() {
	[ "$1" = 0 ] && { echo 0; return; }
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

cfgs="limit velum-1 velum-40 haproxy-1-t1 haproxy-1-t2 haproxy-40-t1 haproxy-40-t2"
hz=$(getconf CLK_TCK)
echo "cfg round rps p50_ms p90_ms p99_ms cpu_us_per_req non2xx errors" >"$tmp/runs"
for ((r = 1; r <= ROUNDS; r++)); do
	for cfg in $cfgs; do
		start_cfg "$cfg"
		wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$PORT/hello" >/dev/null # warm-up
		c0=$(cpu_ticks "$PID")
		wrk -t1 -c"$CONNS" -d"${DUR}s" --latency "http://127.0.0.1:$PORT/hello" >"$tmp/wrk.out"
		c1=$(cpu_ticks "$PID")
		stop_cfg
		awk -v cfg="$cfg" -v r="$r" -v dc="$((c1 - c0))" -v hz="$hz" '
			function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
				if (v ~ /s$/) return v * 1000; return v }
			/^ +50%/ { p50 = ms($2) } /^ +90%/ { p90 = ms($2) } /^ +99%/ { p99 = ms($2) }
			/requests in/ { reqs = $1 }
			/Non-2xx/ { non2xx = $NF }
			/Socket errors/ { err = $4 + $6 + $8 + $10 }
			/^Requests\/sec/ { rps = $2 }
			END { printf "%s %d %.0f %.3f %.3f %.3f %.2f %d %d\n", cfg, r, rps, p50, p90, p99,
				reqs ? dc * 1e6 / hz / reqs : 0, non2xx + 0, err + 0 }' \
			"$tmp/wrk.out" >>"$tmp/runs"
		sleep 1
	done
done

# Memory: idle keep-alive connections that each made one request ($3: its
# path; a denied one needs no upstream connection), then idle.
mem_of() {
	local cfg=$1 n=$2 path=$3 before ok after
	start_cfg "$cfg"
	before=$(awk '/^VmRSS/ { print $2 }' "/proc/$PID/status")
	python3 - "$PORT" "$n" "$PID" "$path" >"$tmp/mem.out" <<'PY'
import socket, sys, time
port, n, pid, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
socks, ok = [], 0
req = b"GET " + path.encode() + b" HTTP/1.1\r\nHost: bench\r\n\r\n"
def collect(batch):
    global ok
    for t in batch:
        t.settimeout(10)
        if t.recv(4096).startswith((b"HTTP/1.1 200", b"HTTP/1.1 403")):
            ok += 1
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(req)
    socks.append(s)
    if len(socks) % 500 == 0:
        collect(socks[-500:])
collect(socks[len(socks) - len(socks) % 500:])
time.sleep(1)
rss = [l.split()[1] for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")][0]
print(ok, rss)
for s in socks:
    s.close()
PY
	read -r ok after <"$tmp/mem.out"
	stop_cfg
	echo "$cfg $path $n $ok $before $after"
}
NALLOW=$((IDLE < HALF - 100 ? IDLE : HALF - 100))
mems=("$(mem_of velum-40 "$IDLE" /nope)" "$(mem_of velum-40 "$NALLOW" /hello)"
	"$(mem_of haproxy-40-t2 "$NALLOW" /hello)")

# Report
{
	echo "## velum-proxy standalone vs no proxy vs HAProxy (loopback, nginx origin)"
	echo
	echo "- machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')), kernel $(uname -r)"
	echo "- $(haproxy -v | head -1); $(nginx -v 2>&1); wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
	echo "- each run: \`wrk -t1 -c$CONNS -d${DUR}s --latency http://127.0.0.1:PORT/hello\` after a 1 s warm-up;"
	echo "  $ROUNDS rounds, configurations interleaved; nginx (1 worker) is the origin; the proxy and HAProxy"
	echo "  run on the same 2 cores as wrk and nginx. Latency is wrk's closed-loop latency (not corrected for"
	echo "  coordinated omission). CPU per request: the proxy process's user+system time over the run / requests."
	echo "- rules: N-1 rules \`GET /api/vI/items/[0-9]+\` that do not match, then \`GET /hello\`; HAProxy: the"
	echo "  same as N \`http-request allow if METH_GET { path_reg ... }\` lines and a final deny."
	echo
	echo "| configuration | req/s (median of $ROUNDS) | ratio to limit | p50 ms | p90 ms | p99 ms | proxy CPU µs/req | non-2xx | socket errors |"
	echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
	lim=$(awk '$1 == "limit" { print $3 }' "$tmp/runs" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
	for cfg in $cfgs; do
		awk -v cfg="$cfg" -v lim="$lim" '$1 == cfg { n++; rps[n] = $3; p50[n] = $4; p90[n] = $5; p99[n] = $6;
			cpu[n] = $7; bad += $8; err += $9 }
			function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
				if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t } return a[int((n + 1) / 2)] }
			END { r = med(rps, n); printf "| %s | %.0f | %.2f | %.3f | %.3f | %.3f | %s | %d | %d |\n",
				cfg, r, r / lim, med(p50, n), med(p90, n), med(p99, n),
				cfg == "limit" ? "-" : sprintf("%.1f", med(cpu, n)), bad, err }' "$tmp/runs"
	done
	echo
	echo "Every run (req/s):"
	echo
	echo '```'
	cat "$tmp/runs"
	echo '```'
	echo
	echo "Memory with idle keep-alive connections (each made one request, then stays idle; the"
	echo "descriptor limit here is $MAXFD, so a proxy can hold at most ~$HALF allowed connections, each"
	echo "with its upstream connection; a denied request opens none). VmRSS of the proxy in KiB:"
	echo
	echo "| proxy | request | connections | answered | RSS before | RSS holding them | KiB per connection |"
	echo "| --- | --- | --- | --- | --- | --- | --- |"
	for m in "${mems[@]}"; do
		set -- $m
		echo "| $1 | GET $2 | $3 | $4 | $5 | $6 | $(awk -v a="$5" -v b="$6" -v n="$3" 'BEGIN { printf "%.2f", (b - a) / n }') |"
	done
}
