"""SQL of the daily KPI rebuild (`kpi_daily`)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import text

from repositories.factoring_sql import DAILY_FLOWS, RATE_CALENDAR, RebuildRepository


class KpiDailyRepository(RebuildRepository):
    """Replaces the `kpi_daily` rows of a date range with rows computed from operations and payments."""

    async def usd_dates_needed(self, date_from: date, date_to: date, excluded: str) -> date | None:
        """The earliest date in the range on which a counted USD amount must be converted."""
        earliest: date | None = (await self.session.execute(text("""
            select least(
                (select min(o.disbursed_on) from operations o
                 where o.currency = 'USD' and o.status <> :excluded and o.disbursed_on between :lo and :hi),
                (select min(p.paid_on) from payments p join operations o on o.id = p.operation_id
                 where o.currency = 'USD' and o.status <> :excluded and p.paid_on between :lo and :hi))
        """), {"lo": date_from, "hi": date_to, "excluded": excluded})).scalar_one()
        return earliest

    async def delete_range(self, date_from: date, date_to: date) -> int:
        """Remove the rows of the range (the new ones are inserted in the same transaction)."""
        result = await self.session.execute(text("delete from kpi_daily where day between :lo and :hi"),
                                            {"lo": date_from, "hi": date_to})
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def insert_range(self, date_from: date, date_to: date, *, excluded: str, day_count: int) -> int:
        """Insert one row per day of the range with a placement or a collection; returns the row count."""
        return await self.insert_rows("kpi_daily", "day, placements_count, placements_pen, financed_pen, "
                                      "expected_income_pen, collections_pen", f"""
            with {RATE_CALENDAR}, {DAILY_FLOWS}
            select coalesce(pl.day, co.day), coalesce(pl.n, 0), round(coalesce(pl.placements, 0), 2),
                   round(coalesce(pl.financed, 0), 2), round(coalesce(pl.income, 0), 2),
                   round(coalesce(co.collections, 0), 2)
            from placed_by_day pl full join collected_by_day co on co.day = pl.day
        """, {"lo": date_from, "hi": date_to, "excluded": excluded, "day_count": day_count, "rates_until": date_to})

    async def totals(self, date_from: date, date_to: date) -> dict[str, Any]:
        """Sums of the range's rows, for the task result."""
        row = (await self.session.execute(text("""
            select count(*) as days, coalesce(sum(placements_count), 0) as placements_count,
                   coalesce(sum(placements_pen), 0) as placements_pen, coalesce(sum(financed_pen), 0) as financed_pen,
                   coalesce(sum(expected_income_pen), 0) as expected_income_pen,
                   coalesce(sum(collections_pen), 0) as collections_pen
            from kpi_daily where day between :lo and :hi
        """), {"lo": date_from, "hi": date_to})).mappings().one()
        return dict(row)
