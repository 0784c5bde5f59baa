"""The API's one AppState: what the process builds at start-up (FastAPI lifespan) and disposes of at shutdown.

Routers reach it through the `State` dependency of routers/dependencies.py, never `app.state`.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import redis.asyncio as aioredis
from celery import Celery
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from sqlalchemy.ext.asyncio import AsyncEngine

from background.processors.base import BaseProcessor
from background.processors.publisher import TaskPublisher
from background.processors.results import ResultReader
from background.processors.revocations import RevocationStore
from background.processors.single_run import AsyncSingleRunLock
from background.processors.task_counters import TaskCounters
from config.database import build_engine, create_pool
from config.repository_factory import RepositoryFactory
from config.settings import Settings
from repositories.run_registry import RunRegistry
from routers.request_metrics import RequestMetrics
from services.audit import AuditService
from services.auth import TokenService
from services.metrics import MetricsService
from services.notifications import NotificationService
from services.runs.bulk import BulkRunService
from services.runs.control import RunControlService
from services.runs.event_hub import RunEventHub
from services.runs.events import RunEventService
from services.runs.history import RunHistoryService
from services.runs.idempotency import IdempotentLaunches
from services.runs.scheduling import ScheduleService
from services.runs.single_run import SingleRunGuard
from services.runs.stats import QueueLengths, StatsService, known_queues
from services.runs.task_runs import TaskRunService
from services.runs.workers import WorkerControl


@dataclass
class AppState:
    """Engine, Redis clients and the services built on them; one per API process.

    The operator services (history, revoke/retry, stats, metrics, audit, bulk, notifications)
    come after the launch path's.
    """

    settings: Settings
    engine: AsyncEngine
    redis: aioredis.Redis
    repositories: RepositoryFactory
    processor: BaseProcessor
    tokens: TokenService
    runs: TaskRunService
    schedules: ScheduleService
    pool: asyncpg.Pool
    idempotency: IdempotentLaunches
    events: RunEventService
    hub: RunEventHub
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
        await self.hub.close()
        await self.redis.aclose()
        await self.pool.close()
        await self.engine.dispose()


def build_redis(settings: Settings) -> aioredis.Redis:
    """An asyncio Redis client that gives up quickly: the API answers 503 rather than hang."""
    timeout = settings.redis.socket_timeout_s
    return aioredis.Redis.from_url(
        settings.redis.url, socket_timeout=timeout, socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1), max_connections=256, health_check_interval=30,
    )


async def build_state(settings: Settings, processor: BaseProcessor, celery_app: Celery,
                      requests: RequestMetrics) -> AppState:
    """Called inside the running event loop (lifespan), never at import."""
    engine = build_engine(settings.database, pre_ping=False)
    pool = await create_pool(settings.database)
    client = build_redis(settings)
    repositories = RepositoryFactory(engine, outages_as_errors=True)
    results = ResultReader(client)
    single_run = SingleRunGuard(AsyncSingleRunLock(client), repositories, results)
    registry = RunRegistry(pool)
    processor.read_runs_from(registry, results)
    runs = TaskRunService(registry, TaskPublisher(celery_app, client, settings.redis.publish_timeout_s),
                          processor, single_run)
    schedules = ScheduleService.build(settings, processor, client, repositories)
    hub = RunEventHub(settings.redis.url, settings.redis.socket_timeout_s)
    events = RunEventService(client, hub, runs, settings.celery.result_expires_s)

    declared = [str(entry["queue"]) for entry in processor.catalog["available_tasks"].values()]
    declared += [queue.name for queue in celery_app.conf.task_queues or []]
    queues = known_queues(settings.celery.default_queue, declared)
    workers = WorkerControl(celery_app)
    revocations = RevocationStore(client, ttl_s=settings.celery.result_expires_s)
    audit = AuditService(repositories)
    control = RunControlService(repositories, runs, processor, revocations, workers,
                                TaskCounters(client), audit, events=events)
    metrics = MetricsService(client, requests, queues)
    metrics.start()
    history = RunHistoryService(repositories, processor)
    return AppState(settings=settings, engine=engine, redis=client, repositories=repositories,
                    processor=processor, tokens=TokenService(settings.auth), runs=runs, schedules=schedules, pool=pool,
                    idempotency=IdempotentLaunches(client, runs), events=events, hub=hub,
                    history=history, control=control,
                    stats=StatsService(repositories, workers, QueueLengths(client, queues)), workers=workers,
                    metrics=metrics, audit=audit,
                    bulk=BulkRunService(repositories, history, control, audit, settings.bulk_max_runs),
                    notifications=NotificationService(repositories))
