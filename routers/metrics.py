"""GET /metrics: Prometheus text format, no auth (like /health: scrapers carry no token)."""

from __future__ import annotations

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from routers.dependencies import State
from routers.openapi import PUBLIC
from schemas.responses import ErrorBody

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response, openapi_extra=PUBLIC,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
                             "description": "Prometheus text exposition format."},
                       503: {"model": ErrorBody}})
async def metrics(state: State) -> Response:
    """Task counters and durations (all workers), queue lengths and API request counts."""
    return Response(await state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
