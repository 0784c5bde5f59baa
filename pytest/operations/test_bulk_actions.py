"""POST /tasks/runs/retry and /tasks/runs/revoke: history filters, dry run, a cap, parent links, on a real API.

The scratch API runs with BULK_MAX_RUNS=3; its task's queue has no worker, so the queue's length
counts the retries really enqueued.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis.asyncio as aioredis

import pytest
from support.error_shape import assert_error
from support.processes import running_api
from support.registry import insert_run
from support.scratch_domain import ScratchDomain, scratch_domain

TASKS = {
    "flaky_task.py": '''
"""Scratch task for bulk-action tests (never consumed)."""
from config.celery_config import celery_app


@celery_app.task(name="{domain}.flaky", queue="{domain}")
def flaky(n: int) -> int:
    """Return n."""
    return n
''',
}


@pytest.fixture(scope="module")
def domain() -> Iterator[ScratchDomain]:
    with scratch_domain(TASKS) as created:
        yield created


@pytest.fixture(scope="module")
def scratch_api(domain: ScratchDomain, servers: dict[str, Any], run_dir: Path) -> Iterator[str]:
    with running_api({**os.environ, "BULK_MAX_RUNS": "3"}, run_dir / f"{domain.name}-api.log") as url:
        yield url


@pytest.fixture
async def ctx(scratch_api: str, mint: Callable[..., str], db: asyncpg.Connection, domain: ScratchDomain,
              servers: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    redis = aioredis.Redis.from_url(servers["valkey"].url)
    task = f"{domain.name}.flaky"
    async with httpx.AsyncClient(base_url=scratch_api, headers={"Authorization": f"Bearer {mint()}"},
                                 timeout=30) as http:
        yield {"http": http, "redis": redis, "task": task}
    ids = [row["task_id"] for row in await db.fetch("select task_id from task_runs where task_name = $1", task)]
    await db.execute("delete from task_runs where task_name = $1", task)
    await db.execute("delete from audit_events where task_name = $1", task)
    if ids:
        await redis.delete(*[f"toolbox:revoked:{i}" for i in ids])
    await redis.delete(domain.queue)
    await redis.aclose()


async def _arrange(db: asyncpg.Connection, task: str, statuses: dict[str, int]) -> dict[str, list[str]]:
    base = datetime.now(UTC) - timedelta(hours=1)
    made: dict[str, list[str]] = {}
    offset = 0
    for status, count in statuses.items():
        for _ in range(count):
            offset += 1
            made.setdefault(status, []).append(await insert_run(
                db, task_name=task, status=status, submitted_at=base + timedelta(seconds=offset),
                params={"n": offset}))
    return made


async def test_a_dry_run_lists_the_matching_runs_and_changes_nothing(
    ctx: dict[str, Any], db: asyncpg.Connection, domain: ScratchDomain
) -> None:
    made = await _arrange(db, ctx["task"], {"FAILURE": 5, "SUCCESS": 2})
    response = await ctx["http"].post("/tasks/runs/retry", json={"dry_run": True, "task": "flaky",
                                                                 "status": ["FAILURE"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["dry_run"], body["matched"], body["selected"], body["cap"]) == (True, 5, 3, 3)
    # Newest first, like GET /tasks/runs.
    assert [run["task_id"] for run in body["runs"]] == made["FAILURE"][::-1][:3]
    assert await db.fetchval("select count(*) from task_runs where task_name = $1", ctx["task"]) == 7
    assert await ctx["redis"].llen(domain.queue) == 0


async def test_bulk_retry_acts_on_the_cap_and_links_each_new_run_to_its_parent(
    ctx: dict[str, Any], db: asyncpg.Connection, domain: ScratchDomain
) -> None:
    made = await _arrange(db, ctx["task"], {"FAILURE": 5, "PENDING": 1})
    response = await ctx["http"].post("/tasks/runs/retry", json={"task": ctx["task"], "status": ["FAILURE"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["matched"], body["acted"], body["skipped"], body["remaining"]) == (5, 3, 0, 2)
    newest = made["FAILURE"][::-1][:3]
    assert [item["task_id"] for item in body["results"]] == newest
    children = {row["parent_id"]: row for row in await db.fetch(
        "select * from task_runs where task_name = $1 and parent_id is not null", ctx["task"])}
    assert set(children) == set(newest)
    for item in body["results"]:
        child = children[item["task_id"]]
        assert (child["task_id"], child["origin"], child["status"]) == (item["new_task_id"], "retry", "PENDING")
    parent_params = {r["task_id"]: r["params"] for r in await db.fetch(
        "select task_id, params from task_runs where task_id = any($1::text[])", newest)}
    assert all(children[pid]["params"] == parent_params[pid] for pid in newest)
    assert await ctx["redis"].llen(domain.queue) == 3
    audit = await db.fetch("select * from audit_events where task_name = $1 and action = 'bulk_retry'", ctx["task"])
    assert len(audit) == 1 and audit[0]["actor"] == "tester"


async def test_each_bulk_answer_carries_only_the_keys_of_its_case(ctx: dict[str, Any], db: asyncpg.Connection) -> None:
    await _arrange(db, ctx["task"], {"FAILURE": 1})
    common = {"success", "action", "dry_run", "matched", "selected", "cap", "statuses"}
    dry = await ctx["http"].post("/tasks/runs/retry", json={"dry_run": True, "task": ctx["task"]})
    assert dry.status_code == 200, dry.text
    assert set(dry.json()) == common | {"runs"}
    real = await ctx["http"].post("/tasks/runs/retry", json={"task": ctx["task"], "status": ["FAILURE"]})
    assert real.status_code == 200, real.text
    assert set(real.json()) == common | {"results", "acted", "skipped", "remaining"}
    # A done retry names its new run and no message; the keys of the other cases are absent, not null.
    assert set(real.json()["results"][0]) == {"task_id", "task_name", "previous_status", "outcome", "new_task_id",
                                              "code"}


async def test_bulk_revoke_stops_queued_runs_up_to_the_cap(ctx: dict[str, Any], db: asyncpg.Connection) -> None:
    made = await _arrange(db, ctx["task"], {"PENDING": 4, "SUCCESS": 1})
    http = ctx["http"]
    dry = (await http.post("/tasks/runs/revoke", json={"dry_run": True, "task": ctx["task"]})).json()
    assert (dry["matched"], dry["statuses"]) == (4, ["PENDING", "RETRY"])

    body = (await http.post("/tasks/runs/revoke", json={"task": ctx["task"]})).json()
    assert (body["acted"], body["remaining"]) == (3, 1)
    states = {r["task_id"]: r["status"] for r in await db.fetch(
        "select task_id, status from task_runs where task_name = $1", ctx["task"])}
    revoked = [i for i in made["PENDING"] if states[i] == "REVOKED"]
    assert revoked == made["PENDING"][1:]  # the three newest
    assert all([await ctx["redis"].exists(f"toolbox:revoked:{i}") for i in revoked])
    again = (await http.post("/tasks/runs/revoke", json={"task": ctx["task"]})).json()
    assert (again["matched"], again["acted"], again["remaining"]) == (1, 1, 0)


async def test_bulk_actions_refuse_what_they_cannot_do(
    ctx: dict[str, Any], scratch_api: str, mint: Callable[..., str]
) -> None:
    http = ctx["http"]
    body = assert_error(await http.post("/tasks/runs/retry", json={}), 422, "invalid_parameters")
    assert body["errors"][0]["field"] == "task"
    body = assert_error(await http.post("/tasks/runs/revoke", json={"status": ["SUCCESS"]}), 422,
                        "invalid_parameters")
    assert body["errors"][0]["field"] == "status"
    assert_error(await http.post("/tasks/runs/retry", json={"task": "flaky", "everything": True}), 422,
                 "invalid_parameters")
    async with httpx.AsyncClient(base_url=scratch_api, headers={"Authorization": f"Bearer {mint('viewer')}"}) as v:
        assert_error(await v.post("/tasks/runs/retry", json={"task": "flaky", "dry_run": True}), 403, "forbidden")
