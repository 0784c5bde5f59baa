"""toolbox.tablas_cxc: rebuild the receivables snapshot and its summaries."""

from background.processors.progress import Progress
from config.celery_config import celery_app
from config.repository_factory import RepositoryFactory
from services.factoring.params import AsOf
from services.factoring.receivables import rebuild_receivables


# Nightly snapshot of receivables as of the new day.
@celery_app.task(name="toolbox.tablas_cxc", single_run=True, schedule="30 2 * * *")
async def tablas_cxc(repositories: RepositoryFactory, progress: Progress, as_of: AsOf = None) -> dict[str, object]:
    """Rebuild receivables at a date (default today): balance, days past due, aging bucket, PEN; per debtor and client."""
    return await rebuild_receivables(repositories, progress, as_of)
