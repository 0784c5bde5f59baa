"""Response documents of the operator endpoints: history, revoke, retry, stats."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class RunRow(BaseModel):
    """One run in the history; `origin` + `submitted_by` + `parent_id` say who or what launched it.

    `params` is null with `params_truncated` when the parameters exceed the history's size cap, and
    `error` is cut short; GET /tasks/status/<id> has both in full.
    """

    task_id: str
    task_name: str
    status: str
    origin: str
    submitted_by: str | None = None
    parent_id: str | None = None
    params: dict[str, Any] | None = None
    params_truncated: bool = False
    submitted_at: str
    started_at: str | None = None
    finished_at: str | None = None
    runtime_s: float | None = None
    worker: str | None = None
    retries: int = 0
    error: str | None = None


class RunHistory(BaseModel):
    success: bool
    runs: list[RunRow]
    count: int
    limit: int
    next_cursor: str | None = None


class RevokeRequest(BaseModel):
    """Body of POST /tasks/<id>/revoke (optional)."""

    model_config = ConfigDict(extra="forbid")

    terminate: bool = False


class RevokeAccepted(BaseModel):
    success: bool
    task_id: str
    task_name: str | None
    status: str
    previous_status: str
    terminate: bool
    broadcast: bool
    message: str
    status_url: str


class RetryAccepted(BaseModel):
    success: bool
    task_id: str
    task_name: str
    parent_id: str
    message: str
    status_url: str


class WorkerInfo(BaseModel):
    name: str
    active: int
    processed: int
    concurrency: int | None = None
    uptime_s: int | float | None = None


class WorkerStats(BaseModel):
    online: int
    active: int
    processed: int
    details: list[WorkerInfo]
    error: str | None = None


class Stats(BaseModel):
    success: bool
    generated_at: str
    workers: WorkerStats
    queues: dict[str, int | None]
    runs_last_24h: dict[str, int]
