"""toolbox.kpi_acumulado: rebuild the monthly KPIs of a year with year-to-date sums and portfolio figures."""

from background.processors.progress import Progress
from config.celery_config import celery_app
from config.repository_factory import RepositoryFactory
from services.factoring.kpi import rebuild_monthly
from services.factoring.params import OptionalYear
from services.factoring.rules import today


# Nightly, after toolbox.kpi; without a year it rebuilds the current one.
@celery_app.task(name="toolbox.kpi_acumulado", single_run=True, schedule="0 2 * * *")
async def kpi_acumulado(repositories: RepositoryFactory, progress: Progress, year: OptionalYear = None) -> dict[str, object]:
    """Rebuild the twelve monthly KPI rows of a year: month KPIs, YTD sums, outstanding and delinquency."""
    return await rebuild_monthly(repositories, progress, year or today().year)
