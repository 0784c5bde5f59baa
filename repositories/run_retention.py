"""SQL of the run-retention job: old rows of the run registry, counted and deleted in batches."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text

from repositories.base import BaseRepository

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


class RunRetentionRepository(BaseRepository):
    """Deletes registry rows past the retention period."""

    async def count_older_than(self, cutoff: datetime) -> int:
        """Rows submitted before `cutoff`."""
        result = await self.session.execute(
            text("SELECT count(*) FROM task_runs WHERE submitted_at < :cutoff"), {"cutoff": cutoff})
        return int(result.scalar_one())

    async def delete_batch(self, cutoff: datetime, batch_size: int) -> int:
        """Delete up to `batch_size` of the oldest rows submitted before `cutoff`; how many went."""
        result = await self.session.execute(_DELETE_BATCH, {"cutoff": cutoff, "batch_size": batch_size})
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
