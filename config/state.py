"""What the API process builds at start-up (FastAPI lifespan) and disposes of at shutdown."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from sqlalchemy.ext.asyncio import AsyncEngine

from background.processors.base import BaseProcessor
from background.processors.publisher import TaskPublisher
from background.processors.results import ResultReader
from background.processors.single_run import AsyncSingleRunLock
from config.database import build_engine, create_pool
from config.repository_factory import RepositoryFactory
from config.settings import Settings
from repositories.run_registry import RunRegistry
from services.auth import TokenService
from services.idempotency import IdempotentLaunches
from services.run_event_hub import RunEventHub
from services.run_events import RunEventService
from services.schedules import ScheduleService
from services.single_run import SingleRunGuard
from services.task_runs import TaskRunService


@dataclass
class AppState:
    """Engine, Redis client and the services built on them; one per API process."""

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
    hub_redis: aioredis.Redis

    async def close(self) -> None:
        await self.hub.close()
        await self.redis.aclose()
        await self.hub_redis.aclose()
        await self.pool.close()
        await self.engine.dispose()


def build_hub_redis(settings: Settings) -> aioredis.Redis:
    """The client of the run-event hub's one pub/sub connection (services.run_event_hub).

    No retry: a reconnected subscription would have missed messages, so a failure reaches the
    followers instead. No connection-level health check either: its PING would read the reply
    on the connection the hub's reader task is reading; the hub pings an idle connection itself.
    """
    timeout = settings.redis.socket_timeout_s
    return aioredis.Redis.from_url(
        settings.redis.url, socket_timeout=timeout, socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0), max_connections=4, health_check_interval=0,
    )


def build_redis(settings: Settings) -> aioredis.Redis:
    """An asyncio Redis client that gives up quickly: the API answers 503 rather than hang."""
    timeout = settings.redis.socket_timeout_s
    return aioredis.Redis.from_url(
        settings.redis.url, socket_timeout=timeout, socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1), max_connections=256, health_check_interval=30,
    )


async def build_state(settings: Settings, processor: BaseProcessor) -> AppState:
    """Called inside the running event loop (lifespan), never at import."""
    from config.celery_config import celery_app

    engine = build_engine(settings.database, pre_ping=False)
    pool = await create_pool(settings.database)
    client = build_redis(settings)
    repositories = RepositoryFactory(engine)
    results = ResultReader(client)
    single_run = SingleRunGuard(AsyncSingleRunLock(client), repositories, results)
    runs = TaskRunService(RunRegistry(pool), TaskPublisher(celery_app, client, settings.redis.publish_timeout_s),
                          results, single_run)
    schedules = ScheduleService.build(settings, processor, client, repositories)
    hub_client = build_hub_redis(settings)
    hub = RunEventHub(hub_client, settings.redis.socket_timeout_s)
    events = RunEventService(client, hub, runs, settings.celery.result_expires_s)
    return AppState(settings=settings, engine=engine, redis=client, repositories=repositories,
                    processor=processor, tokens=TokenService(settings.auth), runs=runs, schedules=schedules, pool=pool,
                    idempotency=IdempotentLaunches(client, runs),
                    events=events, hub=hub, hub_redis=hub_client)
