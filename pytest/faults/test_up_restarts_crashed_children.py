"""Under a real `toolbox up`, a SIGKILLed worker main process or Beat is started again; the API stays.

`toolbox up` runs on a private stack's servers (DATABASE_URL/REDIS_URL given, so it starts none),
in its own folder, on a free port, with the default liveness TTL.
"""

from __future__ import annotations

import os
import signal
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
from support.up_process import pid_alive, toolbox_up


@pytest.fixture(scope="module")
def domain() -> Iterator[ScratchDomain]:
    with scratch_domain(FILES) as created:
        yield created


@pytest.fixture(scope="module")
def stack(domain: ScratchDomain, run_dir: Path) -> Iterator[PrivateStack]:
    with private_stack(run_dir, "up-supervision") as created:
        yield created


@pytest.fixture
async def db(stack: PrivateStack) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(stack.postgres.dsn)
    await conn.execute(TABLE)
    try:
        yield conn
    finally:
        await conn.execute(DROP)
        await conn.close()


def _client(url: str, mint: Callable[..., str]) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {mint()}"}, timeout=30)


async def test_a_killed_worker_and_beat_come_back_and_the_run_finishes(
    stack: PrivateStack, db: asyncpg.Connection, mint: Callable[..., str]
) -> None:
    with toolbox_up(stack.env, stack.folder / "var-restart", stack.folder / "up-restart.out") as up:
        async with _client(up.api_url, mint) as http:
            task_id = await launch(http, "lost-exclusive", label="under-up", hold_s=300)
            child = await holding(http, task_id)
            worker = up.pids()["worker"]
            assert parent_pid(child) == worker
            os.kill(worker, signal.SIGKILL)
            killed_at = time.monotonic()

            up.wait_for("worker restarted")
            done = await wait_for_status(http, task_id, timeout=REDELIVERY_BOUND_S)
            print(f"\nunder toolbox up: worker killed -> run SUCCESS in {time.monotonic() - killed_at:.1f}s "
                  "(default liveness TTL)")
            assert done["status"] == "SUCCESS" and done["result"]["delivery"] == 2, done
            assert "worker exited with code -9; restarting it in 1s" in up.output()

            beat = up.pids()["beat"]
            os.kill(beat, signal.SIGKILL)
            up.wait_for("beat restarted")
            assert up.pids()["beat"] != beat and pid_alive(up.pids()["beat"])

            # The API never stopped, and the lock of the finished run is free.
            again = await launch(http, "lost-exclusive", label="after-restart", hold_s=0)
            assert (await wait_for_status(http, again, timeout=60))["status"] == "SUCCESS"
        assert up.process.poll() is None


async def test_a_worker_that_keeps_crashing_is_given_up_on_and_the_api_stays_up(
    stack: PrivateStack, mint: Callable[..., str]
) -> None:
    with toolbox_up(stack.env, stack.folder / "var-give-up", stack.folder / "up-give-up.out") as up:
        for crash in range(1, 6):
            worker = up.pids()["worker"]
            os.kill(worker, signal.SIGKILL)
            if crash < 5:
                up.wait_for("worker restarted", count=crash)
        up.wait_for("worker exited with code -9: 5 crashes in 10 minutes, not restarting it again")
        async with _client(up.api_url, mint) as http:
            assert (await http.get("/health")).status_code == 200
            assert (await http.get("/tasks/available")).status_code == 200
        assert up.process.poll() is None
        assert up.output().count("worker restarted") == 4
