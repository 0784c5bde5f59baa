"""SQL of the accumulated KPI rebuild (`kpi_monthly`): one row per month of a year."""

from __future__ import annotations

from datetime import date

from sqlalchemy import text

from repositories.factoring_sql import RATE_CALENDAR, RebuildRepository, fx, month_index
from repositories.kpi_daily import INCOME

# The portfolio at each month end is computed from interval events instead of one row per
# (operation, month): an operation is outstanding from the month it is disbursed until the month
# its payments reach the face value ("settled"); it is overdue from the month in which it passes
# OVERDUE_DAYS past due. Each payment lowers the balance from the month it is made until the
# operation settles. Each start adds, each end subtracts, and a running sum per currency over the
# months gives the balances: one pass over operations and payments, however many months.
PORTFOLIO = f"""
live as (
    select o.id, o.currency, o.face_value, {month_index('o.disbursed_on')} as enter_idx,
           {month_index('o.due_on + (:overdue_days + 1)')} as overdue_idx
    from operations o where o.status <> :excluded and o.disbursed_on <= :year_end),
settled as (
    select operation_id, min(paid_on) as settled_on
    from (select p.operation_id, p.paid_on, l.face_value,
                 sum(p.amount) over (partition by p.operation_id order by p.paid_on) as paid_to_date
          from payments p join live l on l.id = p.operation_id where p.paid_on <= :year_end) as running
    where paid_to_date >= face_value
    group by operation_id),
ops as (
    -- an operation settled before the year adds and removes the same amounts before January: its
    -- events (and its payments') sum to exactly zero, so they are not generated at all
    select l.*, greatest(l.enter_idx, l.overdue_idx) as late_idx, {month_index('s.settled_on')} as leave_idx
    from live l left join settled s on s.operation_id = l.id
    where s.settled_on is null or s.settled_on >= make_date(:year, 1, 1)),
pays as (
    select o.currency, o.leave_idx, p.amount, greatest({month_index('p.paid_on')}, o.enter_idx) as paid_idx,
           o.late_idx
    from payments p join ops o on o.id = p.operation_id
    where p.paid_on <= :year_end),
-- operations and payments with the same months contribute the same events: add them up first, so
-- the fan-out below runs over a few thousand groups instead of a million rows (exact: numeric sums)
ops_grouped as (
    select currency, enter_idx, leave_idx, late_idx, sum(face_value) as face_value
    from ops group by 1, 2, 3, 4),
pays_grouped as (
    select currency, leave_idx, paid_idx, late_idx, sum(amount) as amount
    from pays group by 1, 2, 3, 4),
events as (
    select o.currency, e.idx, e.d_out, e.d_late
    from ops_grouped o cross join lateral (values
        (o.enter_idx, o.face_value, 0::numeric), (o.leave_idx, -o.face_value, 0),
        (case when o.late_idx < coalesce(o.leave_idx, 2147483647) then o.late_idx end, 0, o.face_value),
        (case when o.late_idx < coalesce(o.leave_idx, 2147483647) then o.leave_idx end, 0, -o.face_value)
    ) as e(idx, d_out, d_late)
    union all
    select p.currency, e.idx, e.d_out, e.d_late
    from pays_grouped p cross join lateral (values
        (case when p.paid_idx < coalesce(p.leave_idx, 2147483647) then p.paid_idx end, -p.amount, 0::numeric),
        (case when p.paid_idx < coalesce(p.leave_idx, 2147483647) then p.leave_idx end, p.amount, 0),
        (case when greatest(p.paid_idx, p.late_idx) < coalesce(p.leave_idx, 2147483647)
              then greatest(p.paid_idx, p.late_idx) end, 0, -p.amount),
        (case when greatest(p.paid_idx, p.late_idx) < coalesce(p.leave_idx, 2147483647) then p.leave_idx end,
         0, p.amount)
    ) as e(idx, d_out, d_late)),
deltas as (
    -- everything that happened before the year is carried into January
    select currency, greatest(idx, :year * 12) as idx, sum(d_out) as d_out, sum(d_late) as d_late
    from events where idx is not null and idx < :year * 12 + 12
    group by 1, 2),
portfolio as (
    select m.month, sum(d.d_out * {fx('d.currency', 'rc.sell')}) as outstanding,
           sum(d.d_late * {fx('d.currency', 'rc.sell')}) as overdue
    from months m
    join deltas d on d.idx <= m.idx
    left join rate_calendar rc on rc.day = m.month_end
    group by m.month)"""


class KpiMonthlyRepository(RebuildRepository):
    """Replaces the twelve `kpi_monthly` rows of a year."""

    async def usd_dates_needed(self, year: int, excluded: str) -> date | None:
        """The earliest date of the year on which a counted USD amount must be converted."""
        return (await self.session.execute(text("""
            select least(
                (select min(o.disbursed_on) from operations o where o.currency = 'USD' and o.status <> :excluded
                   and o.disbursed_on between make_date(:year, 1, 1) and make_date(:year, 12, 31)),
                (select min(p.paid_on) from payments p join operations o on o.id = p.operation_id
                 where o.currency = 'USD' and o.status <> :excluded
                   and p.paid_on between make_date(:year, 1, 1) and make_date(:year, 12, 31)),
                -- the first month end at which a USD operation can be outstanding
                (select case when min(o.disbursed_on) is not null then
                        (date_trunc('month', greatest(min(o.disbursed_on), make_date(:year, 1, 1)))
                         + interval '1 month - 1 day')::date end
                 from operations o where o.currency = 'USD' and o.status <> :excluded
                   and o.disbursed_on <= make_date(:year, 12, 31)))
        """), {"year": year, "excluded": excluded})).scalar_one()

    async def delete_year(self, year: int) -> int:
        """Remove the year's rows (the new ones are inserted in the same transaction)."""
        result = await self.session.execute(text("delete from kpi_monthly where year = :year"), {"year": year})
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def insert_year(self, year: int, *, excluded: str, day_count: int, overdue_days: int) -> int:
        """Insert the twelve month rows of `year`."""
        result = await self.session.execute(text(f"""
            with {RATE_CALENDAR},
            months as (
                select m as month, (make_date(:year, m, 1) + interval '1 month - 1 day')::date as month_end,
                       :year * 12 + m - 1 as idx
                from generate_series(1, 12) as m),
            placed as (
                select extract(month from o.disbursed_on)::int as month, count(*) as n,
                       round(sum(o.face_value * {fx('o.currency', 'rc.sell')}), 2) as placements,
                       round(sum(o.face_value * o.advance_pct / 100 * {fx('o.currency', 'rc.sell')}), 2) as financed,
                       round(sum(({INCOME}) * {fx('o.currency', 'rc.sell')}), 2) as income
                from operations o
                left join rate_calendar rc on o.currency = 'USD' and rc.day = o.disbursed_on
                where o.status <> :excluded and o.disbursed_on between make_date(:year, 1, 1) and :year_end
                group by 1),
            collected as (
                select extract(month from p.paid_on)::int as month,
                       round(sum(p.amount * {fx('o.currency', 'rc.sell')}), 2) as collections
                from payments p
                join operations o on o.id = p.operation_id
                left join rate_calendar rc on o.currency = 'USD' and rc.day = p.paid_on
                where o.status <> :excluded and p.paid_on between make_date(:year, 1, 1) and :year_end
                group by 1),
            {PORTFOLIO},
            rows as (
                select m.month, coalesce(pl.n, 0) as n, coalesce(pl.placements, 0) as placements,
                       coalesce(pl.financed, 0) as financed, coalesce(pl.income, 0) as income,
                       coalesce(co.collections, 0) as collections,
                       round(coalesce(po.outstanding, 0), 2) as outstanding, round(coalesce(po.overdue, 0), 2) as overdue
                from months m
                left join placed pl on pl.month = m.month
                left join collected co on co.month = m.month
                left join portfolio po on po.month = m.month)
            insert into kpi_monthly (year, month, placements_count, placements_pen, financed_pen, expected_income_pen,
                                     collections_pen, ytd_placements_count, ytd_placements_pen, ytd_financed_pen,
                                     ytd_expected_income_pen, ytd_collections_pen, outstanding_pen, overdue_30_pen,
                                     delinquency_ratio)
            select :year, month, n, placements, financed, income, collections,
                   sum(n) over ytd, sum(placements) over ytd, sum(financed) over ytd, sum(income) over ytd,
                   sum(collections) over ytd, outstanding, overdue,
                   case when outstanding > 0 then round(overdue / outstanding, 6) else 0 end
            from rows
            window ytd as (order by month)
        """), {"year": year, "year_end": date(year, 12, 31), "excluded": excluded, "day_count": day_count,
               "overdue_days": overdue_days, "rates_until": date(year, 12, 31)})
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
