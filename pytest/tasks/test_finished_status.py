"""The status of a finished run, asked again: same answer, same checks, wherever the API finds it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
from prometheus_client.parser import text_string_to_metric_families

import pytest
from support.error_shape import assert_error
from support.polling import wait_for_status
from support.registry import delete_runs


@pytest.fixture
async def finished(client: httpx.AsyncClient, worker: Any, db: asyncpg.Connection) -> AsyncIterator[str]:
    """A ping run that the registry records as SUCCESS, its status asked once since."""
    task_id = (await client.post("/tasks/execute/ping", json={"echo": "again"})).json()["task_id"]
    try:
        await wait_for_status(client, task_id)
        deadline = time.monotonic() + 30
        while await db.fetchval("select status from task_runs where task_id = $1", task_id) != "SUCCESS":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert (await client.get(f"/tasks/status/{task_id}")).json()["status"] == "SUCCESS"
        yield task_id
    finally:
        await delete_runs(db, [task_id])


async def test_a_finished_run_answers_byte_for_byte_as_the_route_does(
    client: httpx.AsyncClient, finished: str
) -> None:
    stored = await client.get(f"/tasks/status/{finished}")
    routed = await client.get(f"/tasks/status/{finished}?wait=0")  # a query string always takes the route
    assert (stored.status_code, routed.status_code) == (200, 200)
    assert stored.headers["content-type"] == routed.headers["content-type"] == "application/json"
    assert stored.headers["content-length"] == str(len(stored.content))
    assert stored.content == routed.content
    body = stored.json()
    assert (body["task_id"], body["status"], body["result"], body["params"]) == (
        finished, "SUCCESS", "again", {"echo": "again"})


async def test_a_finished_run_still_needs_a_valid_token_with_the_viewer_role(
    anonymous: httpx.AsyncClient, finished: str, mint: Callable[..., str]
) -> None:
    path = f"/tasks/status/{finished}"
    assert_error(await anonymous.get(path), 401, "not_authenticated")
    assert_error(await anonymous.get(path, headers={"Authorization": "Bearer not-a-token"}), 401, "invalid_token")
    assert_error(await anonymous.get(path, headers={"Authorization": f"Basic {mint('viewer')}"}), 401,
                 "not_authenticated")
    tampered = mint("viewer")[:-3] + "AAA"
    assert_error(await anonymous.get(path, headers={"Authorization": f"Bearer {tampered}"}), 401, "invalid_token")
    viewer = await anonymous.get(path, headers={"Authorization": f"Bearer {mint('viewer', 'reader')}"})
    assert viewer.status_code == 200 and viewer.json()["task_id"] == finished


async def test_the_other_routes_under_a_finished_run_answer_as_before(
    client: httpx.AsyncClient, finished: str
) -> None:
    logs = await client.get(f"/tasks/status/{finished}/logs")
    assert logs.status_code == 200 and logs.json()["task_id"] == finished
    assert (await client.post(f"/tasks/status/{finished}")).status_code == 405
    assert_error(await client.get(f"/tasks/status/{finished}?wait=61"), 422, "invalid_parameters")


def _count(text: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "toolbox_http_requests_total" and sample.labels == {
                    "method": "GET", "route": "/tasks/status/{task_id}", "status": "200"}:
                return sample.value
    return 0.0


async def test_metrics_count_every_answer_for_a_finished_run(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, finished: str
) -> None:
    before = _count((await anonymous.get("/metrics")).text)
    for _ in range(5):
        assert (await client.get(f"/tasks/status/{finished}")).status_code == 200
    assert _count((await anonymous.get("/metrics")).text) == before + 5
