"""SQL for the schedules view: the latest Beat-dispatched run of each scheduled task."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from repositories.base import BaseRepository

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


class ScheduleRunRepository(BaseRepository):
    """Reads the run registry from the schedules' point of view."""

    async def latest_beat_runs(self, names: list[str]) -> dict[str, dict[str, Any]]:
        """The most recent run Beat dispatched, per task name (names never dispatched are absent)."""
        if not names:
            return {}
        result = await self.session.execute(_LATEST_BEAT_RUNS, {"names": names})
        return {row["task_name"]: dict(row) for row in result.mappings()}
