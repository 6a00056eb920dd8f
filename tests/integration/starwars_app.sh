#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# The Star Wars demo's own programs, on loopback: the deathstar API answers
# as in the paper (GET /v1, POST /v1/request-landing, 404 otherwise), PUT
# /v1/exhaust-port crashes it, and it uploads its API log to a real vsftpd.
set -euo pipefail
deathstar=${1:?usage: starwars_app.sh path/to/deathstar}
top=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/velum-sw-app.$$.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
fail() {
	echo "FAIL: $*" >&2
	fails=$((fails + 1))
}

# ports from the PID so that concurrent runs do not collide, below the
# ephemeral range (32768-60999): a loopback connection's local port (or its
# TIME_WAIT) there could hold the port a server binds
http_port=$((20000 + ($$ % 6000) * 2))
ftp_port=$((http_port + 1))

mkdir -p "$tmp/ftp/root/incoming" "$tmp/ftp/empty"
chmod 555 "$tmp/ftp/root"
chmod 777 "$tmp/ftp/root/incoming"
sed -e "s|@ROOT@|$tmp/ftp|g" -e "s|@ADDR@|127.0.0.1|" -e "s|@PORT@|$ftp_port|" \
	"$top/examples/starwars/vsftpd.conf.in" >"$tmp/ftp/vsftpd.conf"
/usr/sbin/vsftpd "$tmp/ftp/vsftpd.conf" &
pids+=($!)
# the deathstar uploads after every request: the FTP server listens first
for _ in $(seq 50); do
	(exec 3<>"/dev/tcp/127.0.0.1/$ftp_port") 2>/dev/null && break
	sleep 0.1
done
"$deathstar" --listen 127.0.0.1 --port "$http_port" --log "$tmp/api.log" \
	--ftp "ftp://127.0.0.1:$ftp_port/incoming/deathstar-api.log" 2>"$tmp/deathstar.err" &
ds=$!
pids+=("$ds")
for _ in $(seq 50); do
	curl -s -o /dev/null "http://127.0.0.1:$http_port/v1" && break
	sleep 0.1
done

url=http://127.0.0.1:$http_port
out=$(curl -s "$url/v1")
grep -q '"name": "Death Star"' <<<"$out" || fail "GET /v1: $out"
out=$(curl -s -XPOST "$url/v1/request-landing")
[ "$out" = "Ship landed" ] || fail "POST /v1/request-landing: $out"
code=$(curl -s -o /dev/null -w '%{http_code}' "$url/v1/nothing")
[ "$code" = 404 ] || fail "GET /v1/nothing: $code"
# the log reaches the FTP server. One look decides: a later upload (one per
# request, and again when the log grew during one) overwrites the file, and
# a second look could fall between its truncation and its data.
uploaded=no
for _ in $(seq 150); do
	grep -q "POST /v1/request-landing 200" "$tmp/ftp/root/incoming/deathstar-api.log" \
		2>/dev/null && uploaded=yes && break
	sleep 0.1
done
[ $uploaded = yes ] ||
	fail "API log not uploaded: $(cat "$tmp/deathstar.err"; tail -5 "$tmp/ftp/vsftpd.log" 2>/dev/null
		ss -tanp 2>/dev/null | grep -E "vsftpd|deathstar" | head -10)"
# and, once the uploads settle, the server has the whole log (one look each time)
uploaded=no
for _ in $(seq 150); do
	cmp -s "$tmp/api.log" "$tmp/ftp/root/incoming/deathstar-api.log" && uploaded=yes && break
	sleep 0.1
done
[ $uploaded = yes ] || fail "the server's log differs from the API log: $(diff "$tmp/api.log" \
	"$tmp/ftp/root/incoming/deathstar-api.log" 2>&1 | head -5)"
# the exhaust port destroys it
out=$(curl -s -XPUT "$url/v1/exhaust-port" || true)
grep -q "Panic: deathstar exploded" <<<"$out" || fail "PUT /v1/exhaust-port: $out"
rc=0
wait "$ds" || rc=$?
[ "$rc" = 2 ] || fail "deathstar exit status $rc after the exhaust port, want 2"
curl -s -o /dev/null "$url/v1" && fail "deathstar still answers after exploding"

echo "starwars_app: $fails failures"
[ "$fails" -eq 0 ]
