"""Per-process runtime for task bodies: one event loop and one engine per worker process.

Beside the engine of the task bodies, a small asyncpg pool records each run's start and end in
the registry (repositories/run_registry.py).

Built lazily on first use and keyed by PID, so neither a loop nor a pooled connection ever
crosses a fork (prefork children build their own) or an event loop.

A prefork or solo worker runs one task at a time in its main thread, which drives the loop itself.
A threads pool runs several task bodies at once in threads of one process: there the loop runs in a
thread of its own and every pool thread hands its coroutines to it, so all of them share one engine
and one pool instead of fighting over a loop that only one thread may run.
"""

from __future__ import annotations

import asyncio
import os
import threading
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
        self._loop_thread: threading.Thread | None = None
        if threading.current_thread() is not threading.main_thread():
            # First used from a pool thread: a threads pool (see the module docstring).
            self._loop_thread = threading.Thread(target=self.loop.run_forever, name="toolbox-runtime-loop",
                                                 daemon=True)
            self._loop_thread.start()
        settings = get_settings()
        # Built inside the loop so asyncpg binds its connections to this loop only.
        engine = self.run(_make_engine(settings.database))
        self.repositories = RepositoryFactory(engine)
        # Connects on first use; a process runs one task at a time (prerun, body, postrun).
        self._pool = self.run(_make_pool(settings.database))
        self.run_states = RunStateWriter(self._pool)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine to completion on this process's loop."""
        if self._loop_thread is None:
            return self.loop.run_until_complete(coro)
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        """Dispose of the engine and close the loop."""
        try:
            self.run(self._pool.close())
            self.run(self.repositories.engine.dispose())
        finally:
            if self._loop_thread is not None:
                self.loop.call_soon_threadsafe(self.loop.stop)
                self._loop_thread.join(timeout=5)
            self.loop.close()


async def _make_engine(settings: Any) -> Any:
    return build_engine(settings, pooled=True)


async def _make_pool(settings: Any) -> asyncpg.Pool:
    # Constructed inside the loop: an asyncpg pool binds to the loop running when it is created.
    return await create_pool(settings, max_size=2, application_name="toolbox-worker")


_runtime: WorkerRuntime | None = None
_runtime_lock = threading.Lock()  # pool threads of a threads pool may ask for it at once


def get_runtime() -> WorkerRuntime:
    """This process's runtime, created on first call (and again after a fork)."""
    global _runtime
    runtime = _runtime
    if runtime is not None and runtime.pid == os.getpid():
        return runtime
    with _runtime_lock:
        if _runtime is None or _runtime.pid != os.getpid():
            _runtime = WorkerRuntime()
        return _runtime


def close_runtime() -> None:
    """Dispose of this process's runtime, if it has one."""
    global _runtime
    if _runtime is not None and _runtime.pid == os.getpid():
        _runtime.close()
    _runtime = None
