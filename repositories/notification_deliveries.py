"""SQL of webhook delivery attempts (`notification_deliveries`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select

from models.notification_delivery import NotificationDelivery
from repositories.base import BaseRepository

COLUMNS = tuple(NotificationDelivery.__table__.c)


class NotificationDeliveryRepository(BaseRepository):
    """Records attempts and pages through them, newest first."""

    async def add(self, **values: Any) -> None:
        """Record one attempt."""
        await self.session.execute(insert(NotificationDelivery).values(**values))

    async def page(self, *, task_id: str | None, event: str | None, ok: bool | None, before: int | None,
                   limit: int) -> list[dict[str, Any]]:
        """Up to `limit` attempts with an id below `before`, newest first."""
        stmt = select(*COLUMNS)
        if task_id is not None:
            stmt = stmt.where(NotificationDelivery.task_id == task_id)
        if event is not None:
            stmt = stmt.where(NotificationDelivery.event == event)
        if ok is not None:
            stmt = stmt.where(NotificationDelivery.ok.is_(ok))
        if before is not None:
            stmt = stmt.where(NotificationDelivery.id < before)
        stmt = stmt.order_by(NotificationDelivery.id.desc()).limit(limit)
        return [dict(row) for row in (await self.session.execute(stmt)).mappings().all()]

    async def delete_older_than(self, cutoff: datetime) -> int:
        """Forget attempts recorded before `cutoff` (kept as long as the run history)."""
        result = await self.session.execute(delete(NotificationDelivery).where(NotificationDelivery.at < cutoff))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
