"""Daily and accumulated KPI rebuilds."""

from __future__ import annotations

from datetime import date
from typing import Any

from config.repository_factory import RepositoryFactory
from repositories.exchange_rates import ExchangeRateRepository
from repositories.kpi_daily import KpiDailyRepository
from repositories.kpi_monthly import KpiMonthlyRepository
from schemas.progress import ProgressReporter
from services.factoring.results import jsonable
from services.factoring.rules import DAY_COUNT, EXCLUDED_STATUS, OVERDUE_DAYS, default_range, ensure_rates_from

# `toolbox.kpi` without dates rebuilds the last 30 days up to today: late payments and
# corrections of the past month land in the daily table on the next run.
DEFAULT_KPI_DAYS = 30


async def rebuild_daily(repositories: RepositoryFactory, progress: ProgressReporter,
                        date_from: date | None = None, date_to: date | None = None) -> dict[str, Any]:
    """Replace `kpi_daily` for the days of [date_from, date_to] in one transaction."""
    start, end = default_range(date_from, date_to, DEFAULT_KPI_DAYS)
    async with repositories.unit_of_work() as uow:
        repo = uow.repo(KpiDailyRepository)
        await repo.lock("kpi_daily")
        await repo.tune()
        progress.update(0, 3, "checking exchange rates")
        await ensure_rates_from(start, await uow.repo(ExchangeRateRepository).earliest_date(),
                                lambda: repo.usd_dates_needed(start, end, EXCLUDED_STATUS))
        progress.update(1, 3, f"deleting kpi_daily {start}..{end}")
        deleted = await repo.delete_range(start, end)
        progress.update(2, 3, f"computing kpi_daily {start}..{end}")
        days = await repo.insert_range(start, end, excluded=EXCLUDED_STATUS, day_count=DAY_COUNT)
        totals = await repo.totals(start, end)
    progress.update(3, 3, f"{days} days rebuilt")
    result: dict[str, Any] = jsonable({"date_from": start, "date_to": end, "rows_deleted": deleted, "rows_inserted": days,
                                       **totals})
    return result


async def rebuild_monthly(repositories: RepositoryFactory, progress: ProgressReporter, year: int) -> dict[str, Any]:
    """Replace the twelve `kpi_monthly` rows of `year` in one transaction."""
    async with repositories.unit_of_work() as uow:
        repo = uow.repo(KpiMonthlyRepository)
        await repo.lock("kpi_monthly")
        await repo.tune()
        progress.update(0, 3, "checking exchange rates")
        await ensure_rates_from(date(year, 1, 1), await uow.repo(ExchangeRateRepository).earliest_date(),
                                lambda: repo.usd_dates_needed(year, EXCLUDED_STATUS))
        progress.update(1, 3, f"deleting kpi_monthly {year}")
        deleted = await repo.delete_year(year)
        progress.update(2, 3, f"computing kpi_monthly {year}")
        months = await repo.insert_year(year, excluded=EXCLUDED_STATUS, day_count=DAY_COUNT,
                                        overdue_days=OVERDUE_DAYS)
    progress.update(3, 3, f"{months} months rebuilt")
    return {"year": year, "rows_deleted": deleted, "rows_inserted": months}
