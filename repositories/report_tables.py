"""SQL of the operation report rebuild (`report_operations`)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import text

from repositories.factoring_sql import RATE_CALENDAR, RebuildRepository, by_id_ranges, pen_cents

# The columns of report_operations, in the order of the rebuild's select.
COLUMNS = ("operation_id", "code", "client_name", "debtor_name", "currency", "face_value", "face_value_pen",
           "financed_pen", "disbursed_on", "due_on", "term_days", "status", "paid_total", "last_payment_on")


class ReportTablesRepository(RebuildRepository):
    """Replaces the whole `report_operations` table."""

    async def usd_dates_needed(self, excluded: str) -> tuple[date | None, date | None]:
        """First and last disbursement date of counted USD operations (converted at that date)."""
        row = (await self.session.execute(text(
            "select min(disbursed_on), max(disbursed_on) from operations where currency = 'USD' and status <> :excluded"
        ), {"excluded": excluded})).one()
        return row[0], row[1]

    async def count(self) -> int:
        """Rows of the current table (the ones the rebuild replaces)."""
        return int((await self.session.execute(text("select count(*) from report_operations"))).scalar_one())

    async def build_all(self, *, excluded: str, rates_until: date) -> int:
        """Create the build copy of `report_operations` (see `create_build_as`) with one row per counted
        operation, PEN amounts at the disbursement date's rate; the row count."""
        # The rate calendar as an analysed table, not a CTE: joined from a CTE, the planner hashes the
        # ~1M operation rows (in batches on disk) and probes them with the few hundred days. A plain
        # table, dropped once read, not a temporary one: parallel workers cannot read those.
        await self.session.execute(text("drop table if exists report_rates"))
        await self.session.execute(text(f"create table report_rates as with {RATE_CALENDAR} "
                                        "select day, sell from rate_calendar"), {"rates_until": rates_until})
        await self.session.execute(text("analyze report_rates"))
        params: dict[str, Any] = {"excluded": excluded}
        select = by_id_ranges(f"""
            with paid as (select operation_id, sum(amount) as total, max(paid_on) as last_on
                          from payments where operation_id between :id_lo and :id_hi group by operation_id)
            select o.id, o.code, c.name as client_name, d.name as debtor_name, o.currency, o.face_value,
                   {pen_cents('o.face_value', 'o.currency', 'rc.sell')},
                   -- x / 100 as x * 0.01: the same exact value (numeric), without a numeric division per row
                   round(o.face_value * o.advance_pct * (case when o.currency = 'USD' then rc.sell * 0.01 else 0.01 end),
                         2),
                   o.disbursed_on, o.due_on, o.due_on - o.disbursed_on, o.status,
                   coalesce(p.total, 0), p.last_on
            from operations o
            join clients c on c.id = o.client_id
            join debtors d on d.id = o.debtor_id
            left join paid p on p.operation_id = o.id
            left join report_rates rc on rc.day = o.disbursed_on
            where o.status <> :excluded and o.id between :id_lo and :id_hi""", await self.id_ranges(), params)
        rows = await self.create_build_as("report_operations", COLUMNS, select, params)
        await self.session.execute(text("drop table report_rates"))
        return rows

    async def totals(self) -> dict[str, Any]:
        """Row count and PEN sums of the table, for the task result."""
        row = (await self.session.execute(text(
            "select count(*) as operations, coalesce(sum(face_value_pen), 0) as face_value_pen, "
            "coalesce(sum(financed_pen), 0) as financed_pen from report_operations"
        ))).mappings().one()
        return dict(row)
