"""Talking to Celery workers from the API: revoke broadcasts, ping and inspect.

Celery's control calls block (they publish, then wait for replies up to a timeout), so each runs
in a thread, never on the event loop. Inspect answers are cached a few seconds and shared by
concurrent callers, so a slow or absent worker costs at most one bounded wait per period.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from celery import Celery

from background.schemas.runs import WorkerInfo

log = logging.getLogger("toolbox.workers")
T = TypeVar("T")
SLACK_S = 1.0  # beyond Celery's own reply timeout, for publishing the request
REVOKE_DEADLINE_S = 3.0


@dataclass(frozen=True)
class WorkerSnapshot:
    """What the workers answered to one round of `inspect stats` + `inspect active`."""

    workers: list[WorkerInfo] = field(default_factory=list)
    error: str | None = None
    taken_at: float = 0.0

    @property
    def online(self) -> int:
        return len(self.workers)


def _summarise(stats: dict[str, Any], active: dict[str, Any]) -> list[WorkerInfo]:
    names = sorted(set(stats) | set(active))
    out: list[WorkerInfo] = []
    for name in names:
        info = stats.get(name) or {}
        totals = info.get("total") or {}
        pool = info.get("pool") or {}
        out.append(WorkerInfo(
            name=name,
            active=len(active.get(name) or []),
            processed=int(sum(int(v) for v in totals.values())) if isinstance(totals, dict) else 0,
            concurrency=pool.get("max-concurrency") if isinstance(pool, dict) else None,
            uptime_s=info.get("uptime"),
        ))
    return out


class WorkerControl:
    """Bounded, cached, off-loop access to the workers' control channel."""

    def __init__(self, app: Celery, *, inspect_timeout_s: float = 1.0, cache_s: float = 5.0,
                 ping_timeout_s: float = 0.5) -> None:
        self._app = app
        self._inspect_timeout_s = inspect_timeout_s
        self._ping_timeout_s = ping_timeout_s
        self._cache_s = cache_s
        self._snapshot: WorkerSnapshot | None = None
        self._snapshot_lock = asyncio.Lock()
        self._ping: tuple[float, int, str | None] | None = None
        self._ping_lock = asyncio.Lock()
        # Its own small pool: control calls stuck on a dead broker cannot starve the default executor.
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="celery-control")

    async def _call(self, deadline_s: float, fun: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        # The deadline also covers kombu's own reconnect loop when the broker is down.
        call = asyncio.get_running_loop().run_in_executor(self._executor, partial(fun, *args, **kwargs))
        return await asyncio.wait_for(call, deadline_s)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def revoke(self, task_id: str, *, terminate: bool) -> bool:
        """Broadcast Celery's own revoke (and terminate); False if the broadcast could not be sent."""
        try:
            await self._call(REVOKE_DEADLINE_S, self._app.control.revoke, task_id, terminate=terminate, signal="SIGTERM")
        except Exception as exc:  # noqa: BLE001 - the persisted revoke still stops a queued run
            log.warning("revoke broadcast failed: %s", exc, extra={"task_id": task_id})
            return False
        return True

    async def snapshot(self) -> WorkerSnapshot:
        """Workers online with their active and processed counts; at most one inspect per period."""
        async with self._snapshot_lock:
            cached = self._snapshot
            if cached is not None and time.monotonic() - cached.taken_at < self._cache_s:
                return cached
            self._snapshot = await self._inspect()
            return self._snapshot

    async def _inspect(self) -> WorkerSnapshot:
        inspector = self._app.control.inspect(timeout=self._inspect_timeout_s)
        try:
            deadline = self._inspect_timeout_s + SLACK_S
            stats, active = await asyncio.gather(self._call(deadline, inspector.stats),
                                                 self._call(deadline, inspector.active))
        except Exception as exc:  # noqa: BLE001 - a broker error is reported, not raised
            return WorkerSnapshot(error=f"{type(exc).__name__}: {exc}"[:300], taken_at=time.monotonic())
        return WorkerSnapshot(workers=_summarise(stats or {}, active or {}), taken_at=time.monotonic())

    async def ping(self) -> tuple[int, str | None]:
        """How many workers answered a ping (stops at the first answer), and an error if any."""
        async with self._ping_lock:
            cached = self._ping
            if cached is not None and time.monotonic() - cached[0] < self._cache_s:
                return cached[1], cached[2]
            try:
                replies = await self._call(self._ping_timeout_s + SLACK_S, self._app.control.ping, timeout=self._ping_timeout_s, limit=1)
                result: tuple[int, str | None] = (len(replies or []), None)
            except Exception as exc:  # noqa: BLE001 - reported as a failed check
                result = (0, f"{type(exc).__name__}: {exc}"[:300])
            self._ping = (time.monotonic(), *result)
            return result
