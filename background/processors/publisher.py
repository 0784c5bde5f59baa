"""Publishes Celery task messages from the API's event loop, without blocking it.

Celery's `apply_async` is synchronous (kombu opens a client and serialises per call). The API
instead builds a Celery protocol-2 message once per task from Celery's own builder
(`app.amqp.as_task_v2`) and, per request, fills in the id and arguments and LPUSHes it onto the
queue's list with redis.asyncio: exactly what kombu's Redis transport would push.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from typing import Any

import orjson
import redis.asyncio as aioredis
from celery import Celery
from redis.exceptions import RedisError

from background.processors.task_base import ToolboxTask
from config.coalescer import Coalescer
from config.redis_keys import METRICS_TASKS_KEY
from schemas.errors import RedisUnavailableError


def _capped(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


class TaskPublisher:
    """Sends task messages to the broker over an asyncio Redis client."""

    def __init__(self, app: Celery, client: aioredis.Redis, timeout_s: float = 3.0) -> None:
        self._app = app
        self._client = client
        self._timeout_s = timeout_s
        self._batch: Coalescer[tuple[str, bytes, str]] = Coalescer(self._push)
        self._templates: dict[str, tuple[dict[str, Any], dict[str, Any], str]] = {}
        self._origin = f"toolbox-api@{uuid.uuid4().hex[:8]}"

    def _template(self, task: ToolboxTask) -> tuple[dict[str, Any], dict[str, Any], str]:
        found = self._templates.get(task.name)
        if found is None:
            message = self._app.amqp.as_task_v2("", task.name, args=(), kwargs={}, origin=self._origin,
                                                argsrepr="()", kwargsrepr="{}")
            queue = task.declared_queue or self._app.conf.task_default_queue
            found = self._templates[task.name] = (message.headers, message.properties, queue)
        return found

    async def publish(self, task: ToolboxTask, task_id: str, kwargs: dict[str, Any],
                      extra_headers: dict[str, Any] | None = None) -> None:
        """Put one task message on the task's queue; RedisUnavailableError if Redis does not answer."""
        headers_template, properties_template, queue = self._template(task)
        kwargs_json = orjson.dumps(kwargs)
        headers = dict(headers_template)
        headers["id"] = task_id
        headers["root_id"] = task_id
        # What workers log on receipt (and on failure): capped as Celery caps its own
        # (`amqp.kwargsrepr_maxsize`), so a 100 KB parameter is not written into every log.
        headers["kwargsrepr"] = _capped(kwargs_json.decode(), self._app.amqp.kwargsrepr_maxsize)
        if extra_headers:
            headers.update(extra_headers)
        properties = dict(properties_template)
        properties["correlation_id"] = task_id
        body = b"[[]," + kwargs_json + b',{"callbacks":null,"errbacks":null,"chain":null,"chord":null}]'
        properties.update(
            body_encoding="base64",
            delivery_mode=2,
            priority=0,
            delivery_tag=str(uuid.uuid4()),
            delivery_info={"exchange": "", "routing_key": queue},
        )
        envelope = {
            "body": base64.b64encode(body).decode(),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": headers,
            "properties": properties,
        }
        try:
            # A hard deadline whatever the client's retries do: the caller gets its 503 in time.
            await asyncio.wait_for(self._batch.submit((queue, orjson.dumps(envelope), task.name)), self._timeout_s)
        except (TimeoutError, RedisError, OSError) as exc:
            raise RedisUnavailableError(
                "The task broker is unreachable; nothing was enqueued.",
                description=f"{type(exc).__name__}: {exc}",
            ) from exc

    async def _push(self, messages: list[tuple[str, bytes, str]]) -> None:
        # Concurrent publishes share one pipeline; the /metrics "enqueued" counters ride along.
        by_queue: dict[str, list[bytes]] = {}
        counts: dict[str, int] = {}
        for queue, message, task_name in messages:
            by_queue.setdefault(queue, []).append(message)
            counts[task_name] = counts.get(task_name, 0) + 1
        async with self._client.pipeline(transaction=False) as pipe:
            for queue, queued in by_queue.items():
                pipe.lpush(queue, *queued)
            for task_name, count in counts.items():
                pipe.hincrby(METRICS_TASKS_KEY, f"enqueued|{task_name}", count)
            await pipe.execute()
