"""toolbox.tablas_reportes: rebuild the operation-level report table."""

from background.processors.progress import Progress
from config.celery_config import celery_app
from config.repository_factory import RepositoryFactory
from services.factoring.reports import rebuild_report_operations


# Nightly, before the KPI rebuild.
@celery_app.task(name="toolbox.tablas_reportes", single_run=True, schedule="0 1 * * *")
async def tablas_reportes(repositories: RepositoryFactory, progress: Progress) -> dict[str, object]:
    """Rebuild report_operations: one row per non-cancelled operation with names, PEN amounts and payments."""
    return await rebuild_report_operations(repositories, progress)
