#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# velumd against a hostile or clumsy operator: adopted namespaces that are
# not what they claim (velumd's own, a FIFO, a plain file, one whose
# interface name is taken), leftovers of a crash under velumd's names, idle
# and streaming clients, state-file permissions. Root only.
set -u
[ "$(id -u)" -eq 0 ] || exit 77
. "$(dirname "$0")/agent_lib.sh"

scratch=h$run_id
cleanup_harden() {
	ip netns del "$scratch" 2>/dev/null
	agent_cleanup
}
trap cleanup_harden EXIT

agent_start || exit 1
v6=/proc/sys/net/ipv6/conf
host_all=$(cat $v6/all/disable_ipv6)
host_def=$(cat $v6/default/disable_ipv6)

# ---- adopted namespaces ----------------------------------------------------------------------------
# velumd's own namespace: refused, and the host's IPv6 settings untouched
run 2 endpoint create selfns --netns /proc/self/ns/net
expect_err "own network namespace"
run 2 endpoint create selfns --netns /proc/$agent_pid/ns/net
expect_err "own network namespace"
if [ "$(cat $v6/all/disable_ipv6)" != "$host_all" ] || [ "$(cat $v6/default/disable_ipv6)" != "$host_def" ]; then
	fail "adopting velumd's namespace changed the host's disable_ipv6"
	echo "$host_def" >$v6/default/disable_ipv6
	echo "$host_all" >$v6/all/disable_ipv6
fi

# not a namespace at all
run 2 endpoint create notns --netns /etc/passwd
expect_err "/etc/passwd: not a network namespace"
run 2 endpoint create notns --netns /etc
expect_err "/etc: not a network namespace"
run 2 endpoint create notns --netns "$T/nonexistent"
expect_err "No such file or directory"

# a FIFO never blocks the agent
mkfifo "$T/fifo"
n=$((n + 1))
if ! timeout 10 "$velum" endpoint create fifo --netns "$T/fifo" >"$T/out" 2>"$T/err"; then
	grep -qF "not a network namespace" "$T/err" || fail "FIFO namespace: $(cat "$T/err")"
else
	fail "a FIFO was adopted as a namespace"
fi
n=$((n + 1))
if ! timeout 10 "$velum" status >/dev/null 2>&1; then
	fail "velumd does not answer after a FIFO was named as a namespace"
	timeout 2 sh -c ': >"$1"' - "$T/fifo"
fi

# the interface name is taken inside: refused naming it, the target untouched
ip netns add "$scratch"
ip -n "$scratch" link add eth0 type veth peer name p
in_all=$(ip netns exec "$scratch" cat $v6/all/disable_ipv6)
in_def=$(ip netns exec "$scratch" cat $v6/default/disable_ipv6)
run 1 endpoint create taken --netns "/run/netns/$scratch"
expect_err "has an interface eth0 already"
[ "$(ip netns exec "$scratch" cat $v6/all/disable_ipv6)" = "$in_all" ] &&
	[ "$(ip netns exec "$scratch" cat $v6/default/disable_ipv6)" = "$in_def" ] ||
	fail "a failed adoption changed disable_ipv6 inside the target"
ip -n "$scratch" -o link show | grep -q ": p@" || fail "the target's own veth is gone"
run 1 endpoint get taken
# once the name is free, the same namespace is adopted
ip -n "$scratch" link del eth0
run 0 endpoint create taken --netns "/run/netns/$scratch" -o json
json 'j["state"] == "ready"'
[ "$(ip netns exec "$scratch" cat $v6/all/disable_ipv6)" = 1 ] ||
	fail "an adopted namespace keeps IPv6 on"
run 0 endpoint delete taken
ip netns del "$scratch"

# ---- leftovers under velumd's names ----------------------------------------------------------------
# the empty file a crash between creating and mounting leaves at the next id
run 0 endpoint create first -l app=first -o json
id1=$(json_get 'j["id"]')
for i in 1 2 3 4 5 6; do
	[ -e "/run/netns/$NSP$((id1 + i))" ] || : >"/run/netns/$NSP$((id1 + i))"
done
run 0 endpoint create second -l app=second -o json
json 'j["state"] == "ready"'
second_ns=$(json_get 'j["netns"]')
second_if=$(json_get 'j["host_ifname"]')
in_ep second ip -4 -o addr show dev eth0 | grep -qF "$(ep_ip second)/32" ||
	fail "the endpoint made over a stale namespace file is not configured"

# the datapath forgot the endpoints (pin folder removed): restore makes them anew
# over their leftover veth and namespace, and delete removes both
agent_stop
rm -rf "$PIN"
agent_start || exit 1
run 0 endpoint get second -o json
json 'j["state"] == "ready"'
run 0 endpoint delete second
[ -e "$second_ns" ] && fail "endpoint delete left $second_ns behind"
ip link show "$second_if" >/dev/null 2>&1 && fail "endpoint delete left $second_if behind"
run 0 endpoint delete first
for i in 1 2 3 4 5 6; do
	rm -f "/run/netns/$NSP$((id1 + i))"
done

finish
