"""The FastAPI app: `uvicorn main:app`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from fastapi_offline import FastAPIOffline

from background.processors.base import BaseProcessor
from background.processors.discovery import discover_tasks
from background.routers.audit import router as audit_router
from background.routers.control import router as control_router
from background.routers.etl import router as etl_router
from background.routers.notifications import router as notifications_router
from background.routers.run_events import router as run_events_router
from background.routers.runs import router as runs_router
from background.routers.schedules import router as schedules_router
from background.routers.status_fast_path import FinishedStatusFastPath
from background.routers.tasks import build_execute_router, documented_execute_routes
from background.routers.tasks import router as tasks_router
from config.celery_config import celery_app
from config.settings import get_settings
from config.structured_logging import configure_api_logging
from routers.app_state import build_state
from routers.body_limit import BodyLimitMiddleware
from routers.console import mount_console
from routers.errors import install_error_handlers
from routers.health import router as health_router
from routers.metrics import router as metrics_router
from routers.openapi import build_openapi
from routers.request_metrics import RequestMetrics, RequestMetricsMiddleware
from schemas.responses import JSONBytesResponse

DESCRIPTION = (
    "Auto-discovered background tasks: list, launch, follow.\n\n"
    "Routes with a padlock need a token: press **Authorize** and paste one "
    "(`uv run toolbox token --role operator`, or `$TOOLBOX_TOKEN` after `. var/up.env` beside `toolbox up`)."
)


# Toolbox exports its own metrics (/metrics) and configures no OpenTelemetry provider. Left on,
# FastAPI's native telemetry asks the OpenTelemetry API on every request whether one was set.
NO_NATIVE_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}


def create_app() -> FastAPI:
    """Discover tasks, build the catalog once and mount the execute route that serves every task."""
    settings = get_settings()
    processor = BaseProcessor(discover_tasks(celery_app))
    configure_api_logging()
    request_metrics = RequestMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = await build_state(settings, processor, celery_app, request_metrics)
        app.state.toolbox = state  # read only by routers/dependencies.py
        try:
            yield
        finally:
            await state.close()

    # /docs and /redoc load Swagger UI and ReDoc from the fastapi-offline package, never from a CDN.
    app = FastAPIOffline(title="Toolbox", version="0.1.0", lifespan=lifespan, default_response_class=JSONBytesResponse,
                         description=DESCRIPTION, swagger_ui_parameters={"persistAuthorization": True},
                         telemetry=NO_NATIVE_TELEMETRY)
    install_error_handlers(app)
    app.include_router(health_router)
    app.include_router(tasks_router)
    app.include_router(run_events_router)
    app.include_router(schedules_router)
    execute_router = build_execute_router(processor)
    app.include_router(execute_router)
    app.include_router(runs_router)
    app.include_router(control_router)  # after the execute router: /tasks/execute/<name> wins
    app.include_router(audit_router)
    app.include_router(notifications_router)
    app.include_router(metrics_router)
    app.include_router(etl_router)
    mount_console(app)
    # Innermost: the request metrics count what it answers.
    app.add_middleware(FinishedStatusFastPath)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestMetricsMiddleware, metrics=request_metrics)

    def openapi() -> dict[str, Any]:
        if not app.openapi_schema:
            # The per-task operations are built on the first request for the document, not at start-up.
            app.openapi_schema = build_openapi(app, processor, replace=execute_router,
                                               documented=documented_execute_routes(processor))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


app = create_app()
