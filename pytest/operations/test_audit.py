"""The audit trail: executes, retries, revokes, pauses, resumes and CLI tokens, read back by GET /audit."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

import pytest
from support.error_shape import assert_error
from support.polling import wait_for_status
from support.processes import ROOT
from support.registry import delete_runs, insert_run


@pytest.fixture
async def actor(api_url: str, mint: Callable[..., str], db: asyncpg.Connection) -> AsyncIterator[dict[str, Any]]:
    """An operator with a subject of its own (the audit filter isolates this test), and an admin."""
    subject = f"auditor-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=api_url, timeout=30,
                                 headers={"Authorization": f"Bearer {mint('operator', subject)}"}) as operator, \
            httpx.AsyncClient(base_url=api_url, timeout=30,
                              headers={"Authorization": f"Bearer {mint('admin', 'the-admin')}"}) as admin:
        created: list[str] = []
        yield {"subject": subject, "http": operator, "admin": admin, "created": created}
        await delete_runs(db, created)
        await operator.post("/tasks/schedules/maintenance.purge_runs/resume")
    await db.execute("delete from audit_events where actor = $1", subject)


async def _events(admin: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await admin.get("/audit", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["events"])


async def test_every_operator_action_is_recorded_with_who_what_and_from_where(
    actor: dict[str, Any], worker: Any, db: asyncpg.Connection
) -> None:
    http, admin, subject = actor["http"], actor["admin"], actor["subject"]
    launched = await http.post("/tasks/execute/table-stats", json={"schema_name": "public"})
    assert launched.status_code == 202, launched.text
    run_id = launched.json()["task_id"]
    actor["created"].append(run_id)
    assert (await wait_for_status(http, run_id))["status"] == "SUCCESS"
    retried = await http.post(f"/tasks/{run_id}/retry")
    assert retried.status_code == 202, retried.text
    pending = await insert_run(db, task_name="maintenance.ping", status="PENDING")
    actor["created"].append(pending)
    assert (await http.post(f"/tasks/{pending}/revoke")).status_code == 200
    assert (await http.post("/tasks/schedules/maintenance.purge_runs/pause")).status_code == 200
    assert (await http.post("/tasks/schedules/maintenance.purge_runs/resume")).status_code == 200

    events = await _events(admin, actor=subject)

    assert [e["action"] for e in events] == ["resume", "pause", "revoke", "retry", "execute"]
    assert all(e["client"] == "127.0.0.1" and e["actor"] == subject for e in events)
    resume, pause, revoke, retry, execute = events
    assert (execute["task_name"], execute["task_id"], execute["params"]) == (
        "maintenance.table_stats", run_id, {"schema_name": "public"})
    assert retry["task_id"] == retried.json()["task_id"] and retry["detail"] == {"parent_id": run_id}
    assert retry["params"] == {"schema_name": "public"}
    assert (revoke["task_id"], revoke["detail"]) == (pending, {"terminate": False, "previous_status": "PENDING"})
    assert pause["task_name"] == resume["task_name"] == "maintenance.purge_runs"
    assert datetime.fromisoformat(execute["at"]) <= datetime.fromisoformat(resume["at"])


async def test_filters_and_keyset_pagination(actor: dict[str, Any], db: asyncpg.Connection) -> None:
    http, admin, subject = actor["http"], actor["admin"], actor["subject"]
    for name in ("maintenance.purge_runs", "maintenance.purge_runs"):
        await http.post(f"/tasks/schedules/{name}/pause")
        await http.post(f"/tasks/schedules/{name}/resume")

    pages: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"actor": subject, "limit": 3, **({"cursor": cursor} if cursor else {})}
        body = (await admin.get("/audit", params=params)).json()
        pages.extend(body["events"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert [e["action"] for e in pages] == ["resume", "pause"] * 2
    assert len({e["id"] for e in pages}) == 4

    pauses = await _events(admin, actor=subject, action="pause", task="purge-runs")
    assert [e["action"] for e in pauses] == ["pause", "pause"]
    boundary = pages[1]["at"]
    older = await _events(admin, actor=subject, to=boundary)
    assert all(e["at"] < boundary for e in older) and len(older) >= 1
    assert await _events(admin, actor=subject, **{"from": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}) == []

    assert_error(await http.get("/audit"), 403, "forbidden")
    assert_error(await admin.get("/audit", params={"cursor": "nonsense"}), 422, "invalid_parameters")
    assert_error(await admin.get("/audit", params={"action": "dance"}), 422, "invalid_parameters")


async def test_a_token_minted_by_the_cli_is_recorded(actor: dict[str, Any], db: asyncpg.Connection) -> None:
    subject = actor["subject"]
    done = subprocess.run([sys.executable, "-m", "config.cli", "token", "--role", "viewer", "--subject", subject,
                           "--ttl", "600"], cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    rows = await db.fetch("select * from audit_events where action = 'token_mint' and params->>'subject' = $1",
                          subject)
    assert len(rows) == 1
    row = rows[0]
    assert row["actor"].endswith("@" + os.uname().nodename) and row["client"].startswith("cli@")
    assert '"role": "viewer"' in row["params"] and token not in row["params"] + (row["detail"] or "")
    await db.execute("delete from audit_events where id = $1", row["id"])


async def test_the_cli_issues_no_token_it_could_not_record(tmp_path: Any) -> None:
    env = {**os.environ, "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere"}
    done = subprocess.run([sys.executable, "-m", "config.cli", "token", "--subject", "ghost"], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 1 and done.stdout == ""
    assert "audit trail" in done.stderr and "Traceback" not in done.stderr


async def test_audit_rows_follow_the_run_retention(client: httpx.AsyncClient, worker: Any,
                                                   db: asyncpg.Connection) -> None:
    marker = f"retention-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    for days in (40, 1):
        await db.execute("insert into audit_events (at, actor, action) values ($1, $2, 'pause')",
                         now - timedelta(days=days), marker)
    try:
        response = await client.post("/tasks/execute/purge-runs", json={"older_than_days": 30})
        status = await wait_for_status(client, response.json()["task_id"])
        assert status["status"] == "SUCCESS", status
        assert status["result"]["audit_deleted"] >= 1
        left = await db.fetch("select at from audit_events where actor = $1", marker)
        assert [row["at"] > now - timedelta(days=2) for row in left] == [True]
    finally:
        await db.execute("delete from audit_events where actor = $1", marker)
