"""Reads Celery's Redis result backend asynchronously (the `celery-task-meta-<id>` keys)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from config.coalescer import Coalescer
from config.redis_keys import RESULT_META_PREFIX, progress_key


class ResultReader:
    """What the result backend knows of a task id, without blocking the event loop."""

    def __init__(self, client: aioredis.Redis, timeout_s: float = 2.0) -> None:
        self._client = client
        self._timeout_s = timeout_s
        # Concurrent status polls share one MGET.
        self._reads: Coalescer[str] = Coalescer(self._mget)

    async def _mget(self, task_ids: list[str]) -> list[bytes | None]:
        # a client without decode_responses: values are bytes
        values = await self._client.mget([RESULT_META_PREFIX + task_id for task_id in task_ids])
        return [v.encode() if isinstance(v, str) else v for v in values]

    async def meta(self, task_id: str) -> dict[str, Any] | None:
        """The stored meta, or None if absent or Redis is unreachable (the registry still answers)."""
        try:
            raw = await asyncio.wait_for(self._reads.submit(task_id), self._timeout_s)
        except (TimeoutError, RedisError, OSError):
            return None
        return _object(raw)

    async def last_progress(self, task_id: str) -> dict[str, Any] | None:
        """The last progress the run reported (kept after it failed or was revoked), or None."""
        try:
            raw = await asyncio.wait_for(self._client.get(progress_key(task_id)), self._timeout_s)
        except (TimeoutError, RedisError, OSError):
            return None
        return _object(raw)


def _object(raw: bytes | str | None) -> dict[str, Any] | None:
    """A stored JSON object, or None for a missing or unreadable value."""
    if raw is None:
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
