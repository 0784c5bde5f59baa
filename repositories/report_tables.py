"""SQL of the operation report rebuild (`report_operations`)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import text

from repositories.factoring_sql import RATE_CALENDAR, RebuildRepository, by_id_ranges, money, pen_cents

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

    async def _select(self, *, excluded: str, rates_until: date) -> tuple[str, dict[str, Any]]:
        """The select of one row per counted operation with :id_lo <= id <= :id_hi (columns `COLUMNS`), PEN
        amounts at the disbursement date's rate, and its parameters (but the id range's)."""
        # The rate calendar as a value passed with the statement: the `sell` of each day from the first
        # stored rate on, in ten-thousandths (numeric(10, 4): exact as a bigint), looked up by the day's
        # place in the array. A bigint array's element is found by its offset, where a join with the
        # calendar (as a CTE or a table) costs a hash probe per operation; a value, not a subquery,
        # which as an InitPlan would keep the branches from running in parallel workers.
        first_day, sells = (await self.session.execute(text(
            f"with {RATE_CALENDAR} select min(day), array_agg(cast(sell * 10000 as bigint) order by day) "
            "from rate_calendar"), {"rates_until": rates_until})).one()
        params: dict[str, Any] = {"excluded": excluded, "first_day": first_day, "sells": sells or []}
        # null for a day before the first rate: no USD operation has one (ensure_rates)
        sell = "(cast(:sells as bigint[]))[o.disbursed_on - cast(:first_day as date) + 1] * 0.0001"
        return f"""
            with paid as (select operation_id, sum(amount) as total, max(paid_on) as last_on
                          from payments where operation_id between :id_lo and :id_hi group by operation_id)
            select o.id, o.code, c.name as client_name, d.name as debtor_name, o.currency, o.face_value,
                   {pen_cents('o.face_value', 'o.currency', sell)},
                   -- x / 100 as x * 0.01: the same exact value (numeric), without a numeric division per row
                   {money(f"o.face_value * o.advance_pct * (case when o.currency = 'USD' then {sell} * 0.01 else 0.01 end)")},
                   o.disbursed_on, o.due_on, o.due_on - o.disbursed_on, o.status,
                   coalesce({money('p.total')}, {money('0')}), p.last_on
            from operations o
            join clients c on c.id = o.client_id
            join debtors d on d.id = o.debtor_id
            left join paid p on p.operation_id = o.id
            where o.status <> :excluded and o.id between :id_lo and :id_hi""", params

    async def build_all(self, *, excluded: str, rates_until: date) -> int:
        """Create the build copy of `report_operations` (see `create_build_as`) with one row per counted
        operation (see `_select`); the row count."""
        select, params = await self._select(excluded=excluded, rates_until=rates_until)
        return await self.create_build_as("report_operations", COLUMNS, by_id_ranges(select, await self.id_ranges(),
                                                                                     params), params, writer=True)

    async def stage_changes(self, *, excluded: str, rates_until: date, cap: int) -> int:
        """Create the temporary table `report_changes`: the rows of `_select` that the table does not hold
        as they are (new or different), and the ids of the table's rows that are not among them as they are
        (`old_id`: gone or different, `operation_id` null for a row that is gone); its row count.

        The comparison runs in the workers, branch by branch (`by_id_ranges`), so only the changes reach
        this process: on a day's batch that is a few rows, where a rebuild writes and indexes every row.
        At most `cap` rows: the workers stop once this process has them (the caller then rebuilds).
        """
        select, params = await self._select(excluded=excluded, rates_until=rates_until)
        fresh, old = ", ".join(f"f.{c}" for c in COLUMNS), ", ".join(f"r.{c}" for c in COLUMNS)
        changes = f"""
            select f.*, r.operation_id as old_id
            from ({await self.typed("report_operations", COLUMNS, select)}) as f
            full join (select * from report_operations where operation_id between :id_lo and :id_hi) as r
              on r.operation_id = f.operation_id
            where row({fresh}) is distinct from row({old})"""
        await self.session.execute(text("drop table if exists report_changes"))
        params["cap"] = cap
        return await self.create_table_as(
            "report_changes", by_id_ranges(changes, await self.id_ranges(), params) + "\nlimit :cap", params, temp=True)

    async def apply_changes(self) -> tuple[int, int]:
        """Delete the table's rows that `report_changes` replaces or drops, insert its new rows; (deleted,
        inserted). Deleted first: a code moving to another operation id never meets itself."""
        deleted = await self.session.execute(text(
            "delete from report_operations r using report_changes c where r.operation_id = c.old_id"))
        columns = ", ".join(COLUMNS)
        inserted = await self.session.execute(text(
            f"insert into report_operations ({columns}) select {columns} from report_changes "
            "where operation_id is not null"))
        return int(deleted.rowcount or 0), int(inserted.rowcount or 0)  # type: ignore[attr-defined]

    async def totals(self) -> dict[str, Any]:
        """Row count and PEN sums of the table, for the task result."""
        row = (await self.session.execute(text(
            "select count(*) as operations, coalesce(sum(face_value_pen), 0) as face_value_pen, "
            "coalesce(sum(financed_pen), 0) as financed_pen from report_operations"
        ))).mappings().one()
        return dict(row)
