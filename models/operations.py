"""Financed invoices (operations) and the payments received on them."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, Date, DateTime, ForeignKey, Identity, Index, Numeric, String, func
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base

CURRENCIES = ("PEN", "USD")
STATUSES = ("active", "paid", "defaulted", "cancelled")


class Operation(Base):
    """One financed invoice. Amounts are in the operation's currency."""

    __tablename__ = "operations"

    # ids drawn 1000 at a time: a load draws one per row (migration 0006)
    id: Mapped[int] = mapped_column(BigInteger, Identity(cache=1000), primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    client_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("clients.id"))
    debtor_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("debtors.id"))
    currency: Mapped[str] = mapped_column(String(3))
    face_value: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    advance_pct: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    monthly_rate: Mapped[Decimal] = mapped_column(Numeric(8, 6))
    commission: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    disbursed_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        CheckConstraint("currency in ('PEN', 'USD')", name="currency"),
        CheckConstraint("face_value > 0", name="face_value_positive"),
        CheckConstraint("advance_pct > 0 and advance_pct <= 100", name="advance_pct_range"),
        CheckConstraint("monthly_rate >= 0", name="monthly_rate_non_negative"),
        CheckConstraint("commission >= 0", name="commission_non_negative"),
        CheckConstraint("due_on >= disbursed_on", name="due_after_disbursement"),
        CheckConstraint("status in ('active', 'paid', 'defaulted', 'cancelled')", name="status"),
        Index("ix_operations_client_id", "client_id"),
        Index("ix_operations_debtor_id", "debtor_id"),
        Index("ix_operations_disbursed_on", "disbursed_on"),
        Index("ix_operations_due_on", "due_on"),
    )


class Payment(Base):
    """Money received on an operation, in the operation's currency; `code` is the source system's id."""

    __tablename__ = "payments"

    # ids drawn 1000 at a time: a load draws one per row (migration 0006)
    id: Mapped[int] = mapped_column(BigInteger, Identity(cache=1000), primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    operation_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("operations.id"))
    paid_on: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_payments_operation_id_paid_on", "operation_id", "paid_on"),
        Index("ix_payments_paid_on", "paid_on"),
    )
