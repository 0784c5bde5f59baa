"""What the Redis broker holds right now: ids of queued and of delivered-but-unacknowledged messages."""

from __future__ import annotations

from collections.abc import Iterable

import orjson
import redis

# kombu's Redis transport keeps delivered, unacknowledged messages in this hash (tag -> message).
UNACKED_KEY = "unacked"


def _message_id(raw: bytes | str) -> str | None:
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if isinstance(payload, list) and payload:  # unacked entries are [message, exchange, routing_key]
        payload = payload[0]
    if not isinstance(payload, dict):
        return None
    headers = payload.get("headers")
    task_id = headers.get("id") if isinstance(headers, dict) else None
    return task_id if isinstance(task_id, str) else None


def ids_in_broker(client: redis.Redis, queues: Iterable[str], batch: int = 1000) -> set[str]:
    """Task ids waiting in `queues` or delivered to a worker and not yet acknowledged."""
    found: set[str] = set()
    for queue in queues:
        start = 0
        while True:
            chunk = client.lrange(queue, start, start + batch - 1)
            found.update(filter(None, map(_message_id, chunk)))
            if len(chunk) < batch:
                break
            start += batch
    for _, raw in client.hscan_iter(UNACKED_KEY, count=batch):
        task_id = _message_id(raw)
        if task_id:
            found.add(task_id)
    return found
