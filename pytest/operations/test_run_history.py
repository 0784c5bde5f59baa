"""GET /tasks/runs: the run history, filtered, newest first, paginated by an opaque cursor."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson

import pytest
from support.registry import delete_runs, insert_run

BASE = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def history(db: asyncpg.Connection) -> AsyncIterator[dict[str, Any]]:
    """Seven runs of a task no other test uses: two sharing one timestamp, mixed states and origins."""
    name = f"histtest{uuid.uuid4().hex[:8]}.load"
    rows = [
        ("SUCCESS", BASE, "api", "ana", None),
        ("FAILURE", BASE + timedelta(minutes=1), "beat", None, None),
        ("SUCCESS", BASE + timedelta(minutes=2), "api", "ana", None),
        ("SUCCESS", BASE + timedelta(minutes=2), "api", "bob", None),  # same instant: task_id breaks the tie
        ("REVOKED", BASE + timedelta(minutes=3), "api", "bob", None),
        ("PENDING", BASE + timedelta(minutes=4), "api", "ana", None),
    ]
    ids = [await insert_run(db, task_name=name, status=s, submitted_at=at, origin=o, submitted_by=by)
           for s, at, o, by, _ in rows]
    retry = await insert_run(db, task_name=name, status="SUCCESS", submitted_at=BASE + timedelta(minutes=5),
                             origin="retry", submitted_by="carla", parent_id=ids[1], params={"day": "2031-03-01"})
    ids.append(retry)
    try:
        yield {"name": name, "ids": ids, "retry": retry}
    finally:
        await delete_runs(db, ids)


async def test_runs_are_listed_newest_first_with_who_launched_them(client: httpx.AsyncClient,
                                                                   history: dict[str, Any]) -> None:
    response = await client.get("/tasks/runs", params={"task": history["name"]})
    assert response.status_code == 200, response.text
    body = response.json()
    runs = body["runs"]
    assert body["success"] is True and body["count"] == 7 and body["next_cursor"] is None
    stamps = [(r["submitted_at"], r["task_id"]) for r in runs]
    assert stamps == sorted(stamps, reverse=True)
    newest = runs[0]
    assert newest["task_id"] == history["retry"]
    assert (newest["origin"], newest["parent_id"], newest["submitted_by"]) == ("retry", history["ids"][1], "carla")
    assert newest["params"] == {"day": "2031-03-01"}
    beat = next(r for r in runs if r["status"] == "FAILURE")
    assert (beat["origin"], beat["submitted_by"]) == ("beat", None)


async def test_pages_follow_the_cursor_without_gaps_or_repeats(client: httpx.AsyncClient,
                                                               history: dict[str, Any]) -> None:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"task": history["name"], "limit": 2, **({"cursor": cursor} if cursor else {})}
        body = (await client.get("/tasks/runs", params=params)).json()
        seen += [r["task_id"] for r in body["runs"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    everything = (await client.get("/tasks/runs", params={"task": history["name"]})).json()
    assert seen == [r["task_id"] for r in everything["runs"]]
    assert pages == 4 and len(set(seen)) == 7


async def test_filters_by_status_and_time_window(client: httpx.AsyncClient, history: dict[str, Any]) -> None:
    body = (await client.get("/tasks/runs", params=[("task", history["name"]), ("status", "SUCCESS"),
                                                    ("status", "REVOKED")])).json()
    assert sorted(r["status"] for r in body["runs"]) == ["REVOKED", "SUCCESS", "SUCCESS", "SUCCESS", "SUCCESS"]

    window = {"task": history["name"], "submitted_from": (BASE + timedelta(minutes=1)).isoformat(),
              "submitted_to": "2031-03-01T12:03:00"}  # naive: UTC; the upper bound is exclusive
    body = (await client.get("/tasks/runs", params=window)).json()
    assert sorted(r["submitted_at"] for r in body["runs"]) == [
        "2031-03-01T12:01:00+00:00", "2031-03-01T12:02:00+00:00", "2031-03-01T12:02:00+00:00"]


async def test_a_short_name_finds_the_runs_of_the_full_name(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    task_id = await insert_run(db, task_name="maintenance.ping", submitted_at=datetime(2099, 1, 1, tzinfo=UTC))
    try:
        for name in ("ping", "maintenance.ping"):
            body = (await client.get("/tasks/runs", params={"task": name, "limit": 1})).json()
            assert body["runs"][0]["task_id"] == task_id
    finally:
        await delete_runs(db, [task_id])


async def test_parent_lists_the_retries_of_a_run(client: httpx.AsyncClient, history: dict[str, Any]) -> None:
    retried, never_retried = history["ids"][1], history["ids"][0]
    body = (await client.get("/tasks/runs", params={"parent": retried})).json()
    assert [(r["task_id"], r["parent_id"], r["origin"]) for r in body["runs"]] == [(history["retry"], retried, "retry")]
    assert (await client.get("/tasks/runs", params={"parent": never_retried})).json()["runs"] == []
    both = (await client.get("/tasks/runs", params={"parent": retried, "status": "FAILURE"})).json()
    assert both["runs"] == []  # the filters combine
    schema = (await client.get("/openapi.json")).json()["paths"]["/tasks/runs"]["get"]
    assert "parent" in {parameter["name"] for parameter in schema["parameters"]}


@pytest.mark.parametrize(("params", "field"), [
    ({"parent": "bad\x01id"}, "parent"),
    ({"parent": "x" * 201}, "parent"),
    ({"parent": ""}, "parent"),
    ({"cursor": "not-a-cursor"}, "cursor"),
    ({"cursor": "WyJ4IiwieSJd"}, "cursor"),  # valid base64 JSON, but not a timestamp
    ({"status": "DONE"}, "status"),
    ({"submitted_from": "yesterday"}, "submitted_from"),
    ({"submitted_from": "2031-01-02T00:00:00Z", "submitted_to": "2031-01-01T00:00:00Z"}, "submitted_to"),
    ({"limit": 0}, "limit"),
    ({"limit": 201}, "limit"),
    ({"task": "no-such-task"}, "task"),
])
async def test_bad_filters_are_refused_with_the_error_shape(client: httpx.AsyncClient, params: dict[str, Any],
                                                            field: str) -> None:
    response = await client.get("/tasks/runs", params=params)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["success"] is False and body["code"] == "invalid_parameters"
    assert field in {error["field"].split(".")[0] for error in body["errors"]}


@pytest.fixture
async def heavy_runs(db: asyncpg.Connection) -> AsyncIterator[dict[str, Any]]:
    """200 runs each carrying 100 KB of parameters (and of error text), and one with small parameters."""
    name = f"histheavy{uuid.uuid4().hex[:8]}.load"
    payload = {"rows": ["é" * 1000] * 100}  # ~100 KB of JSON, multi-byte characters
    ids = [str(uuid.uuid4()) for _ in range(200)]
    await db.executemany(
        "insert into task_runs (task_id, task_name, status, params, origin, submitted_by, submitted_at, "
        "started_at, finished_at, retries, error) values ($1, $2, 'FAILURE', $3::jsonb, 'api', 'ana', $4, $4, $4, 0, $5)",
        [(task_id, name, orjson.dumps(payload).decode(), BASE + timedelta(seconds=i), "ValueError: " + "x" * 100_000)
         for i, task_id in enumerate(ids)])
    small = await insert_run(db, task_name=name, submitted_at=BASE - timedelta(days=1), params={"day": "2031-03-01"})
    try:
        yield {"name": name, "ids": ids, "small": small, "payload": payload}
    finally:
        await delete_runs(db, [*ids, small])


async def test_a_full_history_page_stays_under_1_mb_whatever_the_runs_carry(
    client: httpx.AsyncClient, heavy_runs: dict[str, Any]
) -> None:
    response = await client.get("/tasks/runs", params={"task": heavy_runs["name"], "limit": 200})
    assert response.status_code == 200, response.text
    assert len(response.content) < 1_000_000, len(response.content)
    runs = response.json()["runs"]
    assert len(runs) == 200
    assert all(run["params"] is None and run["params_truncated"] is True for run in runs)
    assert all(run["error"].startswith("ValueError: xxx") and len(run["error"]) == 301 for run in runs)
    # The run's own status still has everything.
    status = (await client.get(f"/tasks/status/{runs[0]['task_id']}")).json()
    assert status["params"] == heavy_runs["payload"]
    assert len(status["error"]) == len("ValueError: ") + 100_000

    last = (await client.get("/tasks/runs", params={"task": heavy_runs["name"], "limit": 1,
                                                  "submitted_to": BASE.isoformat()})).json()["runs"]
    assert [(r["task_id"], r["params"], r["params_truncated"]) for r in last] == [
        (heavy_runs["small"], {"day": "2031-03-01"}, False)]


@pytest.mark.parametrize("state", ["PENDING", "STARTED", "PROGRESS", "SUCCESS", "FAILURE", "RETRY", "REVOKED"])
async def test_every_state_the_status_endpoint_reports_is_a_valid_filter(
    client: httpx.AsyncClient, history: dict[str, Any], state: str
) -> None:
    response = await client.get("/tasks/runs", params={"task": history["name"], "status": state})
    assert response.status_code == 200, response.text
    expected = {"PENDING": 1, "STARTED": 0, "PROGRESS": 0, "SUCCESS": 4, "FAILURE": 1, "RETRY": 0, "REVOKED": 1}
    assert response.json()["count"] == expected[state]


async def test_progress_matches_the_runs_that_are_running(client: httpx.AsyncClient, db: asyncpg.Connection,
                                                          history: dict[str, Any]) -> None:
    running = await insert_run(db, task_name=history["name"], status="STARTED", submitted_at=BASE)
    try:
        body = (await client.get("/tasks/runs", params={"task": history["name"], "status": "PROGRESS"})).json()
        assert [(r["task_id"], r["status"]) for r in body["runs"]] == [(running, "STARTED")]
    finally:
        await delete_runs(db, [running])
