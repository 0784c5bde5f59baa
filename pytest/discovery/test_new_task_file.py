"""Dropping a task file into a new domain folder is all it takes."""

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
    "notes_task.py": '''
"""Scratch tasks written by the test suite."""
from typing import Annotated
from enum import Enum
from datetime import date

from pydantic import Field

from background.processors.progress import Progress
from config.celery_config import celery_app
from config.repository_factory import RepositoryFactory
from repositories.scratch import ScratchRepository


class Mood(str, Enum):
    happy = "happy"
    grumpy = "grumpy"


@celery_app.task(name="{domain}.write_note", queue="{domain}")
async def write_note(
    repositories: RepositoryFactory,
    progress: Progress,
    text: Annotated[str, Field(min_length=1, max_length=50)],
    mood: Mood = Mood.happy,
    on: date | None = None,
    fail_after_write: bool = False,
) -> dict:
    """Write one note into the scratch table, then maybe fail.

    Failing after the write proves the run's session is rolled back.
    """
    async with repositories.unit_of_work() as uow:
        await uow.repo(ScratchRepository).add(f"{text}:{mood.value}:{on.isoformat() if on else '-'}")
        progress.update(1, 2, "written")
        if fail_after_write:
            raise RuntimeError("failing on purpose after the write")
    progress.update(2, 2, "done")
    async with repositories.unit_of_work() as uow:
        return {"notes": await uow.repo(ScratchRepository).count()}


@celery_app.task(name="{domain}.steps", queue="{domain}")
def steps(progress: Progress, steps: Annotated[int, Field(ge=1, le=50)], pause_s: float = 0.1) -> int:
    """Walk through `steps` steps, reporting progress after each."""
    import time

    for step in range(1, steps + 1):
        time.sleep(pause_s)
        progress.update(step, steps, f"step {step} of {steps}")
    return steps


@celery_app.task(name="{domain}.add", queue="{domain}")
def add(a: int, b: int = 1) -> int:
    """Add two integers (a plain sync task)."""
    return a + b
''',
}


@pytest.fixture(scope="module")
def domain() -> Iterator[ScratchDomain]:
    with scratch_domain(TASKS) as created:
        yield created


@pytest.fixture(scope="module")
def scratch_stack(domain: ScratchDomain, servers: dict[str, Any], run_dir: Path) -> Iterator[str]:
    """A fresh worker (on the domain's queue) and a fresh API, both started after the file exists."""
    env = os.environ.copy()
    worker = start_worker(env, run_dir / f"{domain.name}-worker.log", queues=domain.queue, name=domain.name,
                          concurrency=1)
    port = free_port()
    api = start_api(env, port, run_dir / f"{domain.name}-api.log")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(api)
        stop(worker)


@pytest.fixture
async def scratch_client(scratch_stack: str, mint: Callable[..., str], db: asyncpg.Connection) -> AsyncIterator[httpx.AsyncClient]:
    await db.execute("create table if not exists scratch_notes (id serial primary key, body text not null)")
    async with httpx.AsyncClient(base_url=scratch_stack, headers={"Authorization": f"Bearer {mint()}"},
                                 timeout=30) as http:
        yield http
    await db.execute("drop table if exists scratch_notes")


async def test_the_new_task_is_listed_with_description_and_schema(scratch_client: httpx.AsyncClient, domain: ScratchDomain) -> None:
    catalog = (await scratch_client.get("/tasks/available")).json()
    entry = catalog["available_tasks"]["write_note"]
    assert entry["name"] == f"{domain.name}.write_note"
    assert entry["endpoint"] == "/tasks/execute/write-note"
    assert entry["method"] == "POST"
    assert entry["queue"] == domain.queue
    assert entry["module"] == f"background.tasks.{domain.name}.notes_task"
    assert entry["description"] == "Write one note into the scratch table, then maybe fail."
    params = entry["parameters"]
    assert params["required"] == ["text"]
    assert params["properties"]["text"]["maxLength"] == 50
    assert params["additionalProperties"] is False
    assert set(params["properties"]) == {"text", "mood", "on", "fail_after_write"}  # injected ones are hidden
    assert catalog["available_tasks"]["add"]["parameters"]["required"] == ["a"]
    openapi = (await scratch_client.get("/openapi.json")).json()
    assert "/tasks/execute/write-note" in openapi["paths"]


async def test_an_async_task_writes_through_the_repository_factory(scratch_client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    response = await scratch_client.post("/tasks/execute/write-note",
                                         json={"text": "hello", "mood": "grumpy", "on": "2026-01-31"})
    assert response.status_code == 202, response.text
    status = await wait_for_status(scratch_client, response.json()["task_id"])
    assert status["status"] == "SUCCESS", status
    assert status["result"] == {"notes": 1}
    assert await db.fetchval("select body from scratch_notes") == "hello:grumpy:2026-01-31"


async def test_a_failing_run_rolls_back_its_writes(scratch_client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    response = await scratch_client.post("/tasks/execute/write-note", json={"text": "doomed", "fail_after_write": True})
    status = await wait_for_status(scratch_client, response.json()["task_id"])
    assert status["status"] == "FAILURE"
    assert status["failed"] is True
    assert "failing on purpose after the write" in status["error"]
    assert await db.fetchval("select count(*) from scratch_notes") == 0


async def test_a_sync_task_runs_and_its_result_is_read_back(scratch_client: httpx.AsyncClient) -> None:
    response = await scratch_client.post("/tasks/execute/add", json={"a": 40, "b": 2})
    status = await wait_for_status(scratch_client, response.json()["task_id"])
    assert (status["status"], status["result"], status["params"]) == ("SUCCESS", 42, {"a": 40, "b": 2})


async def test_enum_and_date_parameters_are_validated_by_the_api(scratch_client: httpx.AsyncClient) -> None:
    response = await scratch_client.post("/tasks/execute/write-note", json={"text": "x", "mood": "sad", "on": "31/01/2026"})
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"mood", "on"}


async def test_progress_is_shown_while_the_task_runs(scratch_client: httpx.AsyncClient) -> None:
    response = await scratch_client.post("/tasks/execute/steps", json={"steps": 8, "pause_s": 0.4})
    task_id = response.json()["task_id"]
    running = await wait_for_status(scratch_client, task_id, {"PROGRESS"}, timeout=30)
    progress = running["progress"]
    assert progress["total"] == 8
    assert 1 <= progress["current"] <= 8
    assert progress["message"] == f"step {progress['current']} of 8"
    assert running["ready"] is False and running["started_at"] is not None
    done = await wait_for_status(scratch_client, task_id)
    assert (done["status"], done["result"]) == ("SUCCESS", 8)


async def _registry_row(db: asyncpg.Connection, task_id: str) -> asyncpg.Record | None:
    return await db.fetchrow("select status, started_at, finished_at, worker, result::text as result, error, origin "
                             "from task_runs where task_id = $1", task_id)


async def test_the_registry_says_started_while_the_run_executes_then_records_its_end(
    scratch_client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    response = await scratch_client.post("/tasks/execute/steps", json={"steps": 10, "pause_s": 0.4})
    task_id = response.json()["task_id"]
    # The worker records the start before the body runs (repositories/run_registry.py).
    deadline = asyncio.get_running_loop().time() + 30
    row = await _registry_row(db, task_id)
    while row is None or row["status"] == "PENDING":
        assert asyncio.get_running_loop().time() < deadline, row
        await asyncio.sleep(0.05)
        row = await _registry_row(db, task_id)
    assert row["status"] == "STARTED", dict(row)
    assert row["started_at"] is not None and row["worker"] and row["finished_at"] is None
    running = (await scratch_client.get(f"/tasks/status/{task_id}")).json()
    assert running["ready"] is False and running["started_at"] == row["started_at"].isoformat()
    assert (await wait_for_status(scratch_client, task_id))["status"] == "SUCCESS"
    done = await _registry_row(db, task_id)
    assert done is not None
    assert (done["status"], done["result"], done["error"], done["origin"]) == ("SUCCESS", "10", None, "api")
    assert done["started_at"] == row["started_at"] and done["finished_at"] >= done["started_at"]


async def test_a_failed_run_is_recorded_as_failed_with_its_error(
    scratch_client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    response = await scratch_client.post("/tasks/execute/write-note", json={"text": "doomed", "fail_after_write": True})
    task_id = response.json()["task_id"]
    assert (await wait_for_status(scratch_client, task_id))["status"] == "FAILURE"
    deadline = asyncio.get_running_loop().time() + 30
    row = await _registry_row(db, task_id)
    while row is None or row["status"] != "FAILURE":  # the registry is written just after the result backend
        assert asyncio.get_running_loop().time() < deadline, row
        await asyncio.sleep(0.05)
        row = await _registry_row(db, task_id)
    assert row["error"] == "RuntimeError: failing on purpose after the write"
    assert row["result"] == "null" and row["finished_at"] >= row["started_at"]
