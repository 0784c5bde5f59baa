"""Following one run: its Server-Sent Events and its own log (viewer)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.responses import Response

from background.schemas.tasks import RunLogs
from routers.dependencies import PathId, State, Viewer
from schemas.responses import ErrorBody, JSONBytesResponse, dumps
from services.runs.events import RunEvent

ERRORS: dict[int | str, dict[str, Any]] = {status: {"model": ErrorBody} for status in (401, 403, 404, 422, 503)}
# Keep-alive comment between events: proxies and browsers keep an idle stream open.
PING_S = 15

router = APIRouter(prefix="/tasks/status", tags=["tasks"])


async def _sse(batches: AsyncIterator[list[RunEvent]]) -> AsyncIterator[bytes]:
    # One write per batch, not per event: the events already there go out together.
    async for batch in batches:
        yield b"".join(ServerSentEvent(event.data, event=event.event, id=event.id).encode() for event in batch)


@router.get("/{task_id}/events", responses={**ERRORS, 200: {"content": {"text/event-stream": {}},
                                                             "description": "`status` and `log` events"}})
async def run_events(
    state: State, _: Viewer, task_id: PathId,
    last_event_id: Annotated[str | None, Header(max_length=64, description="Resume after this event id.")] = None,
) -> EventSourceResponse:
    """Server-Sent Events of one run: `status` on every state or progress change, `log` per log line.

    The stream ends after the final state. Each event's `id` is its position: send it back as
    `Last-Event-ID` to resume with nothing lost and nothing repeated.
    """
    events = await state.events.events(task_id, last_event_id)
    return EventSourceResponse(_sse(events), ping=PING_S, headers={"Cache-Control": "no-store"})


@router.get("/{task_id}/logs", response_model=RunLogs, responses=ERRORS)
async def run_logs(state: State, _: Viewer, task_id: PathId) -> Response:
    """The log lines the run's task and services wrote (bounded; `truncated` when some were left out)."""
    return JSONBytesResponse(dumps(await state.events.logs(task_id)))
