"""Prometheus metrics shared by every process through Redis hashes.

Workers, Beat and API processes on any number of machines add to the same Redis hashes
(HINCRBY is atomic), and whichever API process is scraped renders the totals:

- `toolbox:metrics:tasks`      field `<event>|<task>`: enqueued/started/succeeded/failed/retried/revoked
- `toolbox:metrics:durations`  field `<task>|<bucket index>`, `<task>|sum`, `<task>|count`
- `toolbox:metrics:http`       field `<method>|<route>|<status>|count` and `...|sum`
- `toolbox:metrics:schedule_send_failures`  field `<task>`: ticks Beat could not send
  (written by background.processors.schedule_errors)

HTTP requests are counted in memory (a dict increment per request) and flushed to Redis every
few seconds, so the request path never waits on Redis for metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Iterator
from typing import Protocol

import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from redis.exceptions import RedisError

from background.processors.task_counters import DURATION_BUCKETS, TASK_EVENTS
from config.redis_keys import (
    METRICS_DURATIONS_KEY,
    METRICS_HTTP_KEY,
    METRICS_SCHEDULE_SEND_FAILURES_KEY,
    METRICS_TASKS_KEY,
)
from schemas.errors import RedisUnavailableError

log = logging.getLogger("toolbox.metrics")


class RequestCounts(Protocol):
    """This API process's pending HTTP request counts (routers/request_metrics.py records them)."""

    async def flush(self, client: aioredis.Redis) -> None: ...


class _Families:
    """A one-shot collector: yields families already built from one Redis read."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def _split(fields: dict[bytes, bytes], parts: int) -> Iterable[tuple[list[str], float]]:
    for raw_field, raw_value in fields.items():
        pieces = raw_field.decode().rsplit("|", parts - 1)
        if len(pieces) == parts:
            yield pieces, float(raw_value)


class MetricsService:
    """Renders /metrics and keeps this process's request counts flowing to Redis."""

    def __init__(self, client: aioredis.Redis, requests: RequestCounts, queues: list[str],
                 flush_every_s: float = 5.0) -> None:
        self._client = client
        self._requests = requests
        self._queues = queues
        self._flush_every_s = flush_every_s
        self._flusher: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the periodic flush (from the running lifespan)."""
        self._flusher = asyncio.create_task(self._flush_forever())

    async def close(self) -> None:
        """Stop the periodic flush and push what is left."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        with contextlib.suppress(RedisError, OSError):
            await self._requests.flush(self._client)

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self._flush_every_s)
            try:
                await self._requests.flush(self._client)
            except (RedisError, OSError) as exc:
                log.warning("request metrics not flushed: %s", exc)

    async def render(self) -> bytes:
        """The Prometheus text exposition of every counter, from one Redis round trip."""
        with contextlib.suppress(RedisError, OSError):
            await self._requests.flush(self._client)
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.hgetall(METRICS_TASKS_KEY)
                pipe.hgetall(METRICS_DURATIONS_KEY)
                pipe.hgetall(METRICS_HTTP_KEY)
                pipe.hgetall(METRICS_SCHEDULE_SEND_FAILURES_KEY)
                for queue in self._queues:
                    pipe.llen(queue)
                tasks, durations, http, send_failures, *lengths = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise RedisUnavailableError("Redis is unreachable; metrics cannot be read.",
                                        description=f"{type(exc).__name__}: {exc}") from exc
        families = [*_task_families(tasks), _duration_family(durations), *_http_families(http),
                    _send_failures_family(send_failures)]
        queue_family = GaugeMetricFamily("toolbox_queue_length", "Messages waiting in each queue.",
                                         labels=["queue"])
        for queue, length in zip(self._queues, lengths, strict=True):
            queue_family.add_metric([queue], float(length))
        families.append(queue_family)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Families(families))
        return generate_latest(registry)


def _task_families(fields: dict[bytes, bytes]) -> list[Metric]:
    families = {event: CounterMetricFamily(f"toolbox_tasks_{event}", f"Task runs {event}, by task name.",
                                           labels=["task"]) for event in TASK_EVENTS}
    for (event, task), value in sorted(_split(fields, 2)):
        if event in families:
            families[event].add_metric([task], value)
    return list(families.values())


def _send_failures_family(fields: dict[bytes, bytes]) -> Metric:
    family = CounterMetricFamily("toolbox_schedule_send_failures", "Beat ticks that could not be sent, by task name.",
                                 labels=["task"])
    for raw_task, value in sorted(fields.items()):
        family.add_metric([raw_task.decode()], float(value))
    return family


def _duration_family(fields: dict[bytes, bytes]) -> Metric:
    per_task: dict[str, dict[str, float]] = {}
    for (task, part), value in _split(fields, 2):
        per_task.setdefault(task, {})[part] = value
    family = HistogramMetricFamily("toolbox_task_duration_seconds", "Run time of finished task runs.",
                                   labels=["task"])
    for task, parts in sorted(per_task.items()):
        cumulative = 0.0
        buckets: list[tuple[str, float]] = []
        for index, bound in enumerate([*DURATION_BUCKETS, float("inf")]):
            cumulative += parts.get(str(index), 0.0)
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        family.add_metric([task], buckets, parts.get("sum", 0.0))
    return family


def _http_families(fields: dict[bytes, bytes]) -> list[Metric]:
    count = CounterMetricFamily("toolbox_http_requests", "API requests by method, route and status.",
                                labels=["method", "route", "status"])
    seconds = SummaryMetricFamily("toolbox_http_request_duration_seconds",
                                  "Time spent answering API requests, by method, route and status.",
                                  labels=["method", "route", "status"])
    parts: dict[tuple[str, str, str], dict[str, float]] = {}
    for (method, route, status, part), value in _split_http(fields):
        parts.setdefault((method, route, status), {})[part] = value
    for labels, values in sorted(parts.items()):
        count.add_metric(list(labels), values.get("count", 0.0))
        seconds.add_metric(list(labels), int(values.get("count", 0)), values.get("sum", 0.0))
    return [count, seconds]


def _split_http(fields: dict[bytes, bytes]) -> Iterator[tuple[tuple[str, str, str, str], float]]:
    for raw_field, raw_value in fields.items():
        method, rest = raw_field.decode().split("|", 1)
        route_status, _, part = rest.rpartition("|")
        route, _, status = route_status.rpartition("|")
        if route and part in ("count", "sum"):
            yield (method, route, status, part), float(raw_value)
