"""Schedules previewed (next 5 runs), the Beat holding the leader lock, and the catch-up policy of
ticks missed while no Beat ran, with real Beat processes stopped and started again."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import redis

import pytest
from support.beat import beat_environment, sent_ids, start_beat
from support.processes import stop, wait_for_log
from support.scratch_domain import ScratchDomain, scratch_domain

LIMA = ZoneInfo("America/Lima")
TASKS = {
    "skipper_task.py": '''
"""Scheduled scratch task with the default catch-up policy (skip)."""
from config.celery_config import celery_app


@celery_app.task(name="{domain}.skipper", queue="{domain}", schedule="@every 3s")
def skipper() -> None:
    """Never consumed."""
''',
    "catcher_task.py": '''
"""Scheduled scratch task that catches up once."""
from config.celery_config import celery_app


@celery_app.task(name="{domain}.catcher", queue="{domain}", schedule="@every 3s", catch_up="once")
def catcher() -> None:
    """Never consumed."""
''',
}


@pytest.fixture
async def viewer(api_url: str, mint: Callable[..., str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {mint('viewer')}"},
                                 timeout=30) as http:
        yield http


def _clean_beat_state() -> None:
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    keys = list(client.scan_iter("toolbox:beat:*")) + [b"toolbox:schedules:leader"]
    client.delete(*keys)
    client.close()


async def _until(check: Callable[[], Any], what: str, log: Path, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{log.read_text(errors='replace')[-3000:]}"
        await asyncio.sleep(0.1)
    return value


async def test_each_schedule_lists_its_next_five_runs(viewer: httpx.AsyncClient) -> None:
    body = (await viewer.get("/tasks/schedules")).json()
    purge = next(s for s in body["schedules"] if s["name"] == "maintenance.purge_runs")
    runs = [datetime.fromisoformat(at).astimezone(LIMA) for at in purge["next_runs"]]
    assert len(runs) == 5 and runs[0] == datetime.fromisoformat(purge["next_run_at"]).astimezone(LIMA)
    assert all((at.hour, at.minute, at.second) == (3, 30, 0) for at in runs)
    assert [later - earlier for earlier, later in zip(runs, runs[1:])] == [timedelta(days=1)] * 4
    assert purge["catch_up"] == "skip"
    lost = next(s for s in body["schedules"] if s["name"] == "maintenance.redeliver_lost")  # @every 2m
    steps = [datetime.fromisoformat(b) - datetime.fromisoformat(a) for a, b in zip(lost["next_runs"], lost["next_runs"][1:])]
    assert steps == [timedelta(minutes=2)] * 4


async def test_the_schedules_say_which_beat_holds_the_leader_lock(
    viewer: httpx.AsyncClient, servers: dict[str, Any], run_dir: Path
) -> None:
    _clean_beat_state()
    env = beat_environment(os.environ.copy(), {}, max_interval_s=1)
    log = run_dir / "beat-leader.log"
    assert (await viewer.get("/tasks/schedules")).json()["leader"] is None
    beat = start_beat(env, log)
    try:
        wait_for_log(beat, log, "beat: Acquired lock", timeout=60)

        async def leader() -> Any:
            return (await viewer.get("/tasks/schedules")).json()["leader"]

        deadline = time.monotonic() + 30
        while (found := await leader()) is None or found["holder"] is None:
            assert time.monotonic() < deadline, found
            await asyncio.sleep(0.1)
        assert found["holder"] == f"{socket.gethostname()}:{beat.pid}"
        assert datetime.fromisoformat(found["since"]) <= datetime.now(LIMA)
        assert 0 < found["lock_expires_in_s"] <= 5
    finally:
        stop(beat)
    assert (await viewer.get("/tasks/schedules")).json()["leader"] is None  # a clean stop releases the lock
    _clean_beat_state()


@pytest.fixture
def domain(servers: dict[str, Any]) -> Iterator[ScratchDomain]:
    with scratch_domain(TASKS) as created:
        yield created
    _clean_beat_state()
    redis.Redis.from_url(os.environ["REDIS_URL"]).delete(created.queue)


async def test_ticks_missed_while_no_beat_ran_are_skipped_or_caught_up_once(
    domain: ScratchDomain, db: asyncpg.Connection, run_dir: Path
) -> None:
    skipper, catcher = f"{domain.name}.skipper", f"{domain.name}.catcher"
    _clean_beat_state()
    env = beat_environment(os.environ.copy(), {skipper: "@every 3s", catcher: "@every 3s"}, max_interval_s=1)
    first_log, second_log = run_dir / f"{domain.name}-beat-1.log", run_dir / f"{domain.name}-beat-2.log"
    try:
        first = start_beat(env, first_log)
        try:
            await _until(lambda: sent_ids(first_log, skipper) and sent_ids(first_log, catcher), "first sends", first_log)
        finally:
            stop(first)
        # No Beat runs across several ticks (and past the grace of 6 x the 1 s Beat interval).
        await asyncio.sleep(12)
        second = start_beat(env, second_log)
        try:
            caught_up = f"{catcher} missed its tick(s) while no Beat ran"
            skipped = f"{skipper} missed its tick(s) while no Beat ran"
            await _until(lambda: caught_up in second_log.read_text() and skipped in second_log.read_text(),
                         "the missed ticks handled", second_log)
            await _until(lambda: len(sent_ids(second_log, skipper)) >= 1, "skipper's next regular tick", second_log)
        finally:
            stop(second)
        text = second_log.read_text()
        lines = text.splitlines()

        def first_line(needle: str) -> int:
            return next(i for i, line in enumerate(lines) if needle in line)

        # catch_up=once: the missed ticks became one run, sent at once.
        assert "catching up with one run (catch_up=once)" in lines[first_line(caught_up)]
        assert first_line(f"Sending due task {catcher}") == first_line(caught_up) + 1
        # catch_up=skip (the default): nothing sent for them; the next run is the next tick.
        assert "skipped (catch_up=skip)" in lines[first_line(skipped)]
        assert first_line(f"Sending due task {skipper}") > first_line(skipped)
        assert text.count(skipped) == 1 and text.count(caught_up) == 1
    finally:
        rows = await db.fetch("select task_id from task_runs where task_name = any($1::text[])", [skipper, catcher])
        await db.execute("delete from task_runs where task_name = any($1::text[])", [skipper, catcher])
    assert rows


def test_an_unknown_catch_up_policy_stops_start_up(tmp_path: Path) -> None:
    import subprocess
    import sys

    from support.processes import ROOT

    source = TASKS["catcher_task.py"].replace('catch_up="once"', 'catch_up="twice"')
    with scratch_domain({"catcher_task.py": source}) as bad:
        done = subprocess.run([sys.executable, "-c", "import config.celery_config"], cwd=ROOT, env=os.environ.copy(),
                              capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert f"catch_up of {bad.name}.catcher must be one of skip, once" in done.stderr
