#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
#
# Writes the HTTP benchmark's report from a results folder made by
# bench/http.sh: report.md (the table, every number also as a ratio to the
# limit, the machine and versions), fig2-latency.png (latency percentile
# spectrum of every configuration that ran, x = 1/(1-p) on a log scale, as
# wrk2's plots), fig3-latency-lowest.png (the three lowest by p99),
# fig4-throughput.png (maximum and average throughput), with the gnuplot
# scripts and data files that drew them.
#
#   bench/report.py RESULTS_DIR
#
# Per configuration, throughput and CPU are medians over the repetitions
# (with ranges for throughput); latency percentiles are those of every
# request of the configuration's open-loop runs together, their histograms
# (velum-load's "histogram" counters) added, and a figure's spectrum is that
# pooled one (results without histograms: medians over the repetitions, and
# the repetition with the median p99); errors are summed over every run. A
# configuration without runs is
# listed as not run, with velumd's refusal when there is one. CPU per
# request (raw/closed-*.cpu): the proxy process's and the whole machine's
# CPU time over the closed-loop run divided by its requests. With
# memory.txt (the memory step), a table of the proxies' resident memory;
# with l7=1 (bench/http.sh --l7), issue 9's targets, each said met or not.
import json
import os
import statistics
import subprocess
import sys

NAMES = {
    "limit": "no filtering (the limit)",
    "iptables": "iptables, 40 rules (no velum policy)",
    "l3": "velum, 1 L3 rule",
    "l4": "velum, 1 L4 rule",
    "l7-1": "velum, 1 L7 rule",
    "l7-40": "velum, 40 L7 rules",
    "haproxy": "HAProxy, 40 ACLs (no velum policy)",
    "haproxy-1-t1": "HAProxy, 1 ACL, 1 thread",
    "haproxy-1-t2": "HAProxy, 1 ACL, 2 threads",
    "haproxy-40-t1": "HAProxy, 40 ACLs, 1 thread",
    "haproxy-40-t2": "HAProxy, 40 ACLs, 2 threads",
}
ERRORS = ["connect", "timeout", "reset", "non2xx", "bad_response", "unsent"]


def fail(msg):
    print("report: " + msg, file=sys.stderr)
    sys.exit(1)


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        fail("%s: %s" % (path, e))


def runs(d, kind, c, reps):
    out = []
    for r in range(1, reps + 1):
        p = os.path.join(d, "raw", "%s-%s-%d.json" % (kind, c, r))
        if os.path.exists(p):
            out.append(load_json(p))
            out[-1]["_rep"] = r
            out[-1]["_name"] = "%s-%s-%d" % (kind, c, r)
            out[-1]["_other"] = others(d, out[-1])
    return out


# A run during which other processes and the hypervisor's steal took more
# than this share of one CPU is left out (bench/others.py measures them).
DISTURBED = 0.10


def others(d, o):
    """(share of one CPU that other work took during run o, what took it), or None.

    What: the hypervisor's steal and the other processes' shares, and the
    processes that took most.
    """
    p = os.path.join(d, "raw", o["_name"] + ".others")
    if not os.path.exists(p):
        return None
    with open(p) as f:
        v = f.read().split()
    if len(v) != 4 or not o.get("duration_s"):
        fail("%s: expected OTHER STEAL CLK_TCK TOP" % p)
    cpu = int(v[2]) * o["duration_s"]
    return ((int(v[0]) + int(v[1])) / cpu,
            "steal %.0f %%, processes %.0f %%%s" % (
                100 * int(v[1]) / cpu, 100 * int(v[0]) / cpu,
                "" if v[3] == "-" else ": " + v[3]))


def undisturbed(all_runs):
    """The runs other work did not disturb, if they are at least half; else all of them."""
    kept = [o for o in all_runs if not o["_other"] or o["_other"][0] <= DISTURBED]
    return kept if kept and 2 * len(kept) >= len(all_runs) else all_runs


def cpu_us(d, c, reps, closed):
    """Medians of the proxy's and the machine's CPU microseconds per closed-loop request."""
    proxy, machine = [], []
    for r in range(1, reps + 1):
        p = os.path.join(d, "raw", "closed-%s-%d.cpu" % (c, r))
        j = next((o for o in closed if o.get("_rep") == r), None)
        if not os.path.exists(p) or not j or not j["requests"]:
            continue
        with open(p) as f:
            f_ = f.read().split()
        pt, mt, hz, pid = int(f_[0]), int(f_[1]), int(f_[2]), f_[3]
        if pid != "none":
            proxy.append(pt * 1e6 / hz / j["requests"])
        machine.append(mt * 1e6 / hz / j["requests"])
    med = lambda v: statistics.median(v) if v else None
    return med(proxy), med(machine)


PCTS = ["p50", "p90", "p99", "p99.9", "max"]


def percentile(counters, total, p):
    """hist_percentile() over sorted (value, count) counters: the value at percentile p."""
    want = max(1, int(p / 100.0 * total + 0.5))
    seen = 0
    for v, n in counters:
        seen += n
        if seen >= want:
            return v
    return counters[-1][0]


def pooled(opened):
    """Latency percentiles (µs) and spectrum of every request of the runs together.

    The runs' histogram counters are added; None when a run has none (results
    of an older velum-load). Each run's own percentiles are recomputed from
    its counters and must equal those it printed, or the report fails.
    """
    if not opened or any("histogram" not in o for o in opened):
        return None
    acc = {}
    for o in opened:
        own = sorted((int(v), int(n)) for v, n in o["histogram"])
        total = sum(n for _, n in own)
        if not own:
            fail("run %s: an empty histogram" % o.get("_name", "?"))
        for p in ("p50", "p99", "p99.9"):
            if percentile(own, total, float(p[1:])) != o["latency_us"][p]:
                fail("run %s: its histogram gives %s = %d µs, it printed %d" % (
                    o.get("_name", "?"), p, percentile(own, total, float(p[1:])),
                    o["latency_us"][p]))
        for v, n in own:
            acc[v] = acc.get(v, 0) + n
    counters = sorted(acc.items())
    total = sum(n for _, n in counters)
    lat = {p: percentile(counters, total, float(p[1:])) for p in PCTS if p != "max"}
    lat["max"] = counters[-1][0]
    seen, spectrum = 0, []
    for v, n in counters:
        seen += n
        spectrum.append((v, seen / total, seen))
    return {"lat": lat, "spectrum": spectrum, "requests": total}


def ms(us):
    return us / 1000.0


def fmt_ms(us):
    v = ms(us)
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    return "%.2f" % v


def ratio(v, base):
    if base is None or not base:
        return ""
    return " (%.2f)" % (v / base)


def memory_rows(d):
    p = os.path.join(d, "memory.txt")
    out = []
    if not os.path.exists(p):
        return out
    with open(p) as f:
        for line in f:
            v = line.split()
            if len(v) != 7:
                continue
            refused = v[3] == "refused"
            out.append({"config": v[0], "path": v[1], "n": int(v[2]), "refused": refused,
                        "ok": 0 if refused else int(v[3]),
                        "before": 0 if refused else int(v[4]),
                        "rss": 0 if refused else int(v[5])})
    return out


def paired(rows, c, base, value, kind):
    """Per repetition, c's value over base's in the same repetition (run side by side)."""
    b = {o["_rep"]: value(o) for o in rows[base][kind]}
    return [value(o) / b[o["_rep"]] for o in rows[c][kind] if b.get(o["_rep"])]


def targets(rows, mem):
    """Issue 9's targets, each with its numbers and met / not met."""
    T = ["Issue 9's targets (this run; throughput: medians over the repetitions; p99: of "
         "every request of the configuration's open-loop runs together; runs disturbed by "
         "other work left out, see above):", ""]

    def have(*cs):
        return all(c in rows and "max" in rows[c] for c in cs)

    def say(ok, text):
        T.append("- %s: %s" % ("**met**" if ok else "**not met**", text))

    if not have("limit", "l7-40"):
        T.append("- not judged: the limit or velum with 40 L7 rules did not run")
        return T
    lim, v40 = rows["limit"], rows["l7-40"]
    if not lim["max"] or not lim["lat"]["p99"]:
        T.append("- not judged: the limit has no throughput or latency")
        return T
    say(v40["max"] / lim["max"] >= 0.65, "velum L7 with 40 rules at or above 0.65 of the limit "
        "(closed loop): %.0f / %.0f req/s = %.2f" % (v40["max"], lim["max"], v40["max"] / lim["max"]))
    haps = [c for c in ("haproxy-1-t1", "haproxy-1-t2") if have(c)]
    if haps:
        best = max(haps, key=lambda c: rows[c]["max"])
        say(v40["max"] >= rows[best]["max"], "at least as fast as HAProxy with 1 ACL (its better "
            "of 1 and 2 threads, `%s`): %.0f vs %.0f req/s" % (best, v40["max"], rows[best]["max"]))
    if have("l7-1") and rows["l7-1"]["max"]:
        v1 = rows["l7-1"]["max"]
        pr = paired(rows, "l7-40", "l7-1", lambda o: o["rps"], "closed")
        say(v40["max"] >= 0.95 * v1, "40 rules within 5 %% of 1 rule: %.0f vs %.0f req/s (%+.1f %%)%s"
            % (v40["max"], v1, 100.0 * (v40["max"] - v1) / v1,
               "; the repetitions' own ratios %s, median %+.1f %%" % (
                   ", ".join("%.2f" % r for r in pr), 100.0 * (statistics.median(pr) - 1))
               if pr else ""))
    for c in ("l7-1", "l7-40"):
        if have(c):
            p, pl = rows[c]["lat"]["p99"], lim["lat"]["p99"]
            pr = paired(rows, c, "limit", lambda o: o["latency_us"]["p99"], "open")
            m, ml = rows[c]["lat_median"]["p99"], lim["lat_median"]["p99"]
            say(p <= 2 * pl and rows[c]["avg"] >= 0.99 * lim["avg"],
                "`%s` p99 at the fixed rate no more than twice the limit's: %s vs %s ms (%.2fx)%s; "
                "average rate %.0f vs %.0f req/s; the median of the repetitions' p99s %s vs %s ms "
                "(%.2fx)%s" % (
                    c, fmt_ms(p), fmt_ms(pl), p / pl,
                    " (%d and %d requests)" % (rows[c]["lat_n"], lim["lat_n"])
                    if rows[c]["lat_n"] else "", rows[c]["avg"], lim["avg"],
                    fmt_ms(m), fmt_ms(ml), m / ml,
                    "; the repetitions' own ratios %s" % ", ".join("%.2f" % r for r in pr)
                    if pr else "") + (
                    "; with the disturbed runs too %s vs %s ms (%.2fx)" % (
                        fmt_ms(rows[c]["p99_all"]), fmt_ms(lim["p99_all"]),
                        rows[c]["p99_all"] / lim["p99_all"])
                    if rows[c]["p99_all"] and lim["p99_all"] and (
                        rows[c]["left_out"] or lim["left_out"]) else ""))
    for m in mem:
        if m["config"].startswith("l7-") and not m["refused"]:
            ok = m["rss"] < 64 * 1024 and m["ok"] == m["n"]
            say(ok, "idle keep-alive connections in under 64 MB of proxy memory: %d connections "
                "(GET %s, %d answered) held in %.1f MB" % (m["n"], m["path"], m["ok"], m["rss"] / 1024))
    return T


def main():
    if len(sys.argv) != 2:
        fail("usage: report.py RESULTS_DIR")
    d = sys.argv[1]
    meta = {}
    try:
        with open(os.path.join(d, "meta.txt")) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("=")
                meta[k] = v
    except OSError as e:
        fail(str(e))
    configs = meta["configs"].split()
    reps = int(meta["reps"])
    rows = {}
    for c in configs:
        closed_all, opened_all = runs(d, "closed", c, reps), runs(d, "open", c, reps)
        closed, opened = undisturbed(closed_all), undisturbed(opened_all)
        refused = os.path.join(d, "refused-%s.txt" % c)
        row = {"closed": closed, "open": opened, "refused": None,
               "left_out": [o for o in closed_all + opened_all
                            if o not in closed and o not in opened],
               "kept_disturbed": [o for o in closed + opened
                                  if o["_other"] and o["_other"][0] > DISTURBED]}
        if os.path.exists(refused):
            with open(refused) as f:
                row["refused"] = f.read().strip()
        if opened and closed:
            p99s = sorted(o["latency_us"]["p99"] for o in opened)
            mid = p99s[(len(p99s) - 1) // 2]
            row["median_run"] = next(o for o in opened if o["latency_us"]["p99"] == mid)
            row["max"] = statistics.median(o["rps"] for o in closed)
            row["max_range"] = (min(o["rps"] for o in closed), max(o["rps"] for o in closed))
            row["avg"] = statistics.median(o["rps"] for o in opened)
            row["avg_range"] = (min(o["rps"] for o in opened), max(o["rps"] for o in opened))
            row["thr_avg"] = statistics.median(o["thread_rps"]["mean"] for o in opened)
            row["thr_max"] = statistics.median(o["thread_rps"]["max"] for o in opened)
            row["lat_median"] = {
                p: statistics.median(o["latency_us"][p] for o in opened) for p in PCTS
            }
            pool = pooled(opened)
            pool_all = pooled(opened_all) if opened_all != opened else pool
            row["p99_all"] = pool_all["lat"]["p99"] if pool_all else None
            row["lat"] = pool["lat"] if pool else row["lat_median"]
            row["lat_n"] = pool["requests"] if pool else 0
            row["spectrum"] = pool["spectrum"] if pool else [
                tuple(x) for x in row["median_run"]["spectrum"]]
            row["errors"] = {
                e: sum(o["errors"][e] for o in opened_all + closed_all) for e in ERRORS
            }
            row["requests"] = sum(o["requests"] for o in opened_all + closed_all)
            row["cpu_proxy"], row["cpu_machine"] = cpu_us(d, c, reps, closed)
        rows[c] = row
    ran = [c for c in configs if "max" in rows[c]]
    if not ran:
        fail("no configuration ran")
    lim = rows.get("limit") if "max" in rows.get("limit", {}) else None

    def base(k, p=None):
        if not lim:
            return None
        return lim["lat"][p] if k == "lat" else lim[k]

    # data and figures
    for c in ran:
        with open(os.path.join(d, "spectrum-%s.dat" % c), "w") as f:
            f.write("# latency_ms percentile 1/(1-p) count (%s)\n" % (
                "every open-loop run's requests together" if rows[c]["lat_n"]
                else "run with the median p99"))
            for v, p, n in rows[c]["spectrum"]:
                if p < 1:
                    f.write("%.3f %.6f %.3f %d\n" % (ms(v), p, 1 / (1 - p), n))
    with open(os.path.join(d, "throughput.dat"), "w") as f:
        f.write("# config max_rps avg_rps thread_avg thread_max\n")
        for c in ran:
            r = rows[c]
            f.write('"%s" %.1f %.1f %.1f %.1f\n' % (c, r["max"], r["avg"], r["thr_avg"], r["thr_max"]))
    not_ran = [c for c in configs if c not in ran]
    missing = " (not run: %s)" % ", ".join(not_ran) if not_ran else ""
    spectrum_plot = """set terminal pngcairo size 1100,700 font ",11"
set output "%s"
set title "%s%s\\n%s req/s over %s connections, %s threads, %s s; %s"
set logscale x
set logscale y
set xrange [1:*]
set xtics ("0%%%%" 1, "90%%%%" 10, "99%%%%" 100, "99.9%%%%" 1000, "99.99%%%%" 10000, "99.999%%%%" 100000, "99.9999%%%%" 1000000)
set xlabel "percentile (x = 1/(1-p), log scale)"
set ylabel "latency, ms (log scale)"
set grid
set key right bottom
plot %s
"""
    pooled_all = all(rows[c]["lat_n"] for c in ran)
    lowest = sorted(ran, key=lambda c: rows[c]["lat"]["p99"])[:3]
    for name, chosen, title in [
        ("fig2-latency", ran, "Figure 2: latency by percentile, every configuration"),
        ("fig3-latency-lowest", lowest, "Figure 3: latency by percentile, the three lowest p99"),
    ]:
        plots = ", ".join(
            '"spectrum-%s.dat" using 3:1 with lines linewidth 2 title "%s"' % (c, NAMES[c])
            for c in chosen
        )
        with open(os.path.join(d, name + ".gp"), "w") as f:
            f.write(spectrum_plot % (name + ".png", title, missing, meta["rate"], meta["conns"],
                                     meta["threads"], meta["secs"],
                                     ("every request of %s repetition(s)" if pooled_all
                                      else "median-p99 run of %s repetition(s)") % meta["reps"],
                                     plots))
    with open(os.path.join(d, "fig4-throughput.gp"), "w") as f:
        f.write("""set terminal pngcairo size 1300,600 font ",11"
set output "fig4-throughput.png"
set multiplot layout 1,2 title "Figure 4: throughput%s (medians over %s repetition(s))"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set xtics rotate by -30
set grid ytics
set yrange [0:*]
set key top right
set title "all threads: maximum (closed loop, %s s) and average (open loop at %s req/s)"
set ylabel "requests/s"
plot "throughput.dat" using 2:xtic(1) title "max (closed loop)", "" using 3 title "average (open loop)"
set title "wrk2's Req/Sec: per thread, 100 ms samples (%s threads)"
set ylabel "requests/s per thread"
plot "throughput.dat" using 5:xtic(1) title "max sample", "" using 4 title "average sample"
unset multiplot
""" % (missing, meta["reps"], meta["closed_secs"], meta["rate"], meta["threads"]))
    for g in ["fig2-latency", "fig3-latency-lowest", "fig4-throughput"]:
        try:
            subprocess.run(["gnuplot", g + ".gp"], cwd=d, check=True)
        except (OSError, subprocess.CalledProcessError) as e:
            fail("gnuplot %s.gp: %s" % (g, e))
        if not os.path.getsize(os.path.join(d, g + ".png")):
            fail("gnuplot made an empty %s.png" % g)

    # the report
    L = []
    L.append("# HTTP benchmark: velum against the paper's configurations")
    L.append("")
    L.append("Command: `%s`  " % meta["command"].replace("  ", " "))
    L.append("Date: %s  " % meta["date"])
    L.append("Machine: %s CPUs (%s), kernel %s, %s; load average before / after: %s / %s "
             "(other work may share the machine)  " % (meta["cpus"], meta["cpu"], meta["kernel"],
                                                       meta["os"], meta["loadavg_before"],
                                                       meta.get("loadavg_after", "?")))
    if "stalls_before" in meta:
        L.append("Machine stalls (`velum-stall --secs %s`: a thread spinning on each CPU, the "
                 "time it did not run in gaps over 50 µs) before: %s; after: %s  " % (
                     meta.get("stall_secs", "?"), meta["stalls_before"],
                     meta.get("stalls_after", "?")))
    L.append("Versions: velum %s, HAProxy %s, %s, %s" % (meta["velum"], meta["haproxy"],
                                                        meta["iptables"], meta["gnuplot"]))
    L.append("")
    L.append("%s (`GET /hello`, %s %s) in one endpoint made by velumd, "
             "velum-load in another (%s threads, %s connections), HAProxy in a third. Each "
             "repetition runs every configuration in turn (the order rotating), each with a "
             "warm-up, a closed-loop run of %s s (max: every connection sends its next request "
             "as soon as it is answered) and an open-loop run of %s s at a constant %s req/s "
             "(average throughput and latency; latency counts from each request's due time, "
             "so a stall is charged to every request it delayed). %s repetition(s)."
             % (meta.get("server", "velum-hello"), meta["server_threads"],
                "worker(s)" if meta.get("server") == "nginx" else "thread(s)",
                meta["threads"], meta["conns"], meta["closed_secs"],
                meta["secs"], meta["rate"], meta["reps"]))
    L.append("")
    L.append("Values: throughput and CPU are medians over the repetitions (throughput: median "
             "and range); latency percentiles (ms) are %s; in parentheses, the ratio to the "
             "limit. Errors: summed over every "
             "closed- and open-loop run; connect errors, time-outs, resets, non-2xx responses, "
             "bad responses and requests due but never sent (no idle connection) are counted "
             "apart and never enter the latencies. wrk2's Req/Sec: the per-thread rate in "
             "100 ms samples of the open-loop run (average and maximum), the statistic wrk2 "
             "prints." % (
                 "those of every request of the configuration's open-loop runs together (the "
                 "runs' histograms added: a stall of the machine weighs as much as the requests "
                 "it delayed, in whichever repetition it fell)" if pooled_all else
                 "medians over the repetitions"))
    L.append("")
    L.append("CPU per request: the proxy process's (velum-proxy or HAProxy) and the whole "
             "machine's CPU time (user + system, every process, so other work on a shared "
             "machine counts too) over the closed-loop run, divided by its requests; µs, medians.")
    L.append("")
    L.append("| configuration | max req/s (closed loop) | average req/s (open loop) | wrk2 Req/Sec per thread: avg / max | p50 | p90 | p99 | p99.9 | max | CPU µs/request: proxy / machine | errors: connect / timeout / reset / non-2xx / bad / unsent |")
    L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for c in configs:
        r = rows[c]
        if "max" not in r:
            why = "not run"
            if r["refused"]:
                msg = [l for l in r["refused"].splitlines() if "not" in l or "refus" in l]
                why += ": velumd refused the policy: `%s`" % (msg[0] if msg else r["refused"].splitlines()[-1])
            L.append("| `%s` %s | %s | | | | | | | | | |" % (c, NAMES[c], why))
            continue
        e = r["errors"]
        lat = " | ".join(fmt_ms(r["lat"][p]) + ratio(r["lat"][p], base("lat", p))
                         for p in ["p50", "p90", "p99", "p99.9", "max"])
        cpu = "%s / %s" % ("-" if r["cpu_proxy"] is None else "%.1f" % r["cpu_proxy"],
                           "-" if r["cpu_machine"] is None else "%.1f" % r["cpu_machine"])
        L.append("| `%s` %s | %.0f%s [%.0f-%.0f] | %.0f%s [%.0f-%.0f] | %.0f / %.0f%s | %s | %s | %s |" % (
            c, NAMES[c], r["max"], ratio(r["max"], base("max")), r["max_range"][0], r["max_range"][1],
            r["avg"], ratio(r["avg"], base("avg")), r["avg_range"][0], r["avg_range"][1],
            r["thr_avg"], r["thr_max"], ratio(r["thr_max"], base("thr_max")), lat, cpu,
            " / ".join(str(e[k]) for k in ERRORS)))
    L.append("")
    for c in configs:
        if rows[c]["refused"]:
            L.append("%s could not run: velumd refused its policy file:" % NAMES[c])
            L.append("")
            L.append("```")
            L.append(rows[c]["refused"])
            L.append("```")
            L.append("")
    other_known = any(o["_other"] for c in configs for o in rows[c]["closed"] + rows[c]["open"])
    if other_known:
        out_ = [o for c in configs for o in rows[c]["left_out"]]
        kept = [o for c in configs for o in rows[c]["kept_disturbed"]]
        L.append("Other work: during each run, the CPU time of every process outside the "
                 "benchmark and the hypervisor's steal (bench/others.py). A run during which "
                 "they took more than %d %% of one CPU is left out of the table and the "
                 "targets (but not of the error counts), as long as at least half of its "
                 "configuration's runs of that kind remain. %s%s" % (
                     DISTURBED * 100,
                     "Left out: %s." % "; ".join(
                         "`%s` (%.0f %%: %s)" % (o["_name"], 100 * o["_other"][0], o["_other"][1])
                         for o in out_) if out_ else "No run was left out.",
                     " Disturbed but kept (too few undisturbed): %s." % "; ".join(
                         "`%s` (%.0f %%)" % (o["_name"], 100 * o["_other"][0]) for o in kept)
                     if kept else ""))
        L.append("")
    mem = memory_rows(d)
    if mem:
        L.append("Memory: %s idle keep-alive connections from the load endpoint, each after one "
                 "request (GET /hello is allowed and needs an upstream connection, GET /nope is "
                 "denied and needs none), held while the proxy's resident memory (VmRSS) is "
                 "read. A proxy holds two descriptors per allowed connection, so allowed "
                 "connections stop below half the descriptor limit." % meta.get("idle", "?"))
        L.append("")
        L.append("| proxy | request | connections | answered | RSS before, MB | RSS holding them, MB | KiB per connection |")
        L.append("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
        for m in mem:
            if m["refused"]:
                L.append("| `%s` | GET %s | %d | not run: velumd refused the policy | | | |" % (m["config"], m["path"], m["n"]))
                continue
            L.append("| `%s` | GET %s | %d | %d | %.1f | %.1f | %.2f |" % (
                m["config"], m["path"], m["n"], m["ok"], m["before"] / 1024, m["rss"] / 1024,
                (m["rss"] - m["before"]) / m["n"]))
        L.append("")
    if meta.get("l7") == "1":
        L.extend(targets(rows, mem))
        L.append("")
    L.append("![Figure 2](fig2-latency.png)")
    L.append("")
    L.append("![Figure 3](fig3-latency-lowest.png)")
    L.append("")
    L.append("![Figure 4](fig4-throughput.png)")
    L.append("")
    L.append("Raw output of every run (wrk2-style text with the percentile spectrum, and JSON) "
             "is in `raw/`; the HAProxy configuration in `haproxy.cfg`, the iptables rules in "
             "`iptables.rules`, the policies in `bench/policies/`.")
    with open(os.path.join(d, "report.md"), "w") as f:
        f.write("\n".join(L) + "\n")


if __name__ == "__main__":
    main()
