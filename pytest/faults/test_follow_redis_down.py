"""Redis stops while runs are followed: open streams end, new follows answer 503, all recover by themselves.

Our own Valkey, PostgreSQL and API (no worker: the followed run stays queued, so nothing but the
outage ends its stream). Bounds are client timeouts: a hang fails the test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

import pytest
from support.error_shape import assert_error
from support.private_stack import PrivateStack, private_stack


@pytest.fixture(scope="module")
def stack(servers: dict[str, Any], run_dir: Path) -> Iterator[PrivateStack]:
    with private_stack(run_dir, "follow-redis-down", persistent_broker=True) as created:
        created.start_api()
        yield created


@pytest.fixture
async def http(stack: PrivateStack, mint: Callable[..., str]) -> AsyncIterator[httpx.AsyncClient]:
    # 10 s bounds every answer: a request that hangs through the outage fails the test.
    async with httpx.AsyncClient(base_url=stack.api_url, headers={"Authorization": f"Bearer {mint()}"},
                                 timeout=10.0) as client:
        yield client


async def _read_until_closed(http: httpx.AsyncClient, url: str) -> tuple[int, bool]:
    """Lines read and whether the server ended the body cleanly (False: the connection was cut)."""
    lines = 0
    try:
        async with http.stream("GET", url, timeout=httpx.Timeout(10.0, read=30.0)) as response:
            assert response.status_code == 200
            async for _ in response.aiter_lines():
                lines += 1
    except httpx.RemoteProtocolError:
        return lines, False
    return lines, True


async def test_followers_get_503_during_a_redis_outage_and_follow_again_after(
    stack: PrivateStack, http: httpx.AsyncClient
) -> None:
    response = await http.post("/tasks/execute/ping", json={})
    assert response.status_code == 202, response.text
    task_id = response.json()["task_id"]
    assert (await http.get(f"/tasks/status/{task_id}", params={"wait": 0.5})).json()["status"] == "PENDING"
    stream = asyncio.create_task(_read_until_closed(http, f"/tasks/status/{task_id}/events"))
    await asyncio.sleep(1.0)  # subscribed, waiting for the run's first event
    assert not stream.done()

    await asyncio.to_thread(stack.valkey.stop)
    try:
        # The open stream is cut (not left hanging), before the run's final state: the client resumes
        # with Last-Event-ID later. The API says so in one line, not an error traceback.
        await asyncio.wait_for(stream, 20)
        api_log = (stack.folder / "api.log").read_text()
        assert "run event stream cut" in api_log
        assert "Traceback" not in api_log and "unhandled error" not in api_log
        for path, params in ((f"/tasks/status/{task_id}", {"wait": 5}), (f"/tasks/status/{task_id}/events", {})):
            assert_error(await http.get(path, params=params), 503, "broker_unavailable")
    finally:
        await asyncio.to_thread(stack.valkey.start)

    # Back by itself: the next follow subscribes on a new connection.
    for _ in range(50):
        answer = await http.get(f"/tasks/status/{task_id}", params={"wait": 0.5})
        if answer.status_code == 200:
            break
        await asyncio.sleep(0.2)
    assert answer.status_code == 200 and answer.json()["status"] == "PENDING"
