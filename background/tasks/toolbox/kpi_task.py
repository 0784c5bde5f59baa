"""toolbox.kpi: rebuild the daily KPI table for a date range."""

from background.processors.progress import Progress
from config.celery_config import celery_app
from config.repository_factory import RepositoryFactory
from services.factoring.kpi import rebuild_daily
from services.factoring.params import DateFrom, DateTo


# Nightly, after the last ETL of the day and before the morning reports.
@celery_app.task(name="toolbox.kpi", single_run=True, schedule="30 1 * * *")
async def kpi(repositories: RepositoryFactory, progress: Progress,
              date_from: DateFrom = None, date_to: DateTo = None) -> dict[str, object]:
    """Rebuild daily KPIs (placements, financed, expected income, collections in PEN) for a date range.

    Defaults: date_to today (America/Lima), date_from 29 days before date_to (30 days in all).
    """
    return await rebuild_daily(repositories, progress, date_from, date_to)
