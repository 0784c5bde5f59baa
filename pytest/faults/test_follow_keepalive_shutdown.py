"""An open stream of a run that says nothing: keep-alive comments, then a server shutdown ends it.

Our own Valkey, PostgreSQL and API (no worker: the followed run stays queued for ever). Bounds
are client timeouts: a stream that stays silent, or an API that waits for it to stop, fails the test.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

import pytest
from support.private_stack import PrivateStack, private_stack


@pytest.fixture(scope="module")
def stack(servers: dict[str, Any], run_dir: Path) -> Iterator[PrivateStack]:
    with private_stack(run_dir, "follow-keepalive", persistent_broker=True) as created:
        created.start_api()
        yield created


async def test_a_silent_stream_keeps_alive_and_ends_when_the_api_stops(
    stack: PrivateStack, mint: Callable[..., str]
) -> None:
    async with httpx.AsyncClient(base_url=stack.api_url, headers={"Authorization": f"Bearer {mint()}"},
                                 timeout=httpx.Timeout(10.0, read=30.0)) as http:
        task_id = (await http.post("/tasks/execute/ping", json={})).json()["task_id"]
        lines: list[str] = []
        async with http.stream("GET", f"/tasks/status/{task_id}/events") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            reading = response.aiter_lines()
            async for line in reading:
                lines.append(line)
                if line.startswith(":"):
                    break  # a keep-alive comment: proxies see traffic on an idle stream
            assert [line for line in lines if line] == [": keep-alive"]  # a queued run has no event yet

            # uvicorn waits for open responses before it exits: the stream must end by itself.
            api = stack.processes[-1]
            api.send_signal(signal.SIGINT)

            async def rest() -> None:
                async for line in reading:
                    lines.append(line)

            await asyncio.wait_for(rest(), 20)  # keep-alives would go on for ever: bounded here
        assert await asyncio.wait_for(asyncio.to_thread(api.wait), 20) == 0
    assert "run event stream cut" not in (stack.folder / "api.log").read_text()
