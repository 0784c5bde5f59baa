"""A schedule that cannot be sent notifies the `schedule_failed` webhooks, from Beat itself.

A private Valkey whose default user may not LPUSH: Beat holds its lock and reads its schedule,
but every task message it publishes is refused, as by a broker that refuses writes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import redis

import pytest
from factories.webhook_receiver import WebhookReceiver, start_receiver, verify
from support.beat import beat_environment, start_beat
from support.private_stack import PrivateStack, private_stack
from support.processes import stop, wait_for_log

SECRET = "beat-webhook-secret"


@pytest.fixture
def stack(run_dir: Path) -> Iterator[PrivateStack]:
    with private_stack(run_dir, "schedule-failed", persistent_broker=False) as created:
        yield created


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = start_receiver()
    yield server
    server.close()


async def test_a_schedule_beat_cannot_send_is_notified_and_recorded(
    stack: PrivateStack, receiver: WebhookReceiver
) -> None:
    env = beat_environment(stack.env, {"maintenance.ping": "@every 1s"}, max_interval_s=1)
    env.update(NOTIFY_WEBHOOKS=json.dumps([{"url": f"{receiver.url}/beat", "events": ["schedule_failed"],
                                            "tasks": ["maintenance.*"]}]),
               NOTIFY_SECRET=SECRET, NOTIFY_BACKOFF_S="0.2")
    broker = redis.Redis.from_url(stack.valkey.url)
    broker.execute_command("ACL", "SETUSER", "default", "-lpush")
    log = stack.folder / "beat.log"
    beat = start_beat(env, log)
    conn = await asyncpg.connect(stack.postgres.dsn)
    try:
        wait_for_log(beat, log, "beat: Acquired lock", timeout=60)
        got = (await receiver.wait_for("/beat", timeout=90))[0]
        delivery_id = got.json["delivery_id"]
        deadline = time.monotonic() + 30
        while not (rows := await conn.fetch("select * from notification_deliveries where delivery_id = $1",
                                            delivery_id)):
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            await asyncio.sleep(0.1)
        assert beat.poll() is None  # Beat carries on
        # The unsent runs left no PENDING row behind.
        pending = await conn.fetchval("select count(*) from task_runs where status = 'PENDING'")
    finally:
        stop(beat)
        await conn.close()
        broker.execute_command("ACL", "SETUSER", "default", "+lpush")
        broker.close()

    assert verify(SECRET, got.headers["x-toolbox-signature"], got.body)
    body = got.json
    assert (body["event"], body["task"], body["schedule"], body["origin"]) == (
        "schedule_failed", "maintenance.ping", "maintenance.ping", "beat")
    assert "NOPERM" in body["error"] or "lpush" in body["error"].lower()
    assert body["link"].endswith("/#/schedules") and body["run_id"] is None
    assert [(r["event"], r["ok"], r["status_code"], r["outcome"]) for r in rows] == [
        ("schedule_failed", True, 200, "delivered")]
    assert pending == 0
