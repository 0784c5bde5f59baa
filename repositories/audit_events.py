"""SQL of the audit trail (`audit_events`): one row per action, pages newest first, retention."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, tuple_

from models.audit_event import AuditEvent
from repositories.base import BaseRepository

AUDIT_COLUMNS = (AuditEvent.id, AuditEvent.at, AuditEvent.actor, AuditEvent.action, AuditEvent.task_name,
                 AuditEvent.task_id, AuditEvent.params, AuditEvent.client, AuditEvent.detail)


class AuditRepository(BaseRepository):
    """Writes and reads audit rows."""

    async def add(self, *, at: datetime, actor: str | None, action: str, task_name: str | None = None,
                  task_id: str | None = None, params: Any = None, client: str | None = None,
                  detail: Any = None) -> None:
        """Record one action (executes are recorded with the run's row, see repositories/run_registry.py)."""
        await self.session.execute(insert(AuditEvent).values(
            at=at, actor=actor, action=action, task_name=task_name, task_id=task_id, params=params,
            client=client, detail=detail))

    async def page(self, *, actor: str | None, actions: list[str], task_name: str | None, task_id: str | None,
                   at_from: datetime | None, at_to: datetime | None, after: tuple[datetime, int] | None,
                   limit: int) -> list[dict[str, Any]]:
        """Up to `limit` rows, newest first, strictly after the keyset position (at, id)."""
        stmt = select(*AUDIT_COLUMNS)
        if actor is not None:
            stmt = stmt.where(AuditEvent.actor == actor)
        if actions:
            stmt = stmt.where(AuditEvent.action.in_(actions))
        if task_name is not None:
            stmt = stmt.where(AuditEvent.task_name == task_name)
        if task_id is not None:
            stmt = stmt.where(AuditEvent.task_id == task_id)
        if at_from is not None:
            stmt = stmt.where(AuditEvent.at >= at_from)
        if at_to is not None:
            stmt = stmt.where(AuditEvent.at < at_to)
        if after is not None:
            stmt = stmt.where(tuple_(AuditEvent.at, AuditEvent.id) < tuple_(*after))
        stmt = stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
        return [dict(row) for row in (await self.session.execute(stmt)).mappings().all()]

    async def count_older_than(self, cutoff: datetime) -> int:
        """Rows recorded before `cutoff`."""
        stmt = select(func.count()).select_from(AuditEvent).where(AuditEvent.at < cutoff)
        return int((await self.session.execute(stmt)).scalar_one())

    async def delete_batch(self, cutoff: datetime, batch_size: int) -> int:
        """Delete up to `batch_size` of the oldest rows recorded before `cutoff`; how many went."""
        oldest = (select(AuditEvent.id).where(AuditEvent.at < cutoff).order_by(AuditEvent.at)
                  .limit(batch_size).scalar_subquery())
        result = await self.session.execute(delete(AuditEvent).where(AuditEvent.id.in_(oldest)))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
