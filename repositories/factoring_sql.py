"""SQL fragments shared by the factoring rebuild repositories."""

from __future__ import annotations

from sqlalchemy import text

from repositories.base import BaseRepository

# One row per calendar day from the first stored rate to :rates_until, carrying the latest
# `sell` on or before that day. Built once per statement (a few thousand rows at most) so the
# big tables are converted with a plain hash join on the date, not one index probe per row.
RATE_CALENDAR = """
rate_calendar as materialized (
    select (b.first_day + i)::date as day, r.sell
    from (select min(rate_date) as first_day from exchange_rates) as b
    cross join lateral generate_series(0, greatest(cast(:rates_until as date) - b.first_day, 0)) as i
    cross join lateral (select e.sell from exchange_rates as e where e.rate_date <= (b.first_day + i)::date
                        order by e.rate_date desc limit 1) as r
    where b.first_day is not null
)"""


def fx(currency: str, rate: str) -> str:
    """PEN per unit of the operation's currency: 1 for PEN, the looked-up `sell` for USD."""
    return f"(case when {currency} = 'USD' then {rate} else 1 end)"


def month_index(day: str) -> str:
    """Months since year 0 (year * 12 + month - 1): consecutive integers across years."""
    return f"(extract(year from {day})::int * 12 + extract(month from {day})::int - 1)"


class RebuildRepository(BaseRepository):
    """Base of the repositories that rebuild an output table."""

    async def lock(self, name: str) -> None:
        """Serialise rebuilds of one table: a second run waits for the first to commit."""
        await self.session.execute(text("select pg_advisory_xact_lock(hashtext(:name))"), {"name": name})
