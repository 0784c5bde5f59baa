"""Webhook delivery attempts: one row per HTTP attempt of a failure/recovery/schedule notification."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Float, Identity, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class NotificationDelivery(Base):
    """One attempt: `delivery_id` is shared by the attempts of one notification to one URL."""

    __tablename__ = "notification_deliveries"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(32))
    task_name: Mapped[str | None] = mapped_column(String(200))
    task_id: Mapped[str | None] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(Text)
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ok: Mapped[bool] = mapped_column(Boolean)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float | None] = mapped_column(Float)
    # None: another attempt follows; "delivered" or "gave_up" on the last one.
    outcome: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (
        Index("ix_notification_deliveries_at", "at"),
        Index("ix_notification_deliveries_task_id", "task_id"),
    )
