"""Failure and recovery webhooks from a real worker to local receivers: signed, retried, recorded.

One receiver answers at once, one port has nothing listening (a dead receiver) and one path
holds its first request (a slow receiver). The worker's environment carries NOTIFY_WEBHOOKS.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx

import pytest
from config.embedded import free_port
from factories.webhook_receiver import WebhookReceiver, start_receiver, verify
from support.polling import wait_for_status
from support.processes import start_api, start_worker, stop
from support.scratch_domain import scratch_domain

SECRET = "webhook-test-secret"
TASKS = {
    "boom_task.py": '''
"""Scratch task for notification tests."""
from config.celery_config import celery_app


@celery_app.task(name="{domain}.boom", queue="{domain}")
def boom(fail: bool = True, label: str = "") -> str:
    """Fail on demand."""
    if fail:
        raise RuntimeError(f"boom {label}")
    return label
''',
    "sulk_task.py": '''
"""Scratch task whose failures go to the slow receiver."""
from config.celery_config import celery_app


@celery_app.task(name="{domain}.sulk", queue="{domain}")
def sulk() -> None:
    """Always fail."""
    raise ValueError("sulking")
''',
}


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    server = start_receiver()
    yield server
    server.close()


@pytest.fixture(scope="module")
def stack(receiver: WebhookReceiver, servers: dict[str, Any], run_dir: Path) -> Iterator[dict[str, Any]]:
    with scratch_domain(TASKS) as domain:
        dead = f"http://127.0.0.1:{free_port()}/dead"
        hooks = [
            {"url": f"{receiver.url}/ok", "events": ["failure", "recovery"], "tasks": [f"{domain.name}.boom"]},
            {"url": dead, "events": ["failure"], "tasks": [f"{domain.name}.b*"]},
            {"url": f"{receiver.url}/slow", "tasks": [f"{domain.name}.sulk"]},
            {"url": f"{receiver.url}/never", "tasks": ["other.*"]},
        ]
        env = {**os.environ, "NOTIFY_WEBHOOKS": json.dumps(hooks), "NOTIFY_SECRET": SECRET,
               "NOTIFY_QUEUE": f"{domain.name}-notify", "NOTIFY_MAX_ATTEMPTS": "3", "NOTIFY_BACKOFF_S": "0.2",
               "NOTIFY_TIMEOUT_S": "2", "NOTIFY_PUBLIC_URL": "http://console.example:8000/"}
        worker = start_worker(env, run_dir / f"{domain.name}-worker.log", queues=f"{domain.name},{domain.name}-notify",
                              name=domain.name, concurrency=2)
        port = free_port()
        api = start_api(env, port, run_dir / f"{domain.name}-api.log")
        try:
            yield {"domain": domain, "api": f"http://127.0.0.1:{port}", "dead": dead}
        finally:
            stop(api)
            stop(worker)


@pytest.fixture
async def http(stack: dict[str, Any], mint: Callable[..., str], db: asyncpg.Connection
               ) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack["api"], headers={"Authorization": f"Bearer {mint()}"},
                                 timeout=30) as client:
        yield client
    name = stack["domain"].name
    await db.execute("delete from task_runs where task_name like $1", f"{name}.%")
    await db.execute("delete from audit_events where task_name like $1", f"{name}.%")
    await db.execute("delete from notification_deliveries where task_name like $1", f"{name}.%")


async def _run(http: httpx.AsyncClient, task: str, **params: Any) -> dict[str, Any]:
    response = await http.post(f"/tasks/execute/{task}", json=params)
    assert response.status_code == 202, response.text
    return await wait_for_status(http, response.json()["task_id"])


async def _attempts(http: httpx.AsyncClient, task_id: str, count: int) -> list[dict[str, Any]]:
    import asyncio
    import time

    deadline = time.monotonic() + 60
    while True:
        body = (await http.get("/notifications/deliveries", params={"task_id": task_id})).json()
        if body["count"] >= count:
            return list(reversed(body["deliveries"]))
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.1)


async def test_a_failure_is_posted_signed_with_a_link_and_a_dead_receiver_is_retried_then_given_up(
    http: httpx.AsyncClient, receiver: WebhookReceiver, stack: dict[str, Any]
) -> None:
    failed = await _run(http, "boom", label="first")
    assert failed["status"] == "FAILURE"
    run_id = failed["task_id"]

    got = next(r for r in await receiver.wait_for("/ok") if r.json["run_id"] == run_id)

    assert verify(SECRET, got.headers["x-toolbox-signature"], got.body)
    assert not verify("another-secret", got.headers["x-toolbox-signature"], got.body)
    body = got.json
    assert (body["event"], body["task"], body["status"], body["origin"]) == (
        "failure", f"{stack['domain'].name}.boom", "FAILURE", "api")
    assert body["params"] == {"label": "first"} and body["submitted_by"] == "tester"
    assert body["error"] == "RuntimeError: boom first"
    assert body["link"] == f"http://console.example:8000/#/runs/{run_id}"
    assert body["status_url"] == f"http://console.example:8000/tasks/status/{run_id}"
    assert body["started_at"] <= body["finished_at"] and body["runtime_s"] >= 0
    assert got.headers["x-toolbox-event"] == "failure" and got.headers["x-toolbox-delivery"] == body["delivery_id"]

    attempts = await _attempts(http, run_id, 4)  # 1 to the live receiver, 3 to the dead one
    dead = [a for a in attempts if a["url"] == stack["dead"]]
    assert [a["attempt"] for a in dead] == [1, 2, 3]
    assert all(not a["ok"] and "ConnectError" in a["error"] for a in dead)
    assert [a["outcome"] for a in dead] == [None, None, "gave_up"]
    assert len({a["delivery_id"] for a in dead}) == 1
    live = [a for a in attempts if a["url"].endswith("/ok")]
    assert [(a["ok"], a["status_code"], a["outcome"]) for a in live] == [(True, 200, "delivered")]
    assert receiver.on("/never") == []
    # The run itself is untouched by its notifications.
    assert (await http.get(f"/tasks/status/{run_id}")).json()["error"] == "RuntimeError: boom first"


async def test_the_next_success_after_a_failure_is_a_recovery_and_only_that_one(
    http: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    failed = await _run(http, "boom", label="r1")
    recovered = await _run(http, "boom", fail=False, label="r2")
    assert recovered["status"] == "SUCCESS"
    again = await _run(http, "boom", fail=False, label="r3")
    failed_again = await _run(http, "boom", label="r4")

    def events() -> list[tuple[str, str]]:
        mine = {failed["task_id"], recovered["task_id"], again["task_id"], failed_again["task_id"]}
        return [(r.json["event"], r.json["run_id"]) for r in receiver.on("/ok") if r.json["run_id"] in mine]

    await _attempts(http, failed_again["task_id"], 4)
    assert events() == [("failure", failed["task_id"]), ("recovery", recovered["task_id"]),
                        ("failure", failed_again["task_id"])]
    recovery = next(r.json for r in receiver.on("/ok") if r.json["run_id"] == recovered["task_id"])
    assert recovery["recovered_from"] == failed["task_id"] and recovery["status"] == "SUCCESS"
    assert recovery["error"] is None


async def test_a_slow_receiver_neither_delays_the_run_nor_loses_the_notification(
    http: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    receiver.hold["/slow"] = 1  # the first request waits longer than NOTIFY_TIMEOUT_S
    receiver.entered.clear()
    response = await http.post("/tasks/execute/sulk", json={})
    run_id = response.json()["task_id"]
    assert receiver.entered.wait(60)
    # The receiver is still holding the first delivery attempt: the run is already over.
    status = (await http.get(f"/tasks/status/{run_id}")).json()
    assert status["status"] == "FAILURE" and status["finished_at"] is not None

    attempts = await _attempts(http, run_id, 2)
    assert [(a["attempt"], a["ok"]) for a in attempts] == [(1, False), (2, True)]
    assert "Timeout" in attempts[0]["error"] and attempts[1]["outcome"] == "delivered"
    delivered = [r for r in receiver.on("/slow") if r.json["run_id"] == run_id]
    # The held request is answered (late) once released; the second attempt got through regardless.
    assert delivered[0].headers["x-toolbox-attempt"] in {"1", "2"}
    receiver.release.set()


async def test_deliveries_need_the_operator_role(stack: dict[str, Any], mint: Callable[..., str]) -> None:
    async with httpx.AsyncClient(base_url=stack["api"], headers={"Authorization": f"Bearer {mint('viewer')}"}) as v:
        assert (await v.get("/notifications/deliveries")).status_code == 403
