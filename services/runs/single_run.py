"""The API's side of single-run tasks: claim the task's lock before enqueueing, or answer 409."""

from __future__ import annotations

import logging

from redis.exceptions import RedisError

from background.processors.results import ResultReader
from background.processors.single_run import AsyncSingleRunLock
from background.processors.task_base import ToolboxTask
from config.repository_factory import RepositoryFactory
from models.run_state import ENDED_STATES
from repositories.task_runs import TaskRunRepository
from schemas.errors import RedisUnavailableError, SingleRunActiveError

log = logging.getLogger("toolbox.single_run")


class SingleRunGuard:
    """Claims and gives back the single-run lock of a task for a run about to be enqueued."""

    def __init__(self, lock: AsyncSingleRunLock, repositories: RepositoryFactory, results: ResultReader) -> None:
        self._lock = lock
        self._repositories = repositories
        self._results = results

    async def claim(self, task: ToolboxTask, task_id: str) -> None:
        """Hold the lock for `task_id`; SingleRunActiveError naming the active run otherwise."""
        if not task.single_run:
            return
        try:
            holder = await self._lock.acquire(task, task_id, self._ended)
        except (RedisError, OSError) as exc:
            raise RedisUnavailableError("The task broker is unreachable; nothing was enqueued.",
                                         description=f"{type(exc).__name__}: {exc}") from exc
        if holder is not None:
            raise SingleRunActiveError(
                f"{task.name} is already running (run {holder}); it allows one active run at a time.",
                description=f"Follow it at /tasks/status/{holder} and launch again once it has finished.",
            )

    async def release(self, task: ToolboxTask, task_id: str) -> None:
        """Give the lock back for a run that was never enqueued."""
        if not task.single_run:
            return
        try:
            await self._lock.release(task, task_id)
        except (RedisError, OSError):
            # The TTL frees it; the caller is already answering with the original error.
            log.warning("could not release the single-run lock of %s", task.name)

    async def _ended(self, holder: str) -> bool:
        # The result backend sees ends the registry can miss (a killed worker); the registry sees
        # revokes of runs that never reached a worker.
        meta = await self._results.meta(holder)
        if meta is not None and meta.get("status") in ENDED_STATES:
            return True
        async with self._repositories.autocommit() as uow:
            row = await uow.repo(TaskRunRepository).get_status(holder)
        return row is not None and row["status"] in ENDED_STATES
