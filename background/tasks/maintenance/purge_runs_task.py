"""maintenance.purge_runs: the run registry's retention job, scheduled nightly."""

from typing import Annotated

from pydantic import Field

from background.processors.progress import Progress
from config.celery_config import celery_app
from config.repository_factory import RepositoryFactory
from config.settings import get_settings
from services.runs.retention import purge_runs as purge


@celery_app.task(name="maintenance.purge_runs", single_run=True, schedule="30 3 * * *")
async def purge_runs(
    repositories: RepositoryFactory,
    progress: Progress,
    older_than_days: Annotated[int | None, Field(
        ge=1, le=36500, description="Delete runs submitted more than this many days ago "
                                    "(default: SCHEDULE_RUN_RETENTION_DAYS).")] = None,
    batch_size: Annotated[int, Field(ge=1, le=100_000, description="Rows deleted per statement.")] = 5000,
    dry_run: Annotated[bool, Field(description="Only count the runs that would be deleted.")] = False,
) -> dict[str, object]:
    """Delete runs older than the retention period from the run history.

    `older_than_days` defaults to SCHEDULE_RUN_RETENTION_DAYS (30). Every run submitted before the
    cutoff goes, whatever its status. `dry_run` only counts them.
    """
    days = older_than_days or get_settings().schedules.run_retention_days
    return await purge(repositories, progress, older_than_days=days, batch_size=batch_size, dry_run=dry_run)
