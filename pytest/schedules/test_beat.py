"""Real Celery Beat processes (RedBeat) sending a declared schedule to the real worker.

`maintenance.ping` is given `@every 1s` through SCHEDULE_OVERRIDES so ticks come fast; every other
schedule is switched off for these Beats.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis

import pytest
from support.beat import beat_env_for, sent_ids, start_beat
from support.processes import start_api, stop, wait_for_log

TASK = "maintenance.ping"


@pytest.fixture
def beat_env(servers: dict[str, Any]) -> Iterator[dict[str, str]]:
    """The Beats' environment; afterwards their Redis state is removed."""
    with beat_env_for(TASK) as env:
        yield env


@pytest.fixture
async def beat_runs(db: asyncpg.Connection) -> AsyncIterator[Callable[[], Any]]:
    """The registry rows of runs Beat sent for TASK (removed afterwards)."""

    async def rows() -> list[asyncpg.Record]:
        return await db.fetch("select * from task_runs where task_name = $1 and origin = 'beat' "
                              "order by submitted_at", TASK)

    yield rows
    await db.execute("delete from task_runs where task_name = $1 and origin = 'beat'", TASK)


async def _until(check: Callable[[], Any], what: str, log: Path | None = None, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        tail = log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{tail}"
        await asyncio.sleep(0.1)


def _meta(key: str) -> dict[str, Any]:
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    try:
        raw = client.hget(key, "meta")
    finally:
        client.close()
    return json.loads(raw) if raw else {}


async def test_two_beats_send_each_tick_once_and_the_second_takes_over(
    beat_env: dict[str, str], beat_runs: Callable[[], Any], worker: Any, run_dir: Path
) -> None:
    first_log, second_log = run_dir / "beat-first.log", run_dir / "beat-second.log"
    first = start_beat(beat_env, first_log)
    second = None
    try:
        wait_for_log(first, first_log, "beat: Acquired lock", timeout=60)
        second = start_beat(beat_env, second_log)
        wait_for_log(second, second_log, "beat: Starting", timeout=60)

        async def three_done() -> bool:
            return sum(row["status"] == "SUCCESS" for row in await beat_runs()) >= 3

        await _until(three_done, "three runs sent by Beat", first_log)
        # The second Beat is waiting for the leader lock: it has sent nothing.
        assert "Acquired lock" not in second_log.read_text() and sent_ids(second_log, TASK) == []

        stop(first)  # a clean stop releases the lock at once
        wait_for_log(second, second_log, "beat: Acquired lock", timeout=30)

        async def second_sent_two() -> bool:
            done = {row["task_id"] for row in await beat_runs() if row["status"] == "SUCCESS"}
            return len(done & set(sent_ids(second_log, TASK))) >= 2

        await _until(second_sent_two, "two runs sent by the second Beat", second_log)
    finally:
        stop(first)
        stop(second)

    rows = await beat_runs()
    ids = [row["task_id"] for row in rows]
    by_first, by_second = sent_ids(first_log, TASK), sent_ids(second_log, TASK)
    # Every run has one row, sent by exactly one Beat; nothing was sent twice.
    assert sorted(ids) == sorted(by_first + by_second) and len(set(ids)) == len(ids)
    assert not set(by_first) & set(by_second)
    # One dispatch per tick: RedBeat counted as many ticks as there are runs.
    assert _meta(f"toolbox:beat:{TASK}")["total_run_count"] == len(rows)
    assert {row["submitted_by"] for row in rows} == {"beat"}
    assert all(json.loads(row["params"]) == {} for row in rows)


async def test_a_paused_schedule_is_not_sent_until_resumed(
    beat_env: dict[str, str], beat_runs: Callable[[], Any], worker: Any, run_dir: Path, mint: Callable[..., str]
) -> None:
    from config.embedded import free_port

    port = free_port()
    api = start_api(beat_env, port, run_dir / "beat-api.log")  # an API that sees the same overrides
    beat_log = run_dir / "beat-pause.log"
    beat = start_beat(beat_env, beat_log)
    headers = {"Authorization": f"Bearer {mint('operator', 'night-shift')}"}
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30) as http:
            await _until(beat_runs, "a first run sent by Beat")
            listed = (await http.get(f"/tasks/schedules/{TASK}")).json()
            assert listed["cron"] == "@every 1s" and listed["source"] == "override" and listed["enabled"] is True
            assert listed["last_run"] is not None and listed["last_run_at"] is not None

            paused = await http.post(f"/tasks/schedules/{TASK}/pause")
            assert paused.status_code == 200 and paused.json()["schedule"]["paused_by"] == "night-shift"
            skip = f"{TASK} is paused; tick skipped"
            wait_for_log(beat, beat_log, skip, timeout=30)
            sent_when_paused = len(sent_ids(beat_log, TASK))
            skipped = beat_log.read_text().count(skip)

            async def two_more_skips() -> bool:
                return beat_log.read_text().count(skip) >= skipped + 2

            await _until(two_more_skips, "two more skipped ticks")
            # Two ticks came and went while paused; nothing was sent for them.
            assert len(sent_ids(beat_log, TASK)) == sent_when_paused

            resumed = await http.post(f"/tasks/schedules/{TASK}/resume")
            assert resumed.status_code == 200 and resumed.json()["schedule"]["enabled"] is True

            async def sent_again() -> bool:
                return len(sent_ids(beat_log, TASK)) > sent_when_paused

            await _until(sent_again, "a run sent after resuming")
    finally:
        stop(beat)
        stop(api)
