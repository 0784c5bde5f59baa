"""`toolbox up` keeps its children running: a crashed worker, Beat or API is started again.

Each crash is printed with the child's exit code and log; the restart waits 1 s, then twice as
long after each further crash (capped). After `max_crashes` crashes of one child within
`window_s`, it is not restarted again: a worker or Beat is then left stopped while the rest runs
on (runs queue up; the API still answers), the API's giving up stops `toolbox up`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


class Supervised(Protocol):
    """What the supervisor needs from the stack (config/local_stack.py's LocalStack)."""

    def exited(self) -> dict[str, int]: ...

    def respawn(self, name: str) -> int: ...

    def forget(self, name: str) -> None: ...

    def log_path(self, name: str) -> str: ...


@dataclass(frozen=True)
class RestartPolicy:
    max_crashes: int = 5
    window_s: float = 600.0
    first_delay_s: float = 1.0
    max_delay_s: float = 30.0

    def delay(self, crashes: int) -> float:
        """Wait before the restart that follows the `crashes`-th recent crash."""
        return float(min(self.first_delay_s * 2 ** max(crashes - 1, 0), self.max_delay_s))


@dataclass
class _Child:
    crashes: list[float] = field(default_factory=list)
    restart_at: float | None = None


class Supervisor:
    """Called every loop of `toolbox up`: notices exits, restarts with backoff, gives up."""

    def __init__(self, stack: Supervised, policy: RestartPolicy | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._stack = stack
        self._policy = policy or RestartPolicy()
        self._clock = clock
        self._children: dict[str, _Child] = {}

    def check(self) -> str | None:
        """Handle exits and due restarts; the name of a child whose loss must stop everything, if any."""
        now = self._clock()
        for name, code in self._stack.exited().items():
            child = self._children.setdefault(name, _Child())
            if child.restart_at is None:
                fatal = self._crashed(name, code, child, now)
                if fatal:
                    return name
            elif now >= child.restart_at:
                child.restart_at = None
                pid = self._stack.respawn(name)
                print(f"{name} restarted (pid {pid})", flush=True)
        return None

    def _crashed(self, name: str, code: int, child: _Child, now: float) -> bool:
        policy = self._policy
        child.crashes = [at for at in child.crashes if now - at < policy.window_s] + [now]
        count = len(child.crashes)
        log = self._stack.log_path(name)
        minutes = f"{policy.window_s / 60:g} minutes"
        if count >= policy.max_crashes:
            self._stack.forget(name)
            print(f"{name} exited with code {code}: {count} crashes in {minutes}, not restarting it "
                  f"again (see {log})", file=sys.stderr, flush=True)
            return name == "api"
        delay = policy.delay(count)
        child.restart_at = now + delay
        print(f"{name} exited with code {code}; restarting it in {delay:g}s (crash {count} of "
              f"{policy.max_crashes} allowed in {minutes}; see {log})", file=sys.stderr, flush=True)
        return False
