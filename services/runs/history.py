"""The run history: filters, keyset pagination with an opaque cursor, rows as users see them."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from background.processors.base import BaseProcessor
from background.schemas.runs import RunHistory, RunRow
from config.repository_factory import RepositoryFactory
from models.run_state import RunState
from repositories.task_runs import ERROR_MAX_CHARS, TaskRunRepository
from schemas.errors import InvalidParametersError, TaskNotFoundError

MAX_LIMIT = 200


@dataclass(frozen=True)
class HistoryQuery:
    """What the caller asked for, already parsed by the router."""

    task: str | None = None
    statuses: tuple[RunState, ...] = ()
    submitted_from: datetime | None = None
    submitted_to: datetime | None = None
    cursor: str | None = None
    limit: int = 50
    parent: str | None = None  # the run whose retries are wanted


def _invalid(field: str, message: str) -> InvalidParametersError:
    return InvalidParametersError("The request parameters are invalid.", description=f"{field}: {message}",
                                  errors=[{"field": field, "message": message, "type": "value_error"}])


def _utc(value: datetime | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise _invalid(field, "out of range once converted to UTC") from None


def encode_cursor(submitted_at: datetime, task_id: str) -> str:
    """An opaque token for the keyset position after the row (submitted_at, task_id)."""
    raw = orjson.dumps([submitted_at.isoformat(), task_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The keyset position of a cursor; InvalidParametersError for anything this API did not issue."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, task_id = orjson.loads(raw)
        if not isinstance(stamp, str) or not isinstance(task_id, str) or len(task_id) > 64:
            raise ValueError("bad cursor fields")
        at = datetime.fromisoformat(stamp)
    except (binascii.Error, ValueError, TypeError, orjson.JSONDecodeError):
        raise _invalid("cursor", "not a cursor issued by this API; use next_cursor of a previous page") from None
    if at.tzinfo is None:
        raise _invalid("cursor", "not a cursor issued by this API; use next_cursor of a previous page")
    return at, task_id


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _short_error(error: str | None) -> str | None:
    if error is None or len(error) <= ERROR_MAX_CHARS:
        return error
    return error[:ERROR_MAX_CHARS] + "…"


def render_run(row: dict[str, Any]) -> RunRow:
    """One history row: what ran, how it went and who or what launched it (large values cut)."""
    started, finished = row["started_at"], row["finished_at"]
    runtime = (finished - started).total_seconds() if started and finished else None
    return RunRow(
        task_id=row["task_id"],
        task_name=row["task_name"],
        status=row["status"],
        origin=row["origin"],
        submitted_by=row["submitted_by"],
        parent_id=row["parent_id"],
        params=row["params"],
        params_truncated=bool(row.get("params_truncated")),
        submitted_at=row["submitted_at"].isoformat(),
        started_at=_iso(started),
        finished_at=_iso(finished),
        runtime_s=round(runtime, 6) if runtime is not None else None,
        worker=row["worker"],
        retries=int(row["retries"] or 0),
        error=_short_error(row["error"]),
    )


class RunHistoryService:
    """Reads past and current runs from the registry (PostgreSQL), newest first."""

    def __init__(self, repositories: RepositoryFactory, processor: BaseProcessor) -> None:
        self._repositories = repositories
        self._processor = processor

    def task_name(self, task: str) -> str:
        """The full task name behind a short, kebab or full name.

        A full `<domain>.<name>` that is no longer discovered is kept as is: its history remains.
        """
        entry = self._processor.by_name(task)
        if entry is not None:
            return entry.name
        try:
            return self._processor.resolve(task).name
        except TaskNotFoundError:
            pass
        domain, dot, name = task.partition(".")
        if dot and domain and name:
            return task
        raise _invalid("task", f"no task named {task[:200]!r}; GET /tasks/available lists them")

    async def page(self, query: HistoryQuery) -> RunHistory:
        """One page of the history and the cursor of the next one (None at the end)."""
        if not 1 <= query.limit <= MAX_LIMIT:
            raise _invalid("limit", f"must be between 1 and {MAX_LIMIT}")
        start, end = _utc(query.submitted_from, "submitted_from"), _utc(query.submitted_to, "submitted_to")
        if start is not None and end is not None and start > end:
            raise _invalid("submitted_to", "must not be before submitted_from")
        task_name = self.task_name(query.task) if query.task else None
        statuses = sorted({RunState.STARTED if s is RunState.PROGRESS else s for s in query.statuses})
        after = decode_cursor(query.cursor) if query.cursor else None
        async with self._repositories.autocommit() as uow:
            rows = await uow.repo(TaskRunRepository).page(
                task_name=task_name, statuses=[s.value for s in statuses], submitted_from=start,
                submitted_to=end, after=after, limit=query.limit + 1, parent_id=query.parent,
            )
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        next_cursor = encode_cursor(rows[-1]["submitted_at"], rows[-1]["task_id"]) if more else None
        return RunHistory(success=True, runs=[render_run(row) for row in rows], count=len(rows),
                          limit=query.limit, next_cursor=next_cursor)
