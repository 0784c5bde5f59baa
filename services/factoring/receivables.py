"""Receivables snapshot rebuild (`receivables` and the summaries per debtor and per client)."""

from __future__ import annotations

from datetime import date
from typing import Any

from config.repository_factory import RepositoryFactory
from repositories.exchange_rates import ExchangeRateRepository
from repositories.receivables import ReceivablesRepository
from schemas.progress import ProgressReporter
from services.factoring.results import jsonable
from services.factoring.rules import AGING_BUCKETS, EXCLUDED_STATUS, ensure_rates, today


async def rebuild_receivables(repositories: RepositoryFactory, progress: ProgressReporter,
                              as_of: date | None = None) -> dict[str, Any]:
    """Replace the snapshot with the receivables at `as_of` (default today) in one transaction.

    The three tables are built as copies that replace them just before the commit: until then
    readers keep reading the old snapshot, without waiting; a failure leaves it untouched.
    """
    as_of = as_of or today()
    async with repositories.unit_of_work() as uow:
        repo = uow.repo(ReceivablesRepository)
        await repo.lock("receivables")
        await repo.tune(big_hashes=False)
        progress.update(0, 5, "checking exchange rates")
        ensure_rates(await repo.usd_needed(as_of, EXCLUDED_STATUS),
                     await uow.repo(ExchangeRateRepository).earliest_date())
        progress.update(1, 5, "creating the build copies of the snapshot")
        builds = await repo.start_builds()
        progress.update(2, 5, f"computing receivables at {as_of}")
        rows = await repo.build_detail(as_of, excluded=EXCLUDED_STATUS, buckets=AGING_BUCKETS)
        progress.update(3, 5, "summarising per debtor and per client")
        totals = await repo.insert_summaries(builds, as_of, buckets=AGING_BUCKETS)
        progress.update(4, 5, "swapping in the new snapshot")
        await repo.swap_all_in()
    progress.update(5, 5, f"{rows} receivables at {as_of}")
    result: dict[str, Any] = jsonable({"as_of": as_of, "operations": rows, **totals})
    return result
