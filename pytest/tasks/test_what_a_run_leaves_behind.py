"""What a run leaves for its users: its last progress after it fails or is revoked, and log lines
of bounded size whatever arguments it carried. Real API and worker on a scratch domain's queue.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis.asyncio as aioredis

import pytest
from config.embedded import free_port
from support.polling import wait_for_status
from support.processes import start_api, start_worker, stop
from support.registry import delete_runs
from support.scratch_domain import ScratchDomain, scratch_domain

TASKS = {
    "steps_task.py": '''
"""Scratch tasks that report progress, then fail, wait or take a large argument."""
import time
from typing import Annotated

from pydantic import Field

from background.processors.progress import Progress
from config.celery_config import celery_app


@celery_app.task(name="{domain}.steps_then_fail", queue="{domain}")
def steps_then_fail(progress: Progress, steps: int = 3) -> None:
    """Report `steps` steps, then fail."""
    for step in range(1, steps + 1):
        progress.update(step, 10, f"step {step}")
    raise RuntimeError(f"failed after step {steps}")


@celery_app.task(name="{domain}.steps_then_wait", queue="{domain}")
def steps_then_wait(progress: Progress, seconds: float = 120.0) -> None:
    """Report three steps, then wait (to be revoked)."""
    for step in range(1, 4):
        progress.update(step, 10, f"step {step}")
    time.sleep(seconds)


@celery_app.task(name="{domain}.carry", queue="{domain}")
def carry(payload: Annotated[str, Field(max_length=200_000)]) -> int:
    """Take a large argument and return its length."""
    return len(payload)
''',
}


@pytest.fixture(scope="module")
def domain() -> Iterator[ScratchDomain]:
    with scratch_domain(TASKS) as created:
        yield created


@pytest.fixture(scope="module")
def stack(domain: ScratchDomain, servers: dict[str, Any], run_dir: Path) -> Iterator[dict[str, Any]]:
    """An API and a worker started after the task file exists; the worker logs to its own file."""
    log = run_dir / f"{domain.name}-worker.log"
    worker = start_worker(os.environ.copy(), log, queues=domain.queue, name=domain.name, concurrency=1)
    port = free_port()
    api = start_api(os.environ.copy(), port, run_dir / f"{domain.name}-api.log")
    try:
        yield {"url": f"http://127.0.0.1:{port}", "log": log}
    finally:
        stop(api)
        stop(worker)


@pytest.fixture
async def runs(stack: dict[str, Any], mint: Callable[..., str], db: asyncpg.Connection,
               servers: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    created: list[str] = []
    async with httpx.AsyncClient(base_url=stack["url"], headers={"Authorization": f"Bearer {mint()}"},
                                 timeout=30) as http:
        yield {"http": http, "created": created}
    redis = aioredis.Redis.from_url(servers["valkey"].url)
    try:
        if created:
            await delete_runs(db, created)
            await redis.delete(*[f"{prefix}{task_id}" for task_id in created
                                 for prefix in ("celery-task-meta-", "toolbox:progress:", "toolbox:revoked:")])
    finally:
        await redis.aclose()


async def _launch(runs: dict[str, Any], name: str, params: dict[str, Any]) -> str:
    response = await runs["http"].post(f"/tasks/execute/{name}", json=params)
    assert response.status_code == 202, response.text
    task_id: str = response.json()["task_id"]
    runs["created"].append(task_id)
    return task_id


async def test_a_failed_run_keeps_its_last_progress(runs: dict[str, Any]) -> None:
    task_id = await _launch(runs, "steps-then-fail", {"steps": 4})
    status = await wait_for_status(runs["http"], task_id)
    assert status["status"] == "FAILURE"
    assert status["error"] == "RuntimeError: failed after step 4"
    assert status["progress"] == {"current": 4, "total": 10, "message": "step 4"}


async def test_a_revoked_running_run_keeps_its_last_progress(runs: dict[str, Any]) -> None:
    http = runs["http"]
    task_id = await _launch(runs, "steps-then-wait", {})
    running = await wait_for_status(http, task_id, {"PROGRESS"})
    while running["progress"]["current"] < 3:
        running = await wait_for_status(http, task_id, {"PROGRESS"})
    response = await http.post(f"/tasks/{task_id}/revoke", json={"terminate": True})
    assert response.status_code == 200, response.text
    status = await wait_for_status(http, task_id)
    assert status["status"] == "REVOKED"
    assert status["progress"] == {"current": 3, "total": 10, "message": "step 3"}


async def test_a_100_kb_argument_is_not_written_whole_into_the_worker_log(runs: dict[str, Any],
                                                                          stack: dict[str, Any]) -> None:
    log: Path = stack["log"]
    before = log.stat().st_size
    payload = "0123456789abcdef" * 6400  # 100 KB
    task_id = await _launch(runs, "carry", {"payload": payload})
    status = await wait_for_status(runs["http"], task_id)
    assert (status["status"], status["result"]) == ("SUCCESS", len(payload))
    with log.open("rb") as written:
        written.seek(before)
        lines = written.read().decode(errors="replace").splitlines()
    mine = [line for line in lines if task_id in line]
    assert any("received" in line for line in mine) and any("succeeded" in line for line in mine), mine
    assert max(len(line) for line in lines) < 4_000, max(len(line) for line in lines)
    assert sum(len(line) for line in lines) < 20_000
