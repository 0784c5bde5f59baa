"""Read-only operator endpoints: run history and stats (viewer)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from background.schemas.runs import BulkResult, BulkRetryRequest, BulkRevokeRequest, RunHistory, Stats
from models.run_state import RunState
from routers.dependencies import PATH_ID_MAX_LENGTH, ClientAddress, Operator, State, Viewer
from schemas.responses import ErrorBody, model_response
from services.runs.bulk import BulkQuery
from services.runs.history import MAX_LIMIT, HistoryQuery

ERRORS: dict[int | str, dict[str, Any]] = {status: {"model": ErrorBody} for status in (401, 403, 422, 503)}
BULK_ERRORS: dict[int | str, dict[str, Any]] = {status: {"model": ErrorBody} for status in (400, 401, 403, 422, 503)}

router = APIRouter(prefix="/tasks", tags=["operations"])


@router.get("/runs", response_model=RunHistory, responses=ERRORS)
async def run_history(
    state: State,
    _: Viewer,
    task: Annotated[str | None, Query(min_length=1, max_length=200,
                                      description="Full (`maintenance.ping`) or short (`ping`) task name.")] = None,
    status: Annotated[list[RunState] | None, Query(description="Repeat to match several states.")] = None,
    submitted_from: Annotated[datetime | None, Query(description="ISO 8601, inclusive; naive means UTC.")] = None,
    submitted_to: Annotated[datetime | None, Query(description="ISO 8601, exclusive; naive means UTC.")] = None,
    cursor: Annotated[str | None, Query(max_length=500, description="`next_cursor` of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    parent: Annotated[str | None, Query(min_length=1, max_length=PATH_ID_MAX_LENGTH, pattern=r"^[^\x00-\x1f\x7f]+$",
                                        description="A run's task id: only its retries (runs whose `parent_id` it is).")
                      ] = None,
) -> Response:
    """Runs from the registry, newest first, with keyset pagination."""
    query = HistoryQuery(task=task, statuses=tuple(status or ()), submitted_from=submitted_from,
                         submitted_to=submitted_to, cursor=cursor, limit=limit, parent=parent)
    return model_response(await state.history.page(query))


@router.get("/stats", response_model=Stats, responses=ERRORS)
async def task_stats(state: State, _: Viewer) -> Response:
    """Workers (online, active, processed), queue lengths and run counts by state over 24 hours."""
    return model_response(await state.stats.stats())


def _bulk_query(body: BulkRetryRequest, terminate: bool = False) -> BulkQuery:
    return BulkQuery(task=body.task, statuses=tuple(body.status), submitted_from=body.submitted_from,
                     submitted_to=body.submitted_to, limit=body.limit, dry_run=body.dry_run, terminate=terminate)


# Declared here, before the per-run /tasks/<id>/retry of the control router: "runs" is no run id.
@router.post("/runs/retry", response_model=BulkResult, responses=BULK_ERRORS)
async def bulk_retry(state: State, principal: Operator, client: ClientAddress, body: BulkRetryRequest) -> Response:
    """Retry the finished runs matching the history filters (at most BULK_MAX_RUNS); dry_run lists them."""
    return model_response(await state.bulk.apply("retry", _bulk_query(body), principal, client), exclude_unset=True)


@router.post("/runs/revoke", response_model=BulkResult, responses=BULK_ERRORS)
async def bulk_revoke(state: State, principal: Operator, client: ClientAddress, body: BulkRevokeRequest) -> Response:
    """Revoke the queued (with terminate: also running) runs matching the filters; dry_run lists them."""
    return model_response(await state.bulk.apply("revoke", _bulk_query(body, body.terminate), principal, client),
                          exclude_unset=True)
