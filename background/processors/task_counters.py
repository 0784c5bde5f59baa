"""Recording task events into the shared Redis metric hashes (config/redis_keys.py, metrics).

Workers and Beat record through their signal handlers (background/processors/task_metrics.py),
the API its own revokes (`TaskCounters`); services/metrics.py renders the totals for /metrics.
"""

from __future__ import annotations

import logging
import os
import time

import redis
import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from config.redis_keys import METRICS_DURATIONS_KEY, METRICS_TASKS_KEY

TASK_EVENTS = ("enqueued", "started", "succeeded", "failed", "retried", "revoked")
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
log = logging.getLogger("toolbox.metrics")


def bucket_index(seconds: float) -> int:
    """Index of the first bucket the duration fits in; len(DURATION_BUCKETS) means +Inf."""
    for index, bound in enumerate(DURATION_BUCKETS):
        if seconds <= bound:
            return index
    return len(DURATION_BUCKETS)


_worker_client: tuple[int, redis.Redis] | None = None
_down_until = 0.0
DOWN_PAUSE_S = 5.0


def _client() -> redis.Redis:
    # Its own client (per process: rebuilt after a fork) with short timeouts and no retries, so a
    # Redis outage costs a task at most one quick failure; Celery's clients keep their own policy.
    global _worker_client
    if _worker_client is None or _worker_client[0] != os.getpid():
        from config.settings import get_settings

        client = redis.Redis.from_url(get_settings().redis.url, socket_timeout=0.5, socket_connect_timeout=0.5,
                                      retry=Retry(NoBackoff(), 0))
        _worker_client = (os.getpid(), client)
    return _worker_client[1]


def record_task_event(event: str, task_name: str, duration_s: float | None = None) -> None:
    """Worker/Beat side (synchronous): count one event, with its run time for end events.

    After a failure, recording pauses a few seconds: counts during an outage are lost, tasks never wait.
    """
    global _down_until
    if time.monotonic() < _down_until:
        return
    try:
        pipe = _client().pipeline(transaction=False)
        pipe.hincrby(METRICS_TASKS_KEY, f"{event}|{task_name}", 1)
        if duration_s is not None:
            pipe.hincrby(METRICS_DURATIONS_KEY, f"{task_name}|{bucket_index(duration_s)}", 1)
            pipe.hincrbyfloat(METRICS_DURATIONS_KEY, f"{task_name}|sum", duration_s)
            pipe.hincrby(METRICS_DURATIONS_KEY, f"{task_name}|count", 1)
        pipe.execute()
    except (RedisError, OSError) as exc:
        _down_until = time.monotonic() + DOWN_PAUSE_S
        log.warning("task metric not recorded: %s", exc)


class TaskCounters:
    """API side: task events the API itself observes (revokes)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client

    async def incr(self, event: str, task_name: str) -> None:
        try:
            await self._client.hincrby(METRICS_TASKS_KEY, f"{event}|{task_name}", 1)
        except (RedisError, OSError) as exc:
            log.warning("task metric not recorded: %s", exc)
