"""How much of the machine other people used while we measured.

The machine is shared: a run of ours that met another engineer's test suite
is slower for a reason that is not ours. Each measurement notes the cores'
worth of CPU that processes outside our own process tree used meanwhile
(/proc/stat's busy time minus our own CPU time), so a reader can tell a slow
run from a busy machine.
"""

import os
import time

from bench import stats

_TICKS = os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    with open("/proc/stat") as status:
        return stats.proc_stat_busy_seconds(status.read(), _TICKS)


def tree_cpu_s(pids) -> float:
    """CPU-seconds used so far by the given processes and their live descendants."""
    import psutil

    total, seen = 0.0, set()
    for pid in pids:
        try:
            root = psutil.Process(pid)
            members = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for member in members:
            if member.pid in seen:
                continue
            seen.add(member.pid)
            try:
                times = member.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
    return total


def own_cpu_s() -> float:
    """This process and every child it has waited for (their children included)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


class Window:
    """``others`` (cores) between ``start()`` and ``stop()``; ``ours`` is a callable
    returning our CPU-seconds so far (``own_cpu_s`` for waited-for subprocesses)."""

    def __init__(self, ours=own_cpu_s):
        self.ours = ours

    def start(self) -> "Window":
        self.busy, self.own, self.clock = machine_busy_s(), self.ours(), time.perf_counter()
        return self

    def stop(self) -> float:
        wall = time.perf_counter() - self.clock
        busy, own = machine_busy_s() - self.busy, self.ours() - self.own
        return stats.others_cores(busy, own, wall)
