"""The CPU time a server process (and its children) has used, read from ``/proc``.

Throughput on this shared machine moves with whatever else runs; the CPU a server spends
per request moves much less, so the benchmarks report both: a ratio of CPU per request
says how much work ours does against the bare reference, whatever the load.
"""

from __future__ import annotations

import os
from pathlib import Path

_TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of ``pid`` and of its live children (``serve --processes``
    runs its servers as children)."""
    return sum(_own_cpu_s(p) for p in (pid, *_children(pid)))


def _own_cpu_s(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0  # gone meanwhile
    # Fields after the command name (which may hold spaces) in parentheses: utime is the
    # 14th field of the line, stime the 15th.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * _TICK_S


def _children(pid: int) -> list[int]:
    try:
        listed = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in listed.split()]
