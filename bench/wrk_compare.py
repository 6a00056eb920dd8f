#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
#
# Writes bench/http.sh --wrk-check's comparison: PAIRS holds one line per
# pair of back-to-back closed-loop runs, "N WRK_RPS WRK_REQUESTS WRK_CPU_S
# VL_RPS VL_REQUESTS VL_CPU_S"; the other arguments describe the run.
#
#   wrk_compare.py PAIRS OUT.md COMMAND MACHINE TOOLS SETUP
import statistics
import sys

pairs, out, command, machine, tools, setup = sys.argv[1:7]
rows = []
for line in open(pairs):
    f = line.split()
    if f:
        rows.append((f[0],) + tuple(float(x) for x in f[1:7]))
if not rows:
    sys.exit("wrk_compare: no pairs in " + pairs)
med = statistics.median
w, v = med(r[1] for r in rows), med(r[4] for r in rows)
ratios = [r[4] / r[1] for r in rows]
cpu = lambda s, n: 1e6 * s / n if n else 0.0
with open(out, "w") as f:
    f.write("# velum-load against wrk, closed loop\n\n")
    f.write("Command: `%s`  \n" % command)
    f.write("%s  \n" % machine)
    f.write("Tools: %s\n\n" % tools)
    f.write("%s\n\n" % setup)
    f.write("| pair | wrk req/s | velum-load req/s | velum-load / wrk | wrk CPU us/request | velum-load CPU us/request |\n")
    f.write("| ---: | ---: | ---: | ---: | ---: | ---: |\n")
    for n, a, an, ac, b, bn, bc in rows:
        f.write("| %s | %.0f | %.0f | %.3f | %.1f | %.1f |\n" % (n, a, b, b / a, cpu(ac, an), cpu(bc, bn)))
    f.write("| median | %.0f | %.0f | %.3f | %.1f | %.1f |\n\n" % (
        w, v, v / w, med(cpu(r[3], r[2]) for r in rows), med(cpu(r[6], r[5]) for r in rows)))
    f.write("Paired ratios: median %.3f, range %.3f-%.3f. Target: velum-load's closed-loop "
            "throughput within 5 %% of wrk's (0.95-1.05): %s by the medians (%.3f).\n"
            % (med(ratios), min(ratios), max(ratios),
               "met" if abs(v / w - 1) <= 0.05 else "NOT met", v / w))
