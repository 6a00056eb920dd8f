#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# `make bench QUICK=1` (part of `make test`): runs the HTTP benchmark's
# every configuration briefly (bench/http.sh --quick, into
# build/bench-quick/) and checks the pipeline end to end, not the speed:
# each configuration either ran (closed- and open-loop JSON parsable, with
# throughput, latency percentiles, a spectrum and every error count; the
# wrk2-style text with its spectrum) or was refused by velumd (its message
# kept, no numbers for it anywhere); only L7 configurations may be refused;
# the report has a row for each, the figures are PNGs; all in under 90 s.
# Exits 77 (skip) without root.
set -u
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [ "$(id -u)" -ne 0 ]; then
	echo "bench_quick: needs root" >&2
	exit 77
fi
out=$top/build/bench-quick
rm -rf "$out"
t0=$(date +%s)
"$top/bench/http.sh" --quick --out "$out" || { echo "FAIL: bench/http.sh --quick" >&2; exit 1; }
elapsed=$(($(date +%s) - t0))
python3 - "$out" "$elapsed" <<'EOF'
import json, os, re, sys

d, elapsed = sys.argv[1], int(sys.argv[2])
fails = []
def check(cond, msg):
    if not cond:
        fails.append(msg)

meta = dict(l.rstrip("\n").split("=", 1) for l in open(os.path.join(d, "meta.txt")))
configs = meta["configs"].split()
check(configs == ["limit", "iptables", "l3", "l4", "l7-1", "l7-40", "haproxy"],
      "configurations: %s" % configs)
report = open(os.path.join(d, "report.md")).read()
# the machine's stalls, measured by velum-stall on every CPU before and after
for k in ("stalls_before", "stalls_after"):
    check(re.fullmatch(r"cpu0 lost [0-9.]+ ms in \d+ gaps \(\d+ over 1 ms\), longest [0-9.]+ ms(; cpu\d+ .*)?",
                       meta.get(k, "")) is not None, "%s: %r" % (k, meta.get(k)))
check("Machine stalls (`velum-stall" in report, "report: no machine stalls")
errors = ["connect", "timeout", "reset", "non2xx", "bad_response", "unsent"]
for c in configs:
    refused = os.path.join(d, "refused-%s.txt" % c)
    raws = [f for f in os.listdir(os.path.join(d, "raw")) if re.match(r"(open|closed)-%s-\d+\." % re.escape(c), f)]
    if os.path.exists(refused):
        msg = open(refused).read()
        check(c.startswith("l7"), "%s refused: %s" % (c, msg))
        check("velum policy import" in msg and "not" in msg, "%s: refusal without velumd's message: %r" % (c, msg))
        check(not raws, "%s refused, yet has results %s" % (c, raws))
        check(os.path.exists(os.path.join(d, "spectrum-%s.dat" % c)) is False, "%s refused, yet plotted" % c)
        row = [l for l in report.splitlines() if l.startswith("| `%s` " % c)]
        check(len(row) == 1 and "not run: velumd refused the policy" in row[0] and ("%s.yaml" % c) in row[0],
              "%s: no 'not run' row naming its policy: %s" % (c, row))
        continue
    for kind in ["closed", "open"]:
        p = os.path.join(d, "raw", "%s-%s-1.json" % (kind, c))
        try:
            j = json.load(open(p))
        except (OSError, ValueError) as e:
            fails.append("%s: %s" % (p, e))
            continue
        check(j["mode"] == kind, "%s: mode %s" % (p, j["mode"]))
        check(j["requests"] > 0 and j["rps"] > 0, "%s: no requests" % p)
        check(sorted(j["errors"]) == sorted(errors) and all(isinstance(j["errors"][e], int) for e in errors),
              "%s: error counts %s" % (p, j["errors"]))
        lat = [j["latency_us"][k] for k in ["p50", "p90", "p99", "p99.9", "max"]]
        check(all(isinstance(v, int) and v > 0 for v in lat) and lat == sorted(lat), "%s: latencies %s" % (p, lat))
        sp = j["spectrum"]
        check(len(sp) > 10 and sp[-1][1] == 1 and all(a[1] < b[1] and a[0] <= b[0] for a, b in zip(sp, sp[1:])),
              "%s: spectrum" % p)
        check(j["thread_rps"]["samples"] > 0, "%s: no rate samples" % p)
        # the counters the report pools: one per latency recorded, ascending
        h = j.get("histogram", [])
        check(sum(n for _, n in h) == sp[-1][2] and all(a[0] < b[0] for a, b in zip(h, h[1:]))
              and h[-1][0] == j["latency_us"]["max"], "%s: histogram" % p)
        txt = open(p[:-5] + ".txt").read()
        check("Errors: connect " in txt and "Requests/sec:" in txt, "%s: wrk2-style text" % p)
        if kind == "open":
            check("Detailed Percentile spectrum" in txt and "#[Max" in txt, "%s: no spectrum" % p)
    check(os.path.getsize(os.path.join(d, "spectrum-%s.dat" % c)) > 100, "%s: no spectrum data" % c)
    row = [l for l in report.splitlines() if l.startswith("| `%s` " % c)]
    check(len(row) == 1 and re.match(r"\| `[^`]+` [^|]+\| \d+ \(\d+\.\d\d\) \[", row[0]) and "not run" not in row[0],
          "%s: report row %s" % (c, row))
check(report.count("\n| ") >= 2 + len(configs), "report: %d table rows" % report.count("\n| "))
for f in ["fig2-latency.png", "fig3-latency-lowest.png", "fig4-throughput.png"]:
    p = os.path.join(d, f)
    check(os.path.exists(p) and open(p, "rb").read(8) == b"\x89PNG\r\n\x1a\n" and os.path.getsize(p) > 10000,
          "%s: not a PNG plot" % f)
check(elapsed < 90, "the quick run took %d s (limit 90 s)" % elapsed)
for f in fails:
    print("FAIL: " + f, file=sys.stderr)
ran = [c for c in configs if not os.path.exists(os.path.join(d, "refused-%s.txt" % c))]
print("bench_quick: %d s; ran: %s; refused by velumd: %s; %d failures" % (
    elapsed, " ".join(ran), " ".join(c for c in configs if c not in ran) or "none", len(fails)))
sys.exit(1 if fails else 0)
EOF
