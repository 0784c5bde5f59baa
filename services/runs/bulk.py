"""Bulk retry and revoke over the filters of GET /tasks/runs: a dry run says which, the real one is capped."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from background.schemas.runs import BulkItem, BulkResult, BulkRun
from config.repository_factory import RepositoryFactory
from models.run_state import ENDED_STATES, RunState
from repositories.task_runs import TaskRunRepository
from schemas.errors import AppError, InvalidParametersError
from services.audit import AuditAction, AuditService
from services.auth import Principal
from services.runs.control import RunControlService
from services.runs.history import RunHistoryService, _utc

log = logging.getLogger("toolbox.control")

BulkAction = Literal["retry", "revoke"]
# Which registry states each action can apply to (PROGRESS is STARTED in the registry).
ELIGIBLE: dict[str, frozenset[str]] = {
    "retry": ENDED_STATES,
    "revoke": frozenset({RunState.PENDING.value, RunState.RETRY.value}),
    "revoke+terminate": frozenset({RunState.PENDING.value, RunState.RETRY.value, RunState.STARTED.value}),
}
CONCURRENCY = 16  # actions in flight at once: they share the registry's and broker's batched round trips


@dataclass(frozen=True)
class BulkQuery:
    """The filters of GET /tasks/runs plus what to do."""

    task: str | None = None
    statuses: tuple[RunState, ...] = ()
    submitted_from: datetime | None = None
    submitted_to: datetime | None = None
    limit: int | None = None
    dry_run: bool = False
    terminate: bool = False

    def filters(self) -> dict[str, Any]:
        """The filters as given, for the audit trail."""
        return {"task": self.task, "status": [s.value for s in self.statuses],
                "submitted_from": self.submitted_from.isoformat() if self.submitted_from else None,
                "submitted_to": self.submitted_to.isoformat() if self.submitted_to else None,
                "limit": self.limit, "terminate": self.terminate}


def _invalid(field: str, message: str) -> InvalidParametersError:
    return InvalidParametersError("The request parameters are invalid.", description=f"{field}: {message}",
                                  errors=[{"field": field, "message": message, "type": "value_error"}])


class BulkRunService:
    """Selects runs like the history does, then retries or revokes each through RunControlService.

    Its answer lists only the fields set for the case (a dry run has `runs`, a real one `results`),
    so the router renders it with `exclude_unset`.
    """

    def __init__(self, repositories: RepositoryFactory, history: RunHistoryService, control: RunControlService,
                 audit: AuditService, cap: int) -> None:
        self._repositories = repositories
        self._history = history
        self._control = control
        self._audit = audit
        self._cap = cap

    async def apply(self, action: BulkAction, query: BulkQuery, principal: Principal,
                    client: str | None) -> BulkResult:
        """The dry run's list, or the outcome of acting on at most the cap of the matching runs."""
        if not (query.task or query.statuses or query.submitted_from or query.submitted_to):
            raise _invalid("task", "a bulk action needs at least one filter (task, status, submitted_from, "
                                   "submitted_to)")
        limit = min(query.limit or self._cap, self._cap)
        eligible = ELIGIBLE["revoke+terminate" if action == "revoke" and query.terminate else action]
        statuses: list[str] = [s.value for s in query.statuses if s.value in eligible] if query.statuses else sorted(eligible)
        if not statuses:
            raise _invalid("status", f"runs in {', '.join(s.value for s in query.statuses)} cannot be "
                                     f"{'retried' if action == 'retry' else 'revoked'}; eligible: "
                                     f"{', '.join(sorted(eligible))}")
        start, end = _utc(query.submitted_from, "submitted_from"), _utc(query.submitted_to, "submitted_to")
        task_name = self._history.task_name(query.task) if query.task else None
        async with self._repositories.autocommit() as uow:
            repo = uow.repo(TaskRunRepository)
            matched = await repo.count(task_name=task_name, statuses=statuses, submitted_from=start, submitted_to=end)
            rows = await repo.page(task_name=task_name, statuses=statuses, submitted_from=start, submitted_to=end,
                                   after=None, limit=limit)
        if query.dry_run:
            runs = [BulkRun(task_id=r["task_id"], task_name=r["task_name"], status=r["status"],
                            submitted_at=r["submitted_at"].isoformat()) for r in rows]
            return BulkResult(success=True, action=action, dry_run=query.dry_run, matched=matched,
                              selected=len(rows), cap=self._cap, statuses=statuses, runs=runs)
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(row: dict[str, Any]) -> BulkItem:
            async with gate:
                return await self._one(action, row, principal, client, query.terminate)

        results = await asyncio.gather(*(one(row) for row in rows))
        done = [r for r in results if r.outcome == "done"]
        await self._audit.record(
            AuditAction.BULK_RETRY if action == "retry" else AuditAction.BULK_REVOKE, principal.subject,
            task_name=task_name, params=query.filters(), client=client,
            detail={"matched": matched, "acted": [r.task_id for r in done],
                    "skipped": [{"task_id": r.task_id, "code": r.code} for r in results if r.outcome != "done"]})
        log.info("bulk %s by %s: %d of %d matching runs", action, principal.subject, len(done), matched)
        return BulkResult(success=True, action=action, dry_run=query.dry_run, matched=matched, selected=len(rows),
                          cap=self._cap, statuses=statuses, results=results, acted=len(done),
                          skipped=len(results) - len(done), remaining=max(matched - len(rows), 0))

    async def _one(self, action: BulkAction, row: dict[str, Any], principal: Principal, client: str | None,
                   terminate: bool) -> BulkItem:
        task_id, task_name, previous = row["task_id"], row["task_name"], row["status"]
        try:
            if action == "retry":
                accepted = await self._control.retry(task_id, principal, client)
                return BulkItem(task_id=task_id, task_name=task_name, previous_status=previous, outcome="done",
                                new_task_id=accepted.task_id, code=None)
            await self._control.revoke(task_id, principal, terminate=terminate, client=client)
            return BulkItem(task_id=task_id, task_name=task_name, previous_status=previous, outcome="done", code=None)
        except AppError as exc:
            # The run changed since it was selected (finished, already retried...) or cannot be acted on.
            return BulkItem(task_id=task_id, task_name=task_name, previous_status=previous, outcome="skipped",
                            code=exc.code, message=exc.message)
