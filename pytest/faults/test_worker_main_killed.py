"""The worker's MAIN process is SIGKILLed mid-run (the OOM killer, a host fault): no run stays stuck.

Killing a pool child is handled by its parent (pytest/faults/test_worker_killed.py); here the parent
itself dies, its children with it, and the broker still holds the messages as unacknowledged
until the visibility timeout (over an hour). Another worker must see the dead one's liveness key
expire and send back exactly the runs it held. The stack is private (own PostgreSQL, Valkey, API
and workers) with a liveness TTL of a few seconds; every wait below is bounded far under the
visibility timeout, so a run merely waiting for it fails the test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import httpx

import pytest
from support.fault_tasks import parent_pid
from support.lost_worker_tasks import DROP, FILES, REDELIVERY_BOUND_S, TABLE, holding, launch
from support.polling import wait_for_status
from support.private_stack import PrivateStack, private_stack
from support.scratch_domain import ScratchDomain, scratch_domain

LIVENESS_TTL_S = 6  # the default is 30 s; REDELIVERY_BOUND_S holds for it


@pytest.fixture(scope="module")
def domain() -> Iterator[ScratchDomain]:
    with scratch_domain(FILES) as created:
        yield created


@pytest.fixture(scope="module")
def stack(domain: ScratchDomain, run_dir: Path) -> Iterator[PrivateStack]:
    with private_stack(run_dir, "lost-worker") as created:
        created.env["CELERY_WORKER_LIVENESS_TTL_S"] = str(LIVENESS_TTL_S)
        created.start_api()
        yield created


@pytest.fixture
def start_worker(stack: PrivateStack, domain: ScratchDomain) -> Iterator[Callable[[str], subprocess.Popen[bytes]]]:
    """Start a one-process worker of the scratch queue; every worker still running is stopped after."""
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str) -> subprocess.Popen[bytes]:
        process = stack.start_worker(queues=domain.queue, concurrency=1, name=name)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(30)


@pytest.fixture
async def db(stack: PrivateStack) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(stack.postgres.dsn)
    await conn.execute(TABLE)
    try:
        yield conn
    finally:
        await conn.execute(DROP)
        await conn.close()


@pytest.fixture
async def http(stack: PrivateStack, mint: Callable[..., str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.api_url, headers={"Authorization": f"Bearer {mint()}"},
                                 timeout=30) as client:
        yield client


def _kill_main(worker: subprocess.Popen[bytes], child: int) -> float:
    """SIGKILL the worker's main process (only it: its pool children die with it); when it happened."""
    assert parent_pid(child) == worker.pid  # the run is on a pool child of this very worker
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(10)
    return time.monotonic()


async def _deliveries(db: asyncpg.Connection, label: str) -> list[int]:
    return [row["pid"] for row in await db.fetch("select pid from lost_deliveries where label = $1 order by at", label)]


async def test_a_single_run_task_held_by_a_killed_worker_finishes_on_a_fresh_worker_and_frees_its_lock(
    http: httpx.AsyncClient, db: asyncpg.Connection, start_worker: Callable[[str], subprocess.Popen[bytes]]
) -> None:
    first = start_worker("first")
    task_id = await launch(http, "lost-exclusive", label="exclusive-1", hold_s=300)
    child = await holding(http, task_id)
    refused = await http.post("/tasks/execute/lost-exclusive", json={"label": "exclusive-2", "hold_s": 0})
    assert refused.status_code == 409 and task_id in refused.json()["message"]

    killed_at = _kill_main(first, child)
    start_worker("fresh")  # `toolbox up` and any supervisor restart the worker this way
    done = await wait_for_status(http, task_id, timeout=REDELIVERY_BOUND_S)
    print(f"\nkilled -> SUCCESS on the fresh worker in {time.monotonic() - killed_at:.1f}s "
          f"(liveness TTL {LIVENESS_TTL_S}s)")
    assert done["status"] == "SUCCESS", done
    assert done["result"]["delivery"] == 2 and done["result"]["pid"] != child
    assert await _deliveries(db, "exclusive-1") == [child, done["result"]["pid"]]

    # The lock went with the run: the task can be launched again and runs.
    again = await launch(http, "lost-exclusive", label="exclusive-3", hold_s=0)
    assert (await wait_for_status(http, again, timeout=60))["status"] == "SUCCESS"


async def test_only_the_dead_workers_runs_come_back_never_a_live_workers(
    http: httpx.AsyncClient, db: asyncpg.Connection, start_worker: Callable[[str], subprocess.Popen[bytes]]
) -> None:
    workers = {w.pid: w for w in (start_worker("left"), start_worker("right"))}
    # Prefetch 1 with late acks: each one-process worker holds one run, so the two runs split.
    doomed_id = await launch(http, "lost-hold", label="doomed", hold_s=300)
    doomed_child = await holding(http, doomed_id)
    kept_id = await launch(http, "lost-hold", label="kept", hold_s=4 * LIVENESS_TTL_S)
    kept_child = await holding(http, kept_id)
    assert parent_pid(doomed_child) != parent_pid(kept_child)

    _kill_main(workers[parent_pid(doomed_child)], doomed_child)
    # The live worker finishes the run it holds, then takes the dead one's run, then a last one.
    done = await wait_for_status(http, doomed_id, timeout=REDELIVERY_BOUND_S)
    assert done["status"] == "SUCCESS" and done["result"]["delivery"] == 2, done
    kept = await wait_for_status(http, kept_id, timeout=60)
    assert kept["status"] == "SUCCESS" and kept["result"]["delivery"] == 1, kept
    # A wrongly restored `kept` would be at the head of the queue, ahead of this one.
    last = await launch(http, "lost-hold", label="last", hold_s=0)
    assert (await wait_for_status(http, last, timeout=60))["status"] == "SUCCESS"
    assert await _deliveries(db, "kept") == [kept_child]
    assert await _deliveries(db, "doomed") == [doomed_child, done["result"]["pid"]]


async def test_a_task_that_must_not_run_again_fails_worker_lost_or_follows_its_retry_policy(
    http: httpx.AsyncClient, db: asyncpg.Connection, start_worker: Callable[[str], subprocess.Popen[bytes]]
) -> None:
    workers = {w.pid: w for w in (start_worker("once-a"), start_worker("once-b"))}
    once_id = await launch(http, "lost-once", label="lost-once", hold_s=300)
    once_child = await holding(http, once_id)
    retried_id = await launch(http, "lost-once-retried", label="retried", hold_s=300)
    retried_child = await holding(http, retried_id)
    for child in (once_child, retried_child):
        _kill_main(workers[parent_pid(child)], child)
    start_worker("after")

    failed = await wait_for_status(http, once_id, timeout=REDELIVERY_BOUND_S)
    assert failed["status"] == "FAILURE", failed
    assert "worker lost" in failed["error"] and "reject_on_worker_lost=False" in failed["error"]
    assert await _deliveries(db, "lost-once") == [once_child]  # the body never ran a second time
    again = await launch(http, "lost-once", label="once-again", hold_s=0)  # its single-run lock is free
    assert (await wait_for_status(http, again, timeout=60))["status"] == "SUCCESS"

    # retry_on_worker_lost with max_retries=1: one Celery retry, which runs through.
    retried = await wait_for_status(http, retried_id, timeout=REDELIVERY_BOUND_S)
    assert retried["status"] == "SUCCESS" and retried["retries"] == 1, retried
    assert len(await _deliveries(db, "retried")) == 2
