"""A worker process SIGKILLed in the middle of a rebuild: the run comes back and ends with one copy.

The worker runs `acks_late` with `reject_on_worker_lost`: when the prefork child running a task
dies, its parent puts the message straight back on the queue. The bounds below (30 s per run)
are far under the broker's visibility timeout (an hour and more), so a message that was merely
hidden until that timeout would fail these tests instead of passing slowly.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from typing import Any

import asyncpg
import httpx

from support.fault_tasks import FaultStack, parent_pid, pid_from_progress
from support.polling import wait_for_status

ROWS = 20_000


async def _kill_when_paused(http: httpx.AsyncClient, worker: subprocess.Popen[bytes], task_id: str,
                            delivery: int) -> int:
    """Wait until the run's `delivery`-th delivery is paused mid-transaction, then SIGKILL its process."""
    deadline = time.monotonic() + 30
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = (await http.get(f"/tasks/status/{task_id}")).json()
        assert not status["ready"], f"run ended before delivery {delivery} could be killed: {status}"
        if status["status"] == "PROGRESS" and f"delivery={delivery}" in status["progress"]["message"]:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"delivery {delivery} of {task_id} never paused: {status}")
    pid = pid_from_progress(status["progress"]["message"])
    # The process running the task is a prefork child of our worker, never the worker itself.
    assert pid != worker.pid and parent_pid(pid) == worker.pid
    os.kill(pid, signal.SIGKILL)
    return pid


async def _assert_one_copy(db: asyncpg.Connection, version: str, rows: int) -> None:
    count, distinct, total, versions = await db.fetchrow(
        "select count(*), count(distinct n), coalesce(sum(n), 0), array_agg(distinct version) from fault_output")
    assert (count, distinct, total, versions) == (rows, rows, rows * (rows + 1) // 2, [version])


async def test_ten_runs_killed_mid_rebuild_each_finish_with_one_copy(
    fault_http: httpx.AsyncClient, fault_stack: FaultStack, db: asyncpg.Connection
) -> None:
    http, worker = fault_http, fault_stack.worker
    # A first copy, rebuilt by hand: the first run replaces it.
    await db.execute("insert into fault_output select 'seed', g from generate_series(1, $1) g", ROWS)
    previous = "seed"
    for round_ in range(10):
        version = f"v{round_}"
        response = await http.post("/tasks/execute/rebuild", json={"version": version, "rows": ROWS})
        assert response.status_code == 202, response.text
        task_id = response.json()["task_id"]

        # Half-way through its transaction, readers still see the previous copy whole.
        killed = await _kill_when_paused(http, worker, task_id, delivery=1)
        await _assert_one_copy(db, previous, ROWS)

        done = await wait_for_status(http, task_id, timeout=30)
        assert done["status"] == "SUCCESS", done
        assert done["result"] == {"version": version, "rows": ROWS, "delivery": 2}
        await _assert_one_copy(db, version, ROWS)
        deliveries = await db.fetch("select pid from fault_deliveries where version = $1 order by at", version)
        # Killed once, delivered once more, by another process: nothing lost, nothing run twice after.
        assert len(deliveries) == 2 and deliveries[0]["pid"] == killed and deliveries[1]["pid"] != killed
        previous = version
    assert worker.poll() is None  # the worker itself survived all ten kills


async def test_a_run_killed_on_three_deliveries_in_a_row_still_finishes_once(
    fault_http: httpx.AsyncClient, fault_stack: FaultStack, db: asyncpg.Connection
) -> None:
    response = await fault_http.post("/tasks/execute/rebuild",
                               json={"version": "stubborn", "rows": ROWS, "pause_deliveries": 3})
    assert response.status_code == 202, response.text
    task_id = response.json()["task_id"]
    killed = [await _kill_when_paused(fault_http, fault_stack.worker, task_id, delivery=n) for n in (1, 2, 3)]

    done = await wait_for_status(fault_http, task_id, timeout=30)
    assert done["status"] == "SUCCESS", done
    assert done["result"]["delivery"] == 4
    await _assert_one_copy(db, "stubborn", ROWS)
    pids = [row["pid"] for row in await db.fetch("select pid from fault_deliveries order by at")]
    assert pids[:3] == killed and len(pids) == 4 and pids[3] not in killed
    assert fault_stack.worker.poll() is None
