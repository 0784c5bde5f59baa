"""Following a run from the API: wait for its end, stream its events, read its log.

Everything here reads what the worker pushed into Redis (background.processors.run_events).
A follower first reads the run's stream from where it is (its backlog), then takes the live
entries from the process's one shared subscription (services.runs.event_hub), woken by the
worker's publish; no follower polls or holds a connection of its own. The registry is read only
when a run might have ended without a final event (a worker killed mid-run, a stream expired):
once per IDLE_BLOCK_S without news.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, NamedTuple

import orjson
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

from background.processors.run_events import APPEND_SCRIPT, APPEND_SHA, append_args, now_iso
from background.schemas.tasks import LogLine, RunLogs
from config.redis_keys import RESULT_META_PREFIX, events_key, logs_key, logs_meta_key
from schemas.errors import InvalidParametersError
from services.runs.event_hub import Item, RunEventHub, Subscription, unavailable
from services.runs.task_runs import TaskRunService

MAX_WAIT_S = 60.0
# A follower that heard nothing for this long re-checks the registry.
IDLE_BLOCK_S = 15.0
_STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
_PAGE = 500


class RunEvent(NamedTuple):
    """One event of a run: `id` is its stream id (None for a snapshot read from the registry).

    `data` is the JSON text as the worker wrote it: passed through, never parsed per follower.
    (A tuple: made for every live event, it costs a fraction of a frozen dataclass.)
    """

    id: str | None
    event: str
    data: str
    final: bool = False


def _position(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _published(payload: bytes) -> RunEvent:
    """An entry as the worker published it: `<id> <type> <final> <data>`."""
    entry_id, kind, final, data = payload.split(b" ", 3)
    return RunEvent(entry_id.decode(), kind.decode(), data.decode(), final == b"1")


class RunEventService:
    """The API side of a run's events: `client` answers quickly (or fails), `hub` carries the live entries."""

    def __init__(self, client: aioredis.Redis, hub: RunEventHub, runs: TaskRunService, ttl_s: int) -> None:
        self._client = client
        self._hub = hub
        self._runs = runs
        self._ttl_s = ttl_s

    async def _backlog(self, key: str, after: str) -> AsyncGenerator[list[RunEvent], None]:
        """The stream's entries after `after`, page by page, up to its final entry."""
        while True:
            try:
                page: Any = await self._client.xrange(key, min=f"({after}", max="+", count=_PAGE)
            except (RedisError, OSError) as exc:
                raise unavailable(exc) from exc
            batch = []
            for raw_id, fields in page:
                final = fields.get(b"final") == b"1"
                batch.append(RunEvent(raw_id.decode(), fields.get(b"type", b"status").decode(),
                                      fields.get(b"data", b"{}").decode(), final))
                if final:
                    break
            if batch:
                yield batch
                after = batch[-1].id or after
            if len(page) < _PAGE or batch[-1].final:
                return

    async def wait(self, task_id: str, wait_s: float) -> dict[str, Any]:
        """The run's status as soon as it is final, or when `wait_s` is over.

        Woken by the result backend's own publish of the final state: the answer does not wait
        for the worker's registry write and run event that follow it.
        """
        deadline = time.monotonic() + min(wait_s, MAX_WAIT_S)
        sub = await self._hub.subscribe(events_key(task_id), RESULT_META_PREFIX + task_id, wake="final")
        try:
            view = await self._runs.status(task_id)  # RunNotFoundError first; read after subscribing: no end is missed
            while not view["ready"]:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                items = await sub.next(min(left, IDLE_BLOCK_S))
                for item in items:
                    if isinstance(item, BaseException):
                        raise item
                # a final message, or nothing for a while: the registry says where the run is
                view = await self._runs.status(task_id)
        finally:
            self._hub.release(sub)
        return view

    async def events(self, task_id: str, last_event_id: str | None) -> AsyncIterator[list[RunEvent]]:
        """Every stream entry after `last_event_id` (all of them without one), live, up to the final state.

        Entries come in batches: those already there when the follower looks are sent at once. An
        empty batch means nothing happened for IDLE_BLOCK_S (the stream's keep-alive).

        Subscribed first, so the backlog read next and the live entries overlap (repeats are
        skipped by id) and nothing falls between them. A backlog says the run exists; only an
        empty one needs the registry (an unknown id is a 404, a finished run without events ends
        with its registry state). A run whose events stop without a final one (its worker lost
        Redis) ends at the next idle check of the registry.
        """
        if last_event_id is not None and not _STREAM_ID.match(last_event_id):
            raise InvalidParametersError("Last-Event-ID must be an id this stream sent (like 1700000000000-0).")
        after = last_event_id or "0-0"
        key = events_key(task_id)
        sub = await self._hub.subscribe(key)  # Redis out of reach is a 503, not a stream cut at once
        backlog = self._backlog(key, after)
        try:
            first = await anext(backlog, None)
            view = await self._runs.status(task_id) if first is None else None  # RunNotFoundError: a 404
        except BaseException:
            self._hub.release(sub)
            await backlog.aclose()
            raise
        return self._follow(task_id, after, sub, backlog, first, view)

    async def _follow(self, task_id: str, after: str, sub: Subscription, backlog: AsyncGenerator[list[RunEvent], None],
                      first: list[RunEvent] | None, view: dict[str, Any] | None) -> AsyncIterator[list[RunEvent]]:
        try:
            if first is None:
                if view is not None and view["ready"]:
                    yield [self._snapshot(view)]  # finished without events (an expired stream)
                    return
            else:
                batch: list[RunEvent] | None = first
                while batch is not None:
                    yield batch
                    if batch[-1].final:
                        return
                    after = batch[-1].id or after
                    batch = await anext(backlog, None)
            position = _position(after)
            while True:
                items: list[Item] = await sub.next(IDLE_BLOCK_S, coarse=True)
                if not items:
                    view = await self._runs.status(task_id)
                    if view["ready"]:
                        items = await sub.next(0)  # a last event may have come meanwhile
                        if not items:
                            yield [self._snapshot(view)]
                            return
                    else:
                        yield []  # nothing new: the stream sends a keep-alive comment
                        continue
                batch = []
                for item in items:
                    if isinstance(item, BaseException):
                        raise item
                    event = _published(item[1])
                    entry_position = _position(event.id or "0-0")
                    if entry_position <= position:
                        continue  # already sent from the backlog
                    position = entry_position
                    batch.append(event)
                    if event.final:
                        break
                if batch:
                    yield batch
                    if batch[-1].final:
                        return
        finally:
            self._hub.release(sub)
            await backlog.aclose()

    @staticmethod
    def _snapshot(view: dict[str, Any]) -> RunEvent:
        return RunEvent(None, "status", orjson.dumps(view, default=str).decode(), True)

    async def logs(self, task_id: str) -> RunLogs:
        """The run's captured log lines and whether some were left out."""
        await self._runs.status(task_id)
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.lrange(logs_key(task_id), 0, -1)
                pipe.hget(logs_meta_key(task_id), "truncated")
                raw, truncated = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise unavailable(exc, "the run's log cannot be read") from exc
        lines = [LogLine.model_validate_json(line) for line in raw]
        return RunLogs(success=True, task_id=task_id, lines=lines, truncated=bool(int(truncated or 0)))

    async def publish_revoked(self, task_id: str, task_name: str | None, error: str) -> None:
        """The API ends a revoked run's stream itself: a terminated worker process never reaches task_postrun."""
        data = orjson.dumps({"task_id": task_id, "task_name": task_name, "status": "REVOKED",
                             "finished_at": now_iso(), "result": None, "error": error})
        keys, args = append_args(task_id, self._ttl_s, "status", data, True)
        try:
            try:
                await self._client.evalsha(APPEND_SHA, len(keys), *keys, *args)
            except NoScriptError:
                await self._client.eval(APPEND_SCRIPT, len(keys), *keys, *args)
        except (RedisError, OSError):
            pass  # the revoke itself is recorded; followers then end on the registry's state
