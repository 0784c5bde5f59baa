"""Scratch tasks for the dead-worker tests (written into a scratch domain, see support.scratch_domain).

The short names start with `lost_` so that they never collide with the fault tests' own scratch
tasks (a second domain with the same short name would need the full name). Each task notes every delivery it gets in `lost_deliveries` (committed on its own, so a delivery
whose worker is killed still leaves its note), reports `pid=<n> delivery=<k>` as progress, and
holds for `hold_s` seconds on its first `hold_deliveries` deliveries: the test kills the worker
during that hold, the next delivery runs straight through.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

# What the README promises with the default liveness TTL: a bound on every wait for a redelivery.
REDELIVERY_BOUND_S = 120

TABLE = ("create table if not exists lost_deliveries (label text not null, pid integer not null, "
         "at timestamptz not null default clock_timestamp())")
DROP = "drop table if exists lost_deliveries"

SOURCE = '''
"""Tasks whose worker main process the dead-worker tests SIGKILL."""
import asyncio
import os
from typing import Annotated

from pydantic import Field
from sqlalchemy import text

from background.processors.progress import Progress
from background.processors.runtime import get_runtime
from config.celery_config import celery_app
from config.repository_factory import RepositoryFactory
from repositories.base import BaseRepository

Label = Annotated[str, Field(min_length=1, max_length=40)]
Hold = Annotated[float, Field(ge=0, le=600)]


class LostRepository(BaseRepository):
    """SQL of the scratch table (created and dropped by the tests)."""

    async def note_delivery(self, label: str) -> int:
        await self.session.execute(text("insert into lost_deliveries (label, pid) values (:l, :pid)"),
                                   {"l": label, "pid": os.getpid()})
        found = await self.session.execute(text("select count(*) from lost_deliveries where label = :l"),
                                           {"l": label})
        return int(found.scalar_one())


async def _hold(repositories: RepositoryFactory, progress: Progress, label: str, hold_s: float,
                hold_deliveries: int) -> dict:
    async with repositories.unit_of_work() as uow:
        delivery = await uow.repo(LostRepository).note_delivery(label)
    progress.update(1, 2, f"pid={os.getpid()} delivery={delivery}")
    if delivery <= hold_deliveries:
        await asyncio.sleep(hold_s)
    progress.update(2, 2, "done")
    return {"label": label, "delivery": delivery, "pid": os.getpid()}


@celery_app.task(name="{domain}.lost_hold", queue="{domain}")
async def lost_hold(repositories: RepositoryFactory, progress: Progress, label: Label, hold_s: Hold = 60,
               hold_deliveries: int = 1) -> dict:
    """Hold on the first delivery; safe to run again (the default)."""
    return await _hold(repositories, progress, label, hold_s, hold_deliveries)


@celery_app.task(name="{domain}.lost_exclusive", queue="{domain}", single_run=True)
async def lost_exclusive(repositories: RepositoryFactory, progress: Progress, label: Label, hold_s: Hold = 60,
                    hold_deliveries: int = 1) -> dict:
    """A single-run task that may run again."""
    return await _hold(repositories, progress, label, hold_s, hold_deliveries)


@celery_app.task(name="{domain}.lost_once", queue="{domain}", single_run=True, reject_on_worker_lost=False)
async def lost_once(repositories: RepositoryFactory, progress: Progress, label: Label, hold_s: Hold = 60,
               hold_deliveries: int = 1) -> dict:
    """A single-run task that must not run again after its worker died."""
    return await _hold(repositories, progress, label, hold_s, hold_deliveries)


@celery_app.task(name="{domain}.lost_once_retried", queue="{domain}", reject_on_worker_lost=False,
                 retry_on_worker_lost=True, max_retries=1, default_retry_delay=0)
async def lost_once_retried(label: Label, hold_s: Hold = 60, hold_deliveries: int = 1) -> dict:
    """Not run again as is, but retried once (a Celery retry) when its worker died."""
    # Its helpers are taken, not injected: a Celery retry re-sends the task through the send-time
    # argument check, which (issue 9 point 1) does not yet know about injected parameters.
    return await _hold(get_runtime().repositories, Progress(celery_app.current_task), label, hold_s,
                       hold_deliveries)
'''

FILES = {"lost_worker_task.py": SOURCE}


def progress_pid(message: str) -> int:
    """The pid a delivery put in its progress message."""
    return int(message.split("pid=", 1)[1].split()[0])


async def launch(http: httpx.AsyncClient, task: str, **params: Any) -> str:
    """POST /tasks/execute/<task>; the new run's id (202 expected)."""
    response = await http.post(f"/tasks/execute/{task}", json=params)
    assert response.status_code == 202, response.text
    return str(response.json()["task_id"])


async def holding(http: httpx.AsyncClient, task_id: str, delivery: int = 1) -> int:
    """Wait until the run's `delivery`-th delivery holds; the pid of the pool child running it."""
    deadline = time.monotonic() + 60
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = (await http.get(f"/tasks/status/{task_id}")).json()
        progress = status.get("progress") or {}
        if status["status"] == "PROGRESS" and f"delivery={delivery}" in (progress.get("message") or ""):
            return progress_pid(progress["message"])
        assert not status["ready"], status
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {task_id} never held on delivery {delivery}: {status}")
