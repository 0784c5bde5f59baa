"""Following a run from the API: wait for its end, stream its events, read its log.

Everything here reads what the worker pushed into Redis (background.processors.run_events): a
follower blocks in `XREAD BLOCK` on the run's stream and is woken by the worker's `XADD`; no
follower polls. The registry is read only when a run might have ended without a final event
(a worker killed mid-run, a stream expired), once per idle block.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from background.processors.run_events import now_iso
from config.redis_keys import events_key, logs_key, logs_meta_key
from models.run_state import ENDED_STATES, RunState
from schemas.errors import InvalidParametersError, RedisUnavailableError
from services.runs.task_runs import TaskRunService

MAX_WAIT_S = 60.0
# Longest single XREAD BLOCK: an idle follower re-checks the registry this often.
IDLE_BLOCK_S = 15.0
_STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")


@dataclass(frozen=True, slots=True)
class RunEvent:
    """One event of a run: `id` is its stream id (None for a snapshot read from the registry).

    `data` is the JSON text as the worker wrote it: passed through, never parsed per follower.
    """

    id: str | None
    event: str
    data: str


def _decode(fields: dict[bytes, bytes]) -> tuple[str, dict[str, Any]]:
    kind = fields.get(b"type", b"status").decode()
    try:
        data = orjson.loads(fields.get(b"data", b"{}"))
    except orjson.JSONDecodeError:
        data = {}
    return kind, data if isinstance(data, dict) else {"value": data}


def _id(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RunEventService:
    """The API side of a run's events; `client` is a Redis client allowed to block for IDLE_BLOCK_S."""

    def __init__(self, client: aioredis.Redis, runs: TaskRunService, ttl_s: int) -> None:
        self._client = client
        self._runs = runs
        self._ttl_s = ttl_s

    async def _xread(self, key: str, after: str, block_s: float) -> list[tuple[str, dict[bytes, bytes]]]:
        try:
            found = await self._client.xread({key: after}, count=500, block=max(1, int(block_s * 1000)))
        except (RedisError, OSError) as exc:
            raise RedisUnavailableError("Redis is unreachable; the run cannot be followed.",
                                          description=f"{type(exc).__name__}: {exc}") from exc
        if not found:
            return []
        streams: Any = found  # one stream was read: [[key, [(id, fields), ...]]]
        entries = streams[0][1]
        return [(_id(entry_id), fields) for entry_id, fields in entries]

    async def wait(self, task_id: str, wait_s: float) -> dict[str, Any]:
        """The run's status as soon as it is final, or when `wait_s` is over."""
        key = events_key(task_id)
        latest = await self._client.xrevrange(key, count=1)
        after = _id(latest[0][0]) if latest else "0-0"
        view = await self._runs.status(task_id)  # RunNotFoundError first
        deadline = time.monotonic() + min(wait_s, MAX_WAIT_S)
        while not view["ready"]:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            entries = await self._xread(key, after, min(left, IDLE_BLOCK_S))
            if entries:
                after = entries[-1][0]
                if not any(_decode(f)[0] == "status" and _decode(f)[1].get("status") in ENDED_STATES
                           for _, f in entries):
                    continue
            view = await self._runs.status(task_id)
        return view

    async def events(self, task_id: str, last_event_id: str | None) -> AsyncIterator[RunEvent]:
        """Every stream entry after `last_event_id` (all of them without one), live, up to the final state."""
        if last_event_id is not None and not _STREAM_ID.match(last_event_id):
            raise InvalidParametersError("Last-Event-ID must be an id this stream sent (like 1700000000000-0).")
        await self._runs.status(task_id)  # RunNotFoundError before the stream starts
        return self._follow(task_id, last_event_id or "0-0")

    async def _follow(self, task_id: str, after: str) -> AsyncIterator[RunEvent]:
        key = events_key(task_id)
        block_s = 0.001  # the first read only drains what is there
        while True:
            entries = await self._xread(key, after, block_s)
            for entry_id, fields in entries:
                after = entry_id
                yield RunEvent(entry_id, fields.get(b"type", b"status").decode(), fields.get(b"data", b"{}").decode())
                if fields.get(b"final") == b"1":
                    return
            if not entries:
                # Nothing new: a run that ended without a final event (killed worker, expired stream)
                # ends the stream with its registry state.
                view = await self._runs.status(task_id)
                if view["ready"]:
                    yield RunEvent(None, "status", orjson.dumps(view, default=str).decode())
                    return
                block_s = IDLE_BLOCK_S

    async def logs(self, task_id: str) -> dict[str, Any]:
        """The run's captured log lines and whether some were left out."""
        await self._runs.status(task_id)
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.lrange(logs_key(task_id), 0, -1)
                pipe.hget(logs_meta_key(task_id), "truncated")
                raw, truncated = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise RedisUnavailableError("Redis is unreachable; the run's log cannot be read.",
                                          description=f"{type(exc).__name__}: {exc}") from exc
        lines = [orjson.loads(line) for line in raw]
        return {"success": True, "task_id": task_id, "lines": lines, "truncated": bool(int(truncated or 0))}

    async def publish_revoked(self, task_id: str, task_name: str | None, error: str) -> None:
        """The API ends a revoked run's stream itself: a terminated worker process never reaches task_postrun."""
        key = events_key(task_id)
        data = orjson.dumps({"task_id": task_id, "task_name": task_name, "status": RunState.REVOKED.value,
                             "finished_at": now_iso(), "result": None, "error": error})
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.xadd(key, {"type": "status", "data": data, "final": 1})
                pipe.expire(key, self._ttl_s)
                await pipe.execute()
        except (RedisError, OSError):
            pass  # the revoke itself is recorded; followers then end on the registry's state
