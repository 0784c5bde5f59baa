"""The audit trail: recording operator actions and reading them back (GET /audit, admin)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson

from background.schemas.audit import AuditEventRow, AuditPage
from config.repository_factory import RepositoryFactory
from repositories.audit_events import AuditRepository
from schemas.errors import InvalidParametersError

MAX_LIMIT = 200


class AuditAction(StrEnum):
    """Every action the trail records."""

    EXECUTE = "execute"
    RETRY = "retry"
    REVOKE = "revoke"
    PAUSE = "pause"
    RESUME = "resume"
    BULK_RETRY = "bulk_retry"
    BULK_REVOKE = "bulk_revoke"
    TOKEN_MINT = "token_mint"


@dataclass(frozen=True)
class AuditQuery:
    """Filters of GET /audit, parsed by the router."""

    actor: str | None = None
    actions: tuple[AuditAction, ...] = ()
    task: str | None = None
    task_id: str | None = None
    at_from: datetime | None = None
    at_to: datetime | None = None
    cursor: str | None = None
    limit: int = 50


def _invalid(field: str, message: str) -> InvalidParametersError:
    return InvalidParametersError("The request parameters are invalid.", description=f"{field}: {message}",
                                  errors=[{"field": field, "message": message, "type": "value_error"}])


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _encode(at: datetime, row_id: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([at.isoformat(), row_id])).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, int]:
    try:
        stamp, row_id = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        at = datetime.fromisoformat(stamp)
        if not isinstance(row_id, int) or at.tzinfo is None:
            raise ValueError("bad cursor")
    except (binascii.Error, ValueError, TypeError, orjson.JSONDecodeError):
        raise _invalid("cursor", "not a cursor issued by this API; use next_cursor of a previous page") from None
    return at, row_id


def render_event(row: dict[str, Any]) -> AuditEventRow:
    """One audit row as GET /audit shows it."""
    return AuditEventRow(id=row["id"], at=row["at"].isoformat(), actor=row["actor"], action=row["action"],
                         task_name=row["task_name"], task_id=row["task_id"], params=row["params"],
                         client=row["client"], detail=row["detail"])


class AuditService:
    """Writes one row per action; pages through them newest first."""

    def __init__(self, repositories: RepositoryFactory) -> None:
        self._repositories = repositories

    async def record(self, action: AuditAction, actor: str | None, *, task_name: str | None = None,
                     task_id: str | None = None, params: Any = None, client: str | None = None,
                     detail: Any = None) -> None:
        """Record one action now (executes and retries are written with their run: TaskRunService.submit)."""
        async with self._repositories.autocommit() as uow:
            await uow.repo(AuditRepository).add(at=datetime.now(UTC), actor=actor, action=action.value,
                                                task_name=task_name, task_id=task_id, params=params,
                                                client=client, detail=detail)

    async def page(self, query: AuditQuery, task_name: str | None) -> AuditPage:
        """One page and the cursor of the next (None at the end); `task_name` is `query.task` resolved."""
        if not 1 <= query.limit <= MAX_LIMIT:
            raise _invalid("limit", f"must be between 1 and {MAX_LIMIT}")
        start, end = _utc(query.at_from), _utc(query.at_to)
        if start is not None and end is not None and start > end:
            raise _invalid("to", "must not be before from")
        after = _decode(query.cursor) if query.cursor else None
        async with self._repositories.autocommit() as uow:
            rows = await uow.repo(AuditRepository).page(
                actor=query.actor, actions=[a.value for a in query.actions], task_name=task_name,
                task_id=query.task_id, at_from=start, at_to=end, after=after, limit=query.limit + 1)
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        return AuditPage(success=True, events=[render_event(row) for row in rows], count=len(rows),
                         limit=query.limit, next_cursor=_encode(rows[-1]["at"], rows[-1]["id"]) if more else None)
