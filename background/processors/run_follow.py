"""Wires a run's events and log capture (background.processors.run_events) to Celery's signals."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from celery import Task

from background.processors.run_events import (
    Redactor,
    RunLogCapture,
    now_iso,
    publish_status,
    start_capture,
    stop_capture,
)
from config.settings import get_settings
from models.run_state import RunState


@lru_cache(maxsize=1)
def redactor() -> Redactor:
    """Secrets known to this process: the JWT secret and any variable named like a secret."""
    settings = get_settings()
    secrets = [settings.auth.jwt_secret]
    secrets += [value for name, value in os.environ.items()
                if any(word in name.upper() for word in ("SECRET", "PASSWORD", "TOKEN"))]
    return Redactor(secrets)


def _ttl() -> int:
    return get_settings().celery.result_expires_s


def run_started(task: Task, task_id: str) -> None:
    """Capture the run's log from now on and tell followers it started."""
    client = task.backend.client
    start_capture(RunLogCapture(client, task_id, task.name, _ttl(), redactor()))
    publish_status(client, task_id, _ttl(), {
        "task_id": task_id, "task_name": task.name, "status": RunState.STARTED.value, "started_at": now_iso(),
        "worker": task.request.hostname, "retries": int(task.request.retries or 0), "progress": None,
    })


def run_progress(task: Task, task_id: str, progress: dict[str, Any]) -> None:
    publish_status(task.backend.client, task_id, _ttl(), {
        "task_id": task_id, "task_name": task.name, "status": RunState.PROGRESS.value, "progress": progress,
        "worker": task.request.hostname,
    })


def run_ended(task: Task, task_id: str, state: str, result: Any, error: str | None) -> None:
    """Stop capturing, then publish the final (or RETRY) state: the stream ends after a final one."""
    stop_capture(task_id)
    publish_status(task.backend.client, task_id, _ttl(), {
        "task_id": task_id, "task_name": task.name, "status": state,
        "finished_at": None if state == RunState.RETRY else now_iso(), "result": result, "error": error,
        "worker": task.request.hostname, "retries": int(task.request.retries or 0),
    })
