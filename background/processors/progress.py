"""Progress reporting from inside a running task."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task

PROGRESS = "PROGRESS"
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
