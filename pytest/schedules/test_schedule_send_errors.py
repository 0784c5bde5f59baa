"""A schedule Beat cannot send is visible: in /tasks/schedules, in /metrics and in Beat's log at ERROR.

The failing schedule is a scratch task that declares a soft time limit above its hard one: Celery
refuses to send such a task (`apply_async` raises ValueError), every tick. `maintenance.ping` is
scheduled beside it and keeps being sent.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis

import pytest
from support.beat import beat_env_for, start_beat
from support.processes import start_api, stop, wait_for_log
from support.scratch_domain import ScratchDomain, scratch_domain

SOURCE = '''
"""A task Celery refuses to send: its soft time limit is above its hard one."""
from config.celery_config import celery_app


@celery_app.task(name="{domain}.limits", schedule="@every 1s", time_limit=5, soft_time_limit=10)
def limits() -> str:
    """Never sent by Beat."""
    return "sent"
'''
REFUSAL = "ValueError: soft_time_limit must be less than or equal to time_limit"


@pytest.fixture
def domain(servers: dict[str, Any]) -> Iterator[ScratchDomain]:
    # This process discovers its tasks before the scratch file exists: it must not keep a task
    # whose file is removed after the test.
    import config.celery_config  # noqa: F401

    with scratch_domain({"limits_task.py": SOURCE}) as created:
        yield created


@pytest.fixture
def failing(domain: ScratchDomain) -> Iterator[tuple[str, dict[str, str]]]:
    """The failing schedule's name and an environment scheduling it next to maintenance.ping."""
    from config.redis_keys import METRICS_SCHEDULE_SEND_FAILURES_KEY, SCHEDULE_SEND_ERRORS_KEY

    name = f"{domain.name}.limits"
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    try:  # an earlier test's Beat may have left an error of maintenance.ping in the shared Redis
        client.hdel(SCHEDULE_SEND_ERRORS_KEY, "maintenance.ping")
        client.hdel(METRICS_SCHEDULE_SEND_FAILURES_KEY, "maintenance.ping")
    finally:
        client.close()
    with beat_env_for("maintenance.ping") as env:
        # This process does not know the scratch task; the API and Beat started by the test will.
        overrides = {**json.loads(env["SCHEDULE_OVERRIDES"]), name: "@every 1s"}
        yield name, {**env, "SCHEDULE_OVERRIDES": json.dumps(overrides)}
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    try:
        client.hdel(SCHEDULE_SEND_ERRORS_KEY, name)
        client.hdel(METRICS_SCHEDULE_SEND_FAILURES_KEY, name)
    finally:
        client.close()


def _failures_logged(log: Path, name: str) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines()
            if f"could not send schedule {name}:" in line]


def _counter(metrics: str, name: str) -> float | None:
    found = re.search(r'^toolbox_schedule_send_failures_total\{task="' + re.escape(name) + r'"\} (\S+)$',
                      metrics, re.MULTILINE)
    return float(found.group(1)) if found else None


async def test_a_schedule_that_cannot_be_sent_is_visible(
    failing: tuple[str, dict[str, str]], worker: Any, run_dir: Path, db: asyncpg.Connection,
    mint: Callable[..., str],
) -> None:
    from config.embedded import free_port

    name, env = failing
    began = datetime.now(UTC)
    port = free_port()
    api = start_api(env, port, run_dir / "send-errors-api.log")  # discovers the scratch task, same overrides
    beat_log = run_dir / "send-errors-beat.log"
    beat = start_beat(env, beat_log)
    headers = {"Authorization": f"Bearer {mint('viewer', 'ops')}"}
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30) as http:
            before = (await http.get(f"/tasks/schedules/{name}")).json()
            assert before["enabled"] is True and before["last_send_error"] is None

            wait_for_log(beat, beat_log, f"could not send schedule {name}:", timeout=60)
            deadline = time.monotonic() + 60
            while len(_failures_logged(beat_log, name)) < 2:  # a failure per tick, not once
                assert time.monotonic() < deadline, beat_log.read_text()[-3000:]
                time.sleep(0.2)
            wait_for_log(beat, beat_log, "Sending due task maintenance.ping", timeout=60)
            # The other schedule went on, checked while Beat runs: stopping Beat may cut a send in
            # flight, which is not what this test is about.
            deadline = time.monotonic() + 30
            ping = (await http.get("/tasks/schedules/maintenance.ping")).json()
            while ping["last_run"] is None:
                assert time.monotonic() < deadline, ping
                await asyncio.sleep(0.2)
                ping = (await http.get("/tasks/schedules/maintenance.ping")).json()
            assert ping["last_send_error"] is None
            assert _counter((await http.get("/metrics")).text, "maintenance.ping") is None
            stop(beat)  # the counts below are final

            logged = _failures_logged(beat_log, name)
            assert all("level=error" in line and REFUSAL in line for line in logged), logged

            listed = (await http.get("/tasks/schedules")).json()
            by_name = {s["name"]: s for s in listed["schedules"]}
            error = by_name[name]["last_send_error"]
            assert error["message"] == REFUSAL
            assert began <= datetime.fromisoformat(error["at"]) <= datetime.now(UTC)
            assert by_name[name]["last_run"] is None  # nothing was ever sent
            assert (await http.get(f"/tasks/schedules/{name}")).json()["last_send_error"] == error

            metrics = (await http.get("/metrics")).text
            assert _counter(metrics, name) == len(logged)

        # An unsent tick leaves no run behind in the registry.
        assert await db.fetchval("select count(*) from task_runs where task_name = $1", name) == 0
        assert error["task_id"] and await db.fetchval(
            "select count(*) from task_runs where task_id = $1", error["task_id"]) == 0
    finally:
        stop(beat)
        stop(api)
        await db.execute("delete from task_runs where task_name = 'maintenance.ping' and origin = 'beat'")
