"""maintenance.redeliver_lost sends again the runs the broker lost, and only those."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson
import redis.asyncio as aioredis

from config.redis_keys import RESULT_META_PREFIX, revoked_key
from config.settings import get_settings
from support.polling import wait_for_status


async def _pending_row(db: asyncpg.Connection, echo: str) -> str:
    task_id = str(uuid.uuid4())
    await db.execute(
        "insert into task_runs (task_id, task_name, status, params, origin, submitted_by, submitted_at, retries) "
        "values ($1, 'maintenance.ping', 'PENDING', $2::jsonb, 'api', 'tester', $3, 0)",
        task_id, f'{{"echo": "{echo}"}}', datetime.now(UTC) - timedelta(minutes=10))
    return task_id


async def test_a_lost_run_is_sent_again_under_its_id_and_the_others_are_left_alone(
    client: httpx.AsyncClient, worker: Any, db: asyncpg.Connection
) -> None:
    lost = await _pending_row(db, "found again")  # in the registry, in no queue: lost by the broker
    revoked = await _pending_row(db, "revoked")
    started = await _pending_row(db, "a worker has it")
    broker = aioredis.Redis.from_url(get_settings().redis.url)
    try:
        await broker.set(revoked_key(revoked), "1", ex=600)
        await broker.set(RESULT_META_PREFIX + started, orjson.dumps({"status": "STARTED", "task_id": started}), ex=600)

        sweep = await client.post("/tasks/execute/redeliver-lost", json={"older_than_s": 60})
        assert sweep.status_code == 202, sweep.text
        result = (await wait_for_status(client, sweep.json()["task_id"]))["result"]

        assert lost in result["redelivered"]
        assert revoked not in result["redelivered"] and started not in result["redelivered"]
        done = await wait_for_status(client, lost)
        assert (done["status"], done["result"]) == ("SUCCESS", "found again")
        assert await db.fetchval("select status from task_runs where task_id = $1", revoked) == "PENDING"
    finally:
        await broker.delete(revoked_key(revoked), RESULT_META_PREFIX + started)
        await broker.aclose()
        await db.execute("delete from task_runs where task_id = any($1::text[])", [lost, revoked, started])
