"""Schedule endpoints: list Beat schedules (viewer), pause and resume one (operator)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from background.schemas.schedules import ScheduleChanged, ScheduleList, ScheduleView
from routers.dependencies import ClientAddress, Operator, PathId, State, Viewer
from schemas.responses import ErrorBody, model_response

ERRORS: dict[int | str, dict[str, Any]] = {status: {"model": ErrorBody} for status in (401, 403, 404, 422, 503)}
LIST_ERRORS: dict[int | str, dict[str, Any]] = {status: {"model": ErrorBody} for status in (401, 403, 503)}

router = APIRouter(prefix="/tasks/schedules", tags=["schedules"])


@router.get("", response_model=ScheduleList, responses=LIST_ERRORS)
async def list_schedules(state: State, _: Viewer) -> Response:
    """Every scheduled task (cron, timezone, enabled/paused, last run, next 5 runs) and the Beat holding the lock."""
    schedules = await state.schedules.list_all()
    return model_response(ScheduleList(
        success=True, schedules=schedules, total=len(schedules), leader=await state.schedules.leader(),
        timezone=state.settings.schedules.timezone, beat_enabled=state.settings.schedules.enabled,
    ))


@router.get("/{name}", response_model=ScheduleView, responses=ERRORS)
async def get_schedule(state: State, _: Viewer, name: PathId) -> Response:
    """One schedule."""
    return model_response(await state.schedules.get(name))


@router.post("/{name}/pause", response_model=ScheduleChanged, responses=ERRORS)
async def pause_schedule(state: State, principal: Operator, client: ClientAddress, name: PathId) -> Response:
    """Stop Beat from sending this task until it is resumed; runs already sent are not touched."""
    schedule = await state.schedules.pause(name, principal, client)
    return model_response(ScheduleChanged(success=True, message=f"Schedule {schedule.name} paused.", schedule=schedule))


@router.post("/{name}/resume", response_model=ScheduleChanged, responses=ERRORS)
async def resume_schedule(state: State, principal: Operator, client: ClientAddress, name: PathId) -> Response:
    """Let Beat send this task again from its next tick; ticks missed while paused are not caught up."""
    schedule = await state.schedules.resume(name, principal, client)
    return model_response(ScheduleChanged(success=True, message=f"Schedule {schedule.name} resumed.",
                                          schedule=schedule))
