#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# Experiment 1 of the paper as policy traces: the Star Wars endpoints, the
# three policies that stop the attack, and what each request meets. Runs
# `velum policy trace --offline`: no agent, no kernel state.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
velum=${VELUM:-$here/../../build/bin/velum}
eps=$here/endpoints.json
pol=$here/policies

step() {
	printf '\n==== %s\n' "$1"
}

trace() {
	# trace POLICY-SET FROM TO PORT [METHOD PATH]
	set_=$1; from=$2; to=$3; port=$4; shift 4
	printf '\n$ velum policy trace --offline %s--from %s --to %s --dport %s%s\n' \
		"$(for p in $set_; do printf -- '--policy %s ' "$p"; done)" "$from" "$to" "$port" \
		"${1:+ --http-method $1 --http-path $2}"
	args=""
	for p in $set_; do args="$args --policy $pol/$p"; done
	# shellcheck disable=SC2086
	"$velum" policy trace --offline --endpoints "$eps" $args --from "$from" --to "$to" \
		--dport "$port" ${1:+--http-method "$1" --http-path "$2"} | sed -n '/^Egress/,$p'
}

step "Policy 1: L3 ingress by label (only org=empire may reach the deathstar)"
trace "l3-ingress.yaml" tiefighter deathstar 80 POST /v1/request-landing
trace "l3-ingress.yaml" xwing deathstar 80 POST /v1/request-landing
trace "l3-ingress.yaml" tiefighter deathstar 80 PUT /v1/exhaust-port

step "Policy 2: L3 egress by label (the deathstar uploads its log only to status=updated)"
trace "l3-ingress.yaml l3-egress.json" deathstar ftp-updated 21
trace "l3-ingress.yaml l3-egress.json" deathstar ftp-maintenance 21

step "Policy 3: L7 HTTP allow-list (POST /v1/request-landing and GET /v1 only)"
trace "l7-http.yaml l3-egress.json" tiefighter deathstar 80 POST /v1/request-landing
trace "l7-http.yaml l3-egress.json" tiefighter deathstar 80 GET /v1
trace "l7-http.yaml l3-egress.json" tiefighter deathstar 80 PUT /v1/exhaust-port
trace "l7-http.yaml l3-egress.json" xwing deathstar 80 GET /v1
