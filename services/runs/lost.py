"""Finding and re-sending runs whose message the broker lost.

Kombu's Redis transport takes a message off the queue and records it as unacknowledged in two
steps; a broker connection lost between them loses the message, and the run would stay
PENDING for ever. A run is taken as lost when it is still PENDING in the registry after a grace
period, no worker ever reported on it (no result-backend entry), it is not revoked, and its id
is neither in a queue nor among the unacknowledged messages. It is then sent again under the
same id, with the parameters recorded at launch.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from celery import Celery

from background.processors.broker_contents import ids_in_broker
from background.processors.revocations import is_revoked
from config.redis_keys import RESULT_META_PREFIX
from config.repository_factory import RepositoryFactory
from repositories.task_runs import TaskRunRepository
from schemas.progress import ProgressReporter


async def redeliver_lost(app: Celery, repositories: RepositoryFactory, progress: ProgressReporter, older_than_s: int,
                         limit: int) -> dict[str, Any]:
    """Re-send lost runs; returns what was checked and what was sent again."""
    cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
    async with repositories.unit_of_work() as uow:
        candidates = await uow.repo(TaskRunRepository).stale_pending(cutoff, limit)
    progress.update(0, 2, f"{len(candidates)} runs pending since before {cutoff.isoformat()}")
    if not candidates:
        return {"checked": 0, "redelivered": []}
    client = app.backend.client
    queues = {queue.name for queue in app.conf.task_queues or []} | {app.conf.task_default_queue}
    in_broker = ids_in_broker(client, queues)
    redelivered: list[str] = []
    for run in candidates:
        task_id = run["task_id"]
        if task_id in in_broker or client.exists(RESULT_META_PREFIX + task_id) or is_revoked(client, task_id):
            continue
        task = app.tasks.get(run["task_name"])
        if task is None:
            continue  # a task no longer discovered cannot be sent again; it stays visible as PENDING
        task.apply_async(kwargs=run["params"] or {}, task_id=task_id)
        redelivered.append(task_id)
    progress.update(2, 2, f"{len(redelivered)} runs sent again")
    return {"checked": len(candidates), "redelivered": redelivered}
