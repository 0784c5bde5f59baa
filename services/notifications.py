"""Webhook delivery attempts as operators see them (GET /notifications/deliveries)."""

from __future__ import annotations

from typing import Any

from background.schemas.notifications import DeliveryAttempt, DeliveryPage
from config.repository_factory import RepositoryFactory
from repositories.notification_deliveries import NotificationDeliveryRepository

MAX_LIMIT = 200


def render_attempt(row: dict[str, Any]) -> DeliveryAttempt:
    """One attempt: which notification, where to, how it went."""
    return DeliveryAttempt(id=row["id"], delivery_id=row["delivery_id"], event=row["event"],
                           task_name=row["task_name"], task_id=row["task_id"], url=row["url"],
                           attempt=row["attempt"], at=row["at"].isoformat(), ok=row["ok"],
                           status_code=row["status_code"], error=row["error"], duration_ms=row["duration_ms"],
                           outcome=row["outcome"])


class NotificationService:
    """Reads the attempts the delivery task and Beat recorded, newest first."""

    def __init__(self, repositories: RepositoryFactory) -> None:
        self._repositories = repositories

    async def deliveries(self, *, task_id: str | None, event: str | None, ok: bool | None, before: int | None,
                         limit: int) -> DeliveryPage:
        """One page; pass `next_before` back as `before` for the next one (None at the end)."""
        async with self._repositories.autocommit() as uow:
            rows = await uow.repo(NotificationDeliveryRepository).page(task_id=task_id, event=event, ok=ok,
                                                                       before=before, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return DeliveryPage(success=True, deliveries=[render_attempt(row) for row in rows], count=len(rows),
                            next_before=rows[-1]["id"] if more else None)
