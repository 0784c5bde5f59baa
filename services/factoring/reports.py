"""Operation report rebuild (`report_operations`)."""

from __future__ import annotations

from typing import Any

from config.repository_factory import RepositoryFactory
from repositories.exchange_rates import ExchangeRateRepository
from repositories.report_tables import ReportTablesRepository
from schemas.progress import ProgressReporter
from services.factoring.results import jsonable
from services.factoring.rules import EXCLUDED_STATUS, ensure_rates, today


async def rebuild_report_operations(repositories: RepositoryFactory, progress: ProgressReporter) -> dict[str, Any]:
    """Replace the whole operation report in one transaction.

    The new rows go into a build copy that replaces the table just before the commit: until then
    readers keep reading the old rows, without waiting; a failure leaves the old table untouched.
    """
    async with repositories.unit_of_work() as uow:
        repo = uow.repo(ReportTablesRepository)
        await repo.lock("report_operations")
        await repo.tune(big_hashes=False)
        progress.update(0, 4, "checking exchange rates")
        first, last = await repo.usd_dates_needed(EXCLUDED_STATUS)
        ensure_rates(first, await uow.repo(ExchangeRateRepository).earliest_date())
        progress.update(1, 4, "counting the current report_operations")
        deleted = await repo.count()
        progress.update(2, 4, "computing report_operations")
        inserted = await repo.build_all(excluded=EXCLUDED_STATUS, rates_until=last or today())
        progress.update(3, 4, "swapping in the new report_operations")
        await repo.swap_in("report_operations")
        totals = await repo.totals()
    progress.update(4, 4, f"{inserted} operations reported")
    result: dict[str, Any] = jsonable({"rows_deleted": deleted, "rows_inserted": inserted, **totals})
    return result
