"""A worker started with `--pool threads` runs several task bodies at once in one process.

They share the process's one event loop (background/processors/runtime.py): the registry's start
and end records and an async body's writes must all land, not fail with "this event loop is
already running".
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx

import pytest
from config.embedded import free_port
from support.polling import wait_for_status
from support.processes import start_api, start_worker, stop
from support.scratch_domain import ScratchDomain, scratch_domain

TASKS = {
    "threaded_task.py": '''
"""Scratch tasks written by the test suite."""
import time

from background.processors.progress import Progress
from config.celery_config import celery_app
from config.repository_factory import RepositoryFactory
from repositories.scratch import ScratchRepository


@celery_app.task(name="{domain}.note_slowly", queue="{domain}")
async def note_slowly(repositories: RepositoryFactory, progress: Progress, text: str) -> int:
    """Write one note, holding the run open a moment so runs overlap."""
    import asyncio

    await asyncio.sleep(0.3)
    async with repositories.unit_of_work() as uow:
        await uow.repo(ScratchRepository).add(text)
    progress.update(1, 1, "written")
    return 1


@celery_app.task(name="{domain}.nap", queue="{domain}")
def nap(progress: Progress, seconds: float = 0.3) -> float:
    """Sleep in the pool thread, reporting progress."""
    time.sleep(seconds)
    progress.update(1, 1, "rested")
    return seconds
''',
}

RUNS = 6


@pytest.fixture(scope="module")
def domain() -> Iterator[ScratchDomain]:
    with scratch_domain(TASKS) as created:
        yield created


@pytest.fixture(scope="module")
def threaded_stack(domain: ScratchDomain, servers: dict[str, Any], run_dir: Path) -> Iterator[tuple[str, Path]]:
    env = os.environ.copy()
    log = run_dir / f"{domain.name}-worker.log"
    worker = start_worker(env, log, queues=domain.queue, name=domain.name, pool="threads", concurrency=4)
    port = free_port()
    api = start_api(env, port, run_dir / f"{domain.name}-api.log")
    try:
        yield f"http://127.0.0.1:{port}", log
    finally:
        stop(api)
        stop(worker)


@pytest.fixture
async def client(threaded_stack: tuple[str, Path], mint: Callable[..., str],
                 db: asyncpg.Connection) -> AsyncIterator[httpx.AsyncClient]:
    await db.execute("create table if not exists scratch_notes (id serial primary key, body text not null)")
    async with httpx.AsyncClient(base_url=threaded_stack[0], headers={"Authorization": f"Bearer {mint()}"},
                                 timeout=30) as http:
        yield http
    await db.execute("drop table if exists scratch_notes")


async def test_overlapping_runs_in_a_threads_pool_are_recorded_and_write(
    client: httpx.AsyncClient, db: asyncpg.Connection, threaded_stack: tuple[str, Path]
) -> None:
    launches = [client.post("/tasks/execute/note-slowly", json={"text": f"note {n}"}) for n in range(RUNS)]
    launches += [client.post("/tasks/execute/nap", json={"seconds": 0.3}) for _ in range(RUNS)]
    responses = await asyncio.gather(*launches)
    assert all(r.status_code == 202 for r in responses), [r.text for r in responses]
    ids = [r.json()["task_id"] for r in responses]
    finals = await asyncio.gather(*(wait_for_status(client, task_id, timeout=60) for task_id in ids))
    assert [f["status"] for f in finals] == ["SUCCESS"] * len(ids), finals
    # The registry's end record follows the result by a moment (background/processors/signals.py).
    query = "select status, started_at, finished_at, worker from task_runs where task_id = any($1)"
    deadline = asyncio.get_running_loop().time() + 20
    rows = await db.fetch(query, ids)
    while not all(r["status"] == "SUCCESS" for r in rows) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)
        rows = await db.fetch(query, ids)
    assert len(rows) == len(ids)
    assert all(r["status"] == "SUCCESS" and r["started_at"] and r["finished_at"] and r["worker"] for r in rows), rows
    assert sorted(await db.fetchval("select array_agg(body) from scratch_notes")) == [f"note {n}" for n in range(RUNS)]
    worker_log = threaded_stack[1].read_text()
    assert "run registry write failed" not in worker_log
    assert "already running" not in worker_log
