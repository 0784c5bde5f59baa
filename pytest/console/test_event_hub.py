"""The API's run-event hub on a private Valkey: bursts, final-only followers, REDIS_URL passwords, a hung Redis."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import redis.asyncio as aioredis

import pytest
from config.embedded import EmbeddedValkey
from schemas.errors import RedisUnavailableError
from services.runs import event_hub
from services.runs.event_hub import RunEventHub

CHANNEL = "toolbox:run-events:hub-test"


@pytest.fixture
def valkey(tmp_path: Path) -> Iterator[EmbeddedValkey]:
    """A Valkey of this test's own: it gets a password or is paused."""
    server = EmbeddedValkey(tmp_path / "valkey").start()
    try:
        yield server
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
        server.stop()


async def test_a_burst_wakes_its_follower_once_and_a_final_event_at_once(valkey: EmbeddedValkey) -> None:
    hub = RunEventHub(valkey.url, 2.0)
    publisher = aioredis.Redis.from_url(valkey.url)
    try:
        burst = await hub.subscribe(CHANNEL)
        final_only = await hub.subscribe(CHANNEL, wake="final")
        assert hub.channels == 1  # one SUBSCRIBE however many follow
        # One write: Valkey sends both messages together. Two awaited publishes could let the
        # hub read the first alone before `next`, which then rightly returns it alone.
        async with publisher.pipeline(transaction=False) as pipe:
            await pipe.publish(CHANNEL, b"1-0 log 0 {}").publish(CHANNEL, b"2-0 status 0 {}").execute()
        assert [m[1] for m in await burst.next(5)] == [b"1-0 log 0 {}", b"2-0 status 0 {}"]
        await publisher.publish(CHANNEL, b"3-0 status 1 {}")
        assert [m[1] for m in await burst.next(5)] == [b"3-0 status 1 {}"]
        assert [m[1] for m in await final_only.next(5)] == [b"3-0 status 1 {}"]  # the others were never kept
        assert await burst.next(0.05) == []
        hub.release(burst)
        hub.release(final_only)
        assert hub.channels == 0
        await asyncio.sleep(0.1)
        assert dict(await publisher.pubsub_numsub(CHANNEL)) == {CHANNEL.encode(): 0}
    finally:
        await hub.close()
        await publisher.aclose()


async def test_the_password_of_redis_url_is_used_and_a_wrong_one_is_a_clear_503(valkey: EmbeddedValkey) -> None:
    admin = aioredis.Redis.from_url(valkey.url)
    await admin.config_set("requirepass", "s3cret-hub")
    await admin.aclose()
    url = valkey.url.replace("redis://", "redis://:s3cret-hub@")
    hub = RunEventHub(url, 2.0)
    publisher = aioredis.Redis.from_url(url)
    try:
        sub = await hub.subscribe(CHANNEL)
        await publisher.publish(CHANNEL, b"1-0 status 1 {}")
        assert [m[1] for m in await sub.next(5)] == [b"1-0 status 1 {}"]
    finally:
        await hub.close()
        await publisher.aclose()
    wrong = RunEventHub(valkey.url.replace("redis://", "redis://:wrong@"), 2.0)
    with pytest.raises(RedisUnavailableError) as raised:
        await wrong.subscribe(CHANNEL)
    assert "AUTH" in raised.value.description
    await wrong.close()


async def test_a_redis_that_stops_answering_ends_every_follow_with_the_outage(
        valkey: EmbeddedValkey, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hung server (no reset, no EOF): the idle PING goes unanswered and the followers are told."""
    monkeypatch.setattr(event_hub, "IDLE_PING_S", 0.2)
    hub = RunEventHub(valkey.url, 2.0)
    try:
        sub = await hub.subscribe(CHANNEL)
        os.kill(valkey.process.pid, signal.SIGSTOP)
        items = await sub.next(10)
        assert len(items) == 1 and isinstance(items[0], RedisUnavailableError)
        assert hub.channels == 0
    finally:
        await hub.close()


async def test_many_followed_runs_are_read_in_batches_with_nothing_lost_or_reordered(valkey: EmbeddedValkey) -> None:
    """Past BUSY_CHANNELS followed runs and BUSY_READS reads a window, the hub reads once per BATCH_S."""
    runs = event_hub.BUSY_CHANNELS + 2
    hub = RunEventHub(valkey.url, 2.0)
    publisher = aioredis.Redis.from_url(valkey.url)
    try:
        subs = [await hub.subscribe(f"{CHANNEL}:{run}") for run in range(runs)]
        batched = False
        for entry in range(1, 6):
            for run in range(runs):
                final = 1 if entry == 5 else 0
                await publisher.publish(f"{CHANNEL}:{run}", f"{entry}-0 status {final} {{}}".encode())
                await asyncio.sleep(0.001)  # one read each, as runs publish on their own
                batched = batched or hub.batching
        assert batched
        for sub in subs:
            seen: list[bytes] = []
            while not seen or not seen[-1].startswith(b"5-0"):
                items = await sub.next(5)
                assert items, f"{len(seen)} entries, then nothing"
                seen += [item[1] for item in items if not isinstance(item, BaseException)]
            assert [entry.split(b" ")[0] for entry in seen] == [b"1-0", b"2-0", b"3-0", b"4-0", b"5-0"]
    finally:
        await hub.close()
        await publisher.aclose()
