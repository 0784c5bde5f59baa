"""Scratch tasks for the fault tests, written into a scratch domain (see support.scratch_domain).

`rebuild` replaces the whole `fault_output` table in one transaction (delete, first half, pause,
second half) the way the shipped report rebuilds do, and notes every delivery it gets in
`fault_deliveries` (committed on its own, so a killed delivery still leaves its note). It pauses
only on its first `pause_deliveries` deliveries: the test kills those, the next one runs through.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

TABLES = (
    "create table if not exists fault_output (version text not null, n integer not null)",
    "create table if not exists fault_deliveries (version text not null, pid integer not null, "
    "at timestamptz not null default clock_timestamp())",
)
DROP = "drop table if exists fault_output, fault_deliveries"

SOURCE = '''
"""Tasks the fault tests kill, starve of their database and race."""
import asyncio
import os
from typing import Annotated

from pydantic import Field
from sqlalchemy import text

from background.processors.progress import Progress
from config.celery_config import celery_app
from config.repository_factory import RepositoryFactory
from repositories.base import BaseRepository


class FaultRepository(BaseRepository):
    """SQL of the scratch tables (created and dropped by the tests)."""

    async def note_delivery(self, version: str) -> int:
        await self.session.execute(text("insert into fault_deliveries (version, pid) values (:v, :pid)"),
                                   {"v": version, "pid": os.getpid()})
        found = await self.session.execute(text("select count(*) from fault_deliveries where version = :v"),
                                           {"v": version})
        return int(found.scalar_one())

    async def clear(self) -> None:
        await self.session.execute(text("delete from fault_output"))

    async def fill(self, version: str, first: int, last: int) -> None:
        await self.session.execute(text("insert into fault_output (version, n) select :v, g "
                                        "from generate_series(cast(:first as integer), cast(:last as integer)) g"),
                                   {"v": version, "first": first, "last": last})


@celery_app.task(name="{domain}.rebuild", queue="{domain}")
async def rebuild(
    repositories: RepositoryFactory,
    progress: Progress,
    version: Annotated[str, Field(min_length=1, max_length=40)],
    rows: Annotated[int, Field(ge=2, le=1_000_000)] = 10_000,
    pause_s: Annotated[float, Field(ge=0, le=120)] = 60,
    pause_deliveries: Annotated[int, Field(ge=0, le=20)] = 1,
) -> dict:
    """Rebuild fault_output as `rows` rows of `version`, in one transaction, pausing half-way."""
    async with repositories.unit_of_work() as uow:
        delivery = await uow.repo(FaultRepository).note_delivery(version)
    async with repositories.unit_of_work() as uow:
        repo = uow.repo(FaultRepository)
        await repo.clear()
        await repo.fill(version, 1, rows // 2)
        progress.update(1, 2, f"pid={os.getpid()} delivery={delivery}")
        if delivery <= pause_deliveries:
            await asyncio.sleep(pause_s)
        await repo.fill(version, rows // 2 + 1, rows)
    progress.update(2, 2, "rebuilt")
    return {"version": version, "rows": rows, "delivery": delivery}


@celery_app.task(name="{domain}.exclusive", queue="{domain}", single_run=True)
async def exclusive(repositories: RepositoryFactory, version: str, hold_s: float = 2.0) -> dict:
    """Note one delivery, then hold the single-run lock for `hold_s` seconds."""
    async with repositories.unit_of_work() as uow:
        delivery = await uow.repo(FaultRepository).note_delivery(version)
    await asyncio.sleep(hold_s)
    return {"version": version, "delivery": delivery}
'''

FILES = {"fault_task.py": SOURCE}


def parent_pid(pid: int) -> int:
    """The parent of a live process, from /proc."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def pid_from_progress(message: str) -> int:
    """The pid a `rebuild` delivery put in its progress message."""
    return int(message.split("pid=", 1)[1].split()[0])


@dataclass
class FaultStack:
    """The fault domain's API and worker (pytest/faults/conftest.py)."""

    url: str
    worker: subprocess.Popen[bytes]
