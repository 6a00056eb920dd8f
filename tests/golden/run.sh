#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Golden tests of resolution: for each case directory, the policy files in it
# (sorted) and its endpoints.json (or the shared one) go through `velum policy
# resolve --offline`; the output must equal expected.txt. UPDATE=1 rewrites
# expected.txt (review the diff before committing it).
set -euo pipefail
velum=${1:?usage: run.sh path/to/velum}
here=$(cd "$(dirname "$0")" && pwd)
fails=0 n=0
tmp=$(mktemp "${TMPDIR:-/tmp}/velum-golden.$$.XXXXXX")
trap 'rm -f "$tmp"' EXIT
for dir in "$here"/*/; do
	name=$(basename "$dir")
	eps=$here/endpoints.json
	[ -f "$dir/endpoints.json" ] && eps=$dir/endpoints.json
	args=()
	while IFS= read -r f; do
		args+=(--policy "$f")
	done < <(find "$dir" -maxdepth 1 \( -name '*.yaml' -o -name '*.json' \) ! -name endpoints.json | sort)
	n=$((n + 1))
	if ! "$velum" policy resolve --offline --endpoints "$eps" "${args[@]}" >"$tmp" 2>&1; then
		echo "FAIL $name: velum failed:" >&2
		cat "$tmp" >&2
		fails=$((fails + 1))
		continue
	fi
	if [ "${UPDATE:-0}" = 1 ]; then
		cp "$tmp" "$dir/expected.txt"
	elif ! diff -u "$dir/expected.txt" "$tmp"; then
		echo "FAIL $name: output differs from expected.txt" >&2
		fails=$((fails + 1))
	fi
done
echo "golden: $n cases, $fails failures"
[ "$fails" -eq 0 ]
