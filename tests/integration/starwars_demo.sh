#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Runs the main job (examples/starwars/demo.sh: experiment 1 on real
# namespaces) and checks what it shows: the requests and uploads the kernel
# let through or drops after each policy, the flow log's attribution, the
# L7 policy enforced by the proxy (403 for the exhaust port, the deathstar
# alive), and that nothing of the run is left behind.
set -euo pipefail
bin=${1:?usage: starwars_demo.sh path/to/build/bin}
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp "${TMPDIR:-/tmp}/velum-demo-test.$$.XXXXXX")
trap 'rm -f "$out"' EXIT
fails=0
fail() {
	echo "FAIL: $*" >&2
	fails=$((fails + 1))
}

if [ "$(id -u)" -ne 0 ]; then
	echo "starwars_demo: not root, skipped"
	exit 77
fi
rc=0
VELUM_BIN=$bin "$top/examples/starwars/demo.sh" >"$out" 2>&1 || rc=$?
[ "$rc" = 0 ] || fail "demo exited $rc"

# section SECTION-START SECTION-END: the demo's output between two headings
section() {
	sed -n "/$1/,/$2/p" "$out"
}
expect() { # expect TEXT WHAT
	grep -qF -- "$1" <<<"$2" || fail "missing '$1' in: $2"
}

s1=$(section '1. No policy' '2. Policy 1')
[ "$(grep -c '^Ship landed' <<<"$s1")" = 2 ] || fail "without policy both ships land: $s1"
grep -qE 'API log uploads received: ftp-updated [1-9][0-9]*, ftp-maintenance [1-9][0-9]*' <<<"$s1" ||
	fail "without policy the log reaches both FTP servers: $s1"

s2=$(section '2. Policy 1' 'An empire ship')
[ "$(grep -c '^Ship landed' <<<"$s2")" = 1 ] || fail "policy 1: only the tiefighter lands: $s2"
expect "(no answer: the request timed out; the kernel dropped it)" "$s2"
expect "default/xwing" "$s2"
expect "Policy denied DROPPED (TCP Flags: SYN) BY default deny" "$s2"

s3=$(section 'An empire ship' '3. Policy 2')
expect "Panic: deathstar exploded" "$s3"

s4=$(section '3. Policy 2' '4. Policy 3')
grep -qE 'received by ftp-updated: ([0-9]+) -> ([0-9]+) ' <<<"$s4" || fail "no upload line: $s4"
read -r a b < <(sed -nE 's/.*received by ftp-updated: ([0-9]+) -> ([0-9]+) .*/\1 \2/p' <<<"$s4")
[ "$b" -ge $((a + 2)) ] || fail "policy 2: uploads to ftp-updated stopped ($a -> $b)"
read -r a b < <(sed -nE 's/.*received by ftp-maintenance: ([0-9]+) -> ([0-9]+) .*/\1 \2/p' <<<"$s4")
[ "$b" = "$a" ] || fail "policy 2: uploads to ftp-maintenance got through ($a -> $b)"
expect "EGRESS DENIED (TCP Flags: SYN) BY default deny" "$s4"

s5=$(section '4. Policy 3' 'What the kernel enforces')
expect "imported 1 policy" "$s5"
[ "$(grep -c '^Ship landed' <<<"$s5")" = 1 ] || fail "policy 3: the tiefighter lands: $s5"
expect '{"name": "Death Star"' "$s5"
grep -q '^Access denied' <<<"$s5" || fail "policy 3: PUT /v1/exhaust-port is not answered 403 Access denied: $s5"
expect "(the deathstar is still running: the request never reached it)" "$s5"
expect "(no answer: the request timed out; the kernel dropped it)" "$s5"
expect "L7 (HTTP): DENIED: the request matches no HTTP rule of CiliumNetworkPolicy default/deathstar-ingress" "$s5"
expect 'HTTP: the proxy answers 403 Forbidden, body "Access denied"' "$s5"
# the proxy's access events in velum observe --type l7
expect '$ velum observe --type l7 --last 6' "$s5"
grep -qE '^[A-Z][a-z]{2} [ 0-9][0-9] [0-9:.]{12}: default/tiefighter:[0-9]+ \(ID:[0-9]+\) -> default/deathstar:80 \(ID:[0-9]+\) http-request DROPPED \(HTTP/1.1 PUT http://[0-9.]+/v1/exhaust-port\) BY no HTTP rule matched$' <<<"$s5" ||
	fail "policy 3: no http-request DROPPED line for PUT /v1/exhaust-port: $s5"
grep -qE ': default/tiefighter:[0-9]+ \(ID:[0-9]+\) <- default/deathstar:80 \(ID:[0-9]+\) http-response DROPPED \(HTTP/1.1 403 [0-9]+ms \(PUT http://[0-9.]+/v1/exhaust-port\)\) BY no HTTP rule matched$' <<<"$s5" ||
	fail "policy 3: no http-response 403 line for PUT /v1/exhaust-port: $s5"
grep -qE ': default/tiefighter:[0-9]+ \(ID:[0-9]+\) -> default/deathstar:80 \(ID:[0-9]+\) http-request FORWARDED \(HTTP/1.1 POST http://[0-9.]+/v1/request-landing\) BY CiliumNetworkPolicy default/deathstar-ingress ' <<<"$s5" ||
	fail "policy 3: no http-request FORWARDED line naming the rule for POST /v1/request-landing: $s5"
grep -qE 'http-response FORWARDED \(HTTP/1.1 200 [0-9]+ms \(GET http://[0-9.]+/v1\)\) BY CiliumNetworkPolicy default/deathstar-ingress ' <<<"$s5" ||
	fail "policy 3: no http-response 200 line for GET /v1: $s5"
grep -q "differs from the story" "$out" && fail "the demo says an act differs from the story"

s6=$(section 'What the kernel enforces' '$^')
expect "CiliumRules deathstar-egress rules[0].egress[0]" "$s6"
grep -qE '^Redirect +Ingress +k8s:class=tiefighter +TCP/80 +[0-9]+ ' <<<"$s6" ||
	fail "the deathstar's port 80 is not redirected to the proxy for the tiefighter: $s6"
expect "Every act's outcome matches the paper's story." "$s6"

# nothing left behind
run=$(sed -nE 's|.*Starting velumd \(state /[^ ]*velum-starwars\.([0-9]+)\..*|\1|p' "$out" | head -1)
if [ -n "$run" ]; then
	ip netns list | grep -q "velum-sw$run-" && fail "namespaces left behind"
	[ -e "/sys/fs/bpf/velum-sw$run" ] && fail "pins left behind"
	pgrep -f "velum-starwars\.$run\." >/dev/null && fail "processes left behind"
	pgrep -f "velum-sw$run" >/dev/null && fail "processes left behind (the proxy?)"
else
	fail "cannot find the run id in the output"
fi
if [ "$fails" -ne 0 ]; then
	echo "---- demo output:" >&2
	cat "$out" >&2
fi
echo "starwars_demo: $fails failures"
[ "$fails" -eq 0 ]
