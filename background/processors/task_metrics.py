"""Worker and Beat signal handlers that count task events into the shared Redis metric hashes."""

from __future__ import annotations

import time
from typing import Any

from celery import Task
from celery.signals import after_task_publish, task_postrun, task_prerun

from background.processors.task_base import ToolboxTask
from background.processors.task_counters import record_task_event
from models.run_state import RunState

END_EVENTS = {RunState.SUCCESS.value: "succeeded", RunState.FAILURE.value: "failed", RunState.RETRY.value: "retried"}
# Start times of the runs executing in this process (prerun and postrun run in the same process).
_started: dict[str, float] = {}


def _counted(task: Task | None) -> bool:
    if not isinstance(task, ToolboxTask) or task.request.called_directly or task.request.is_eager:
        return False
    return (task.__module__ or "").startswith("background.tasks.")


@task_prerun.connect
def _count_start(task_id: str, task: Task, **_: Any) -> None:
    if not _counted(task):
        return
    _started[task_id] = time.monotonic()
    record_task_event("started", task.name)


@task_postrun.connect
def _count_end(task_id: str, task: Task, state: str | None = None, **_: Any) -> None:
    began = _started.pop(task_id, None)
    event = END_EVENTS.get(state or "")
    # IGNORED (revoked when picked up, or skipped) and REJECTED runs did not execute: no outcome.
    if event is None or not _counted(task):
        return
    duration = time.monotonic() - began if began is not None else None
    record_task_event(event, task.name, duration)


@after_task_publish.connect
def _count_publish(sender: str | None = None, headers: dict[str, Any] | None = None, **_: Any) -> None:
    # Beat dispatches and Celery retries publish through Celery; the API counts its own publishes.
    name = (headers or {}).get("task") or sender
    if name and not str(name).startswith("celery."):
        record_task_event("enqueued", str(name))
