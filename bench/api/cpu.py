"""CPU time of process trees from /proc (utime + stime), steadier than req/s on a shared machine."""

from __future__ import annotations

import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of one process, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # the command name may hold spaces and parentheses
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def tree_cpu(root: int) -> dict[int, float]:
    """CPU seconds of `root` and every descendant, per pid."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            found = _stat(int(entry))
            if found is not None:
                stats[int(entry)] = found
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    result: dict[int, float] = {}
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            result[pid] = stats[pid][1]
        todo.extend(children.get(pid, []))
    return result


class CpuMeter:
    """CPU seconds used by named process trees between `start()` and `stop()`."""

    def __init__(self, roots: dict[str, int]) -> None:
        self.roots = roots
        self._before: dict[str, dict[int, float]] = {}

    def start(self) -> None:
        self._before = {name: tree_cpu(pid) for name, pid in self.roots.items()}

    def stop(self) -> dict[str, float]:
        """Per tree, the CPU seconds spent since start() (processes that exited meanwhile are lost)."""
        used: dict[str, float] = {}
        for name, pid in self.roots.items():
            before = self._before.get(name, {})
            used[name] = sum(now - before.get(p, 0.0) for p, now in tree_cpu(pid).items())
        return used
