"""Progress reporting from inside a running task."""

from __future__ import annotations

from typing import Any

from celery import Task

from background.processors.run_follow import run_progress

PROGRESS = "PROGRESS"


class Progress:
    """Injected into any task parameter annotated `Progress`; `update()` is shown by the status endpoint."""

    def __init__(self, task: Task | None) -> None:
        self._task = task

    def update(self, current: int, total: int | None = None, message: str = "") -> None:
        """Record `current` of `total` steps done, with a one-line message."""
        task = self._task
        if task is None or task.request.id is None or task.request.called_directly:
            return
        meta: dict[str, Any] = {"current": current, "total": total, "message": message}
        task.update_state(state=PROGRESS, meta=meta)
        run_progress(task, task.request.id, meta)
