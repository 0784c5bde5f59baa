"""Operator actions on one run: revoke and retry.

Mounted after the execute router, so `/tasks/execute/<name>` is never taken for a task id.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from starlette.responses import Response

from background.schemas.runs import RetryAccepted, RevokeAccepted, RevokeRequest
from routers.dependencies import ClientAddress, Operator, PathId, State
from schemas.responses import ErrorBody, model_response

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (400, 401, 403, 404, 409, 413, 422, 503)
}

router = APIRouter(prefix="/tasks", tags=["operations"])


@router.post("/{task_id}/revoke", response_model=RevokeAccepted, responses=ERRORS)
async def revoke_run(state: State, principal: Operator, client: ClientAddress, task_id: PathId,
                     body: Annotated[RevokeRequest | None, Body()] = None) -> Response:
    """Revoke a queued run (for good, even across worker restarts), or stop a running one with terminate."""
    terminate = body.terminate if body is not None else False
    return model_response(await state.control.revoke(task_id, principal, terminate=terminate, client=client))


@router.post("/{task_id}/retry", response_model=RetryAccepted, status_code=202, responses=ERRORS)
async def retry_run(state: State, principal: Operator, client: ClientAddress, task_id: PathId) -> Response:
    """Run a finished run again with the same parameters: a new id, linked by parent_id."""
    return model_response(await state.control.retry(task_id, principal, client), status_code=202)
