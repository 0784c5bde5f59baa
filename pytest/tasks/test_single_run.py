"""Single-run tasks: while one run is active, the API answers 409 and any other copy does nothing.

`maintenance.purge_runs` (single_run=True) is held mid-run by a row lock the test takes on an old
registry row the purge has to delete; releasing the lock lets the run finish.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

import pytest
from support.polling import wait_for_status


@pytest.fixture
async def blocker(db: asyncpg.Connection, servers: dict[str, Any]) -> AsyncIterator[asyncpg.Connection]:
    """An old registry row, locked FOR UPDATE by another connection until the test releases it."""
    task_id = f"test-blocker-{uuid.uuid4()}"
    await db.execute(
        "insert into task_runs (task_id, task_name, status, origin, submitted_at, retries) "
        "values ($1, 'test.blocker', 'SUCCESS', 'api', $2, 0)", task_id, datetime.now(UTC) - timedelta(days=400))
    holder = await asyncpg.connect(servers["postgres"].dsn)
    transaction = holder.transaction()
    await transaction.start()
    await holder.execute("select 1 from task_runs where task_id = $1 for update", task_id)
    try:
        yield holder
    finally:
        if not holder.is_closed():
            await transaction.rollback()
            await holder.close()
        await db.execute("delete from task_runs where task_id = $1", task_id)


async def _until_recorded(db: asyncpg.Connection, task_id: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not await db.fetchval("select count(*) from task_runs where task_id = $1", task_id):
        assert time.monotonic() < deadline, f"run {task_id} was never started by a worker"
        await asyncio.sleep(0.1)


async def _release(holder: asyncpg.Connection) -> None:
    await holder.execute("rollback")
    await holder.close()


async def test_a_second_launch_is_refused_while_the_first_run_is_active(
    client: httpx.AsyncClient, worker: Any, blocker: asyncpg.Connection, db: asyncpg.Connection
) -> None:
    first = await client.post("/tasks/execute/purge-runs", json={})
    assert first.status_code == 202, first.text
    first_id = first.json()["task_id"]
    started = await wait_for_status(client, first_id, {"STARTED", "PROGRESS"})
    assert started["ready"] is False

    refused = await client.post("/tasks/execute/purge-runs", json={"dry_run": True})

    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["success"] is False and body["code"] == "single_run_active"
    assert first_id in body["message"] and f"/tasks/status/{first_id}" in body["description"]
    # Nothing was recorded for the refused launch.
    assert await db.fetchval("select count(*) from task_runs where task_name = 'maintenance.purge_runs' "
                             "and status = 'PENDING'") == 0

    await _release(blocker)
    finished = await wait_for_status(client, first_id)
    assert finished["status"] == "SUCCESS", finished
    assert finished["result"]["deleted"] >= 1

    # The lock went with the run: the next launch is accepted and runs.
    again = await client.post("/tasks/execute/purge-runs", json={"dry_run": True})
    assert again.status_code == 202, again.text
    assert (await wait_for_status(client, again.json()["task_id"]))["status"] == "SUCCESS"
    await db.execute("delete from task_runs where task_id = any($1::text[])", [first_id, again.json()["task_id"]])


async def test_a_copy_sent_past_the_api_is_skipped_by_the_worker(
    client: httpx.AsyncClient, worker: Any, blocker: asyncpg.Connection, db: asyncpg.Connection
) -> None:
    from config.celery_config import celery_app

    first = await client.post("/tasks/execute/purge-runs", json={})
    assert first.status_code == 202, first.text
    first_id = first.json()["task_id"]
    await wait_for_status(client, first_id, {"STARTED", "PROGRESS"})

    # As `celery call` would: straight to the broker, no API, no lock taken beforehand.
    copy_id = celery_app.send_task("maintenance.purge_runs", kwargs={"dry_run": True}).id
    await _until_recorded(db, copy_id)  # the worker writes the registry row when it starts the copy
    skipped = await wait_for_status(client, copy_id)

    assert skipped["status"] == "FAILURE"
    assert "SingleRunActive" in skipped["error"] and first_id in skipped["error"]
    assert skipped["result"] is None

    await _release(blocker)
    finished = await wait_for_status(client, first_id)
    assert finished["status"] == "SUCCESS", finished
    await db.execute("delete from task_runs where task_id = any($1::text[])", [first_id, copy_id])
