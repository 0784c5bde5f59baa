"""SQL for reading the run registry as a history, and for marking runs revoked."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Text, case, cast, func, select, tuple_
from sqlalchemy.dialects.postgresql import insert

from models.task_run import TaskRun
from repositories.base import BaseRepository
from repositories.task_runs import TERMINAL_STATES

# A history page stays small whatever the runs carry (200 rows well under 1 MB): it leaves out
# `result`, parameters over PARAMS_MAX_BYTES of JSON and errors past ERROR_MAX_CHARS; the cut is
# made here, so large values never leave PostgreSQL. GET /tasks/status/<id> has them all.
PARAMS_MAX_BYTES = 1024
ERROR_MAX_CHARS = 300
_params_bytes = func.octet_length(cast(TaskRun.params, Text))
HISTORY_COLUMNS = (
    TaskRun.task_id, TaskRun.task_name, TaskRun.status, TaskRun.origin, TaskRun.submitted_by,
    TaskRun.parent_id, case((_params_bytes <= PARAMS_MAX_BYTES, TaskRun.params)).label("params"),
    func.coalesce(_params_bytes > PARAMS_MAX_BYTES, False).label("params_truncated"),
    TaskRun.submitted_at, TaskRun.started_at, TaskRun.finished_at, TaskRun.worker, TaskRun.retries,
    func.left(TaskRun.error, ERROR_MAX_CHARS + 1).label("error"),
)


def _filtered(stmt: Select[Any], task_name: str | None, statuses: Sequence[str], submitted_from: datetime | None,
              submitted_to: datetime | None, parent_id: str | None = None) -> Select[Any]:
    """`stmt` narrowed by the history filters (GET /tasks/runs and the bulk actions share them)."""
    if parent_id is not None:
        stmt = stmt.where(TaskRun.parent_id == parent_id)
    if task_name is not None:
        stmt = stmt.where(TaskRun.task_name == task_name)
    if statuses:
        stmt = stmt.where(TaskRun.status.in_(list(statuses)))
    if submitted_from is not None:
        stmt = stmt.where(TaskRun.submitted_at >= submitted_from)
    if submitted_to is not None:
        stmt = stmt.where(TaskRun.submitted_at < submitted_to)
    return stmt


class RunHistoryRepository(BaseRepository):
    """History pages, state counts and revokes on `task_runs`."""

    async def page(
        self, *, task_name: str | None, statuses: Sequence[str], submitted_from: datetime | None,
        submitted_to: datetime | None, after: tuple[datetime, str] | None, limit: int, parent_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Up to `limit` runs, newest first, strictly after the keyset position `after`."""
        stmt = _filtered(select(*HISTORY_COLUMNS), task_name, statuses, submitted_from, submitted_to, parent_id)
        if after is not None:
            stmt = stmt.where(tuple_(TaskRun.submitted_at, TaskRun.task_id) < tuple_(*after))
        stmt = stmt.order_by(TaskRun.submitted_at.desc(), TaskRun.task_id.desc()).limit(limit)
        rows = (await self.session.execute(stmt)).mappings().all()
        return [dict(row) for row in rows]

    async def count(self, *, task_name: str | None, statuses: Sequence[str], submitted_from: datetime | None,
                    submitted_to: datetime | None) -> int:
        """How many runs match the history filters (for bulk actions' dry runs)."""
        stmt = _filtered(select(func.count()).select_from(TaskRun), task_name, statuses, submitted_from, submitted_to)
        return int((await self.session.execute(stmt)).scalar_one())

    async def counts_by_status(self, since: datetime) -> dict[str, int]:
        """How many runs submitted since `since` are in each state."""
        stmt = (select(TaskRun.status, func.count()).where(TaskRun.submitted_at >= since)
                .group_by(TaskRun.status))
        return {str(status): int(count) for status, count in (await self.session.execute(stmt)).all()}

    async def mark_revoked(self, *, task_id: str, task_name: str, at: datetime, error: str) -> bool:
        """Set REVOKED unless the run already ended; creates the row for runs the API never saw.

        False when the run had already reached a terminal state (nothing changed).
        """
        row = insert(TaskRun).values(
            task_id=task_id, task_name=task_name, status="REVOKED", origin="worker", submitted_at=at,
            finished_at=at, error=error, retries=0,
        )
        stmt = row.on_conflict_do_update(
            index_elements=[TaskRun.task_id],
            set_={"status": "REVOKED", "finished_at": at, "error": error},
            where=TaskRun.status.notin_(TERMINAL_STATES),
        ).returning(TaskRun.task_id)
        return (await self.session.execute(stmt)).first() is not None
