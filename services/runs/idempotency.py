"""Idempotent launches: `Idempotency-Key` on POST /tasks/execute/<name> (README, Operating).

One Redis key per (token subject, Idempotency-Key), claimed with `SET NX`: whoever claims it
enqueues the run, every other request with that key answers the same run id. The claim is
written first as `pending` with a short TTL (a crashed API process does not lock the key for a
day), then as `done` with the 24-hour TTL once the run is enqueued.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from background.processors.catalog import TaskEntry
from config.redis_keys import IDEMPOTENCY_PENDING_TTL_S, IDEMPOTENCY_PREFIX, IDEMPOTENCY_TTL_S
from schemas.errors import (
    IdempotencyInProgressError,
    IdempotencyKeyReusedError,
    InvalidParametersError,
    RedisUnavailableError,
)
from services.auth import Principal
from services.runs.task_runs import TaskRunService

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


def fingerprint(task_name: str, kwargs: dict[str, Any]) -> str:
    """What "the same parameters" means: the task and its validated parameters, key order ignored."""
    return hashlib.sha256(orjson.dumps([task_name, kwargs], option=orjson.OPT_SORT_KEYS)).hexdigest()


def _invalid_key(message: str) -> InvalidParametersError:
    return InvalidParametersError(f"The {HEADER} header is invalid.", description=message,
                                  errors=[{"field": HEADER, "message": message, "type": "value_error"}])


class IdempotentLaunches:
    """Submits a run at most once per key within the TTL."""

    def __init__(self, client: aioredis.Redis, runs: TaskRunService, *, ttl_s: int = IDEMPOTENCY_TTL_S,
                 wait_s: float = 5.0) -> None:
        self._client = client
        self._runs = runs
        self._ttl_s = ttl_s
        self._wait_s = wait_s  # how long a duplicate waits for the first request to finish enqueuing

    async def submit(self, entry: TaskEntry, kwargs: dict[str, Any], principal: Principal, key: str,
                     *, client: str | None) -> tuple[str, bool]:
        """The run id for this key, and whether it is a replay (nothing was enqueued this time)."""
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            raise _invalid_key(f"1 to {MAX_KEY_LENGTH} printable characters")
        redis_key = IDEMPOTENCY_PREFIX + hashlib.sha256(f"{principal.subject}\0{key}".encode()).hexdigest()
        wanted = fingerprint(entry.name, kwargs)
        deadline = time.monotonic() + self._wait_s
        while True:
            task_id = str(uuid.uuid4())
            if await self._redis(self._client.set(redis_key, f"{wanted} {task_id} pending", nx=True,
                                                  ex=IDEMPOTENCY_PENDING_TTL_S)):
                return await self._first(entry, kwargs, principal, redis_key, wanted, task_id, client), False
            found = await self._redis(self._client.get(redis_key))
            if found is not None:
                stored, stored_id, state = (found.decode() if isinstance(found, bytes) else found).split(" ")
                if stored != wanted:
                    raise IdempotencyKeyReusedError(
                        f"{HEADER} {key[:100]!r} was already used with other parameters.",
                        description=f"It launched run {stored_id}; use a new key for different parameters.")
                if state == "done":
                    return stored_id, True
            if time.monotonic() > deadline:
                raise IdempotencyInProgressError(
                    f"A request with {HEADER} {key[:100]!r} is still being enqueued.",
                    description="Send the request again in a moment.")
            await asyncio.sleep(0.01)  # the first request is enqueuing; its id is known in a moment

    async def _first(self, entry: TaskEntry, kwargs: dict[str, Any], principal: Principal, redis_key: str,
                     wanted: str, task_id: str, client: str | None) -> str:
        try:
            await self._runs.submit(entry, kwargs, principal, task_id=task_id, client=client)
        except BaseException:
            # Nothing was enqueued (409 single-run, 503 broker...): the key stays free for a retry.
            try:
                await self._client.delete(redis_key)
            except (RedisError, OSError):
                pass  # expires with the pending TTL
            raise
        try:
            await self._client.set(redis_key, f"{wanted} {task_id} done", ex=self._ttl_s)
        except (RedisError, OSError):
            pass  # the run is enqueued: answer it; duplicates get 409 in progress until the claim expires
        return task_id

    @staticmethod
    async def _redis(awaitable: Any) -> Any:
        try:
            return await awaitable
        except (RedisError, OSError) as exc:
            raise RedisUnavailableError("Redis is unreachable; nothing was enqueued.",
                                         description=f"{type(exc).__name__}: {exc}") from exc
