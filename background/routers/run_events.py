"""Following one run: its Server-Sent Events and its own log (viewer)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header
from sse_starlette.sse import AppStatus
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from background.schemas.tasks import RunLogs
from routers.dependencies import PathId, State, Viewer
from schemas.errors import RedisUnavailableError
from schemas.responses import ErrorBody, model_response
from services.runs.events import RunEvent

log = logging.getLogger("toolbox.run_events")
ERRORS: dict[int | str, dict[str, Any]] = {status: {"model": ErrorBody} for status in (401, 403, 404, 422, 503)}
HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-store"),
           (b"x-accel-buffering", b"no")]  # nginx passes each write through instead of buffering the stream
# Sent when the follower heard nothing for a while (services.runs.events.IDLE_BLOCK_S): proxies and
# browsers keep an idle stream open.
KEEP_ALIVE = b": keep-alive\n\n"
# How often the process checks whether uvicorn is shutting down (sse-starlette's AppStatus flag).
SHUTDOWN_POLL_S = 0.5

router = APIRouter(prefix="/tasks/status", tags=["tasks"])


def encode(batch: list[RunEvent]) -> bytes:
    """One write for the batch. `data` is the worker's JSON (orjson never writes a raw newline)."""
    if not batch:
        return KEEP_ALIVE
    parts = []
    for event in batch:
        data = event.data.replace("\n", "\ndata: ") if "\n" in event.data else event.data
        if event.id is None:
            parts.append(f"event: {event.event}\ndata: {data}\n\n")
        else:
            parts.append(f"id: {event.id}\nevent: {event.event}\ndata: {data}\n\n")
    return "".join(parts).encode()


class _Shutdown:
    """Ends every open stream of this process when uvicorn starts shutting down.

    uvicorn waits for open responses before it stops, and a run's stream may last minutes:
    one poll of the shutdown flag per process, not a task per stream.
    """

    def __init__(self) -> None:
        self.streams: set[EventStream] = set()
        self._watcher: asyncio.Task[None] | None = None

    def add(self, stream: EventStream) -> None:
        self.streams.add(stream)
        if self._watcher is None or self._watcher.done() or self._watcher.get_loop() is not asyncio.get_running_loop():
            self._watcher = asyncio.get_running_loop().create_task(self._watch(), name="run-event-streams-shutdown")

    async def _watch(self) -> None:
        while self.streams and not AppStatus.should_exit:
            await asyncio.sleep(SHUTDOWN_POLL_S)
        for stream in list(self.streams):
            stream.end("shutdown")


_shutdown = _Shutdown()


class EventStream(Response):
    """A text/event-stream of a run's batches, written straight to the ASGI `send`.

    No task group and no timer per stream: keep-alive comes from the follower's own idle wake-up
    (an empty batch), a client hang-up and a server shutdown cancel the writing task. A stream
    whose follower lost Redis ends with a comment and without a final state: the client
    reconnects with `Last-Event-ID` (the console does; EventSource does by itself).
    """

    def __init__(self, batches: AsyncIterator[list[RunEvent]]) -> None:
        self.batches = batches
        self.status_code = 200
        self.background = None
        self._task: asyncio.Task[Any] | None = None
        self._ended_by: str | None = None

    def end(self, why: str) -> None:
        if self._ended_by is None and self._task is not None:
            self._ended_by = why
            self._task.cancel()

    async def _disconnected(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.end("disconnect")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._task = asyncio.current_task()
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        listener = asyncio.create_task(self._disconnected(receive))
        _shutdown.add(self)
        tail = b""
        try:
            async for batch in self.batches:
                await send({"type": "http.response.body", "body": encode(batch), "more_body": True})
        except RedisUnavailableError as exc:
            # Redis went away mid-stream: one line, not a traceback; the client resumes later.
            log.warning("run event stream cut: %s", exc, extra={"path": scope.get("path")})
            tail = b": cut, Redis is unreachable; reconnect with Last-Event-ID\n\n"
        except asyncio.CancelledError:
            if self._ended_by is None:
                raise  # a cancellation of ours, not a hang-up or shutdown
            assert self._task is not None
            self._task.uncancel()
        finally:
            self._task = None  # a late hang-up cancels nothing
            listener.cancel()
            _shutdown.streams.discard(self)
            await self.batches.aclose()  # type: ignore[attr-defined]
        if self._ended_by != "disconnect":
            await send({"type": "http.response.body", "body": tail, "more_body": False})


# status_code given: FastAPI's OpenAPI builder cannot infer it from a response class whose
# constructor takes no status_code (it fails on /openapi.json otherwise).
@router.get("/{task_id}/events", response_class=EventStream, status_code=200,
            responses={**ERRORS, 200: {"content": {"text/event-stream": {}}, "description": "`status` and `log` events"}})
async def run_events(
    state: State, _: Viewer, task_id: PathId,
    last_event_id: Annotated[str | None, Header(max_length=64, description="Resume after this event id.")] = None,
) -> EventStream:
    """Server-Sent Events of one run: `status` on every state or progress change, `log` per log line.

    The stream ends after the final state. Each event's `id` is its position: send it back as
    `Last-Event-ID` to resume with nothing lost and nothing repeated. A stream that ends without
    the final state was cut (Redis lost): reconnect with `Last-Event-ID`.
    """
    return EventStream(await state.events.events(task_id, last_event_id))


@router.get("/{task_id}/logs", response_model=RunLogs, responses=ERRORS)
async def run_logs(state: State, _: Viewer, task_id: PathId) -> Response:
    """The log lines the run's task and services wrote (bounded; `truncated` when some were left out)."""
    return model_response(await state.events.logs(task_id))
