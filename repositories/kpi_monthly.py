"""SQL of the accumulated KPI rebuild (`kpi_monthly`): one row per month of a year."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import text

from repositories.factoring_sql import (
    INCOME_BEFORE_DIVISION,
    RATE_CALENDAR,
    RebuildRepository,
    by_id_ranges,
    fx,
    month_index,
    pen_by_day,
)

COLUMNS = ("year, month, placements_count, placements_pen, financed_pen, expected_income_pen, collections_pen, "
           "ytd_placements_count, ytd_placements_pen, ytd_financed_pen, ytd_expected_income_pen, ytd_collections_pen, "
           "outstanding_pen, overdue_30_pen, delinquency_ratio")

# The portfolio at each month end, from events instead of one row per (operation, month).
#
# Balance of an operation at a month end: its face value once disbursed, less its payments so far,
# never below zero; it is outstanding while that balance is positive, and overdue too from the
# month in which it passes OVERDUE_DAYS past due. As events per currency and month: +face in the
# disbursement month; -amount in each payment's month (not before the disbursement month); for the
# overdue: +face in the month it turns late, -amount at the later of the payment's month and that.
# A running sum of the events over the months gives the balances: one pass, however many months.
#
# Those plain sums are exact for every operation paid at most its face value: once paid in full
# its events add up to zero. Only an operation paid more than its face value (by the year end)
# would go below zero, so for those few alone the running sum of their payments finds the month L
# in which they reach the face value ("settled"), and corrections cancel what the plain sums do
# from L on: -face at L (at the later of L and the late month, for the overdue) and +amount at the
# later of each payment's month and L (and the late month). No window over all the payments.
#
# The month index of every day of [:months_from, :months_to] (subscript 1 is :months_from), computed
# once per statement (an uncorrelated subquery: an InitPlan, whose value parallel workers receive):
# a subscript per row instead of date_part's four calls, which cost more than the rest of a row's
# work. A day outside the window gets NULL there and its index from date_part.
MONTHS_BY_DAY = (f"(select array_agg({month_index('cast(:months_from as date) + i')} order by i) "
                 "from generate_series(0, cast(:months_to as date) - cast(:months_from as date)) as i)")


def month_idx(day: str) -> str:
    """month_index(day), looked up in MONTHS_BY_DAY when the day is in its window."""
    return f"coalesce({MONTHS_BY_DAY}[{day} - cast(:months_from as date) + 1], {month_index(day)})"


ENTER_IDX = month_idx("o.disbursed_on")
# the month an operation turns late in, and the month it counts as late from (not before it is disbursed)
TURNS_LATE_IDX = month_idx("o.due_on + (:overdue_days + 1)")
LATE_IDX = f"greatest({ENTER_IDX}, {TURNS_LATE_IDX})"

LIVE = f"""
live as not materialized (
    select o.id, o.currency, o.face_value, {ENTER_IDX} as enter_idx, {LATE_IDX} as late_idx
    from operations o where o.status <> :excluded and o.disbursed_on <= :year_end)"""

# One pass over the operations and one over the payments serve both the month KPIs and the
# portfolio: sums per day, currency and the months the events need (a few thousand groups each).
# Payments of operations disbursed after the year only make events after it, which `deltas` drops.
#
# Both passes are split into ranges of operation ids (by_id_ranges), each range summed whole in one
# process, all the branches of both passes in one Parallel Append, so that the processes go from
# one to the next without waiting for a pass to end; the few thousand sums of each range are added
# up after (`kind` tells the passes apart). As one select, the planner, which guesses ~700k groups
# for the payments' keys, sends every joined payment row to one process to sum. The payments pass
# totals each operation's payments too (a second grouping set, in the same pass) and keeps the
# operations paid more than their face value by the year end (few; see PORTFOLIO): `op_id` is null
# on the day sums and names the operation on those. Financed and income are divided once per group
# (INCOME_BEFORE_DIVISION).
#
# Ranges: two for each of PostgreSQL's two parallel workers per query (its default
# max_parallel_workers_per_gather) and two for this backend, which takes its share, the sums being
# small. Each process takes the next range when it finishes one, so ranges of a sixth end closer
# together than thirds (whole tasks alternated on one 1M server: medians 2.32-2.59 s over three sets
# of rounds against 2.77 s with 3; 8 and 9 ranges were slower, medians 2.86 and 2.70 s).
RANGES = 6
OPS_BRANCH = f"""
select 'o' as kind, o.disbursed_on as day, o.currency, null::int as enter_idx, {TURNS_LATE_IDX} as turns_late_idx,
       count(*) as n, sum(o.face_value) as face_value,
       sum(case when o.disbursed_on >= :lo then o.face_value * o.advance_pct end) as financed,
       sum(case when o.disbursed_on >= :lo then {INCOME_BEFORE_DIVISION} end) as income,
       sum(case when o.disbursed_on >= :lo then o.commission end) as commission,
       null::numeric as amount, null::bigint as op_id
from operations o
where o.status <> :excluded and o.disbursed_on <= :year_end and o.id between :id_lo and :id_hi
group by 2, 3, 5"""

PAYS_BRANCH = f"""
select 'p' as kind, p.paid_on as day, o.currency, {ENTER_IDX} as enter_idx, {TURNS_LATE_IDX} as turns_late_idx,
       null::bigint as n, null::numeric as face_value, null::numeric as financed, null::numeric as income,
       null::numeric as commission, sum(p.amount) as amount, o.id as op_id
from payments p join operations o on o.id = p.operation_id
where o.status <> :excluded and p.paid_on <= :year_end
  and o.id between :id_lo and :id_hi and p.operation_id between :id_lo and :id_hi
group by grouping sets ((2, 3, 4, 5), (o.id, o.face_value, o.disbursed_on))
having grouping(o.id) = 1 or (sum(p.amount) > o.face_value and o.disbursed_on <= :year_end)"""


def flows(ranges: Sequence[tuple[int, int]], params: dict[str, Any]) -> str:
    """CTEs `ops_by_day`, `pays_by_day`, `overpaid` (their ids) and those of `pen_by_day`, over `ranges`
    of operation ids (`RebuildRepository.id_ranges`)."""
    # both passes over the same ranges: their :id_lo_N and :id_hi_N are the same parameters
    return f"""
by_branch as materialized (
    {by_id_ranges(OPS_BRANCH, ranges, params)}
    union all
    {by_id_ranges(PAYS_BRANCH, ranges, params)}),
ops_by_day as materialized (
    select day, currency, turns_late_idx, sum(n) as n, sum(face_value) as face_value,
           sum(financed) * 0.01 as financed, sum(income) * 0.01 / :day_count + sum(commission) as income
    from by_branch where kind = 'o'
    group by 1, 2, 3),
pays_by_day as materialized (
    select day, currency, enter_idx, greatest(enter_idx, turns_late_idx) as late_idx, sum(amount) as amount
    from by_branch where kind = 'p' and op_id is null
    group by 1, 2, 3, 4),
overpaid as materialized (select op_id as id from by_branch where kind = 'p' and op_id is not null),
{pen_by_day("ops_by_day", "pays_by_day")}"""


PORTFOLIO = f"""
{LIVE},
paid as not materialized (
    select l.id, l.currency, l.face_value, l.late_idx, p.paid_on, p.amount,
           greatest({month_idx('p.paid_on')}, l.enter_idx) as paid_idx
    from payments p join live l on l.id = p.operation_id
    where p.paid_on <= :year_end),
overpaid_runs as materialized (
    select p.*, sum(p.amount) over (partition by p.id order by p.paid_on) as paid_to_date
    from paid p where p.id in (select id from overpaid)),
settled as (
    select id, currency, face_value, late_idx, {month_index('min(paid_on)')} as leave_idx
    from overpaid_runs where paid_to_date >= face_value
    group by 1, 2, 3, 4),
-- operations and payments with the same months contribute the same events: add them up first
-- (exact: numeric sums), so the events are a few thousand rows
ops_grouped as (
    select currency, {month_index('day')} as enter_idx, greatest({month_index('day')}, turns_late_idx) as late_idx,
           sum(face_value) as face_value
    from ops_by_day group by 1, 2, 3),
pays_grouped as (
    select currency, greatest({month_index('day')}, enter_idx) as paid_idx, late_idx, sum(amount) as amount
    from pays_by_day group by 1, 2, 3),
events as (
    select currency, enter_idx as idx, face_value as d_out, 0::numeric as d_late from ops_grouped
    union all select currency, late_idx, 0, face_value from ops_grouped
    union all select currency, paid_idx, -amount, 0 from pays_grouped
    union all select currency, greatest(paid_idx, late_idx), 0, -amount from pays_grouped
    union all select currency, leave_idx, -face_value, 0 from settled
    union all select currency, greatest(late_idx, leave_idx), 0, -face_value from settled
    union all select r.currency, greatest(r.paid_idx, s.leave_idx), r.amount, 0
              from overpaid_runs r join settled s on s.id = r.id
    union all select r.currency, greatest(r.paid_idx, r.late_idx, s.leave_idx), 0, r.amount
              from overpaid_runs r join settled s on s.id = r.id),
deltas as (
    -- everything that happened before the year is carried into January
    select currency, greatest(idx, :year * 12) as idx, sum(d_out) as d_out, sum(d_late) as d_late
    from events where idx < :year * 12 + 12
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
        earliest: date | None = (await self.session.execute(text("""
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
        return earliest

    async def delete_year(self, year: int) -> int:
        """Remove the year's rows (the new ones are inserted in the same transaction)."""
        result = await self.session.execute(text("delete from kpi_monthly where year = :year"), {"year": year})
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def insert_year(self, year: int, *, excluded: str, day_count: int, overdue_days: int) -> int:
        """Insert the twelve month rows of `year`."""
        params = {"year": year, "year_end": date(year, 12, 31), "lo": date(year, 1, 1), "hi": date(year, 12, 31),
                  "excluded": excluded, "day_count": day_count, "overdue_days": overdue_days,
                  "rates_until": date(year, 12, 31),
                  # the window of MONTHS_BY_DAY: the year, the terms that end in it, the payments after it
                  "months_from": date(year - 4, 1, 1), "months_to": date(year + 1, 12, 31)}
        await self.tune()
        return await self.insert_rows("kpi_monthly", COLUMNS, f"""
            with {RATE_CALENDAR}, {flows(await self.id_ranges(RANGES), params)},
            months as (
                select m as month, (make_date(:year, m, 1) + interval '1 month - 1 day')::date as month_end,
                       :year * 12 + m - 1 as idx
                from generate_series(1, 12) as m),
            placed as (
                select date_part('month', day)::int as month, sum(n) as n, round(sum(placements), 2) as placements,
                       round(sum(financed), 2) as financed, round(sum(income), 2) as income
                from placed_by_day group by 1),
            collected as (
                select date_part('month', day)::int as month, round(sum(collections), 2) as collections
                from collected_by_day group by 1),
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
            select :year, month, n, placements, financed, income, collections,
                   sum(n) over ytd, sum(placements) over ytd, sum(financed) over ytd, sum(income) over ytd,
                   sum(collections) over ytd, outstanding, overdue,
                   case when outstanding > 0 then round(overdue / outstanding, 6) else 0 end
            from rows
            window ytd as (order by month)
        """, params)
