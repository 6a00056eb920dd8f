#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Runs the main job (examples/starwars/demo.sh: experiment 1 on real
# namespaces) and checks what it shows: the requests and uploads the kernel
# let through or drops after each policy, the flow log's attribution, the
# refused L7 import, and that nothing of the run is left behind.
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
expect "nothing was changed" "$s5"
expect 'HTTP: the proxy answers 403 Forbidden, body "Access denied"' "$s5"
[ "$(grep -c 'Final verdict: ALLOWED' <<<"$s5")" = 2 ] || fail "L7 trace: two requests allowed: $s5"

s6=$(section 'What the kernel enforces' '$^')
expect "CiliumRules l3-egress rules[0].egress[0]" "$s6"

# nothing left behind
run=$(sed -nE 's|.*Starting velumd \(state /[^ ]*velum-starwars\.([0-9]+)\..*|\1|p' "$out" | head -1)
if [ -n "$run" ]; then
	ip netns list | grep -q "velum-sw$run-" && fail "namespaces left behind"
	[ -e "/sys/fs/bpf/velum-sw$run" ] && fail "pins left behind"
	pgrep -f "velum-starwars\.$run\." >/dev/null && fail "processes left behind"
else
	fail "cannot find the run id in the output"
fi
if [ "$fails" -ne 0 ]; then
	echo "---- demo output:" >&2
	cat "$out" >&2
fi
echo "starwars_demo: $fails failures"
[ "$fails" -eq 0 ]
