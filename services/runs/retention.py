"""Run retention: the registry keeps runs for a fixed number of days, then forgets them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from config.repository_factory import RepositoryFactory
from repositories.audit_events import AuditRepository
from repositories.notification_deliveries import NotificationDeliveryRepository
from repositories.task_runs import TaskRunRepository
from schemas.progress import ProgressReporter


async def purge_runs(repositories: RepositoryFactory, progress: ProgressReporter, *, older_than_days: int,
                     batch_size: int, dry_run: bool, now: datetime | None = None) -> dict[str, Any]:
    """Delete registry rows submitted more than `older_than_days` ago, in batches of `batch_size`.

    The audit trail and the webhook delivery attempts are kept for the same period: their rows
    older than the cutoff go too. Each batch is its own transaction, so locks stay short and an interrupted purge keeps what it
    did; running it again continues where it stopped.
    """
    cutoff = (now or datetime.now(UTC)) - timedelta(days=older_than_days)
    async with repositories.unit_of_work() as uow:
        due = await uow.repo(TaskRunRepository).count_older_than(cutoff)
    progress.update(0, due, f"{due} runs submitted before {cutoff.isoformat()}")
    deleted = 0
    if not dry_run:
        while True:
            async with repositories.unit_of_work() as uow:
                batch = await uow.repo(TaskRunRepository).delete_batch(cutoff, batch_size)
            deleted += batch
            progress.update(deleted, max(due, deleted), f"{deleted} runs deleted")
            if batch < batch_size:
                break
    audit_due = await _purge_audit(repositories, cutoff, batch_size, dry_run)
    return {"cutoff": cutoff.isoformat(), "older_than_days": older_than_days, "due": due,
            "deleted": deleted, "dry_run": dry_run, "audit_due": audit_due,
            "audit_deleted": 0 if dry_run else audit_due}


async def _purge_audit(repositories: RepositoryFactory, cutoff: datetime, batch_size: int, dry_run: bool) -> int:
    async with repositories.unit_of_work() as uow:
        due = await uow.repo(AuditRepository).count_older_than(cutoff)
    if dry_run:
        return due
    async with repositories.unit_of_work() as uow:
        await uow.repo(NotificationDeliveryRepository).delete_older_than(cutoff)
    deleted = 0
    while True:
        async with repositories.unit_of_work() as uow:
            batch = await uow.repo(AuditRepository).delete_batch(cutoff, batch_size)
        deleted += batch
        if batch < batch_size:
            return deleted
