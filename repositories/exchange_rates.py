"""SQL for USD/PEN exchange rates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import text

from repositories.base import BaseRepository


@dataclass(frozen=True, slots=True)
class RateRow:
    """One published rate."""

    rate_date: date
    buy: Decimal
    sell: Decimal


class ExchangeRateRepository(BaseRepository):
    """Reads and upserts `exchange_rates`."""

    async def earliest_date(self) -> date | None:
        """The first date with a stored rate, or None when there is none."""
        earliest: date | None = (await self.session.execute(text("select min(rate_date) from exchange_rates"))).scalar_one()
        return earliest

    async def upsert(self, rows: list[RateRow], source: str) -> tuple[int, int]:
        """Insert new dates, update changed ones; (inserted, updated). Unchanged rows are not touched."""
        if not rows:
            return 0, 0
        result = await self.session.execute(text("""
            with up as (
                insert into exchange_rates as e (rate_date, buy, sell, source)
                select d, b, s, :source
                from unnest(cast(:dates as date[]), cast(:buys as numeric[]), cast(:sells as numeric[])) as t(d, b, s)
                on conflict (rate_date) do update
                    set buy = excluded.buy, sell = excluded.sell, source = excluded.source, updated_at = now()
                    where (e.buy, e.sell) is distinct from (excluded.buy, excluded.sell)
                returning (xmax = 0) as inserted)
            select count(*) filter (where inserted), count(*) filter (where not inserted) from up
        """), {"dates": [r.rate_date for r in rows], "buys": [r.buy for r in rows],
               "sells": [r.sell for r in rows], "source": source})
        inserted, updated = result.one()
        return int(inserted), int(updated)
