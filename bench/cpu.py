"""Where the CPU goes during a timed run: CPU seconds of this process, the broker and PostgreSQL, from /proc.

The no-op e2e goal is a question of CPU as much as of code: on a 2-core machine the daemon, the broker and
the PostgreSQL backend share the same two cores, so articles/s can never exceed
cores / (CPU seconds those three spend per article). `bench.e2e` prints that ceiling beside the figure.
Linux only; elsewhere every figure is 0 and no ceiling is printed.
"""

from __future__ import annotations

import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: str) -> tuple[str, float] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # gone, or not Linux
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    return comm, (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


def cpu_seconds(broker_pid: int | None) -> dict[str, float]:
    """Cumulative CPU seconds: 'monitor' (this process, all threads), 'broker', 'postgresql' (every server
    process: backends, WAL writer, checkpointer), 'machine' (every CPU's busy time, other jobs included)."""
    out = {"monitor": 0.0, "broker": 0.0, "postgresql": 0.0, "machine": 0.0}
    proc = Path("/proc")
    if not proc.is_dir():
        return out
    me = str(os.getpid())
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        s = _stat(entry.name)
        if s is None:
            continue
        comm, seconds = s
        if entry.name == me:
            out["monitor"] += seconds
        elif broker_pid is not None and entry.name == str(broker_pid):
            out["broker"] += seconds
        elif comm.startswith("postgres"):
            out["postgresql"] += seconds
    try:
        cpu = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        busy = sum(int(x) for x in cpu[:8]) - int(cpu[3]) - int(cpu[4])  # all but idle and iowait
        out["machine"] = busy / _TICK
    except (OSError, IndexError, ValueError):
        pass
    return out


def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before.get(k, 0.0) for k in after}


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
