"""Progress reporting from inside a running task.

Each update goes to the result backend (state PROGRESS, what the status endpoint shows while
the run is active) and to its own key `toolbox:progress:<task_id>` (JSON `{current, total,
message}`, expiring with the run's result), which outlives the state: a run that then fails,
is revoked or waits for a retry still shows how far it got.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import orjson
from celery import Task

from background.processors.run_follow import run_progress
from config.redis_keys import progress_key
from models.run_state import RunState

PROGRESS = RunState.PROGRESS.value
log = logging.getLogger("toolbox.worker")


def _ttl_s(task: Task) -> int:
    expires = task.app.conf.result_expires
    if isinstance(expires, timedelta):
        return max(1, int(expires.total_seconds()))
    return max(1, int(expires or 86_400))


# A run in this process (`toolbox run`, Task.apply) has no status endpoint: its progress is logged here.
eager_log = logging.getLogger("toolbox.progress")


class Progress:
    """Injected into any task parameter annotated `Progress`; `update()` is shown by the status endpoint."""

    def __init__(self, task: Task | None) -> None:
        self._task = task

    def update(self, current: int, total: int | None = None, message: str = "") -> None:
        """Record `current` of `total` steps done, with a one-line message."""
        task = self._task
        if task is None or task.request.id is None or task.request.called_directly:
            return
        if task.request.is_eager:
            eager_log.info("progress %s/%s %s", current, "?" if total is None else total, message)
            return
        meta: dict[str, Any] = {"current": current, "total": total, "message": message}
        task.update_state(state=PROGRESS, meta=meta)
        try:
            task.backend.client.set(progress_key(task.request.id), orjson.dumps(meta), ex=_ttl_s(task))
        except Exception:  # noqa: BLE001 - a lost copy only costs the progress of a failed run
            log.warning("could not keep the last progress", extra={"task_id": task.request.id})
        run_progress(task, task.request.id, meta)
