"""End-to-end latency of a no-op, one run at a time: raw Celery against the API's two ways to follow.

The method bench.api uses too: a light client (http.client on one keep-alive connection, so the
client's own CPU is not counted against the API), one run at a time on an otherwise idle stack,
a worker consuming as `toolbox up` starts it, and the raw `delay().get()` baseline measured in the
same rounds (interleaved), so a slower moment of a shared machine hits all three alike.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable
from typing import Any

PATHS = ("delay().get()", "submit + ?wait", "submit + stream")


class Http:
    """One keep-alive HTTP/1.1 connection to the API with a bearer token."""

    def __init__(self, port: int, token: str) -> None:
        self._conn = http.client.HTTPConnection("127.0.0.1", port, timeout=70)
        self._headers = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = dict(self._headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        self._conn.request(method, path, body=body, headers=headers)
        response = self._conn.getresponse()
        return response.status, response.read()

    def submit(self, path: str) -> str:
        status, body = self.call("POST", path, b"{}")
        if status != 202:
            raise RuntimeError(f"execute answered {status}: {body[:300]!r}")
        return str(json.loads(body)["task_id"])

    def stream(self, path: str) -> int:
        """Read a Server-Sent Events stream to its end; the number of events."""
        self._conn.request("GET", path, headers=self._headers)
        response = self._conn.getresponse()
        if response.status != 200:
            raise RuntimeError(f"events answered {response.status}: {response.read()[:300]!r}")
        events = 0
        while line := response.readline():
            events += line.startswith(b"event:")
        return events

    def close(self) -> None:
        self._conn.close()


def measure(port: int, token: str, rounds: int, pause_s: float = 0.05) -> dict[str, list[float]]:
    """Seconds per run of each path, `rounds` interleaved rounds after one warm-up round."""
    from background.processors.discovery import discover_tasks
    from config.celery_config import celery_app

    ping = discover_tasks(celery_app)["maintenance.ping"]
    client = Http(port, token)

    def waited() -> None:
        task_id = client.submit("/tasks/execute/ping")
        status, body = client.call("GET", f"/tasks/status/{task_id}?wait=30")
        if status != 200 or json.loads(body)["status"] != "SUCCESS":
            raise RuntimeError(f"?wait answered {status}: {body[:300]!r}")

    def streamed() -> None:
        task_id = client.submit("/tasks/execute/ping")
        if client.stream(f"/tasks/status/{task_id}/events") < 2:
            raise RuntimeError("the stream ended without its events")

    paths: dict[str, Callable[[], object]] = {
        PATHS[0]: lambda: ping.delay().get(timeout=30), PATHS[1]: waited, PATHS[2]: streamed,
    }
    out: dict[str, list[float]] = {name: [] for name in PATHS}
    try:
        for round_no in range(rounds + 1):
            for name, one in paths.items():
                time.sleep(pause_s)  # one run at a time: the previous run's tail is over
                started = time.perf_counter()
                one()
                if round_no:  # round 0 warms connections and caches up
                    out[name].append(time.perf_counter() - started)
    finally:
        client.close()
    return out


def trace(port: int, token: str, rounds: int, redis_url: str) -> dict[str, float]:
    """Where the milliseconds of submit + stream and submit + ?wait go (medians, ms).

    Clocks: this process's wall clock, the Redis server's (stream ids are its milliseconds) and
    the worker's (the result backend's `date_done`): one machine, so one clock, to the millisecond.
    """
    import statistics
    from datetime import datetime

    import redis

    client, store = Http(port, token), redis.Redis.from_url(redis_url)
    parts: dict[str, list[float]] = {name: [] for name in TRACE_PARTS}

    def stored_at(task_id: str) -> float:
        meta = json.loads(store.get(f"celery-task-meta-{task_id}") or b"{}")
        return datetime.fromisoformat(meta["date_done"]).timestamp()

    try:
        for _ in range(rounds):
            time.sleep(0.05)
            t0 = time.time()
            task_id = client.submit("/tasks/execute/ping")
            t1 = time.time()
            client.stream(f"/tasks/status/{task_id}/events")
            t2 = time.time()
            entries: Any = store.xrange(f"toolbox:run-events:{task_id}")
            started, final = (int(entries[i][0].split(b"-")[0]) / 1000 for i in (0, -1))
            done = stored_at(task_id)
            for name, value in zip(TRACE_PARTS[:5], (t1 - t0, started - t1, done - started, final - done, t2 - final),
                                   strict=True):
                parts[name].append(value * 1000)
            time.sleep(0.05)
            task_id = client.submit("/tasks/execute/ping")
            client.call("GET", f"/tasks/status/{task_id}?wait=30")
            parts[TRACE_PARTS[5]].append((time.time() - stored_at(task_id)) * 1000)
    finally:
        client.close()
        store.close()
    return {name: statistics.median(values) for name, values in parts.items()}


TRACE_PARTS = (
    "stream: POST execute (client)", "stream: 202 → STARTED event (broker, worker prerun)",
    "stream: STARTED event → result stored (the no-op, backend write)",
    "stream: result stored → final event (worker postrun)",
    "stream: final event → end of stream at the client (API)",
    "?wait: result stored → answer at the client (API)",
)
