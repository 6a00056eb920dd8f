#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# A broken policy imported into a running agent changes nothing: the import
# fails with file:line:field, and the policies, revision, identities, the
# kernel's policy maps and the traffic verdicts are exactly what they were.
# Covers a schema error in the second of two files, a YAML syntax error, a
# broken file in a directory, and a policy that parses but cannot be
# enforced (more entries than a policy map holds), which fails on the
# writer's copy of the model before the store or the kernel changed (no
# rebuild, not one map swapped).
set -u
if [ "$(id -u)" -ne 0 ]; then
	echo "agent_broken_policy: not root, skipped"
	exit 77
fi
source "$(dirname "$0")/agent_lib.sh"

agent_start || exit 1
"$velum" endpoint create server -l app=server >/dev/null || exit 1
"$velum" endpoint create good -l app=good >/dev/null || exit 1
"$velum" endpoint create bad -l app=bad >/dev/null || exit 1
cat >"$T/good.yaml" <<'YAML'
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: server-ingress
spec:
  endpointSelector:
    matchLabels: {app: server}
  ingress:
  - fromEndpoints:
    - matchLabels: {app: good}
    toPorts:
    - ports:
      - {port: "7001", protocol: TCP}
YAML
run 0 policy import "$T/good.yaml"
srv=$(ep_ip server)
spawn_in "$T/serve.out" server "$traffic" serve 7001
for _ in $(seq 1 50); do
	grep -q ready "$T/serve.out" && break
	sleep 0.1
done

snapshot() {
	{
		"$velum" status -o json | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["store"]["revision"], j["counts"])'
		"$velum" endpoint list -o json
		"$velum" identity list -o json
		# the policies without their hits (traffic counts, not state)
		"$velum" policy get -o json |
			python3 -c 'import json,sys; j=json.load(sys.stdin); [p.pop("hits") for p in j["policies"]]; print(json.dumps(j, indent=2, sort_keys=True))'
		for e in server good bad; do
			"$velum" bpf policy get "$e" -o json |
				python3 -c 'import json,sys; j=json.load(sys.stdin); print(sorted(json.dumps(e, sort_keys=True) for e in j["entries"]))'
		done
	} >"$T/$1"
}

verdicts() {
	probe good tcp "$srv" 7001 || fail "$1: good -> server:7001 should pass"
	probe bad tcp "$srv" 7001 && fail "$1: bad -> server:7001 should be dropped"
	n=$((n + 2))
}

unchanged() {
	snapshot after
	cmp -s "$T/before" "$T/after" || fail "$1 changed the state: $(diff "$T/before" "$T/after" | head -8)"
	n=$((n + 1))
	verdicts "$1"
}

verdicts "before"
snapshot before

# 1. a valid file that would let bad in, then a file with a schema error: nothing is imported
cat >"$T/open.yaml" <<'YAML'
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: server-ingress
spec:
  endpointSelector:
    matchLabels: {app: server}
  ingress:
  - fromEndpoints:
    - {}
YAML
cat >"$T/broken.yaml" <<'YAML'
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: broken
spec:
  endpointSelector:
    matchLabels: {app: server}
  ingress:
  - toPorts:
    - ports:
      - port: "80"
        protocol: TCPX
YAML
run 2 policy import "$T/open.yaml" "$T/broken.yaml"
expect_err "broken.yaml:12: spec.ingress[0].toPorts[0].ports[0].protocol"
expect_err "nothing was changed"
unchanged "a schema error"

# 2. YAML that does not parse
printf 'apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: x\nspec: [\n' >"$T/syntax.yaml"
run 2 policy import "$T/open.yaml" "$T/syntax.yaml"
expect_err "syntax.yaml:"
unchanged "a syntax error"

# 3. a directory with one broken file
mkdir "$T/dir"
cp "$T/open.yaml" "$T/dir/a.yaml"
cp "$T/broken.yaml" "$T/dir/b.yaml"
run 2 policy import "$T/dir"
expect_err "dir/b.yaml:12:"
unchanged "a broken file in a directory"

# 4. an unknown field, and a file that does not exist
sed 's/endpointSelector/endpointSelecter/' "$T/open.yaml" >"$T/field.yaml"
run 2 policy import "$T/field.yaml"
expect_err "field.yaml:6: spec.endpointSelecter"
run 2 policy import "$T/open.yaml" "$T/missing.yaml"
expect_err "missing.yaml: No such file or directory"
unchanged "an unknown field"

# 5. HTTP rules without an L7 proxy: refused before anything changes, as Cilium
# refuses them with its proxy disabled, naming where the rule is
cat >"$T/l7.yaml" <<'YAML'
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: l7}
spec:
  endpointSelector: {matchLabels: {app: server}}
  ingress:
  - toPorts:
    - ports: [{port: "80", protocol: TCP}]
      rules:
        http:
        - {method: GET}
YAML
run 2 policy import "$T/open.yaml" "$T/l7.yaml"
expect_err "l7.yaml:11: spec.ingress[0].toPorts[0].rules.http[0]: L7 policy is not supported since L7 proxy is not enabled"
unchanged "an L7 policy without a proxy"

# 6. parses, but the server's policy map would need more entries than it holds:
# refused after the writer's copy of the model changed, nothing else (CIDR identities included)
python3 - "$T/huge.json" <<'PY'
import json, sys
cidrs = ["198.18.%d.%d/32" % (i // 250, i % 250 + 1) for i in range(500)]
ports = [{"port": str(1000 + i), "protocol": "TCP"} for i in range(40)]
pol = {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
       "metadata": {"name": "huge"},
       "spec": {"endpointSelector": {"matchLabels": {"app": "server"}},
                "ingress": [{"fromCIDR": cidrs, "toPorts": [{"ports": ports}]}]}}
json.dump(pol, open(sys.argv[1], "w"))
PY
# the server's policy map: its kernel object's id (a swap makes a new one)
srv_map() {
	bpftool -j map show pinned "$PIN/velum_pol_$("$velum" endpoint get server -o json |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}
map_before=$(srv_map)
# a dry run goes as far as the import does before writing: refused the same way
run 2 policy import --dry-run "$T/open.yaml" "$T/huge.json"
expect_err "would need"
expect_err "policy-map entries"
unchanged "a dry run of an unenforceable policy"
run 2 policy import "$T/open.yaml" "$T/huge.json"
expect_err "would need"
expect_err "policy-map entries"
unchanged "an unenforceable policy"
# refused on the writer's copy before anything changed: no rebuild, no map swapped
n=$((n + 1))
! grep -qF "restoring the stored state" "$T/velumd.log" ||
	fail "the size check came after the kernel was touched (a rebuild was logged)"
n=$((n + 1))
[ "$(srv_map)" = "$map_before" ] ||
	fail "the refused import swapped the server's policy map ($map_before -> $(srv_map))"

# the agent still works after all this
run 0 policy import "$T/open.yaml"
probe bad tcp "$srv" 7001 || fail "after a good import: bad -> server:7001 should pass"
n=$((n + 1))

finish
