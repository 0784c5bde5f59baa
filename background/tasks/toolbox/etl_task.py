"""toolbox.etl: load CSV extracts from the ETL inbox into clients, debtors, operations and payments."""

from background.processors.progress import Progress
from config.celery_config import celery_app
from config.repository_factory import RepositoryFactory
from services.factoring.etl import run_etl
from services.factoring.params import BatchName


# Through the working day: extracts land in the inbox during business hours (Lima time).
@celery_app.task(name="toolbox.etl", single_run=True, schedule="0 7-19/2 * * 1-6")
async def etl(repositories: RepositoryFactory, progress: Progress, batch: BatchName = None) -> dict[str, object]:
    """Load a batch folder of CSV extracts (default: every pending batch); bad lines go to etl_rejects.

    Idempotent: reloading a batch inserts and updates nothing. Per file: loaded, updated, rejected.
    """
    return await run_etl(repositories, progress, batch)
