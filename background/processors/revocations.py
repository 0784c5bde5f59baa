"""Revokes that survive worker restarts.

Celery keeps revoked ids in each worker's memory only: a worker started after the broadcast
would run a revoked message that was still queued. The API therefore also writes one Redis key
per revoked id (with a TTL well past any queue wait); `ToolboxTask` checks it with a single
EXISTS before running a body.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson
import redis
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from background.processors.runtime import get_runtime
from config.redis_keys import RESULT_META_PREFIX, revoked_key
from models.run_state import RunState
from repositories.task_runs import TaskRunRepository
from schemas.errors import RedisUnavailableError

log = logging.getLogger("toolbox.revocations")


class RevocationStore:
    """The API side: records a revoke before it is broadcast to workers."""

    def __init__(self, client: aioredis.Redis, ttl_s: int) -> None:
        self._client = client
        self._ttl_s = ttl_s

    async def add(self, task_id: str) -> None:
        """Persist the revoke; RedisUnavailableError if Redis does not answer."""
        meta = orjson.dumps({
            "task_id": task_id, "status": RunState.REVOKED.value, "traceback": None, "children": [],
            "date_done": datetime.now(UTC).isoformat(),
            "result": {"exc_type": "TaskRevokedError", "exc_message": ["revoked"], "exc_module": "celery.exceptions"},
        })
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.set(revoked_key(task_id), b"1", ex=self._ttl_s)
                # A queued run has no result yet: give it Celery's REVOKED meta, so AsyncResult and
                # anything reading the backend (single-run locks) see it ended. Never overwrites.
                pipe.set(RESULT_META_PREFIX + task_id, meta, ex=self._ttl_s, nx=True)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise RedisUnavailableError("Redis is unreachable; the task was not revoked.",
                                         description=f"{type(exc).__name__}: {exc}") from exc

    async def contains(self, task_id: str) -> bool:
        """Whether a revoke is recorded for `task_id`."""
        return bool(await self._client.exists(revoked_key(task_id)))


def is_revoked(client: redis.Redis, task_id: str) -> bool:
    """The worker side: one EXISTS. Fails open (logs) so a Redis hiccup never blocks every task."""
    try:
        return bool(client.exists(revoked_key(task_id)))
    except (RedisError, OSError):
        log.warning("could not check the revoke list", extra={"task_id": task_id})
        return False


def record_revoked_at_worker(task: Any, task_id: str) -> None:
    """A worker found a revoked run: mark it REVOKED in the result backend and the registry."""
    task.backend.mark_as_revoked(task_id, reason="revoked before it started", request=task.request)
    runtime = get_runtime()

    async def write() -> None:
        async with runtime.repositories.unit_of_work() as uow:
            await uow.repo(TaskRunRepository).mark_revoked(
                task_id=task_id, task_name=task.name, at=datetime.now(UTC), error="Revoked before it started.")

    try:
        runtime.run(write())
    except Exception:  # noqa: BLE001 - the registry must never fail the worker
        log.exception("run registry write failed", extra={"task_id": task_id})
    log.info("skipped a revoked run", extra={"task_id": task_id, "task_name": task.name})
