"""Reads Celery's Redis result backend asynchronously (the `celery-task-meta-<id>` keys)."""

from __future__ import annotations

from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

META_PREFIX = "celery-task-meta-"


class ResultReader:
    """What the result backend knows of a task id, without blocking the event loop."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client

    async def meta(self, task_id: str) -> dict[str, Any] | None:
        """The stored meta, or None if absent or Redis is unreachable (the registry still answers)."""
        try:
            raw = await self._client.get(META_PREFIX + task_id)
        except (RedisError, OSError):
            return None
        if raw is None:
            return None
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None
