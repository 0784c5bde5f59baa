"""Per-process runtime for task bodies: one event loop and one engine per worker process.

Beside the engine of the task bodies, a small asyncpg pool records each run's start and end in
the registry (repositories/run_registry.py).

Built lazily on first use and keyed by PID, so neither a loop nor a pooled connection ever
crosses a fork (prefork children build their own) or an event loop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

import asyncpg

from config.database import build_engine, create_pool
from config.repository_factory import RepositoryFactory
from config.settings import get_settings
from repositories.run_registry import RunStateWriter

T = TypeVar("T")


class WorkerRuntime:
    """The event loop and repository factory of one worker process."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        settings = get_settings()
        # Built inside the loop so asyncpg binds its connections to this loop only.
        engine = self.loop.run_until_complete(_make_engine(settings.database))
        self.repositories = RepositoryFactory(engine)
        # Connects on first use; a process runs one task at a time (prerun, body, postrun).
        self._pool = self.loop.run_until_complete(_make_pool(settings.database))
        self.run_states = RunStateWriter(self._pool)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine to completion on this process's loop."""
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        """Dispose of the engine and close the loop."""
        try:
            self.loop.run_until_complete(self._pool.close())
            self.loop.run_until_complete(self.repositories.engine.dispose())
        finally:
            self.loop.close()


async def _make_engine(settings: Any) -> Any:
    return build_engine(settings, pooled=True)


async def _make_pool(settings: Any) -> asyncpg.Pool:
    # Constructed inside the loop: an asyncpg pool binds to the loop running when it is created.
    return await create_pool(settings, max_size=2, application_name="toolbox-worker")


_runtime: WorkerRuntime | None = None


def get_runtime() -> WorkerRuntime:
    """This process's runtime, created on first call (and again after a fork)."""
    global _runtime
    if _runtime is None or _runtime.pid != os.getpid():
        _runtime = WorkerRuntime()
    return _runtime


def close_runtime() -> None:
    """Dispose of this process's runtime, if it has one."""
    global _runtime
    if _runtime is not None and _runtime.pid == os.getpid():
        _runtime.close()
    _runtime = None
