"""Operation report rebuild (`report_operations`)."""

from __future__ import annotations

from typing import Any

from background.processors.progress import Progress
from config.repository_factory import RepositoryFactory
from repositories.exchange_rates import ExchangeRateRepository
from repositories.report_tables import ReportTablesRepository
from services.factoring.results import jsonable
from services.factoring.rules import EXCLUDED_STATUS, ensure_rates, today


async def rebuild_report_operations(repositories: RepositoryFactory, progress: Progress) -> dict[str, Any]:
    """Replace the whole operation report in one transaction."""
    async with repositories.unit_of_work() as uow:
        repo = uow.repo(ReportTablesRepository)
        await repo.lock("report_operations")
        await repo.tune(big_hashes=False)
        progress.update(0, 3, "checking exchange rates")
        first, last = await repo.usd_dates_needed(EXCLUDED_STATUS)
        ensure_rates(first, await uow.repo(ExchangeRateRepository).earliest_date())
        progress.update(1, 3, "deleting report_operations")
        deleted = await repo.delete_all()
        progress.update(2, 3, "computing report_operations")
        inserted = await repo.insert_all(excluded=EXCLUDED_STATUS, rates_until=last or today())
        totals = await repo.totals()
    progress.update(3, 3, f"{inserted} operations reported")
    return jsonable({"rows_deleted": deleted, "rows_inserted": inserted, **totals})
