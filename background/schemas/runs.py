"""Response documents of the operator endpoints: history, revoke, retry, stats."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from models.run_state import RunState


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


class BulkRetryRequest(BaseModel):
    """Body of POST /tasks/runs/retry: the filters of GET /tasks/runs, a dry-run switch and a limit."""

    model_config = ConfigDict(extra="forbid")

    dry_run: bool = False
    task: str | None = Field(default=None, min_length=1, max_length=200)
    status: list[RunState] = Field(default_factory=list, max_length=6)
    submitted_from: datetime | None = None
    submitted_to: datetime | None = None
    limit: int | None = Field(default=None, ge=1, description="At most this many (never above BULK_MAX_RUNS).")


class BulkRevokeRequest(BulkRetryRequest):
    """Body of POST /tasks/runs/revoke; `terminate` also stops running runs."""

    terminate: bool = False


class BulkRun(BaseModel):
    task_id: str
    task_name: str
    status: str
    submitted_at: str


class BulkItem(BaseModel):
    task_id: str
    task_name: str
    previous_status: str
    outcome: str  # done or skipped
    new_task_id: str | None = None  # a retry's new run (its parent_id is task_id)
    code: str | None = None  # why it was skipped
    message: str | None = None


class BulkResult(BaseModel):
    success: bool
    action: str
    dry_run: bool
    matched: int
    selected: int
    cap: int
    statuses: list[str]
    runs: list[BulkRun] | None = None  # dry run: the runs the real call would act on
    results: list[BulkItem] | None = None
    acted: int | None = None
    skipped: int | None = None
    remaining: int | None = None  # matching runs beyond the cap, left untouched
