"""maintenance.redeliver_lost: send again the runs whose message the broker lost."""

from typing import Annotated

from pydantic import Field

from background.processors.progress import Progress
from config.celery_config import celery_app
from config.repository_factory import RepositoryFactory
from services.runs.lost import redeliver_lost as find_and_resend


@celery_app.task(name="maintenance.redeliver_lost", single_run=True, schedule="@every 2m")
async def redeliver_lost(
    repositories: RepositoryFactory,
    progress: Progress,
    older_than_s: Annotated[int, Field(ge=1, le=86_400, description="Only runs PENDING for at least this many seconds.")] = 300,
    limit: Annotated[int, Field(ge=1, le=10_000, description="At most this many runs are sent again.")] = 1000,
) -> dict[str, object]:
    """Send again runs still PENDING after `older_than_s` seconds that are in no queue (lost by the broker).

    A run counts as lost only if no worker ever reported on it, it is not revoked, and its id is
    neither queued nor delivered-and-unacknowledged. It is sent again under the same id.
    """
    return await find_and_resend(celery_app, repositories, progress, older_than_s, limit)
