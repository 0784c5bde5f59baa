"""Following a run without polling: ?wait, the run's own log and its Server-Sent Events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import redis.asyncio as aioredis

from background.processors.run_events import MAX_BYTES, MAX_LINES
from config.redis_keys import events_key
from support.console_stack import ConsoleStack
from support.error_shape import assert_error
from support.polling import wait_for_status
from support.sse import read_events


async def _submit(api: httpx.AsyncClient, console: ConsoleStack, short: str, **params: Any) -> str:
    response = await api.post(f"/tasks/execute/{console.task(short)}", json=params)
    assert response.status_code == 202, response.text
    return str(response.json()["task_id"])


async def test_wait_answers_with_the_finished_run(api: httpx.AsyncClient, console: ConsoleStack) -> None:
    task_id = await _submit(api, console, "steps", steps=3, pause_s=0.4)
    response = await api.get(f"/tasks/status/{task_id}", params={"wait": 30})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "SUCCESS"
    assert body["result"] == [{"step": 1, "square": 1}, {"step": 2, "square": 4}, {"step": 3, "square": 9}]


async def test_wait_gives_up_when_the_wait_is_over(api: httpx.AsyncClient, console: ConsoleStack) -> None:
    task_id = await _submit(api, console, "sleepy", seconds=30)
    try:
        body = (await api.get(f"/tasks/status/{task_id}", params={"wait": 1})).json()
        assert body["ready"] is False
        assert body["status"] in {"PENDING", "STARTED", "PROGRESS"}
    finally:
        await wait_for_status(api, task_id, {"STARTED", "PROGRESS"})
        assert (await api.post(f"/tasks/{task_id}/revoke", json={"terminate": True})).status_code == 200


async def test_wait_is_bounded_and_needs_a_known_run(api: httpx.AsyncClient) -> None:
    assert_error(await api.get("/tasks/status/whatever", params={"wait": 61}), 422, "invalid_parameters")
    assert_error(await api.get("/tasks/status/never-issued", params={"wait": 5}), 404, "run_not_found")


async def test_logs_hold_the_runs_own_lines_without_secrets(
    api: httpx.AsyncClient, console: ConsoleStack, mint: Callable[..., str]
) -> None:
    token = mint("admin", subject="leaky")
    task_id = await _submit(api, console, "steps", steps=2, pause_s=0, secret=token)
    await api.get(f"/tasks/status/{task_id}", params={"wait": 30})
    body = (await api.get(f"/tasks/status/{task_id}/logs")).json()
    assert body["task_id"] == task_id
    assert body["truncated"] is False
    messages = [line["message"] for line in body["lines"]]
    assert messages[0] == "step 1 of 2 done" and "step 2 of 2 done" in messages
    assert {line["logger"] for line in body["lines"]} == {f"background.tasks.{console.domain.name}.console_task"}
    assert all(set(line) == {"ts", "level", "logger", "message"} for line in body["lines"])
    assert not any("chatter" in message for message in messages)  # other loggers stay out
    assert token not in (await api.get(f"/tasks/status/{task_id}/logs")).text
    assert any("Bearer [redacted]" in message for message in messages)


async def test_logs_are_bounded_with_a_truncated_flag(api: httpx.AsyncClient, console: ConsoleStack) -> None:
    task_id = await _submit(api, console, "chatty", lines=MAX_LINES + 500)
    assert (await api.get(f"/tasks/status/{task_id}", params={"wait": 60})).json()["status"] == "SUCCESS"
    body = (await api.get(f"/tasks/status/{task_id}/logs")).json()
    assert body["truncated"] is True
    assert 0 < len(body["lines"]) <= MAX_LINES
    assert sum(len(line["message"]) for line in body["lines"]) <= MAX_BYTES
    assert body["lines"][0]["message"].startswith("line 000000 ")
    small = await _submit(api, console, "chatty", lines=5)
    await api.get(f"/tasks/status/{small}", params={"wait": 30})
    assert (await api.get(f"/tasks/status/{small}/logs")).json()["truncated"] is False


async def test_logs_and_events_need_a_viewer_token(console: ConsoleStack, api: httpx.AsyncClient) -> None:
    task_id = await _submit(api, console, "chatty", lines=1)
    async with httpx.AsyncClient(base_url=console.api_url) as anonymous:
        for path in (f"/tasks/status/{task_id}/logs", f"/tasks/status/{task_id}/events"):
            assert_error(await anonymous.get(path), 401, "not_authenticated")
    assert_error(await api.get("/tasks/status/never-issued/events"), 404, "run_not_found")


async def test_events_stream_a_run_live_and_end_after_its_final_state(
    api: httpx.AsyncClient, console: ConsoleStack
) -> None:
    task_id = await _submit(api, console, "steps", steps=4, pause_s=0.3)
    events, ended = await read_events(api, f"/tasks/status/{task_id}/events")
    assert ended
    statuses = [e.data["status"] for e in events if e.event == "status"]
    assert statuses == ["STARTED", "PROGRESS", "PROGRESS", "PROGRESS", "PROGRESS", "SUCCESS"]
    assert [e.data["progress"]["current"] for e in events if e.event == "status" and e.data["status"] == "PROGRESS"] \
        == [1, 2, 3, 4]
    assert [e.data["message"] for e in events if e.event == "log"] == [f"step {n} of 4 done" for n in range(1, 5)]
    assert events[-1].data["result"][-1] == {"step": 4, "square": 16}
    ids = [e.id for e in events]
    assert all(ids) and ids == sorted(ids, key=lambda i: tuple(int(p) for p in str(i).split("-")))


async def test_last_event_id_resumes_with_no_loss_and_no_duplicate(
    api: httpx.AsyncClient, console: ConsoleStack
) -> None:
    task_id = await _submit(api, console, "steps", steps=5, pause_s=0.4)
    url = f"/tasks/status/{task_id}/events"
    first, ended = await read_events(api, url, stop_after=3)  # hang up while the run goes on
    assert not ended
    rest, ended = await read_events(api, url, last_event_id=first[-1].id)
    assert ended
    everything, _ = await read_events(api, url)  # the whole stream, replayed after the end
    assert [e.id for e in first + rest] == [e.id for e in everything]
    assert [(e.event, e.data) for e in first + rest] == [(e.event, e.data) for e in everything]
    again, ended = await read_events(api, url, last_event_id=everything[-2].id)
    assert ended and [e.id for e in again] == [everything[-1].id]


async def test_bad_last_event_id_is_refused(api: httpx.AsyncClient, console: ConsoleStack) -> None:
    task_id = await _submit(api, console, "chatty", lines=1)
    response = await api.get(f"/tasks/status/{task_id}/events", headers={"Last-Event-ID": "not-an-id"})
    assert_error(response, 422, "invalid_parameters")


async def test_stopping_a_run_ends_its_stream(api: httpx.AsyncClient, console: ConsoleStack) -> None:
    task_id = await _submit(api, console, "sleepy", seconds=120)
    url = f"/tasks/status/{task_id}/events"
    started, _ = await read_events(api, url, stop_after=1)
    assert started[0].data["status"] == "STARTED"
    assert (await api.post(f"/tasks/{task_id}/revoke", json={"terminate": True})).status_code == 200
    events, ended = await read_events(api, url, last_event_id=started[0].id)
    assert ended and events[-1].data["status"] == "REVOKED"


async def test_a_client_hanging_up_releases_its_subscription(
    api: httpx.AsyncClient, console: ConsoleStack, servers: dict[str, Any]
) -> None:
    """A hang-up is noticed while the run says nothing (writes to a closed stream fail silently)."""
    task_id = await _submit(api, console, "sleepy", seconds=120)
    redis = aioredis.Redis.from_url(servers["valkey"].url)
    try:
        started, ended = await read_events(api, f"/tasks/status/{task_id}/events", stop_after=1)
        assert not ended and started[0].data["status"] == "STARTED"
        for _ in range(100):  # bounded: 10 s
            subscribers = dict(await redis.pubsub_numsub(events_key(task_id)))
            if not subscribers.get(events_key(task_id).encode()):
                break
            await asyncio.sleep(0.1)
        assert subscribers[events_key(task_id).encode()] == 0  # unsubscribed while the run goes on
        assert (await api.get(f"/tasks/status/{task_id}")).json()["status"] in {"STARTED", "PROGRESS"}
    finally:
        await redis.aclose()
        assert (await api.post(f"/tasks/{task_id}/revoke", json={"terminate": True})).status_code == 200


async def test_a_finished_run_without_events_streams_its_state_once(
    api: httpx.AsyncClient, console: ConsoleStack, servers: dict[str, Any]
) -> None:
    task_id = await _submit(api, console, "chatty", lines=1)
    await api.get(f"/tasks/status/{task_id}", params={"wait": 30})
    redis = aioredis.Redis.from_url(servers["valkey"].url)
    try:
        await redis.delete(events_key(task_id))  # as if its stream had expired
    finally:
        await redis.aclose()
    events, ended = await read_events(api, f"/tasks/status/{task_id}/events")
    assert ended and len(events) == 1
    assert events[0].event == "status" and events[0].data["status"] == "SUCCESS" and events[0].id is None


async def test_a_shipped_task_logs_what_it_did(api: httpx.AsyncClient, console: ConsoleStack) -> None:
    response = await api.post("/tasks/execute/table-stats", json={"schema_name": "public"})
    assert response.status_code == 202, response.text
    task_id = response.json()["task_id"]
    assert (await api.get(f"/tasks/status/{task_id}", params={"wait": 30})).json()["status"] == "SUCCESS"
    lines = (await api.get(f"/tasks/status/{task_id}/logs")).json()["lines"]
    assert [(line["logger"], line["level"]) for line in lines] == [("services.maintenance", "INFO")]
    assert "tables in schema public" in lines[0]["message"]


async def _commands(redis: aioredis.Redis, *names: str) -> dict[str, int]:
    stats = await redis.info("commandstats")
    return {name: int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in names}


async def test_followers_of_one_run_share_one_subscription(
    api: httpx.AsyncClient, console: ConsoleStack, servers: dict[str, Any]
) -> None:
    """Ten streams and a ?wait on one run: one subscriber, no blocked read, no Redis command per event."""
    task_id = await _submit(api, console, "steps", steps=8, pause_s=0.4)
    url = f"/tasks/status/{task_id}/events"
    redis = aioredis.Redis.from_url(servers["valkey"].url)
    try:
        await wait_for_status(api, task_id, {"STARTED", "PROGRESS"})
        before = await _commands(redis, "xread", "xrange")
        followers = [asyncio.create_task(read_events(api, url)) for _ in range(10)]
        waiter = asyncio.create_task(api.get(f"/tasks/status/{task_id}", params={"wait": 30}))
        subscribers: dict[Any, int] = {}
        while not subscribers.get(events_key(task_id).encode()) and not waiter.done():
            subscribers = dict(await redis.pubsub_numsub(events_key(task_id)))
            blocked = [c for c in await redis.client_list() if c.get("cmd") in {"xread", "xreadgroup"}]
            await asyncio.sleep(0.05)
        assert subscribers[events_key(task_id).encode()] == 1  # one API process, one subscription
        assert blocked == []  # no follower holds a connection in a blocking read
        streams = await asyncio.gather(*followers)
        assert (await waiter).json()["status"] == "SUCCESS"
        after = await _commands(redis, "xread", "xrange")
    finally:
        await redis.aclose()
    assert all(ended for _, ended in streams)
    assert all(len(events) == 18 for events, _ in streams)  # STARTED, 8 progress, 8 log lines, SUCCESS
    assert [e.id for e in streams[0][0]] == [e.id for e in streams[-1][0]]
    # Each stream read its backlog once when it opened; the live events (about 16 per stream) cost none.
    assert after["xread"] == before["xread"]
    assert after["xrange"] - before["xrange"] <= 10
