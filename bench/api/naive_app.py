"""The naive baseline: a minimal FastAPI app that calls `delay()` and reads `AsyncResult`.

This is what a team writes on day one: sync endpoints (FastAPI runs them in its thread pool,
as it should for blocking calls), no auth, no validation, no run registry.
"""

from __future__ import annotations

from typing import Any

from celery.result import AsyncResult
from fastapi import Body, FastAPI

from config.celery_config import celery_app

app = FastAPI(title="naive")


@app.post("/execute/{name}", status_code=202)
def execute(name: str, params: dict[str, Any] = Body(default_factory=dict)) -> dict[str, Any]:
    result = celery_app.tasks[name].delay(**params)
    return {"task_id": result.id}


@app.get("/status/{task_id}")
def status(task_id: str) -> dict[str, Any]:
    result = AsyncResult(task_id, app=celery_app)
    return {"task_id": task_id, "status": result.state, "result": result.result if result.ready() else None}
