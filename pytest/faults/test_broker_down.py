"""The Redis-compatible broker stops for a few seconds while a client keeps launching runs.

Our own Valkey (append-only file on, as a production broker has it), PostgreSQL, worker and API:
the session-wide ones are never touched. Bounds are client timeouts and bounded waits.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

import pytest
from support.polling import wait_for_status
from support.private_stack import PrivateStack, private_stack

OUTAGE_S = 3.0


@pytest.fixture(scope="module")
def stack(servers: dict[str, Any], run_dir: Path) -> Iterator[PrivateStack]:
    with private_stack(run_dir, "broker-down", persistent_broker=True) as created:
        created.start_worker(concurrency=2)
        created.start_api()
        yield created


@pytest.fixture
async def http(stack: PrivateStack, mint: Callable[..., str]) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(stack, mint) as client:
        yield client


def _client(stack: PrivateStack, mint: Callable[..., str]) -> httpx.AsyncClient:
    # 5 s is the bound: an answer slower than that (a hang) fails the test with a timeout.
    return httpx.AsyncClient(base_url=stack.api_url, headers={"Authorization": f"Bearer {mint()}"}, timeout=5.0)


class Load:
    """A client posting executes back to back, recording every answer."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.answers: list[tuple[str, int, dict[str, Any]]] = []  # (phase, status code, body)
        self.phase = "before"
        self.readiness_during_outage: httpx.Response | None = None
        self._stopped = asyncio.Event()

    async def run(self) -> None:
        while not self._stopped.is_set():
            phase = self.phase
            response = await self.http.post("/tasks/execute/ping", json={})
            self.answers.append((phase, response.status_code, response.json()))
            await asyncio.sleep(0.02)

    def stop(self) -> None:
        self._stopped.set()

    def of(self, phase: str) -> list[tuple[int, dict[str, Any]]]:
        return [(code, body) for seen, code, body in self.answers if seen == phase]


async def _outage(stack: PrivateStack, http: httpx.AsyncClient) -> Load:
    """Launch runs back to back; stop the broker for a few seconds; start it again; go on a little."""
    load = Load(http)
    runner = asyncio.create_task(load.run())
    try:
        while len(load.of("before")) < 10:
            assert not runner.done(), runner
            await asyncio.sleep(0.05)

        load.phase = "stopping"  # requests sent while the broker shuts down may see it either way
        await asyncio.to_thread(stack.valkey.stop)
        load.phase = "outage"
        load.readiness_during_outage = await http.get("/health/ready")
        await asyncio.sleep(OUTAGE_S)
        assert not runner.done(), runner

        load.phase = "restarting"
        await asyncio.to_thread(stack.valkey.start)  # same port, same data directory
        load.phase = "after"
        # It recovers by itself: the next 202 comes within 5 s of the broker being back.
        deadline = time.monotonic() + 5
        while not any(code == 202 for code, _ in load.of("after")):
            assert not runner.done(), runner
            assert time.monotonic() < deadline, f"no 202 within 5 s of the restart: {load.of('after')[-3:]}"
            await asyncio.sleep(0.05)
        while len(load.of("after")) < 10:
            await asyncio.sleep(0.05)
    finally:
        load.stop()
        await runner  # re-raises a timeout (a hang) or any other failure of the load
    return load


@pytest.fixture(scope="module")
def outage(stack: PrivateStack, mint: Callable[..., str]) -> Load:
    """The outage, played once for the tests of this module."""

    async def play() -> Load:
        async with _client(stack, mint) as http:
            return await _outage(stack, http)

    return asyncio.run(play())


def test_execute_answers_503_during_the_outage_and_recovers_by_itself(outage: Load) -> None:
    ready = outage.readiness_during_outage
    assert ready is not None and ready.status_code == 503 and ready.json()["checks"]["redis"]["ok"] is False
    assert {code for _, code, _ in outage.answers} <= {202, 503}, outage.answers  # never a 500
    before, after = [code for code, _ in outage.of("before")], [code for code, _ in outage.of("after")]
    assert set(before) == {202}, before
    # Once recovered (within 5 s, checked while playing the outage), it stays recovered.
    assert set(after[after.index(202):]) == {202}, after
    during = outage.of("outage")
    assert len(during) >= 3
    assert {code for code, _ in during} == {503}, during
    assert {body["code"] for _, body in during} == {"broker_unavailable"}
    assert all(body["success"] is False and body["message"] for _, body in during)


async def test_every_accepted_run_reaches_a_terminal_state(outage: Load, stack: PrivateStack,
                                                           http: httpx.AsyncClient) -> None:
    # kombu 5.7 used to kill the worker here (AttributeError restoring unacked messages on a closed
    # connection); background/processors/broker.py turns that into a connection error it recovers from.
    worker = stack.processes[0]
    assert worker.poll() is None, "the worker died during the broker outage; see its log: " + str(
        stack.folder / "fault-worker.log")
    accepted = [body["task_id"] for _, code, body in outage.answers if code == 202]
    assert len(accepted) >= 20
    # A message taken off the queue just as the connection dropped is lost by kombu (it moves it
    # to its unacked index in a second step). The scheduled maintenance.redeliver_lost finds such
    # runs and sends them again; here it is launched by hand with a short grace period.
    await asyncio.sleep(3)
    sweep = await http.post("/tasks/execute/redeliver-lost", json={"older_than_s": 2})
    assert sweep.status_code == 202, sweep.text
    swept = await wait_for_status(http, sweep.json()["task_id"], timeout=30)
    assert swept["status"] == "SUCCESS", swept
    for task_id in accepted:
        done = await wait_for_status(http, task_id, timeout=30)
        # A run whose result could not be stored while the broker was down ends FAILURE, saying why.
        assert done["status"] == "SUCCESS" or "ConnectionError" in (done["error"] or ""), done
    ready = await http.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["checks"]["workers"]["online"] == 1
