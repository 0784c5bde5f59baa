"""USD/PEN exchange rates, one row per published date (weekends and holidays have none)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, DateTime, Numeric, String, func
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class ExchangeRate(Base):
    """Buy and sell price of one USD in PEN on `rate_date`."""

    __tablename__ = "exchange_rates"

    rate_date: Mapped[date] = mapped_column(Date, primary_key=True)
    buy: Mapped[Decimal] = mapped_column(Numeric(10, 4))
    sell: Mapped[Decimal] = mapped_column(Numeric(10, 4))
    source: Mapped[str] = mapped_column(String(20))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        CheckConstraint("buy > 0", name="buy_positive"),
        CheckConstraint("sell > 0", name="sell_positive"),
    )
