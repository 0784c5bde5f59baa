"""Response documents of the schedule endpoints (published in the OpenAPI document)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ScheduleRun(BaseModel):
    """The latest run Beat dispatched for a schedule."""

    task_id: str
    status: str
    submitted_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None


class ScheduleSendError(BaseModel):
    """The last time Beat could not send a schedule's tick, and why (kept after later successful sends)."""

    at: str
    message: str
    task_id: str | None = None


class ScheduleView(BaseModel):
    """One scheduled task: its cron, whether Beat will send it, and when it last and next runs."""

    name: str
    cron: str | None
    declared_cron: str | None
    source: str
    timezone: str
    kwargs: dict[str, Any]
    queue: str
    single_run: bool
    enabled: bool
    paused: bool
    paused_by: str | None = None
    paused_at: str | None = None
    last_run_at: str | None = None
    next_run_at: str | None = None
    next_runs: list[str] = []  # the next 5 send times (empty when not enabled)
    catch_up: str = "skip"  # ticks missed while no Beat ran: skipped, or one run for all ("once")
    last_run: ScheduleRun | None = None
    last_send_error: ScheduleSendError | None = None


class BeatLeader(BaseModel):
    """The Beat holding RedBeat's leader lock (the only one sending); holder is `hostname:pid`."""

    holder: str | None = None  # null if the lock's holder did not record itself
    since: str | None = None
    lock_key: str
    lock_expires_in_s: float | None = None


class ScheduleList(BaseModel):
    success: bool
    schedules: list[ScheduleView]
    total: int
    leader: BeatLeader | None = None  # null: no Beat holds the lock (none runs, or the leader died)
    timezone: str
    beat_enabled: bool


class ScheduleChanged(BaseModel):
    success: bool
    message: str
    schedule: ScheduleView
