"""Submitting runs (registry record, then broker message); their status view is the BaseProcessor's."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from background.processors.base import BaseProcessor
from background.processors.catalog import TaskEntry
from background.processors.publisher import TaskPublisher
from background.processors.task_base import ToolboxTask
from repositories.run_registry import RunRegistry
from services.auth import Principal
from services.runs.single_run import SingleRunGuard


class TaskRunService:
    """The API side of a task run."""

    def __init__(self, registry: RunRegistry, publisher: TaskPublisher, processor: BaseProcessor,
                 single_run: SingleRunGuard | None = None) -> None:
        self._registry = registry
        self._publisher = publisher
        self._processor = processor
        self._single_run = single_run

    async def submit(self, entry: TaskEntry, kwargs: dict[str, Any], principal: Principal,
                     *, origin: str = "api", parent_id: str | None = None, task_id: str | None = None,
                     client: str | None = None) -> str:
        """Record the run, then enqueue it. If the broker refuses, the record is removed again.

        `task_id` is given by idempotent launches (the id is claimed before the run exists);
        `client` is the caller's address, for the audit trail.
        """
        task: ToolboxTask = entry.task
        task_id = task_id or str(uuid.uuid4())
        if self._single_run is not None:
            await self._single_run.claim(task, task_id)  # 409 while another run of a single-run task is active
        try:
            await self._registry.add(task_id=task_id, task_name=task.name, params=kwargs, origin=origin,
                                     submitted_by=principal.subject, parent_id=parent_id,
                                     submitted_at=datetime.now(UTC),
                                     action="retry" if origin == "retry" else "execute", client=client)
            try:
                await self._publisher.publish(task, task_id, kwargs)
            except Exception:
                # Nothing was enqueued (broker down, or arguments it cannot carry): no run to show.
                await self._registry.remove(task_id)
                raise
        except BaseException:
            if self._single_run is not None:
                await self._single_run.release(task, task_id)
            raise
        return task_id

    async def status(self, task_id: str) -> dict[str, Any]:
        """Everything known of one run (built by the BaseProcessor); RunNotFoundError for an id never issued."""
        return await self._processor.status(task_id)
