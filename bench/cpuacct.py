"""Who used the CPUs during a measured run: the benchmark's own processes, or someone else.

On a shared 2-core machine, a test suite or a browser started by someone else during a run
takes cores from gunicorn and the figures drop for reasons that have nothing to do with the app.
`Window` reads /proc before and after a run and splits the busy CPU time into:

  workers   gunicorn master + workers          redis   the bench redis-server
  wrk       the load generator (RUSAGE_CHILDREN of this process, which waits for wrk)
  foreign   every other user-space process (including ones that started during the run), and
            steal: time the hypervisor gave this VM's CPUs to another guest (a noisy neighbour
            on the host slows every process here without showing in any of them)
  kernel    the rest of the busy time: softirq/interrupts (loopback TCP), kernel threads,
            and processes too short-lived to be seen

All figures are CPU seconds; `foreign_cores` = foreign seconds per wall second.
Linux only (reads /proc/stat and /proc/<pid>/stat).
"""
from __future__ import annotations

import os
import resource
import time

_TICK = os.sysconf("SC_CLK_TCK")


def _system() -> tuple[float, float, float]:
    """(total, idle incl. iowait, steal) CPU seconds since boot, all CPUs."""
    with open("/proc/stat") as f:
        values = [int(x) for x in f.readline().split()[1:]]
    return sum(values[:8]) / _TICK, (values[3] + values[4]) / _TICK, values[7] / _TICK


def _processes() -> dict[int, tuple[float, bool]]:
    """pid -> (user+system CPU seconds, is a kernel thread)."""
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        flags = int(fields[6])
        found[int(name)] = ((int(fields[11]) + int(fields[12])) / _TICK, bool(flags & 0x00200000))  # PF_KTHREAD
    return found


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


class Window:
    """CPU accounting between start() and stop(); `ours` maps a label to a list of pids."""

    def __init__(self, ours: dict[str, list[int]]) -> None:
        self.ours = ours
        self._mine = {os.getpid()}

    def start(self) -> Window:
        self._t0 = time.monotonic()
        self._sys0 = _system()
        self._p0 = _processes()
        self._kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        return self

    def stop(self) -> dict:
        wall = time.monotonic() - self._t0
        kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        p1 = _processes()
        total1, idle1, steal1 = _system()
        total0, idle0, steal0 = self._sys0
        busy = (total1 - total0) - (idle1 - idle0)
        steal = max(0.0, steal1 - steal0)
        used = {}
        owned = set(self._mine)
        for label, pids in self.ours.items():
            owned.update(pids)
            used[label] = sum(p1[p][0] - self._p0.get(p, (0.0, False))[0] for p in pids if p in p1)
        used["wrk"] = (kids1.ru_utime - self._kids0.ru_utime) + (kids1.ru_stime - self._kids0.ru_stime)
        foreign = 0.0
        for pid, (cpu, kthread) in p1.items():
            if pid in owned or kthread:
                continue
            foreign += cpu - self._p0.get(pid, (0.0, False))[0]
        used["foreign"] = max(0.0, foreign) + steal
        used["kernel"] = max(0.0, busy - sum(used.values()))
        return {
            "wall_s": round(wall, 2),
            "busy_cores": round(busy / wall, 2),
            "foreign_cores": round(used["foreign"] / wall, 2),
            "steal_cores": round(steal / wall, 2),
            "cpu_s": {k: round(v, 2) for k, v in used.items()},
        }


def busy_cores(seconds: float = 1.0) -> float:
    """Average busy cores over `seconds`, whoever uses them."""
    total0, idle0, _ = _system()
    time.sleep(seconds)
    total1, idle1, _ = _system()
    return ((total1 - total0) - (idle1 - idle0)) / seconds


def wait_quiet(limit: float = 0.15, timeout: float = 60.0, seconds: float = 1.0) -> float:
    """Wait until the machine is quiet (< `limit` busy cores over `seconds`); the last reading."""
    deadline = time.monotonic() + timeout
    while True:
        load = busy_cores(seconds)
        if load < limit or time.monotonic() >= deadline:
            return load
