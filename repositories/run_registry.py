"""The run registry's hot path (execute and status) over a plain asyncpg pool.

The API writes one row per execute and reads one per status call. Through the ORM each costs
many times the CPU of a prepared asyncpg statement, which is most of the difference between
Toolbox and a bare `delay()` service (bench/RESULTS.md). Everything else
about runs goes through SQLAlchemy in repositories/task_runs.py.

The worker side records each run's start and end the same way (`RunStateWriter`): two prepared
statements, one round trip each; the start is written before the task body runs, so its cost
is paid by every run's latency.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from config.coalescer import Coalescer
from schemas.errors import DatabaseUnavailableError, InvalidParametersError

# One statement writes the runs and, for those an operator launched, their audit rows: the
# audit trail costs no extra round trip on the execute path.
_INSERT = (
    "with r as (select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], "
    "$7::timestamptz[], $8::text[], $9::text[]) "
    "as r(task_id, task_name, params, origin, submitted_by, parent_id, submitted_at, action, client)), "
    "runs as (insert into task_runs (task_id, task_name, status, params, origin, submitted_by, parent_id, "
    "submitted_at, retries) "
    "select r.task_id, r.task_name, 'PENDING', r.params::jsonb, r.origin, r.submitted_by, r.parent_id, "
    "r.submitted_at, 0 from r) "
    "insert into audit_events (at, actor, action, task_name, task_id, params, client, detail) "
    "select r.submitted_at, r.submitted_by, r.action, r.task_name, r.task_id, r.params::jsonb, r.client, "
    "case when r.parent_id is null then null else jsonb_build_object('parent_id', r.parent_id) end "
    "from r where r.action is not null"
)
# A run that never reached the broker leaves no trace, its audit row included.
_DELETE = (
    "with gone as (delete from task_runs where task_id = $1) "
    "delete from audit_events where task_id = $1 and action in ('execute', 'retry')"
)
_SELECT = (
    "select task_id, task_name, status, params::text as params, origin, submitted_by, parent_id, submitted_at, "
    "started_at, finished_at, worker, retries, result::text as result, error from task_runs "
    "where task_id = any($1::text[])"
)
DISCONNECTS = (OSError, asyncio.TimeoutError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
               asyncpg.CannotConnectNowError, asyncpg.exceptions.AdminShutdownError)


# The text columns of task_runs and their lengths (models/task_run.py): a row is checked against
# them before it joins a shared INSERT.
_TEXT_COLUMNS = (("task_id", 64), ("task_name", 200), ("params", None), ("origin", 16), ("submitted_by", 200),
                 ("parent_id", 64))


def _is_about_a_row(exc: BaseException) -> bool:
    """A database error caused by one row's values (not the connection): worth retrying rows one by one."""
    return isinstance(exc, asyncpg.PostgresError) and not isinstance(exc, DISCONNECTS)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


def _refuse(column: str, problem: str) -> InvalidParametersError:
    return InvalidParametersError(f"The run cannot be recorded: its {column} {problem}.",
                                  errors=[{"field": column, "message": problem, "type": "value_error"}])


def _check_row(row: tuple[Any, ...], params: dict[str, Any]) -> None:
    """InvalidParametersError for a value PostgreSQL would refuse, so it never fails a shared flush."""
    for (column, max_length), value in zip(_TEXT_COLUMNS, row):
        if value is None:
            continue
        if max_length is not None and len(value) > max_length:
            raise _refuse(column, f"is longer than {max_length} characters")
        if "\x00" in value:
            raise _refuse(column, "contains a NUL character")
    if "\\u0000" in row[2] and _has_nul(params):  # JSONB cannot hold NUL either
        raise _refuse("params", "contain a NUL character")


def _unavailable(exc: BaseException) -> DatabaseUnavailableError:
    return DatabaseUnavailableError("The database is unreachable; try again shortly.",
                                    description=f"{type(exc).__name__}: {exc}"[:300])


class RunRegistry:
    """Insert, remove and read single runs with prepared statements."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._inserts: Coalescer[tuple[Any, ...]] = Coalescer(self._insert, isolate=_is_about_a_row)
        self._reads: Coalescer[str] = Coalescer(self._select, isolate=_is_about_a_row)

    async def add(self, *, task_id: str, task_name: str, params: dict[str, Any], origin: str,
                  submitted_by: str | None, parent_id: str | None, submitted_at: datetime,
                  action: str | None = None, client: str | None = None) -> None:
        """Record a run at enqueue time; concurrent calls share one multi-row INSERT (autocommit).

        With `action` (execute, retry) the same statement writes the audit row of the launch.
        A row PostgreSQL would refuse is refused here (422); one that fails anyway in a shared
        INSERT fails only its own call (the Coalescer retries the rows one by one).
        """
        row = (task_id, task_name, orjson.dumps(params).decode(), origin, submitted_by, parent_id)
        _check_row(row, params)
        try:
            await self._inserts.submit((*row, submitted_at, action, client))
        except DISCONNECTS as exc:
            raise _unavailable(exc) from exc

    async def _select(self, task_ids: list[str]) -> list[asyncpg.Record | None]:
        # Concurrent status reads share one query; records come back in the callers' order.
        records = {record["task_id"]: record for record in await self._pool.fetch(_SELECT, task_ids)}
        return [records.get(task_id) for task_id in task_ids]

    async def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        await self._pool.execute(_INSERT, *(list(column) for column in zip(*rows)))

    async def remove(self, task_id: str) -> None:
        """Forget a run that never reached the broker."""
        try:
            await self._pool.execute(_DELETE, task_id)
        except DISCONNECTS as exc:
            raise _unavailable(exc) from exc

    async def get(self, task_id: str) -> dict[str, Any] | None:
        """One run as a plain dict (JSON columns decoded), or None."""
        if "\x00" in task_id:
            return None  # no run id holds NUL, and PostgreSQL would refuse the whole shared read
        try:
            record = await self._reads.submit(task_id)
        except DISCONNECTS as exc:
            raise _unavailable(exc) from exc
        if record is None:
            return None
        row = dict(record)
        for column in ("params", "result"):
            if row[column] is not None:
                row[column] = orjson.loads(row[column])
        return row


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
