"""Operation report rebuild (`report_operations`)."""

from __future__ import annotations

from typing import Any

from config.repository_factory import RepositoryFactory
from repositories.exchange_rates import ExchangeRateRepository
from repositories.report_tables import ReportTablesRepository
from schemas.progress import ProgressReporter
from services.factoring.results import jsonable
from services.factoring.rules import EXCLUDED_STATUS, ensure_rates, today

# Above this share of the table's rows changed, the whole table is rebuilt and swapped in instead of
# changed in place: fewer rows written than deleted and inserted with their index entries, and no dead rows.
REBUILD_SHARE = 0.1


async def rebuild_report_operations(repositories: RepositoryFactory, progress: ProgressReporter) -> dict[str, Any]:
    """Bring the whole operation report up to date in one transaction.

    A table holding rows is compared with the rows computed now, and only the rows that differ are
    deleted and inserted (a day's batch touches a few operations). An empty table, or one of which more
    than `REBUILD_SHARE` differs, is rebuilt: the new rows go into a build copy that replaces the table
    just before the commit. Either way readers keep reading the old rows, without waiting, until the
    commit; a failure leaves the old table untouched.
    """
    async with repositories.unit_of_work() as uow:
        repo = uow.repo(ReportTablesRepository)
        await repo.lock("report_operations")
        await repo.tune(big_hashes=False)
        progress.update(0, 4, "checking exchange rates")
        first, last = await repo.usd_dates_needed(EXCLUDED_STATUS)
        ensure_rates(first, await uow.repo(ExchangeRateRepository).earliest_date())
        rates_until = last or today()
        progress.update(1, 4, "counting the current report_operations")
        current = await repo.count()
        most = int(current * REBUILD_SHARE)
        changed = None
        if current:
            progress.update(2, 4, "comparing report_operations with its operations")
            changed = await repo.stage_changes(excluded=EXCLUDED_STATUS, rates_until=rates_until, cap=most + 1)
        if changed is not None and changed <= most:
            progress.update(3, 4, f"changing {changed} rows of report_operations")
            deleted, inserted = await repo.apply_changes()
            method = "changed"
        else:
            progress.update(2, 4, "computing report_operations")
            deleted, inserted = current, await repo.build_all(excluded=EXCLUDED_STATUS, rates_until=rates_until)
            progress.update(3, 4, "swapping in the new report_operations")
            await repo.swap_in("report_operations")
            method = "rebuilt"
        progress.update(3, 4, "totalling report_operations")
        totals = await repo.totals()
    progress.update(4, 4, f"{totals['operations']} operations reported")
    result: dict[str, Any] = jsonable({"method": method, "rows_deleted": deleted, "rows_inserted": inserted,
                                       "rows_kept": totals["operations"] - inserted, **totals})
    return result
