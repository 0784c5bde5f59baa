"""BaseProcessor: what introspects `celery_app.tasks` to answer both `/tasks/available` and `/tasks/status/<id>`.

The catalog (background/processors/catalog.py) is built once from the discovered tasks; the status
view (background/processors/status_view.py) reads the run registry and the result backend that
the API process injects at start-up (`read_runs_from`).
"""

from __future__ import annotations

from typing import Any

from background.processors.catalog import Catalog, TaskEntry
from background.processors.status_view import RegistryReads, ResultReads, RunStatusView
from background.processors.task_base import ToolboxTask

__all__ = ["BaseProcessor", "TaskEntry"]


class BaseProcessor(Catalog):
    """The catalog of the discovered tasks, and the status view of their runs."""

    def __init__(self, tasks: dict[str, ToolboxTask]) -> None:
        super().__init__(tasks)
        self._status: RunStatusView | None = None

    def read_runs_from(self, registry: RegistryReads, results: ResultReads) -> None:
        """Inject the reads the status view needs (the API's lifespan; a CLI never asks for a status)."""
        self._status = RunStatusView(registry, results)

    def finished_status_body(self, task_id: str) -> bytes | None:
        """The stored JSON status of a run this process already knows as finished, else None."""
        return self._status.finished_status_body(task_id) if self._status is not None else None

    async def status(self, task_id: str) -> dict[str, Any]:
        """The `/tasks/status/<id>` document; RunNotFoundError for an id the toolbox never issued."""
        if self._status is None:
            raise RuntimeError("BaseProcessor.status needs read_runs_from() first (the API's lifespan does it)")
        return await self._status.status(task_id)
