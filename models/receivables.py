"""The receivables snapshot (one as-of date at a time) and its summaries per debtor and per client."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import BigInteger, Date, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base

Money = Numeric(18, 2)


class Receivable(Base):
    """An operation with money still owed at `as_of`, aged by days past due."""

    __tablename__ = "receivables"

    operation_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    as_of: Mapped[date] = mapped_column(Date)
    code: Mapped[str] = mapped_column(String(40))
    client_id: Mapped[int] = mapped_column(BigInteger)
    debtor_id: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    face_value: Mapped[Decimal] = mapped_column(Money)
    paid_total: Mapped[Decimal] = mapped_column(Money)
    outstanding: Mapped[Decimal] = mapped_column(Money)
    outstanding_pen: Mapped[Decimal] = mapped_column(Money)
    due_on: Mapped[date] = mapped_column(Date)
    days_past_due: Mapped[int] = mapped_column(Integer)
    bucket: Mapped[str] = mapped_column(String(8))

    __table_args__ = (Index("ix_receivables_debtor_id", "debtor_id"), Index("ix_receivables_client_id", "client_id"),
                      Index("ix_receivables_bucket", "bucket"))


class _Summary:
    """Columns shared by both summaries: outstanding PEN in total and per aging bucket."""

    as_of: Mapped[date] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(200))
    operations: Mapped[int] = mapped_column(Integer)
    outstanding_pen: Mapped[Decimal] = mapped_column(Money)
    current_pen: Mapped[Decimal] = mapped_column(Money)
    due_1_30_pen: Mapped[Decimal] = mapped_column(Money)
    due_31_60_pen: Mapped[Decimal] = mapped_column(Money)
    due_61_90_pen: Mapped[Decimal] = mapped_column(Money)
    due_90_plus_pen: Mapped[Decimal] = mapped_column(Money)


class ReceivableByDebtor(_Summary, Base):
    """Receivables of one debtor at `as_of`."""

    __tablename__ = "receivables_by_debtor"

    debtor_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class ReceivableByClient(_Summary, Base):
    """Receivables of one client at `as_of`."""

    __tablename__ = "receivables_by_client"

    client_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
