"""SQL for the run registry (`task_runs`) through SQLAlchemy: worker signals, Beat, history, revokes,
retention and the schedules view. The API's execute and status hot path reads and writes the same
table over a plain asyncpg pool in repositories/run_registry.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Text, case, cast, delete, func, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert

from models.run_state import ENDED_STATES, RunState
from models.task_run import TaskRun
from repositories.base import BaseRepository

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


# Oldest first, through ix_task_runs_submitted_at; a bounded batch keeps each transaction short.
_DELETE_BATCH = text("""
    DELETE FROM task_runs
    WHERE task_id IN (
        SELECT task_id FROM task_runs
        WHERE submitted_at < :cutoff
        ORDER BY submitted_at
        LIMIT :batch_size
    )
""")

# One index probe per task (task_name, submitted_at DESC) instead of scanning every Beat run.
_LATEST_BEAT_RUNS = text("""
    SELECT latest.task_id, names.name AS task_name, latest.status, latest.submitted_at,
           latest.started_at, latest.finished_at
    FROM unnest(CAST(:names AS text[])) AS names(name)
    CROSS JOIN LATERAL (
        SELECT task_id, status, submitted_at, started_at, finished_at
        FROM task_runs
        WHERE task_name = names.name AND origin = 'beat'
        ORDER BY submitted_at DESC
        LIMIT 1
    ) AS latest
""")


class TaskRunRepository(BaseRepository):
    """Every SQLAlchemy read and write of `task_runs`."""

    # --- worker signals, Beat, lost runs, single-run holders
    async def add(self, **values: Any) -> None:
        """Record a run at enqueue time."""
        await self.session.execute(insert(TaskRun).values(**values))

    async def remove(self, task_id: str) -> None:
        """Forget a run that never reached the broker."""
        await self.session.execute(delete(TaskRun).where(TaskRun.task_id == task_id))

    async def stale_pending(self, submitted_before: datetime, limit: int) -> list[dict[str, Any]]:
        """Runs still PENDING that were submitted before a moment, oldest first."""
        result = await self.session.execute(
            select(TaskRun.task_id, TaskRun.task_name, TaskRun.params)
            .where(TaskRun.status == RunState.PENDING.value, TaskRun.submitted_at < submitted_before)
            .order_by(TaskRun.submitted_at)
            .limit(limit)
        )
        return [dict(row) for row in result.mappings()]

    async def get_status(self, task_id: str) -> dict[str, Any] | None:
        """One run as a plain mapping (the status endpoint's hot path: no ORM identity map)."""
        result = await self.session.execute(select(*TaskRun.__table__.c).where(TaskRun.task_id == task_id))
        row = result.mappings().first()
        return dict(row) if row is not None else None

    # --- history (GET /tasks/runs, bulk actions, stats) and revokes
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
            task_id=task_id, task_name=task_name, status=RunState.REVOKED.value, origin="worker", submitted_at=at,
            finished_at=at, error=error, retries=0,
        )
        stmt = row.on_conflict_do_update(
            index_elements=[TaskRun.task_id],
            set_={"status": RunState.REVOKED.value, "finished_at": at, "error": error},
            where=TaskRun.status.notin_(ENDED_STATES),
        ).returning(TaskRun.task_id)
        return (await self.session.execute(stmt)).first() is not None

    # --- retention (maintenance.purge_runs)
    async def count_older_than(self, cutoff: datetime) -> int:
        """Rows submitted before `cutoff`."""
        result = await self.session.execute(
            text("SELECT count(*) FROM task_runs WHERE submitted_at < :cutoff"), {"cutoff": cutoff})
        return int(result.scalar_one())

    async def delete_batch(self, cutoff: datetime, batch_size: int) -> int:
        """Delete up to `batch_size` of the oldest rows submitted before `cutoff`; how many went."""
        result = await self.session.execute(_DELETE_BATCH, {"cutoff": cutoff, "batch_size": batch_size})
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    # --- the schedules view
    async def latest_beat_runs(self, names: list[str]) -> dict[str, dict[str, Any]]:
        """The most recent run Beat dispatched, per task name (names never dispatched are absent)."""
        if not names:
            return {}
        result = await self.session.execute(_LATEST_BEAT_RUNS, {"names": names})
        return {row["task_name"]: dict(row) for row in result.mappings()}
