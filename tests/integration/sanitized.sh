#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# sanitized.sh ASAN_BUILD SCRIPT: runs an agent test script with the velumd
# and velum of ASAN_BUILD (built with AddressSanitizer, LeakSanitizer and
# UBSan), then fails if any of their processes reported a leak or a bad
# access on any path the script drives (bad input included), even one the
# script's own checks would not notice: those reports go to files here.
# Undefined behaviour aborts the process at once (-fno-sanitize-recover), a
# crash the script itself fails on (its report is in velumd's log or the
# command's stderr, which the script prints).
set -u
build=${1:?usage: sanitized.sh ASAN_BUILD SCRIPT}
script=${2:?usage: sanitized.sh ASAN_BUILD SCRIPT}
reports=$(mktemp -d "${TMPDIR:-/tmp}/velum-san.$$.XXXXXX")
trap 'rm -rf "$reports"' EXIT

rc=0
VELUMD=$build/bin/velumd VELUM=$build/bin/velum \
	ASAN_OPTIONS="detect_leaks=1:log_path=$reports/asan" \
	UBSAN_OPTIONS="print_stacktrace=1:log_path=$reports/ubsan" \
	"$script" || rc=$?
if compgen -G "$reports/*" >/dev/null; then
	echo "FAIL: $(basename "$script"): sanitizer reports from velumd or velum:" >&2
	for f in "$reports"/*; do
		echo "--- $f" >&2
		head -n 60 "$f" >&2
	done
	exit 1
fi
exit "$rc"
