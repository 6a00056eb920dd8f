#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
#
# Writes bench/http.sh --wrk-check's comparison: PAIRS holds one line per
# pair of back-to-back closed-loop runs, "N WRK_RPS VELUM_LOAD_RPS"; the
# other arguments describe the run for the report.
#
#   wrk_compare.py PAIRS OUT.md COMMAND MACHINE TOOLS SETUP
import statistics
import sys

pairs, out, command, machine, tools, setup = sys.argv[1:7]
rows = [(l.split()[0], float(l.split()[1]), float(l.split()[2])) for l in open(pairs) if l.strip()]
if not rows:
    sys.exit("wrk_compare: no pairs in " + pairs)
w = statistics.median(r[1] for r in rows)
v = statistics.median(r[2] for r in rows)
ratios = [r[2] / r[1] for r in rows]
with open(out, "w") as f:
    f.write("# velum-load against wrk, closed loop\n\n")
    f.write("Command: `%s`  \n" % command)
    f.write("%s  \n" % machine)
    f.write("Tools: %s\n\n" % tools)
    f.write("%s\n\n" % setup)
    f.write("| pair | wrk req/s | velum-load req/s | velum-load / wrk |\n| ---: | ---: | ---: | ---: |\n")
    for n, a, b in rows:
        f.write("| %s | %.0f | %.0f | %.3f |\n" % (n, a, b, b / a))
    f.write("| median | %.0f | %.0f | %.3f |\n\n" % (w, v, v / w))
    f.write("Paired ratios: median %.3f, range %.3f-%.3f. Target: velum-load within 5 %% of wrk "
            "(0.95-1.05): %s by the medians (%.3f).\n"
            % (statistics.median(ratios), min(ratios), max(ratios),
               "met" if abs(v / w - 1) <= 0.05 else "NOT met", v / w))
