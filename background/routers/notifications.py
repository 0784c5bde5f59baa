"""GET /notifications/deliveries (operator): every webhook delivery attempt, newest first."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from starlette.responses import Response

from background.schemas.notifications import DeliveryPage
from routers.dependencies import Operator, State
from schemas.responses import ErrorBody, model_response
from services.notifications import MAX_LIMIT

ERRORS: dict[int | str, dict[str, Any]] = {status: {"model": ErrorBody} for status in (401, 403, 422, 503)}

router = APIRouter(prefix="/notifications", tags=["operations"])


@router.get("/deliveries", response_model=DeliveryPage, responses=ERRORS)
async def deliveries(
    state: State,
    _: Operator,
    task_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    event: Annotated[Literal["failure", "recovery", "schedule_failed"] | None, Query()] = None,
    ok: Annotated[bool | None, Query(description="true: answered 2xx; false: failed attempts.")] = None,
    before: Annotated[int | None, Query(ge=1, description="`next_before` of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> Response:
    """Attempts of failure, recovery and schedule_failed webhooks: URL, status code or error, duration, outcome."""
    return model_response(await state.notifications.deliveries(task_id=task_id, event=event, ok=ok, before=before,
                                                               limit=limit))
