#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
#
# What else ran during a benchmark's run: the CPU time of every process
# outside the benchmark (and of its children that ended, through their
# parents' cutime/cstime, less what they had spent before the run), and
# the hypervisor's steal, between two snapshots. bench/http.sh takes one before and one after each run:
#
#   bench/others.py snap > BEFORE          (also AFTER)
#   bench/others.py diff BEFORE AFTER ROOT_PID...
#     -> "OTHER_TICKS STEAL_TICKS CLK_TCK TOP", TOP the three processes
#        that took most (comm=ticks,...) or "-"
#
# The benchmark's own processes are the ROOT_PIDs (the script, velumd, the
# proxy, which velumd detaches) and their descendants; kernel threads are
# left out too (they work for whoever runs: softirqs, RCU, workqueues).
import os
import sys

PF_KTHREAD = 0x00200000


def snap():
    with open("/proc/stat") as f:
        cpu = f.readline().split()
    print("steal %s" % (cpu[8] if len(cpu) > 8 else 0))
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                s = f.read()
        except OSError:
            continue
        # comm may hold spaces and parentheses: the fields follow the last ')'
        comm = s[s.index("(") + 1:s.rindex(")")].replace(" ", "_") or "?"
        v = s[s.rindex(")") + 2:].split()
        # v[0] state, v[1] ppid, v[6] flags, v[11..14] utime stime cutime cstime
        ticks = sum(int(x) for x in v[11:15])
        print("%s %s %s %d %s" % (pid, v[1], v[6], ticks, comm))


def read(path):
    steal, procs = 0, {}
    with open(path) as f:
        for line in f:
            p = line.split()
            if p[0] == "steal":
                steal = int(p[1])
            elif len(p) == 5:
                procs[int(p[0])] = (int(p[1]), int(p[2]), int(p[3]), p[4])
    return steal, procs


def diff(before, after, roots):
    s0, p0 = read(before)
    s1, p1 = read(after)
    parent = {pid: v[0] for pid, v in list(p0.items()) + list(p1.items())}
    ours = set(roots)

    def is_ours(pid):
        seen = set()
        while pid > 1 and pid not in seen:
            if pid in ours:
                return True
            seen.add(pid)
            pid = parent.get(pid, 0)
        return False

    def skip(pid, ppid, flags):
        return flags & PF_KTHREAD or pid == 2 or ppid == 2 or is_ours(pid)

    delta = {}
    for pid, (ppid, flags, ticks, comm) in p1.items():
        if skip(pid, ppid, flags):
            continue
        old = p0.get(pid)
        # a process new since the first snapshot ran wholly within the run
        delta[pid] = ticks - old[2] if old and old[3] == comm else ticks
    # A process that ended during the run reached its surviving ancestor's
    # cutime/cstime with all its time: what it had at the first snapshot
    # was spent before the run.
    for pid, (ppid, flags, ticks, comm) in p0.items():
        if pid in p1 or skip(pid, ppid, flags):
            continue
        anc, seen = ppid, set()
        while anc > 1 and anc not in p1 and anc not in seen:
            seen.add(anc)
            anc = p0[anc][0] if anc in p0 else 0
        if anc in delta:
            delta[anc] -= ticks
    other, top = 0, {}
    for pid, d in delta.items():
        if d > 0:
            other += d
            top[p1[pid][3]] = top.get(p1[pid][3], 0) + d
    best = sorted(top.items(), key=lambda kv: -kv[1])[:3]
    print("%d %d %d %s" % (other, max(0, s1 - s0), os.sysconf("SC_CLK_TCK"),
                           ",".join("%s=%d" % kv for kv in best) or "-"))


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "snap":
        snap()
    elif len(sys.argv) >= 4 and sys.argv[1] == "diff":
        diff(sys.argv[2], sys.argv[3], [int(x) for x in sys.argv[4:] if x.isdigit()])
    else:
        print("usage: others.py snap | diff BEFORE AFTER ROOT_PID...", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
