"""The audit trail: one row per operator action (execute, retry, revoke, pause, resume, bulk, token)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Identity, Index, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class AuditEvent(Base):
    """Who (token subject) did what, when, to which task or run, with which parameters, from where."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str | None] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(32))
    task_name: Mapped[str | None] = mapped_column(String(200))
    task_id: Mapped[str | None] = mapped_column(String(64))
    params: Mapped[Any | None] = mapped_column(JSONB)
    client: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[Any | None] = mapped_column(JSONB)

    __table_args__ = (
        Index("ix_audit_events_at", "at", "id"),
        Index("ix_audit_events_actor_at", "actor", "at"),
        Index("ix_audit_events_task_name_at", "task_name", "at"),
    )
