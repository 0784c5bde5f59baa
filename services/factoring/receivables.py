"""Receivables snapshot rebuild (`receivables` and the summaries per debtor and per client)."""

from __future__ import annotations

from datetime import date
from typing import Any

from background.processors.progress import Progress
from config.repository_factory import RepositoryFactory
from repositories.exchange_rates import ExchangeRateRepository
from repositories.receivables import ReceivablesRepository
from services.factoring.results import jsonable
from services.factoring.rules import AGING_BUCKETS, EXCLUDED_STATUS, ensure_rates, today


async def rebuild_receivables(repositories: RepositoryFactory, progress: Progress,
                              as_of: date | None = None) -> dict[str, Any]:
    """Replace the snapshot with the receivables at `as_of` (default today) in one transaction."""
    as_of = as_of or today()
    async with repositories.unit_of_work() as uow:
        repo = uow.repo(ReceivablesRepository)
        await repo.lock("receivables")
        await repo.tune(big_hashes=False)
        progress.update(0, 4, "checking exchange rates")
        ensure_rates(await repo.usd_needed(as_of, EXCLUDED_STATUS),
                     await uow.repo(ExchangeRateRepository).earliest_date())
        progress.update(1, 4, "deleting the previous snapshot")
        await repo.delete_all()
        progress.update(2, 4, f"computing receivables at {as_of}")
        rows = await repo.insert_detail(as_of, excluded=EXCLUDED_STATUS, buckets=AGING_BUCKETS)
        progress.update(3, 4, "summarising per debtor and per client")
        await repo.insert_summaries(as_of, buckets=AGING_BUCKETS)
        totals = await repo.totals()
    progress.update(4, 4, f"{rows} receivables at {as_of}")
    return jsonable({"as_of": as_of, "operations": rows, **totals})
