"""The factoring domain's ETL loads, for analysts: batches and their rejected lines (viewer)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from background.schemas.etl import EtlBatchPage, EtlRejectPage
from routers.dependencies import PathId, State, Viewer
from schemas.responses import ErrorBody, model_response
from services.factoring.etl_batches import MAX_LIMIT, EtlBatchService

ERRORS: dict[int | str, dict[str, Any]] = {status: {"model": ErrorBody} for status in (401, 403, 404, 422, 503)}
Cursor = Annotated[str | None, Query(max_length=1000, description="`next_cursor` of the previous page.")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]

router = APIRouter(prefix="/toolbox/etl", tags=["toolbox"])


@router.get("/batches", response_model=EtlBatchPage, responses=ERRORS)
async def etl_batches(state: State, _: Viewer, cursor: Cursor = None, limit: Limit = 50) -> Response:
    """The CSV batches loaded by `toolbox.etl`, newest load first, with their counts and rejected lines."""
    return model_response(await EtlBatchService(state.repositories).batches(cursor=cursor, limit=limit))


@router.get("/batches/{name}/rejects", response_model=EtlRejectPage, responses=ERRORS)
async def etl_rejects(
    state: State, _: Viewer, name: PathId,
    file: Annotated[str | None, Query(max_length=40, pattern=r"^[^\x00]*$", description="Only this file's lines.")] = None,
    cursor: Cursor = None, limit: Limit = 50,
) -> Response:
    """One batch's rejected lines: file, line number, the line as written and the reason, in file order."""
    return model_response(await EtlBatchService(state.repositories).rejects(name, file=file, cursor=cursor, limit=limit))
