"""PostgreSQL stops while a rebuild is half-way through its transaction, then comes back.

Our own PostgreSQL, Valkey, worker and API (the session-wide ones are never touched). While the
database is down the API says so (readiness 503, execute 503) and the running rebuild fails with
a clear error; its half-built table is rolled back; once PostgreSQL is back on the same port,
the same API and worker processes serve and run again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx

import pytest
from support.fault_tasks import DROP, TABLES
from support.polling import wait_for_status
from support.private_stack import PrivateStack, private_stack
from support.scratch_domain import ScratchDomain

ROWS = 5_000


@pytest.fixture(scope="module")
def stack(fault_domain: ScratchDomain, servers: dict[str, Any], run_dir: Path) -> Iterator[PrivateStack]:
    with private_stack(run_dir, "database-down") as created:
        created.start_worker(queues=fault_domain.queue, name="database-down")
        created.start_api()
        yield created


@pytest.fixture
async def http(stack: PrivateStack, mint: Callable[..., str]) -> AsyncIterator[httpx.AsyncClient]:
    conn = await asyncpg.connect(stack.postgres.dsn)
    try:
        for statement in TABLES:
            await conn.execute(statement)
        await conn.execute("insert into fault_output select 'seed', g from generate_series(1, $1) g", ROWS)
    finally:
        await conn.close()
    # 10 s is the bound for any answer: slower (a hang) fails the test with a timeout.
    async with httpx.AsyncClient(base_url=stack.api_url, headers={"Authorization": f"Bearer {mint()}"},
                                 timeout=10.0) as client:
        yield client
    conn = await asyncpg.connect(stack.postgres.dsn)
    try:
        await conn.execute(DROP)
    finally:
        await conn.close()


async def _table(stack: PrivateStack) -> tuple[int, int, list[str]]:
    conn = await asyncpg.connect(stack.postgres.dsn)
    try:
        count, total, versions = await conn.fetchrow(
            "select count(*), coalesce(sum(n), 0), array_agg(distinct version) from fault_output")
    finally:
        await conn.close()
    return count, total, versions


async def _until_ready(http: httpx.AsyncClient, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = await http.get("/health/ready")
        if response.status_code == 200:
            return response.json()
        assert time.monotonic() < deadline, f"not ready {timeout} s after PostgreSQL came back: {response.text}"
        await asyncio.sleep(0.2)


async def test_a_database_outage_fails_the_running_rebuild_cleanly_and_everything_recovers(
    stack: PrivateStack, http: httpx.AsyncClient
) -> None:
    processes = [process.pid for process in stack.processes]
    launched = await http.post("/tasks/execute/rebuild", json={"version": "doomed", "rows": ROWS, "pause_s": 3})
    assert launched.status_code == 202, launched.text
    doomed = launched.json()["task_id"]
    paused = await wait_for_status(http, doomed, {"PROGRESS"}, timeout=30)
    assert paused["progress"]["message"].endswith("delivery=1")

    await asyncio.to_thread(stack.postgres.stop)  # half of the new copy is written, uncommitted
    try:
        ready = await http.get("/health/ready")
        assert ready.status_code == 503, ready.text
        assert ready.json()["checks"]["database"]["ok"] is False
        assert ready.json()["checks"]["redis"]["ok"] is True
        for _ in range(3):
            refused = await http.post("/tasks/execute/rebuild", json={"version": "refused", "rows": 10})
            assert refused.status_code == 503, refused.text
            assert refused.json()["code"] == "database_unavailable" and refused.json()["success"] is False
        status = await http.get(f"/tasks/status/{doomed}")
        assert status.status_code == 503 and status.json()["code"] == "database_unavailable"
        # The rebuild wakes up from its pause with its connection gone, and fails.
        await asyncio.sleep(4)
    finally:
        await asyncio.to_thread(stack.postgres.start)  # same port, same data directory

    await _until_ready(http, timeout=15)
    failed = await wait_for_status(http, doomed, timeout=30)
    assert failed["status"] == "FAILURE", failed
    assert "connection" in failed["error"].lower(), failed["error"]
    # The half-built copy was rolled back: the table holds the old copy whole.
    assert await _table(stack) == (ROWS, ROWS * (ROWS + 1) // 2, ["seed"])

    # Same processes, no restart: a new rebuild is accepted, runs and commits.
    again = await http.post("/tasks/execute/rebuild", json={"version": "after", "rows": ROWS, "pause_s": 0})
    assert again.status_code == 202, again.text
    done = await wait_for_status(http, again.json()["task_id"], timeout=30)
    assert done["status"] == "SUCCESS", done
    assert await _table(stack) == (ROWS, ROWS * (ROWS + 1) // 2, ["after"])
    assert [process.pid for process in stack.processes if process.poll() is None] == processes
