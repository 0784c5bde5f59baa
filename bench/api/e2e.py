"""End-to-end latency, one run at a time: submit a no-op, then wait for SUCCESS."""

from __future__ import annotations

import http.client
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.api.services import Service

POLL_S = 0.005


@dataclass
class Latencies:
    """Seconds per run."""

    values: list[float]

    def percentile(self, q: float) -> float:
        if not self.values:
            return float("nan")
        ordered = sorted(self.values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")


class Client:
    """One keep-alive HTTP/1.1 connection (http.client: little client CPU per request)."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=70)

    def call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = dict(self.service.headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        return response.status, response.read()

    def submit(self) -> str:
        status, body = self.call("POST", self.service.execute_path, b"{}")
        if status >= 300:
            raise RuntimeError(f"{self.service.name}: execute answered {status}: {body[:300]!r}")
        return self.service.task_id_of(body)

    def close(self) -> None:
        self.conn.close()


def _timed(runs: int, one: Callable[[], None]) -> Latencies:
    values = []
    for _ in range(runs):
        started = time.perf_counter()
        one()
        values.append(time.perf_counter() - started)
    return Latencies(values)


def polling(service: Service, runs: int) -> Latencies:
    """Submit, then GET the status every 5 ms until SUCCESS."""
    client = Client(service)

    def one() -> None:
        task_id = client.submit()
        while True:
            status, body = client.call("GET", service.status_prefix + task_id)
            if status == 200 and service.is_success(body):
                return
            time.sleep(POLL_S)

    try:
        return _timed(runs, one)
    finally:
        client.close()


def waiting(service: Service, runs: int) -> Latencies:
    """Submit, then one GET with `?wait=10` (polling again only if it came back unfinished)."""
    client = Client(service)

    def one() -> None:
        task_id = client.submit()
        while True:
            status, body = client.call("GET", f"{service.status_prefix}{task_id}?wait=10")
            if status == 200 and service.is_success(body):
                return

    try:
        return _timed(runs, one)
    finally:
        client.close()


def wait_supported(service: Service, pause: Callable[[], None], resume: Callable[[], None]) -> bool:
    """Does the status route honour `?wait=`? Asked with the worker paused: a server that waits
    answers after the wait; one that ignores the parameter answers at once; one that refuses it 4xx."""
    client = Client(service)
    try:
        pause()
        task_id = client.submit()
        started = time.perf_counter()
        status, _ = client.call("GET", f"{service.status_prefix}{task_id}?wait=0.5")
        elapsed = time.perf_counter() - started
        return status == 200 and elapsed >= 0.4
    finally:
        resume()
        client.close()


def raw_delay_get(runs: int) -> Latencies:
    """The floor: `delay().get()` from this process, no HTTP at all."""
    from config.celery_config import celery_app

    task = celery_app.tasks["maintenance.ping"]
    return _timed(runs, lambda: task.delay().get(timeout=30))
