"""maintenance.table_stats: row counts and sizes of the database's tables."""

from typing import Annotated

from pydantic import Field

from background.processors.progress import Progress
from config.celery_config import celery_app
from config.repository_factory import RepositoryFactory
from services.maintenance import table_report


@celery_app.task(name="maintenance.table_stats", queue="celery")
async def table_stats(
    repositories: RepositoryFactory,
    progress: Progress,
    schema_name: Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[a-z_][a-z0-9_]*$",
                                      description="PostgreSQL schema whose tables are measured.")] = "public",
    min_rows: Annotated[int, Field(ge=0, description="Leave out tables with fewer rows than this.")] = 0,
) -> dict[str, object]:
    """Count the rows and measure the size of every table in a schema.

    Tables with fewer than `min_rows` rows are left out of the result.
    """
    return await table_report(repositories, progress, schema_name, min_rows)
