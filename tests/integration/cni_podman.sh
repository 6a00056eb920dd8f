#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# velum under podman (Debian's podman, CNI backend, runc): a network whose
# plugin is velum-cni, an image imported from a busybox rootfs (no registry
# is needed), the Star Wars ships as containers with podman labels. velumd
# learns the labels after ADD, the deathstar policy imported with `velum
# policy import` lets the tiefighter through and drops the xwing, the flows
# name the containers, and removing the containers removes their
# endpoints. Everything podman uses lives under the test's directory
# (CONTAINERS_CONF, CONTAINERS_STORAGE_CONF); nothing is written to /etc.
# Root only (exit 77 otherwise).
set -u
if [ "$(id -u)" != 0 ]; then
	echo "cni_podman: needs root, skipped"
	exit 77
fi
for b in podman runc busybox; do
	if ! command -v "$b" >/dev/null; then
		echo "cni_podman: $b is not installed (scripts/ensure-deps installs it)" >&2
		exit 1
	fi
done
# shellcheck source=agent_lib.sh
. "$(dirname "$0")/agent_lib.sh"
plugin=${VELUM_CNI:-$top/build/bin/velum-cni}

sfx=$run_id
P=$T/podman
img=localhost/velum-test-busybox:$sfx
net=velum-test-$sfx
ships=(deathstar-$sfx tiefighter-$sfx xwing-$sfx)

# Paths podman and runc create outside their configuration whatever it says
# (runc's state, the CNI result cache, the image blob cache): removed at the
# end if this run made them.
global_dirs=(/run/runc /var/lib/cni /var/lib/containers)
made_dirs=()
for d in "${global_dirs[@]}"; do
	[ -e "$d" ] || made_dirs+=("$d")
done

podman_cleanup() {
	local c d m
	if [ -d "$P" ]; then
		for c in "${ships[@]}"; do
			podman rm -f -t 0 "$c" >/dev/null 2>&1
		done
		podman rmi -f "$img" >/dev/null 2>&1
		# mounts podman may have left under its storage if it died
		findmnt -rn -o TARGET | grep "^$P/" | sort -r | while read -r m; do
			umount -l "$m" 2>/dev/null
		done
	fi
	for d in "${made_dirs[@]}"; do
		rm -rf "$d"
	done
	agent_cleanup
}
trap podman_cleanup EXIT

mkdir -p "$P"/{net.d,cni-bin,tmp,rootfs/bin,rootfs/www,rootfs/proc,rootfs/sys,rootfs/dev,rootfs/etc,rootfs/tmp}
cat >"$P/containers.conf" <<EOF
[containers]
# the sandbox allows less than podman's defaults
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
log_driver = "k8s-file"

[network]
network_backend = "cni"
network_config_dir = "$P/net.d"
cni_plugin_dirs = ["$P/cni-bin"]

[engine]
# crun fails on this cgroup layout
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$P/events.log"
tmp_dir = "$P/tmp"
static_dir = "$P/static"
volume_path = "$P/volumes"
image_copy_tmp_dir = "$P/tmp"
EOF
cat >"$P/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$P/graph"
runroot = "$P/run"
EOF
export CONTAINERS_CONF=$P/containers.conf CONTAINERS_STORAGE_CONF=$P/storage.conf
ln -s "$plugin" "$P/cni-bin/velum-cni"
cat >"$P/net.d/$net.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$net",
  "plugins": [{"type": "velum-cni", "socket": "$VELUM_SOCKET", "runtime": "podman"}]
}
EOF

# podman CMD...: fails the test with podman's message
pm() {
	n=$((n + 1))
	if ! podman "$@" >"$T/pm.out" 2>"$T/pm.err"; then
		fail "podman $*: $(cat "$T/pm.err")"
		return 1
	fi
}

agent_start || exit 1

# the image: busybox (static) and the applets the test uses
cp "$(command -v busybox)" "$P/rootfs/bin/busybox"
for a in sh httpd nc sleep; do
	ln -s busybox "$P/rootfs/bin/$a"
done
echo "hello from the deathstar" >"$P/rootfs/www/index.html"
tar -C "$P/rootfs" -cf "$P/rootfs.tar" .
pm import "$P/rootfs.tar" "$img" || exit 1
pm network ls --format '{{.Name}} {{.Driver}}'
grep -qx "$net velum-cni" "$T/pm.out" || fail "podman does not list $net (driver velum-cni): $(cat "$T/pm.out")"

pm run -d --name "deathstar-$sfx" --network "$net" --label org=empire --label class=deathstar \
	"$img" httpd -f -p 80 -h /www || exit 1
pm run -d --name "tiefighter-$sfx" --network "$net" --label org=empire --label class=tiefighter \
	"$img" sleep 3600 || exit 1
pm run -d --name "xwing-$sfx" --network "$net" --label org=alliance --label class=xwing \
	"$img" sleep 3600 || exit 1

# velumd asks podman for the labels after ADD returned: wait for them
for c in "${ships[@]}"; do
	for _ in $(seq 1 100); do
		id=$("$velum" endpoint get "$c" -o json 2>/dev/null |
			python3 -c 'import json,sys; print(json.load(sys.stdin)["identity"])' 2>/dev/null)
		[ -n "$id" ] && [ "$id" != 5 ] && break
		sleep 0.2
	done
	run 0 endpoint get "$c" -o json
	cid=$(podman inspect --format '{{.Id}}' "$c")
	sandbox=$(podman inspect --format '{{.NetworkSettings.SandboxKey}}' "$c")
	class=${c%-"$sfx"}
	json "j['name'] == 'default/$c' and j['container_id'] == '$cid' and j['netns'] == '$sandbox' and j['ifname'] == 'eth0' and j['state'] == 'ready'"
	json "'container:class=$class' in j['labels'] and j['identity'] > 255"
done
web_ip=$(ep_ip "deathstar-$sfx")
run 0 endpoint get "xwing-$sfx" -o json
json "sorted(j['labels']) == ['container:class=xwing', 'container:org=alliance']"

# http FROM: the deathstar's page through nc (busybox's wget needs a resolver)
http() {
	podman exec "$1" sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 2 $web_ip 80" 2>&1
}
n=$((n + 1))
for c in "tiefighter-$sfx" "xwing-$sfx"; do
	http "$c" | grep -q "hello from the deathstar" || fail "$c cannot reach the deathstar without policy"
done

run 0 policy import "$top/examples/starwars/policies/l3-ingress.yaml"
n=$((n + 1))
http "tiefighter-$sfx" | grep -q "hello from the deathstar" || fail "the tiefighter is not let through"
n=$((n + 1))
http "xwing-$sfx" | grep -q "hello" && fail "the xwing reached the deathstar through the policy"

for _ in $(seq 1 40); do # the flow thread reads events in batches
	"$velum" observe --to "deathstar-$sfx" --verdict DROPPED -o raw | grep -q . && break
	sleep 0.1
done
run 0 observe --to "deathstar-$sfx" --port 80 --last 100 -o raw
ndjson "any(f['verdict'] == 'FORWARDED' and f['source']['endpoint'] == 'default/tiefighter-$sfx' and f['destination']['endpoint'] == 'default/deathstar-$sfx' and 'deathstar-ingress' in (f['policy'] or '') for f in js)"
ndjson "any(f['verdict'] == 'DROPPED' and f['source']['endpoint'] == 'default/xwing-$sfx' and f['destination']['endpoint'] == 'default/deathstar-$sfx' and f['policy'] == 'default deny' for f in js)"
run 0 observe --to "deathstar-$sfx" --last 100
expect_out "default/xwing-$sfx"

# removing the containers removes their endpoints (and podman's namespaces)
sandboxes=$(for c in "${ships[@]}"; do podman inspect --format '{{.NetworkSettings.SandboxKey}}' "$c"; done)
pm rm -f -t 0 "${ships[@]}"
run 0 endpoint list -o json
json "j == []"
for s in $sandboxes; do
	[ -e "$s" ] && fail "namespace $s is left"
done
pm rmi "$img"
pm images -q
[ -z "$(cat "$T/pm.out")" ] || fail "images are left: $(cat "$T/pm.out")"

finish
