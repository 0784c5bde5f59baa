"""Pure ASGI middleware counting API requests by method, route template and status.

Per request it costs a clock read and a dict increment; nothing waits on I/O (the counts are
flushed to Redis in the background by services.metrics.MetricsService, which renders them).
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config.redis_keys import METRICS_HTTP_KEY

UNMATCHED = "<unmatched>"  # one label for every unknown path: no label explosion from scanners


class RequestMetrics:
    """In-memory HTTP request counts and durations of this API process, flushed to Redis."""

    def __init__(self) -> None:
        self._pending: dict[tuple[str, str, int], list[float]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        found = self._pending.get(key)
        if found is None:
            self._pending[key] = [1.0, seconds]
        else:
            found[0] += 1
            found[1] += seconds

    async def flush(self, client: aioredis.Redis) -> None:
        """Move the pending counts to Redis; on failure they are kept for the next flush."""
        pending, self._pending = self._pending, {}
        if not pending:
            return
        try:
            async with client.pipeline(transaction=False) as pipe:
                for (method, route, status), (count, total) in pending.items():
                    field = f"{method}|{route}|{status}"
                    pipe.hincrby(METRICS_HTTP_KEY, f"{field}|count", int(count))
                    pipe.hincrbyfloat(METRICS_HTTP_KEY, f"{field}|sum", total)
                await pipe.execute()
        except (RedisError, OSError):
            for key, (count, total) in pending.items():
                found = self._pending.setdefault(key, [0.0, 0.0])
                found[0] += count
                found[1] += total
            raise


class RequestMetricsMiddleware:
    """Observes every HTTP request into a RequestMetrics."""

    def __init__(self, app: ASGIApp, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            # The router stores the matched route in the (shared) scope; its path is the template.
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            self.metrics.observe(scope["method"], route, status, time.perf_counter() - started)
