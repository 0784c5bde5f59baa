"""Rebuilt output tables: daily KPIs, monthly accumulated KPIs and the operation report."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import BigInteger, Date, Index, Integer, Numeric, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base

Money = Numeric(18, 2)


class KpiDaily(Base):
    """KPIs of one day with activity: placements by disbursement date, collections by payment date (PEN)."""

    __tablename__ = "kpi_daily"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    placements_count: Mapped[int] = mapped_column(Integer)
    placements_pen: Mapped[Decimal] = mapped_column(Money)
    financed_pen: Mapped[Decimal] = mapped_column(Money)
    expected_income_pen: Mapped[Decimal] = mapped_column(Money)
    collections_pen: Mapped[Decimal] = mapped_column(Money)


class KpiMonthly(Base):
    """A month's KPIs, their year-to-date sums, and the portfolio at month end (PEN)."""

    __tablename__ = "kpi_monthly"

    year: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    month: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    placements_count: Mapped[int] = mapped_column(Integer)
    placements_pen: Mapped[Decimal] = mapped_column(Money)
    financed_pen: Mapped[Decimal] = mapped_column(Money)
    expected_income_pen: Mapped[Decimal] = mapped_column(Money)
    collections_pen: Mapped[Decimal] = mapped_column(Money)
    ytd_placements_count: Mapped[int] = mapped_column(Integer)
    ytd_placements_pen: Mapped[Decimal] = mapped_column(Money)
    ytd_financed_pen: Mapped[Decimal] = mapped_column(Money)
    ytd_expected_income_pen: Mapped[Decimal] = mapped_column(Money)
    ytd_collections_pen: Mapped[Decimal] = mapped_column(Money)
    outstanding_pen: Mapped[Decimal] = mapped_column(Money)
    overdue_30_pen: Mapped[Decimal] = mapped_column(Money)
    delinquency_ratio: Mapped[Decimal] = mapped_column(Numeric(9, 6))


class ReportOperation(Base):
    """One non-cancelled operation with names, PEN amounts (at the disbursement rate) and payments."""

    __tablename__ = "report_operations"

    operation_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    code: Mapped[str] = mapped_column(String(40))
    client_name: Mapped[str] = mapped_column(String(200))
    debtor_name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    face_value: Mapped[Decimal] = mapped_column(Money)
    face_value_pen: Mapped[Decimal] = mapped_column(Money)
    financed_pen: Mapped[Decimal] = mapped_column(Money)
    disbursed_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    term_days: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))
    paid_total: Mapped[Decimal] = mapped_column(Money)
    last_payment_on: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (Index("ix_report_operations_code", "code", unique=True),
                      Index("ix_report_operations_disbursed_on", "disbursed_on"))
