"""GET /tasks/stats, GET /metrics and GET /health/ready against the real API and worker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from celery import Celery
from prometheus_client.parser import text_string_to_metric_families

from services.runs.workers import WorkerControl
from support.polling import wait_for_status
from support.registry import delete_runs, insert_run


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def _until_a_worker_answers(http: httpx.AsyncClient, path: str, online: Callable[[Any], int]) -> Any:
    # Worker answers are cached a few seconds by the API: an earlier test may have cached "none yet".
    deadline = time.monotonic() + 30
    while True:
        body = (await http.get(path)).json()
        if online(body) >= 1 or time.monotonic() > deadline:
            return body
        await asyncio.sleep(0.5)


async def test_stats_report_workers_queues_and_counts_of_the_last_day(
    client: httpx.AsyncClient, worker: Any, db: asyncpg.Connection
) -> None:
    await _until_a_worker_answers(client, "/tasks/stats", lambda body: body["workers"]["online"])
    old = await insert_run(db, task_name="maintenance.ping", status="FAILURE",
                           submitted_at=datetime.now(UTC) - timedelta(hours=25))  # outside the window
    try:
        expected = dict(await db.fetch("select status, count(*) from task_runs "
                                       "where submitted_at >= now() - interval '24 hours' group by status"))
        response = await client.get("/tasks/stats")
    finally:
        await delete_runs(db, [old])
    assert response.status_code == 200, response.text
    stats = response.json()
    assert stats["workers"]["online"] >= 1 and stats["workers"]["error"] is None
    names = [w["name"] for w in stats["workers"]["details"]]
    assert any(name.startswith("test-") for name in names), names
    assert stats["workers"]["active"] >= 0 and stats["workers"]["processed"] >= 0
    assert stats["queues"]["celery"] is not None and stats["queues"]["celery"] >= 0
    assert stats["runs_last_24h"] == expected


async def test_metrics_count_a_run_from_enqueue_to_success_and_the_api_request(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, worker: Any, db: asyncpg.Connection
) -> None:
    before = _samples((await anonymous.get("/metrics")).text)
    response = await client.post("/tasks/execute/ping", json={"echo": "metrics"})
    task_id = response.json()["task_id"]
    try:
        assert (await wait_for_status(client, task_id))["status"] == "SUCCESS"
        scrape = await anonymous.get("/metrics")  # no token: scrapers carry none
    finally:
        await delete_runs(db, [task_id])
    assert scrape.status_code == 200 and scrape.headers["content-type"].startswith("text/plain")
    after = _samples(scrape.text)
    for name in ("toolbox_tasks_enqueued_total", "toolbox_tasks_started_total", "toolbox_tasks_succeeded_total",
                 "toolbox_task_duration_seconds_count"):
        assert _value(after, name, task="maintenance.ping") >= _value(before, name, task="maintenance.ping") + 1, name
    assert _value(after, "toolbox_task_duration_seconds_bucket", task="maintenance.ping", le="+Inf") == _value(
        after, "toolbox_task_duration_seconds_count", task="maintenance.ping")
    assert ("toolbox_queue_length", (("queue", "celery"),)) in after
    route = {"method": "POST", "route": "/tasks/execute/ping", "status": "202"}
    assert _value(after, "toolbox_http_requests_total", **route) >= _value(before, "toolbox_http_requests_total",
                                                                           **route) + 1


async def test_a_revoke_is_counted_and_logged_with_its_task_id(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, db: asyncpg.Connection, run_dir: Path
) -> None:
    name = "maintenance.table_stats"
    before = _value(_samples((await anonymous.get("/metrics")).text), "toolbox_tasks_revoked_total", task=name)
    # A run the registry knows as queued (no worker will see it: the id was never published).
    task_id = await insert_run(db, task_name=name, status="PENDING")
    try:
        assert (await client.post(f"/tasks/{task_id}/revoke")).status_code == 200
        after = _value(_samples((await anonymous.get("/metrics")).text), "toolbox_tasks_revoked_total", task=name)
    finally:
        await delete_runs(db, [task_id])
    assert after == before + 1
    lines = [line for line in (run_dir / "api.log").read_text().splitlines() if f"task_id={task_id}" in line]
    assert any("level=info logger=toolbox.control" in line and "revoked by tester" in line for line in lines), lines


async def test_readiness_reports_database_redis_and_workers(anonymous: httpx.AsyncClient, worker: Any) -> None:
    await _until_a_worker_answers(anonymous, "/health/ready", lambda body: body["checks"]["workers"]["online"])
    response = await anonymous.get("/health/ready")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] and body["checks"]["redis"]["ok"]
    assert body["checks"]["workers"]["ok"] is True and body["checks"]["workers"]["online"] >= 1


async def test_no_worker_is_reported_without_waiting_forever(servers: dict[str, Any]) -> None:
    # A broker database no worker listens on: the ping and inspect come back empty within their timeouts.
    lonely = Celery("lonely", broker=servers["valkey"].url.rsplit("/", 1)[0] + "/9")
    control = WorkerControl(lonely, inspect_timeout_s=0.3, ping_timeout_s=0.3)
    try:
        assert await control.ping() == (0, None)
        snapshot = await control.snapshot()
        assert snapshot.online == 0 and snapshot.error is None
    finally:
        control.close()
        lonely.close()


async def test_stats_and_history_need_a_token_but_metrics_do_not(anonymous: httpx.AsyncClient) -> None:
    assert (await anonymous.get("/tasks/stats")).status_code == 401
    assert (await anonymous.get("/tasks/runs")).status_code == 401
    assert (await anonymous.get("/metrics")).status_code == 200
