"""Task endpoints: catalog, execute (one dispatch route, one documented operation per task), status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.responses import Response

from background.processors.base import BaseProcessor
from background.processors.catalog import TaskEntry
from background.schemas.tasks import Catalog, ExecuteAccepted, TaskStatus
from routers.dependencies import Operator, PathId, State, Viewer, app_state
from routers.errors import validation_response
from schemas.responses import ErrorBody, JSONBytesResponse, dumps
from services.auth import Principal
from services.runs.events import MAX_WAIT_S

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (400, 401, 403, 404, 409, 413, 422, 503)
}

router = APIRouter(prefix="/tasks", tags=["tasks"])


@router.get("/available", response_model=Catalog, responses=ERRORS)
async def available_tasks(state: State, _: Viewer) -> Response:
    """Every discovered task with its endpoint, queue, parameter schema and schedule."""
    return Response(state.processor.catalog_bytes, media_type="application/json")


@router.get("/status/{task_id}", response_model=TaskStatus, responses=ERRORS)
async def task_status(
    state: State, _: Viewer, task_id: PathId,
    wait: float = Query(0, ge=0, le=MAX_WAIT_S, description="Seconds to wait for the run to finish (at most 60)."),
) -> Response:
    """Status, progress, result, error, parameters and timings of one run.

    With `?wait=<s>` the answer comes as soon as the run is finished, or when the wait is over.
    """
    if wait > 0:
        return JSONBytesResponse(dumps(await state.events.wait(task_id, wait)))
    return JSONBytesResponse(state.processor.finished_status_body(task_id) or dumps(await state.runs.status(task_id)))


async def _execute(request: Request, entry: TaskEntry, principal: Principal) -> Response:
    body = await request.body()
    try:
        params = entry.params_model.model_validate_json(body if body.strip() else b"{}")
    except ValidationError as exc:
        return validation_response(list(exc.errors()))
    kwargs = params.model_dump(mode="json", exclude_unset=True)
    state = app_state(request)
    client = request.client.host if request.client is not None else None
    key = request.headers.get("idempotency-key")
    if key is None:
        task_id = await state.runs.submit(entry, kwargs, principal, client=client)
        return _accepted(entry, task_id)
    task_id, replayed = await state.idempotency.submit(entry, kwargs, principal, key, client=client)
    return _accepted(entry, task_id, replayed)


def _accepted(entry: TaskEntry, task_id: str, replayed: bool | None = None) -> Response:
    body: dict[str, Any] = {
        "success": True,
        "task_id": task_id,
        "task_name": entry.name,
        "message": f"Task {entry.name} accepted.",
        "status_url": f"/tasks/status/{task_id}",
    }
    if replayed is None:
        return JSONBytesResponse(dumps(body), status_code=202)
    # Only idempotent launches say whether this answer is the first one or a replay.
    body["replayed"] = replayed
    if replayed:
        body["message"] = f"Task {entry.name} already accepted for this Idempotency-Key."
    return JSONBytesResponse(dumps(body), status_code=202,
                             headers={"Idempotent-Replayed": "true" if replayed else "false"})


def _documented_endpoint(entry: TaskEntry) -> Any:
    """The per-task operation the OpenAPI document shows (its name and docstring); never called."""

    async def execute(principal: Operator) -> Response:  # pragma: no cover - documentation only
        raise AssertionError("documentation-only route")

    execute.__name__ = f"execute_{entry.path_name.replace('-', '_').replace('.', '_')}"
    execute.__doc__ = entry.task.long_description or f"Run {entry.name}."
    return execute


def documented_execute_routes(processor: BaseProcessor) -> list[APIRoute]:
    """One POST operation per discovered task, each with its own parameter schema, for /openapi.json.

    They are documentation only: requests are served by the one dispatch route of
    `build_execute_router`, so an execute costs one dict lookup however many tasks there are
    (the router would otherwise try each task's path in turn).
    """
    documented = APIRouter(prefix="/tasks/execute", tags=["execute"])
    for entry in processor.entries.values():
        documented.add_api_route(
            f"/{entry.path_name}", _documented_endpoint(entry), methods=["POST"], status_code=202,
            response_model=ExecuteAccepted, responses=ERRORS, summary=f"Run {entry.name}",
            openapi_extra={"requestBody": {"required": False, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{entry.params_model.__name__}"}}}}},
        )
    return [route for route in documented.routes if isinstance(route, APIRoute)]


class RouteLabel:
    """What the request-metrics middleware reads from `scope["route"]`: a route template."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


def build_execute_router(processor: BaseProcessor) -> APIRouter:
    """`POST /tasks/execute/<name>`: one route for every task, resolved by name.

    `<name>` is the kebab short name (the task's endpoint), its snake_case form or the full name;
    anything else is 404 `task_not_found` (after the token check, as for a known task).
    """
    execute_router = APIRouter(prefix="/tasks/execute", tags=["execute"])
    labels = {entry.name: RouteLabel(entry.endpoint) for entry in processor.entries.values()}

    @execute_router.post("/{name:path}", include_in_schema=False)
    async def execute_task(name: str, request: Request, principal: Operator) -> Response:
        entry = processor.resolve(name)
        # Metrics count requests per task endpoint, as when each task had its own route.
        request.scope["route"] = labels[entry.name]
        return await _execute(request, entry, principal)

    return execute_router
