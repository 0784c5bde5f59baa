"""toolbox.tablas_reportes: keep the operation-level report table up to date."""

from background.processors.progress import Progress
from config.celery_config import celery_app
from config.repository_factory import RepositoryFactory
from services.factoring.reports import rebuild_report_operations


# Nightly, before the KPI rebuild.
@celery_app.task(name="toolbox.tablas_reportes", single_run=True, schedule="0 1 * * *")
async def tablas_reportes(repositories: RepositoryFactory, progress: Progress) -> dict[str, object]:
    """Bring report_operations up to date: one row per non-cancelled operation with names, PEN amounts, payments.

    Only the rows that differ from the stored ones are deleted and inserted; an empty table, or one of
    which more than a tenth would change, is rebuilt and swapped in."""
    return await rebuild_report_operations(repositories, progress)
