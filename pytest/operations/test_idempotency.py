"""`Idempotency-Key` on POST /tasks/execute/<name>: one run per key and parameters, on a real API and Redis.

The scratch task has a queue no worker consumes, so the queue's length is the number of
messages really enqueued.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis.asyncio as aioredis

import pytest
from support.error_shape import assert_error
from support.processes import running_api
from support.scratch_domain import ScratchDomain, scratch_domain

TASKS = {
    "echo_task.py": '''
"""Scratch task for idempotency tests (never consumed)."""
from config.celery_config import celery_app


@celery_app.task(name="{domain}.echo", queue="{domain}")
def echo(word: str, times: int = 1) -> str:
    """Repeat a word."""
    return word * times
''',
}


@pytest.fixture(scope="module")
def domain() -> Iterator[ScratchDomain]:
    with scratch_domain(TASKS) as created:
        yield created


@pytest.fixture(scope="module")
def scratch_api(domain: ScratchDomain, servers: dict[str, Any], run_dir: Path) -> Iterator[str]:
    with running_api(os.environ.copy(), run_dir / f"{domain.name}-api.log") as url:
        yield url


@pytest.fixture
async def http(scratch_api: str, mint: Callable[..., str], db: asyncpg.Connection, domain: ScratchDomain,
               servers: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    redis = aioredis.Redis.from_url(servers["valkey"].url)
    await redis.delete(domain.queue)
    async with httpx.AsyncClient(base_url=scratch_api, headers={"Authorization": f"Bearer {mint()}"},
                                 timeout=30) as client:
        yield client
    await db.execute("delete from task_runs where task_name = $1", f"{domain.name}.echo")
    await redis.delete(domain.queue)
    await redis.aclose()


async def _queued(domain: ScratchDomain) -> int:
    redis = aioredis.Redis.from_url(os.environ["REDIS_URL"])
    try:
        return int(await redis.llen(domain.queue))
    finally:
        await redis.aclose()


async def test_twenty_concurrent_launches_with_one_key_make_exactly_one_run(
    http: httpx.AsyncClient, domain: ScratchDomain, db: asyncpg.Connection
) -> None:
    key = f"nightly-{uuid.uuid4()}"
    responses = await asyncio.gather(*[
        http.post("/tasks/execute/echo", json={"word": "hi", "times": 2}, headers={"Idempotency-Key": key})
        for _ in range(20)
    ])

    assert [r.status_code for r in responses] == [202] * 20, [r.text for r in responses if r.status_code != 202]
    ids = {r.json()["task_id"] for r in responses}
    assert len(ids) == 1
    assert sorted(r.json()["replayed"] for r in responses) == [False] + [True] * 19
    rows = await db.fetch("select task_id, params from task_runs where task_name = $1", f"{domain.name}.echo")
    assert [row["task_id"] for row in rows] == list(ids)
    assert await _queued(domain) == 1


async def test_same_key_later_answers_the_first_run_and_other_parameters_conflict(
    http: httpx.AsyncClient, domain: ScratchDomain, db: asyncpg.Connection
) -> None:
    key = f"k-{uuid.uuid4()}"
    first = await http.post("/tasks/execute/echo", json={"word": "a"}, headers={"Idempotency-Key": key})
    assert first.status_code == 202 and first.headers["idempotent-replayed"] == "false"
    # Same validated parameters, written differently (explicit default is not the same call: not here).
    again = await http.post(f"/tasks/execute/{domain.name}.echo", json={"word": "a"},
                            headers={"Idempotency-Key": key})
    assert again.status_code == 202 and again.headers["idempotent-replayed"] == "true"
    assert again.json()["task_id"] == first.json()["task_id"]

    other = await http.post("/tasks/execute/echo", json={"word": "b"}, headers={"Idempotency-Key": key})
    body = assert_error(other, 409, "idempotency_key_reused")
    assert first.json()["task_id"] in body["description"]

    no_key = await http.post("/tasks/execute/echo", json={"word": "a"})
    assert no_key.status_code == 202 and "replayed" not in no_key.json()
    assert no_key.json()["task_id"] != first.json()["task_id"]
    assert await db.fetchval("select count(*) from task_runs where task_name = $1", f"{domain.name}.echo") == 2
    assert await _queued(domain) == 2


async def test_keys_are_per_caller_and_must_be_sane(
    http: httpx.AsyncClient, scratch_api: str, mint: Callable[..., str]
) -> None:
    key = f"shared-{uuid.uuid4()}"
    mine = await http.post("/tasks/execute/echo", json={"word": "x"}, headers={"Idempotency-Key": key})
    async with httpx.AsyncClient(base_url=scratch_api, timeout=30,
                                 headers={"Authorization": f"Bearer {mint(subject='someone-else')}"}) as other:
        theirs = await other.post("/tasks/execute/echo", json={"word": "x"}, headers={"Idempotency-Key": key})
    assert mine.status_code == theirs.status_code == 202
    assert mine.json()["task_id"] != theirs.json()["task_id"]

    too_long = await http.post("/tasks/execute/echo", json={"word": "x"}, headers={"Idempotency-Key": "k" * 300})
    body = assert_error(too_long, 422, "invalid_parameters")
    assert body["errors"][0]["field"] == "Idempotency-Key"
