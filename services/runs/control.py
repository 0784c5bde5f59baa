"""Revoke and retry: what an operator may do to a run, and when it is refused."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from pydantic import ValidationError

from background.processors.base import BaseProcessor
from background.processors.revocations import RevocationStore
from background.processors.task_counters import TaskCounters
from background.schemas.runs import RetryAccepted, RevokeAccepted
from config.repository_factory import RepositoryFactory
from models.run_state import ENDED_STATES as FINISHED
from models.run_state import RUNNING_STATES as RUNNING
from models.run_state import RunState
from repositories.task_runs import TaskRunRepository
from schemas.errors import (
    InvalidParametersError,
    RunActiveError,
    RunFinishedError,
    RunRunningError,
    TaskNotFoundError,
)
from services.audit import AuditAction, AuditService
from services.auth import Principal
from services.runs.events import RunEventService
from services.runs.task_runs import TaskRunService
from services.runs.workers import WorkerControl

log = logging.getLogger("toolbox.control")



class RunControlService:
    """Revokes (persisted, then broadcast) and retries (a new linked run) of task runs."""

    def __init__(self, repositories: RepositoryFactory, runs: TaskRunService, processor: BaseProcessor,
                 revocations: RevocationStore, workers: WorkerControl, counters: TaskCounters,
                 audit: AuditService, events: RunEventService | None = None) -> None:
        self._repositories = repositories
        self._runs = runs
        self._processor = processor
        self._revocations = revocations
        self._workers = workers
        self._counters = counters
        self._audit = audit
        self._events = events

    async def revoke(self, task_id: str, principal: Principal, *, terminate: bool,
                     client: str | None = None) -> RevokeAccepted:
        """Stop a queued run for good, or a running one when `terminate` is set."""
        view = await self._runs.status(task_id)  # RunNotFoundError for unknown ids
        status = view["status"]
        if status in FINISHED:
            raise RunFinishedError(f"Run {task_id} already finished ({status}); there is nothing to revoke.",
                                   description="POST /tasks/<id>/retry runs it again.")
        if status in RUNNING and not terminate:
            raise RunRunningError(f"Run {task_id} is running; a plain revoke would not stop it.",
                                  description='Send {"terminate": true} to stop the running task.')
        # Persisted first: if Redis is down nothing changes and the caller gets 503.
        await self._revocations.add(task_id)
        now = datetime.now(UTC)
        async with self._repositories.autocommit() as uow:
            changed = await uow.repo(TaskRunRepository).mark_revoked(
                task_id=task_id, task_name=view["task_name"] or "unknown", at=now,
                error=f"Revoked by {principal.subject}.",
            )
        if not changed:
            raise RunFinishedError(f"Run {task_id} finished while it was being revoked.")
        await self._audit.record(AuditAction.REVOKE, principal.subject, task_name=view["task_name"], task_id=task_id,
                                 params=view["params"], client=client,
                                 detail={"terminate": terminate, "previous_status": status})
        if self._events is not None:
            await self._events.publish_revoked(task_id, view["task_name"], f"Revoked by {principal.subject}.")
        broadcast = await self._workers.revoke(task_id, terminate=terminate)
        await self._counters.incr("revoked", view["task_name"] or "unknown")
        log.info("run revoked by %s (terminate=%s)", principal.subject, terminate,
                 extra={"task_id": task_id, "task_name": view["task_name"]})
        return RevokeAccepted(success=True, task_id=task_id, task_name=view["task_name"], status=RunState.REVOKED.value,
                              previous_status=status, terminate=terminate, broadcast=broadcast,
                              message=f"Run {task_id} revoked.", status_url=f"/tasks/status/{task_id}")

    async def retry(self, task_id: str, principal: Principal, client: str | None = None) -> RetryAccepted:
        """Run a finished run again with its parameters: a new id whose parent is the old one."""
        view = await self._runs.status(task_id)
        status = view["status"]
        if status not in FINISHED:
            raise RunActiveError(f"Run {task_id} is still {status}; only a finished run can be retried.",
                                 description="Wait for it to end, or revoke it first.")
        entry = self._processor.by_name(view["task_name"] or "")
        if entry is None:
            raise TaskNotFoundError(f"Task {view['task_name']!r} of run {task_id} is no longer available.",
                                    description="GET /tasks/available lists the tasks.")
        try:
            params = entry.params_model.model_validate(view["params"] or {})
        except ValidationError as exc:
            # The task's signature changed since that run: its old parameters no longer fit.
            raise InvalidParametersError(
                f"The parameters of run {task_id} are no longer valid for {entry.name}.",
                description=str(exc)[:1000],
            ) from None
        kwargs = params.model_dump(mode="json", exclude_unset=True)
        new_id = await self._runs.submit(entry, kwargs, principal, origin="retry", parent_id=task_id,
                                        client=client)
        log.info("run retried by %s as %s", principal.subject, new_id,
                 extra={"task_id": task_id, "task_name": entry.name})
        return RetryAccepted(success=True, task_id=new_id, task_name=entry.name, parent_id=task_id,
                             message=f"Task {entry.name} accepted (retry of {task_id}).",
                             status_url=f"/tasks/status/{new_id}")
