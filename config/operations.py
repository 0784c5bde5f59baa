"""The operator services of one API process (history, revoke/retry, stats, metrics), built at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from background.processors.revocations import RevocationStore
from config.state import AppState
from services.audit import AuditService
from services.bulk_runs import BulkRunService
from services.metrics import MetricsService, RequestMetrics, TaskCounters
from services.notifications import NotificationService
from services.run_control import RunControlService
from services.run_history import RunHistoryService
from services.stats import QueueLengths, StatsService, known_queues
from services.workers import WorkerControl


@dataclass
class Operations:
    """Services behind /tasks/runs, /tasks/<id>/revoke|retry, /tasks/stats, /metrics and worker readiness."""

    history: RunHistoryService
    control: RunControlService
    stats: StatsService
    workers: WorkerControl
    metrics: MetricsService
    audit: AuditService
    bulk: BulkRunService
    notifications: NotificationService

    async def close(self) -> None:
        await self.metrics.close()
        self.workers.close()


def build_operations(state: AppState, requests: RequestMetrics) -> Operations:
    """Called inside the running lifespan, after the AppState exists."""
    from config.celery_config import celery_app

    settings = state.settings
    declared = [str(entry["queue"]) for entry in state.processor.catalog["available_tasks"].values()]
    declared += [queue.name for queue in celery_app.conf.task_queues or []]
    queues = known_queues(settings.celery.default_queue, declared)
    workers = WorkerControl(celery_app)
    revocations = RevocationStore(state.redis, ttl_s=settings.celery.result_expires_s)
    audit = AuditService(state.repositories)
    control = RunControlService(state.repositories, state.runs, state.processor, revocations, workers,
                                TaskCounters(state.redis), audit, events=state.events)
    metrics = MetricsService(state.redis, requests, queues)
    metrics.start()
    history = RunHistoryService(state.repositories, state.processor)
    return Operations(
        history=history,
        control=control,
        stats=StatsService(state.repositories, workers, QueueLengths(state.redis, queues)),
        workers=workers,
        metrics=metrics,
        audit=audit,
        bulk=BulkRunService(state.repositories, history, control, audit, settings.bulk_max_runs),
        notifications=NotificationService(state.repositories),
    )
