"""GET /audit (admin): who did what, when, from where."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from background.schemas.audit import AuditPage
from routers.dependencies import Admin, State
from schemas.responses import ErrorBody, model_response
from services.audit import MAX_LIMIT, AuditAction, AuditQuery

ERRORS: dict[int | str, dict[str, Any]] = {status: {"model": ErrorBody} for status in (401, 403, 422, 503)}

router = APIRouter(tags=["operations"])


@router.get("/audit", response_model=AuditPage, responses=ERRORS)
async def audit_trail(
    state: State,
    _: Admin,
    actor: Annotated[str | None, Query(min_length=1, max_length=200, description="Token subject.")] = None,
    action: Annotated[list[AuditAction] | None, Query(description="Repeat to match several actions.")] = None,
    task: Annotated[str | None, Query(min_length=1, max_length=200, description="Full or short task name.")] = None,
    task_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    from_: Annotated[datetime | None, Query(alias="from", description="ISO 8601, inclusive; naive means UTC.")] = None,
    to: Annotated[datetime | None, Query(description="ISO 8601, exclusive; naive means UTC.")] = None,
    cursor: Annotated[str | None, Query(max_length=500, description="`next_cursor` of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> Response:
    """Recorded actions, newest first, with keyset pagination."""
    query = AuditQuery(actor=actor, actions=tuple(action or ()), task=task, task_id=task_id, at_from=from_,
                       at_to=to, cursor=cursor, limit=limit)
    task_name = state.history.task_name(task) if task else None
    return model_response(await state.audit.page(query, task_name))
