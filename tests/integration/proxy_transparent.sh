#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# velum-proxy in transparent mode behind the real datapath
# (tests/integration/proxy_transparent.c); datapath.sh removes the
# namespaces, links and pins the run made. Exits 77 without root.
set -u
BUILD=${BUILD:-build}
tmp=$(mktemp -d "/tmp/velum-proxy-tp.$$.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$(dirname "$0")/datapath.sh" "$BUILD/tests/proxy_transparent" "$BUILD/bin/velum-proxy" \
	"$BUILD/tests/proxy_upstream" "$tmp"
