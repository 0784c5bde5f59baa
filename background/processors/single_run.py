"""Single-run tasks (`@celery_app.task(single_run=True)`): never two active runs of one task.

Whoever dispatches a run (the API, Beat) takes a Redis lock `toolbox:single-run:<task>` holding
the new run's id before the message is sent; the worker checks it again when the run starts
(runs sent some other way, e.g. `celery call`, take it there) and releases it when the run ends.
A Celery retry keeps it: the run is still active. A holder whose run has ended without releasing
(worker killed, message revoked before it started) is stale and is replaced; the TTL (the task's
time limit plus the visibility margin) bounds anything else.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import redis
import redis.asyncio as aioredis
from celery.exceptions import Retry

from config.redis_keys import lock_key
from config.settings import get_settings
from models.run_state import ENDED_STATES as ENDED


class ToolboxTask(Protocol):
    """What the lock needs of a task (background/processors/task_base.py's ToolboxTask, which imports this module)."""

    name: str
    single_run: bool
    time_limit: float | None
    app: Any
    request: Any

log = logging.getLogger("toolbox.single_run")

# Replace the holder only if it is still the one we judged stale (another caller may have won).
_REPLACE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('set', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class SingleRunActive(Exception):
    """A single-run task was started while another run of it is active; this run did nothing."""


def lock_ttl(task: ToolboxTask) -> int:
    """Seconds a lock may outlive a run that never released it."""
    settings = get_settings()
    return int(task.time_limit or settings.celery.task_time_limit_s) + settings.celery.visibility_margin_s


def _text(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


class AsyncSingleRunLock:
    """The dispatching side in the API (asyncio Redis client)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client

    async def acquire(self, task: ToolboxTask, task_id: str, holder_ended: Any) -> str | None:
        """Take the lock for `task_id`; return the id of the active run holding it instead, if any.

        `holder_ended(holder_id) -> bool` (awaitable) says whether the holder's run is over.
        """
        key, ttl = lock_key(task.name), lock_ttl(task)
        for _ in range(3):
            if await self._client.set(key, task_id, nx=True, ex=ttl):
                return None
            holder = _text(await self._client.get(key))
            if holder is None:
                continue  # released in between: try again
            if not await holder_ended(holder):
                return holder
            if await self._client.eval(_REPLACE, 1, key, holder, task_id, ttl):
                log.warning("single-run lock of %s taken over from ended run %s", task.name, holder)
                return None
        return _text(await self._client.get(key)) or "another run"

    async def release(self, task: ToolboxTask, task_id: str) -> None:
        """Give the lock back if `task_id` still holds it (e.g. the message could not be sent)."""
        await self._client.eval(_RELEASE, 1, lock_key(task.name), task_id)


class SingleRunLock:
    """The same lock from synchronous code (Beat, the worker), on a redis-py client."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    def acquire(self, task: ToolboxTask, task_id: str) -> str | None:
        """Take the lock for `task_id` (or confirm it holds it); else the id of the active holder."""
        key, ttl = lock_key(task.name), lock_ttl(task)
        for _ in range(3):
            if self._client.set(key, task_id, nx=True, ex=ttl):
                return None
            holder = _text(self._client.get(key))
            if holder is None:
                continue
            if holder == task_id:
                return None
            if not self._ended(task, holder):
                return holder
            if self._client.eval(_REPLACE, 1, key, holder, task_id, ttl):
                log.warning("single-run lock of %s taken over from ended run %s", task.name, holder)
                return None
        return _text(self._client.get(key)) or "another run"

    def release(self, task: ToolboxTask, task_id: str) -> None:
        self._client.eval(_RELEASE, 1, lock_key(task.name), task_id)

    @staticmethod
    def _ended(task: ToolboxTask, holder: str) -> bool:
        # The result backend records every end, including a killed worker and a revoke.
        return str(task.app.backend.get_task_meta(holder).get("status")) in ENDED


def _lock_for(task: ToolboxTask) -> SingleRunLock:
    return SingleRunLock(task.app.backend.client)


@contextmanager
def single_run_guard(task: ToolboxTask) -> Iterator[None]:
    """Around a run's body on the worker: hold the task's lock, refuse to run next to another run."""
    request = task.request
    if not task.single_run or request.called_directly or request.is_eager or not request.id:
        yield
        return
    lock = _lock_for(task)
    holder = lock.acquire(task, request.id)
    if holder is not None:
        raise SingleRunActive(f"{task.name} is single-run and run {holder} is still active; this run was skipped.")
    try:
        yield
    except Retry:
        raise  # the same run comes back later: keep the lock
    except BaseException:
        lock.release(task, request.id)
        raise
    else:
        lock.release(task, request.id)
