"""Bookkeeping of the CSV loads: one row per batch folder, one row per rejected line."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Identity, Index, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class EtlBatch(Base):
    """A batch folder of the inbox and the outcome of its last load."""

    __tablename__ = "etl_batches"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    status: Mapped[str] = mapped_column(String(12))
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (CheckConstraint("status in ('loaded', 'failed')", name="status"),)


class EtlReject(Base):
    """A CSV line that was not loaded, with the reason and the line as it was."""

    __tablename__ = "etl_rejects"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    batch: Mapped[str] = mapped_column(String(100))
    file: Mapped[str] = mapped_column(String(40))
    line_number: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_etl_rejects_batch_file_line_number", "batch", "file", "line_number"),)
