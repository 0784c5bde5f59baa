"""SQL for the run registry (`task_runs`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert

from models.task_run import TaskRun
from repositories.base import BaseRepository

TERMINAL_STATES = frozenset({"SUCCESS", "FAILURE", "REVOKED"})


class TaskRunRepository(BaseRepository):
    """Reads and writes rows of the run registry."""

    async def add(self, **values: Any) -> None:
        """Record a run at enqueue time."""
        await self.session.execute(insert(TaskRun).values(**values))

    async def remove(self, task_id: str) -> None:
        """Forget a run that never reached the broker."""
        await self.session.execute(delete(TaskRun).where(TaskRun.task_id == task_id))

    async def get(self, task_id: str) -> TaskRun | None:
        """One run by id, or None."""
        result = await self.session.execute(select(TaskRun).where(TaskRun.task_id == task_id))
        return result.scalar_one_or_none()

    async def stale_pending(self, submitted_before: datetime, limit: int) -> list[dict[str, Any]]:
        """Runs still PENDING that were submitted before a moment, oldest first."""
        result = await self.session.execute(
            select(TaskRun.task_id, TaskRun.task_name, TaskRun.params)
            .where(TaskRun.status == "PENDING", TaskRun.submitted_at < submitted_before)
            .order_by(TaskRun.submitted_at)
            .limit(limit)
        )
        return [dict(row) for row in result.mappings()]

    async def get_status(self, task_id: str) -> dict[str, Any] | None:
        """One run as a plain mapping (the status endpoint's hot path: no ORM identity map)."""
        result = await self.session.execute(select(*TaskRun.__table__.c).where(TaskRun.task_id == task_id))
        row = result.mappings().first()
        return dict(row) if row is not None else None
