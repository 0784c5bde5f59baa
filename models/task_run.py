"""The run registry: one row per task run the toolbox knows of (API, Beat, retry, ...)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class TaskRun(Base):
    """A task run, written at enqueue and kept up to date by worker signals."""

    __tablename__ = "task_runs"

    task_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    task_name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    origin: Mapped[str] = mapped_column(String(16), default="api")
    submitted_by: Mapped[str | None] = mapped_column(String(200))
    parent_id: Mapped[str | None] = mapped_column(String(64))
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    worker: Mapped[str | None] = mapped_column(String(200))
    retries: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[Any | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_task_runs_submitted_at", "submitted_at"),
        Index("ix_task_runs_task_name_submitted_at", "task_name", "submitted_at"),
        Index("ix_task_runs_status_submitted_at", "status", "submitted_at"),
        # `GET /tasks/runs?parent=<id>` (a run's retries); most runs have no parent.
        Index("ix_task_runs_parent_id_submitted_at", "parent_id", "submitted_at",
              postgresql_where=text("parent_id is not null")),
    )
