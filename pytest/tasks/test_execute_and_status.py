"""Launch a task over HTTP, follow it to the end through the status endpoint."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import httpx

from support.polling import wait_for_status


async def test_table_stats_runs_on_the_worker_and_reports_real_row_counts(
    client: httpx.AsyncClient, worker: Any, db: asyncpg.Connection
) -> None:
    response = await client.post("/tasks/execute/table-stats", json={"schema_name": "public"})
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["success"] is True
    assert accepted["task_name"] == "maintenance.table_stats"
    assert accepted["status_url"] == f"/tasks/status/{accepted['task_id']}"

    status = await wait_for_status(client, accepted["task_id"])

    assert status["status"] == "SUCCESS", status
    assert status["ready"] is True and status["successful"] is True and status["failed"] is False
    assert status["params"] == {"schema_name": "public"}
    assert status["submitted_by"] == "tester"
    assert status["worker"]
    assert status["started_at"] <= status["finished_at"]
    assert status["runtime_s"] >= 0
    tables = {row["table"]: row for row in status["result"]["tables"]}
    # The task counted the registry once it had started: every row submitted by then, its own included.
    started_at = datetime.fromisoformat(status["started_at"])
    assert tables["task_runs"]["rows"] == await db.fetchval(
        "select count(*) from task_runs where submitted_at <= $1", started_at)
    assert tables["alembic_version"]["rows"] == 1


async def test_status_of_an_id_never_issued_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/tasks/status/6b1e5c0e-0000-4000-8000-000000000000")
    assert response.status_code == 404
    body = response.json()
    assert body["success"] is False and body["code"] == "run_not_found"


async def test_invalid_parameters_are_refused_before_enqueue(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    before = await db.fetchval("select count(*) from task_runs")
    response = await client.post("/tasks/execute/table-stats", json={"min_rows": -1, "bogus": 1})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_parameters"
    fields = {error["field"]: error["type"] for error in body["errors"]}
    assert fields == {"min_rows": "greater_than_equal", "bogus": "extra_forbidden"}
    assert await db.fetchval("select count(*) from task_runs") == before


async def test_unknown_task_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/tasks/execute/no-such-task", json={})
    assert response.status_code == 404
    assert response.json()["code"] == "task_not_found"
