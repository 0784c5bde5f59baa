"""Revoke (persisted across worker restarts, or terminating a running task) and retry, on real workers.

A scratch domain gives the tests a task on a queue of its own, so its worker can be stopped and
started without touching the session's worker.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import redis.asyncio as aioredis

import pytest
from support.polling import wait_for_status
from support.processes import running_api, start_worker, stop, wait_for_log
from support.registry import delete_runs
from support.scratch_domain import ScratchDomain, scratch_domain

TASKS = {
    "nap_task.py": '''
"""Scratch task for revoke tests: leaves a file behind when its body runs."""
import time
from pathlib import Path

from config.celery_config import celery_app


@celery_app.task(name="{domain}.nap", queue="{domain}")
def nap(marker: str, seconds: float = 0.0) -> str:
    """Write `marker` as a file, then sleep."""
    Path(marker).write_text("ran")
    time.sleep(seconds)
    return marker
''',
}


@pytest.fixture(scope="module")
def domain() -> Iterator[ScratchDomain]:
    with scratch_domain(TASKS) as created:
        yield created


@pytest.fixture(scope="module")
def scratch_api(domain: ScratchDomain, servers: dict[str, Any], run_dir: Path) -> Iterator[str]:
    """An API started after the task file exists (no worker: each test runs its own)."""
    with running_api(os.environ.copy(), run_dir / f"{domain.name}-api.log") as url:
        yield url


@pytest.fixture
async def scratch(scratch_api: str, mint: Callable[..., str], db: asyncpg.Connection,
                  servers: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """Client, Redis and a list of run ids to clean up (registry rows, revoke keys, result metas)."""
    created: list[str] = []
    redis = aioredis.Redis.from_url(servers["valkey"].url)
    async with httpx.AsyncClient(base_url=scratch_api, headers={"Authorization": f"Bearer {mint()}"},
                                 timeout=30) as http:
        yield {"http": http, "redis": redis, "created": created}
    if created:
        await delete_runs(db, created)
        await redis.delete(*[f"toolbox:revoked:{i}" for i in created], *[f"celery-task-meta-{i}" for i in created])
    await redis.aclose()


async def _nap(http: httpx.AsyncClient, created: list[str], marker: Path, seconds: float = 0.0) -> str:
    response = await http.post("/tasks/execute/nap", json={"marker": str(marker), "seconds": seconds})
    assert response.status_code == 202, response.text
    created.append(response.json()["task_id"])
    return created[-1]


async def _backend_meta(redis: aioredis.Redis, task_id: str) -> dict[str, Any]:
    raw = await redis.get(f"celery-task-meta-{task_id}")
    return orjson.loads(raw) if raw else {}


async def test_a_revoked_queued_run_never_runs_even_after_a_worker_restart(
    scratch: dict[str, Any], domain: ScratchDomain, run_dir: Path, tmp_path: Path
) -> None:
    http, created = scratch["http"], scratch["created"]
    env = os.environ.copy()
    log = run_dir / f"{domain.name}-restart-worker.log"
    # A worker that knew the queue, then went away: nobody hears the revoke broadcast below.
    stop(start_worker(env, log, queues=domain.queue, name=f"{domain.name}-a", concurrency=1))

    revoked_marker, control_marker = tmp_path / "revoked", tmp_path / "control"
    revoked = await _nap(http, created, revoked_marker)
    control = await _nap(http, created, control_marker)
    response = await http.post(f"/tasks/{revoked}/revoke")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "REVOKED" and response.json()["previous_status"] == "PENDING"

    worker = start_worker(env, log, queues=domain.queue, name=f"{domain.name}-b", concurrency=1)
    try:
        # The queue is FIFO: once the later run has finished, the worker has taken the revoked one.
        assert (await wait_for_status(http, control))["status"] == "SUCCESS"
        wait_for_log(worker, log, f"task_id={revoked}", timeout=30)
    finally:
        stop(worker)

    assert control_marker.exists() and not revoked_marker.exists()
    status = (await http.get(f"/tasks/status/{revoked}")).json()
    assert status["status"] == "REVOKED" and status["started_at"] is None
    meta = await _backend_meta(scratch["redis"], revoked)
    # Rewritten by the worker's check when it took the message (the API's version says just "revoked").
    assert meta["status"] == "REVOKED" and meta["result"]["exc_message"] == ["revoked before it started"]
    skipped = [line for line in log.read_text().splitlines() if f"task_id={revoked}" in line]
    assert any("skipped a revoked run" in line for line in skipped), skipped


async def test_terminate_stops_a_running_task_and_frees_the_worker(
    scratch: dict[str, Any], domain: ScratchDomain, run_dir: Path, tmp_path: Path
) -> None:
    http, created = scratch["http"], scratch["created"]
    log = run_dir / f"{domain.name}-terminate-worker.log"
    worker = start_worker(os.environ.copy(), log, queues=domain.queue, name=f"{domain.name}-t", concurrency=1)
    try:
        long_run = await _nap(http, created, tmp_path / "long", seconds=600)
        await wait_for_status(http, long_run, {"STARTED"})

        refused = await http.post(f"/tasks/{long_run}/revoke", json={})
        assert refused.status_code == 409 and refused.json()["code"] == "run_running"

        response = await http.post(f"/tasks/{long_run}/revoke", json={"terminate": True})
        assert response.status_code == 200, response.text
        assert response.json()["previous_status"] == "STARTED" and response.json()["broadcast"] is True
        # One slot only: the next run can finish only if the 600 s one was really stopped.
        follow_up = await _nap(http, created, tmp_path / "next")
        assert (await wait_for_status(http, follow_up, timeout=60))["status"] == "SUCCESS"
    finally:
        stop(worker)
    assert (await http.get(f"/tasks/status/{long_run}")).json()["status"] == "REVOKED"
    assert (await _backend_meta(scratch["redis"], long_run))["status"] == "REVOKED"


async def test_retry_reruns_with_the_same_parameters_under_a_new_linked_id(
    scratch: dict[str, Any], domain: ScratchDomain, run_dir: Path, tmp_path: Path
) -> None:
    http, created = scratch["http"], scratch["created"]
    marker = tmp_path / "again"
    first = await _nap(http, created, marker)

    refused = await http.post(f"/tasks/{first}/retry")  # still queued: no worker yet
    assert refused.status_code == 409 and refused.json()["code"] == "run_active"

    worker = start_worker(os.environ.copy(), run_dir / f"{domain.name}-retry-worker.log", queues=domain.queue,
                          name=f"{domain.name}-r", concurrency=1)
    try:
        assert (await wait_for_status(http, first))["status"] == "SUCCESS"
        marker.unlink()
        response = await http.post(f"/tasks/{first}/retry")
        assert response.status_code == 202, response.text
        accepted = response.json()
        created.append(accepted["task_id"])
        assert accepted["parent_id"] == first and accepted["task_id"] != first
        second = await wait_for_status(http, accepted["task_id"])
    finally:
        stop(worker)
    assert second["status"] == "SUCCESS" and marker.exists()
    assert second["params"] == {"marker": str(marker), "seconds": 0.0}
    assert (second["origin"], second["parent_id"], second["submitted_by"]) == ("retry", first, "tester")
    history = (await http.get("/tasks/runs", params={"task": f"{domain.name}.nap", "limit": 200})).json()
    row = next(r for r in history["runs"] if r["task_id"] == accepted["task_id"])
    assert (row["origin"], row["parent_id"]) == ("retry", first)

    finished = await http.post(f"/tasks/{first}/revoke")
    assert finished.status_code == 409 and finished.json()["code"] == "run_finished"


async def test_unknown_ids_and_bad_bodies_are_refused(scratch: dict[str, Any]) -> None:
    http = scratch["http"]
    unknown = "6b1e5c0e-0000-4000-8000-00000000dead"
    for action in ("revoke", "retry"):
        response = await http.post(f"/tasks/{unknown}/{action}")
        assert response.status_code == 404 and response.json()["code"] == "run_not_found"
    response = await http.post(f"/tasks/{unknown}/revoke", json={"terminate": True, "force": 1})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "force"
    response = await http.post(f"/tasks/{unknown}/revoke", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json()["code"] == "malformed_json"
