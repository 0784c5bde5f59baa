"""maintenance.purge_runs: the run history forgets runs older than the retention period."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from support.polling import wait_for_status


async def _arrange(db: asyncpg.Connection, ages_in_days: dict[str, float]) -> dict[str, str]:
    """One finished registry row per label, submitted that many days ago; label -> task id."""
    now = datetime.now(UTC)
    ids = {label: f"retention-{uuid.uuid4()}" for label in ages_in_days}
    for label, days in ages_in_days.items():
        submitted = now - timedelta(days=days)
        await db.execute(
            "insert into task_runs (task_id, task_name, status, origin, submitted_at, finished_at, retries) "
            "values ($1, 'test.retention', 'SUCCESS', 'beat', $2, $2, 0)", ids[label], submitted)
    return ids


async def _left(db: asyncpg.Connection, ids: dict[str, str]) -> set[str]:
    rows = await db.fetch("select task_id from task_runs where task_id = any($1::text[])", list(ids.values()))
    found = {row["task_id"] for row in rows}
    return {label for label, task_id in ids.items() if task_id in found}


async def test_runs_past_the_retention_period_are_deleted_and_recent_ones_kept(
    client: httpx.AsyncClient, worker: Any, db: asyncpg.Connection
) -> None:
    ids = await _arrange(db, {"year_old": 365, "just_past": 10.1, "just_inside": 9.9, "today": 0})
    due = await db.fetchval("select count(*) from task_runs where submitted_at < now() - interval '10 days'")
    try:
        # A dry run counts and deletes nothing.
        dry = await client.post("/tasks/execute/purge-runs", json={"older_than_days": 10, "dry_run": True})
        dry_status = await wait_for_status(client, dry.json()["task_id"])
        assert dry_status["status"] == "SUCCESS", dry_status
        assert dry_status["result"]["due"] == due and dry_status["result"]["deleted"] == 0
        assert await _left(db, ids) == set(ids)

        # Small batches: the purge loops until nothing older than the cutoff is left.
        response = await client.post("/tasks/execute/purge-runs", json={"older_than_days": 10, "batch_size": 1})
        assert response.status_code == 202, response.text
        status = await wait_for_status(client, response.json()["task_id"])

        assert status["status"] == "SUCCESS", status
        assert status["result"]["older_than_days"] == 10 and status["result"]["dry_run"] is False
        assert status["result"]["deleted"] == due >= 2
        assert await _left(db, ids) == {"just_inside", "today"}
        assert await db.fetchval("select count(*) from task_runs where submitted_at < now() - interval '10 days'") == 0
    finally:
        await db.execute("delete from task_runs where task_id = any($1::text[])", list(ids.values()))


async def test_the_retention_period_comes_from_settings_by_default(
    client: httpx.AsyncClient, worker: Any, db: asyncpg.Connection
) -> None:
    ids = await _arrange(db, {"past_default": 31, "inside_default": 29})
    try:
        response = await client.post("/tasks/execute/purge-runs", json={})
        status = await wait_for_status(client, response.json()["task_id"])
        assert status["status"] == "SUCCESS", status
        assert status["result"]["older_than_days"] == 30
        assert await _left(db, ids) == {"inside_default"}
    finally:
        await db.execute("delete from task_runs where task_id = any($1::text[])", list(ids.values()))


async def test_a_retention_below_one_day_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/tasks/execute/purge-runs", json={"older_than_days": 0, "batch_size": 0})
    assert response.status_code == 422
    assert {error["field"] for error in response.json()["errors"]} == {"older_than_days", "batch_size"}
