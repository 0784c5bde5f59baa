"""Response documents of the task endpoints (published in the OpenAPI document)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class CatalogEntry(BaseModel):
    name: str
    description: str
    endpoint: str
    method: str
    module: str
    queue: str
    parameters: dict[str, Any]
    schedule: Any = None
    single_run: bool = False


class Catalog(BaseModel):
    success: bool
    available_tasks: dict[str, CatalogEntry]
    total_tasks: int
    auto_generated: bool


class ExecuteAccepted(BaseModel):
    success: bool
    task_id: str
    task_name: str
    message: str
    status_url: str
    replayed: bool | None = None  # only with an Idempotency-Key: true when the run was accepted before


class Progress(BaseModel):
    current: int | float | None = None
    total: int | float | None = None
    message: str | None = None


class TaskStatus(BaseModel):
    task_id: str
    task_name: str | None
    status: str
    ready: bool
    successful: bool
    failed: bool
    result: Any = None
    error: str | None = None
    progress: Progress | None = None
    params: dict[str, Any] | None = None
    submitted_by: str | None = None
    submitted_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    runtime_s: float | None = None
    worker: str | None = None
    retries: int = 0
    origin: str | None = None
    parent_id: str | None = None


class LogLine(BaseModel):
    ts: str
    level: str
    logger: str
    message: str


class RunLogs(BaseModel):
    success: bool
    task_id: str
    lines: list[LogLine]
    truncated: bool
