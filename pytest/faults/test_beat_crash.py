"""The Beat holding the leader lock is SIGKILLed: the waiting Beat takes over within a minute.

A clean stop (pytest/schedules/test_beat.py) releases the lock at once; a crash cannot, so the
other Beat must wait for the lock to expire (5 x the Beat interval) and then carry on alone.
`maintenance.ping` is given `@every 1s`; every other schedule is switched off for these Beats.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

import pytest
from support.beat import beat_env_for, sent_ids, start_beat
from support.processes import stop, wait_for_log

TASK = "maintenance.ping"


@pytest.fixture
def beat_env(servers: dict[str, Any]) -> Iterator[dict[str, str]]:
    """The Beats' environment; afterwards their Redis state is removed."""
    with beat_env_for(TASK) as env:
        yield env


@pytest.fixture
async def beat_rows(db: asyncpg.Connection) -> AsyncIterator[asyncpg.Connection]:
    yield db
    await db.execute("delete from task_runs where task_name = $1 and origin = 'beat'", TASK)


async def _until_done(db: asyncpg.Connection, ids: Any, count: int, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        wanted = set(ids())
        done = await db.fetchval("select count(*) from task_runs where task_id = any($1::text[]) "
                                 "and status = 'SUCCESS'", list(wanted))
        if done >= count:
            return
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def test_the_waiting_beat_takes_over_within_a_minute_of_a_crash(
    beat_env: dict[str, str], beat_rows: asyncpg.Connection, worker: Any, run_dir: Path
) -> None:
    first_log, second_log = run_dir / "beat-crash-first.log", run_dir / "beat-crash-second.log"
    first = start_beat(beat_env, first_log)
    second = None
    try:
        wait_for_log(first, first_log, "beat: Acquired lock", timeout=60)
        second = start_beat(beat_env, second_log)
        wait_for_log(second, second_log, "beat: Starting", timeout=60)
        await _until_done(beat_rows, lambda: sent_ids(first_log, TASK), 2, "two runs sent by the first Beat")

        os.killpg(first.pid, signal.SIGKILL)  # a crash: the lock stays in Redis until it expires
        first.wait(10)
        killed_at = datetime.now(UTC)
        assert "Acquired lock" not in second_log.read_text()

        wait_for_log(second, second_log, "beat: Acquired lock", timeout=60)
        await _until_done(beat_rows, lambda: sent_ids(second_log, TASK), 2, "two runs sent by the second Beat")
    finally:
        stop(first)
        stop(second)

    by_first, by_second = sent_ids(first_log, TASK), sent_ids(second_log, TASK)
    assert by_first and by_second and not set(by_first) & set(by_second)
    rows = await beat_rows.fetch("select task_id, submitted_at from task_runs where task_name = $1 "
                                 "and origin = 'beat'", TASK)
    submitted = {row["task_id"]: row["submitted_at"] for row in rows}
    # Every run was sent once, by one Beat; the second sent nothing while the first held the lock.
    assert sorted(submitted) == sorted(by_first + by_second)
    assert all(submitted[task_id] > killed_at for task_id in by_second)
