"""Exchange-rate sync: fetch a date range from the configured provider and upsert it."""

from __future__ import annotations

from datetime import date
from typing import Any, Protocol

from config.domain_settings import RatesSettings, get_rates_settings
from config.repository_factory import RepositoryFactory
from repositories.exchange_rates import ExchangeRateRepository, RateRow
from schemas.progress import ProgressReporter
from services.factoring.rates_csv import CsvRateProvider
from services.factoring.rates_http import HttpRateProvider
from services.factoring.rules import default_range

DEFAULT_RATE_DAYS = 7


class RateProvider(Protocol):
    """Anything that returns the published rates of a date range."""

    name: str

    async def fetch(self, start: date, end: date) -> list[RateRow]: ...


def provider_from(settings: RatesSettings) -> RateProvider:
    """The provider chosen by `RATES_PROVIDER`."""
    return CsvRateProvider(settings.csv_path) if settings.provider == "csv" else HttpRateProvider(settings)


async def sync_rates(repositories: RepositoryFactory, progress: ProgressReporter, date_from: date | None = None,
                     date_to: date | None = None, provider: RateProvider | None = None) -> dict[str, Any]:
    """Fetch [date_from, date_to] (default: the last 7 days) and upsert; counts of fetched, inserted, updated."""
    start, end = default_range(date_from, date_to, DEFAULT_RATE_DAYS)
    source = provider or provider_from(get_rates_settings())
    progress.update(0, 2, f"fetching rates {start}..{end} from {source.name}")
    rows = await source.fetch(start, end)
    progress.update(1, 2, f"saving {len(rows)} rates")
    async with repositories.unit_of_work() as uow:
        inserted, updated = await uow.repo(ExchangeRateRepository).upsert(rows, source.name)
    progress.update(2, 2, f"{inserted} new and {updated} changed rates")
    return {"date_from": start.isoformat(), "date_to": end.isoformat(), "provider": source.name,
            "fetched": len(rows), "inserted": inserted, "updated": updated,
            "first": min(r.rate_date for r in rows).isoformat() if rows else None,
            "last": max(r.rate_date for r in rows).isoformat() if rows else None}
