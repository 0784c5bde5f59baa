"""GET /tasks/stats: workers (bounded inspect), queue lengths (Redis) and run counts (registry)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from background.schemas.runs import Stats, WorkerStats
from config.repository_factory import RepositoryFactory
from repositories.task_runs import TaskRunRepository
from services.runs.workers import WorkerControl

WINDOW = timedelta(hours=24)


class QueueLengths:
    """LLEN of every known queue in one pipelined round trip."""

    def __init__(self, client: aioredis.Redis, queues: list[str]) -> None:
        self._client = client
        self.queues = queues

    async def read(self) -> dict[str, int | None]:
        """Messages waiting per queue; None for every queue when Redis does not answer."""
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for queue in self.queues:
                    pipe.llen(queue)
                lengths = await pipe.execute()
        except (RedisError, OSError):
            return dict.fromkeys(self.queues)
        return {queue: int(length) for queue, length in zip(self.queues, lengths, strict=True)}


class StatsService:
    """Gathers the three sources concurrently; the worker part is bounded and cached by WorkerControl."""

    def __init__(self, repositories: RepositoryFactory, workers: WorkerControl, queues: QueueLengths) -> None:
        self._repositories = repositories
        self._workers = workers
        self._queues = queues

    async def _counts(self) -> dict[str, int]:
        async with self._repositories.autocommit() as uow:
            return await uow.repo(TaskRunRepository).counts_by_status(datetime.now(UTC) - WINDOW)

    async def stats(self) -> Stats:
        """The stats document."""
        snapshot, queues, counts = await asyncio.gather(self._workers.snapshot(), self._queues.read(),
                                                        self._counts())
        return Stats(
            success=True,
            generated_at=datetime.now(UTC).isoformat(),
            workers=WorkerStats(
                online=snapshot.online,
                active=sum(w.active for w in snapshot.workers),
                processed=sum(w.processed for w in snapshot.workers),
                details=snapshot.workers,
                error=snapshot.error,
            ),
            queues=queues,
            runs_last_24h=counts,
        )


def known_queues(default_queue: str, declared: list[str]) -> list[str]:
    """The default queue and every queue a task declared, sorted, without duplicates."""
    return sorted({default_queue, *declared})
