"""With the broker unreachable, execute answers 503 within 5 s and leaves no run behind."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx

import pytest
from config.embedded import free_port
from support.processes import start_api, stop


@pytest.fixture(scope="module")
def silent_server() -> Iterator[int]:
    """Accepts TCP connections and never answers: the worst kind of broker outage."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stopped = threading.Event()

    def accept() -> None:
        while not stopped.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            held.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stopped.set()
    listener.close()
    for connection in held:
        connection.close()


@pytest.mark.parametrize("outage", ["refused", "silent"])
async def test_execute_answers_503_within_5s_and_records_nothing(
    outage: str, silent_server: int, servers: dict[str, Any], run_dir: Path, mint: Callable[..., str],
    db: asyncpg.Connection,
) -> None:
    broker_port = free_port() if outage == "refused" else silent_server
    env = {**os.environ, "REDIS_URL": f"redis://127.0.0.1:{broker_port}/0"}
    port = free_port()
    api = start_api(env, port, run_dir / f"api-broker-{outage}.log")
    try:
        before = await db.fetchval("select count(*) from task_runs")
        # The client gives up at 5 s: a slower answer fails the test.
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5.0,
                                     headers={"Authorization": f"Bearer {mint()}"}) as http:
            for _ in range(3):
                response = await http.post("/tasks/execute/ping", json={})
                assert response.status_code == 503, response.text
                body = response.json()
                assert body["success"] is False and body["code"] == "broker_unavailable"
            ready = await http.get("/health/ready")
            assert ready.status_code == 503
            assert ready.json()["checks"]["redis"]["ok"] is False
        assert await db.fetchval("select count(*) from task_runs") == before
    finally:
        stop(api)
