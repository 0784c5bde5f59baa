"""Per-process runtime for task bodies: one event loop and one engine per worker process.

Built lazily on first use and keyed by PID, so neither a loop nor a pooled connection ever
crosses a fork (prefork children build their own) or an event loop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

from config.database import build_engine
from config.repository_factory import RepositoryFactory
from config.settings import get_settings

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

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine to completion on this process's loop."""
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        """Dispose of the engine and close the loop."""
        try:
            self.loop.run_until_complete(self.repositories.engine.dispose())
        finally:
            self.loop.close()


async def _make_engine(settings: Any) -> Any:
    return build_engine(settings, pooled=True)


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
