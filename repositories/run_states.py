"""SQL for what workers record of a run in the registry (`task_runs`): its start and its end.

Two prepared statements over a plain asyncpg pool, one round trip each: the start is written
before the task body runs, so its cost is paid by every run's latency. Built through the ORM,
each statement cost more CPU than the no-op task it records.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import asyncpg

# Created for runs that did not come through the API (Beat, a Celery retry, `celery call`); a
# finished run is only started again by a retry with a higher count (a redelivery of a run that
# already ended changes nothing).
_MARK_STARTED = (
    "insert into task_runs (task_id, task_name, status, params, origin, submitted_at, started_at, worker, retries) "
    "values ($1, $2, 'STARTED', $3::jsonb, $4, $5, $5, $6, $7) "
    "on conflict (task_id) do update set status = 'STARTED', started_at = excluded.started_at, "
    "worker = excluded.worker, retries = excluded.retries, finished_at = null, error = null "
    "where task_runs.status not in ('SUCCESS', 'FAILURE', 'REVOKED') or excluded.retries > task_runs.retries"
)
_MARK_FINISHED = (
    "insert into task_runs (task_id, task_name, status, origin, submitted_at, finished_at, result, error, retries, "
    "worker) values ($1, $2, $3, 'worker', $4, $5, $6::jsonb, $7, $8, $9) "
    "on conflict (task_id) do update set status = excluded.status, finished_at = excluded.finished_at, "
    "result = excluded.result, error = excluded.error, retries = excluded.retries"
)


def _json(value: Any) -> str:
    # As SQLAlchemy's JSONB type writes it (json.dumps; None is the JSON null).
    return json.dumps(value)


class RunStateWriter:
    """Records the start and the end of runs (worker side) with prepared statements."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def mark_started(
        self, *, task_id: str, task_name: str, started_at: datetime, worker: str | None,
        params: dict[str, Any] | None, retries: int, origin: str,
    ) -> None:
        """Record a start; creates the row for runs that did not come through the API (Beat, ...)."""
        await self._pool.execute(_MARK_STARTED, task_id, task_name, _json(params), origin, started_at, worker,
                                 retries)

    async def mark_finished(
        self, *, task_id: str, task_name: str, status: str, finished_at: datetime | None,
        result: Any, error: str | None, retries: int, worker: str | None = None,
    ) -> None:
        """Record the end state of a run (SUCCESS, FAILURE, RETRY, REVOKED)."""
        await self._pool.execute(_MARK_FINISHED, task_id, task_name, status, finished_at or datetime.now(UTC),
                                 finished_at, _json(result), error, retries, worker)
