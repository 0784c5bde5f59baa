"""Sending one webhook notification: signed POST, one recorded row per attempt, retried with backoff.

Deliveries never run inside a task's execution: workers hand them to the Celery task
`maintenance.deliver_notification` on the `NOTIFY_QUEUE` queue (a retry is a new message with a
countdown, so a waiting retry holds no worker slot); Beat, whose failed send usually means the
broker is down, delivers from a daemon thread of its own. A receiver that is slow or down costs a
delivery slot for at most `NOTIFY_TIMEOUT_S` per attempt and never touches the run.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from celery import Celery, Task

from background.processors.runtime import get_runtime
from config.settings import NotifySettings, get_settings
from repositories.notification_deliveries import NotificationDeliveryRepository

log = logging.getLogger("toolbox.notify")
TASK_NAME = "maintenance.deliver_notification"
SIGNATURE_HEADER = "X-Toolbox-Signature"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, the header a receiver verifies (README)."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def backoff_s(settings: NotifySettings, attempt: int) -> float:
    """Wait before attempt `attempt + 1`: doubling from NOTIFY_BACKOFF_S, at most an hour."""
    return float(min(settings.backoff_s * 2 ** (attempt - 1), 3600.0))


def attempt_once(settings: NotifySettings, url: str, body: bytes, event: str, delivery_id: str,
                 attempt: int) -> dict[str, Any]:
    """One POST; the row to record (ok, status code or error, duration)."""
    headers = {"Content-Type": "application/json", "User-Agent": "toolbox-webhooks/1",
               "X-Toolbox-Event": event, "X-Toolbox-Delivery": delivery_id, "X-Toolbox-Attempt": str(attempt)}
    if settings.secret:
        headers[SIGNATURE_HEADER] = signature(settings.secret, int(time.time()), body)
    began = time.monotonic()
    row: dict[str, Any] = {"url": url, "attempt": attempt, "at": datetime.now(UTC), "status_code": None,
                           "error": None}
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=settings.timeout_s)
        row["status_code"] = response.status_code
        row["ok"] = 200 <= response.status_code < 300
        if not row["ok"]:
            row["error"] = f"HTTP {response.status_code}: {response.text[:200]}"
    except httpx.HTTPError as exc:
        row["ok"] = False
        row["error"] = f"{type(exc).__name__}: {exc}"[:500]
    row["duration_ms"] = round((time.monotonic() - began) * 1000, 3)
    return row


async def _insert(repositories: Any, row: dict[str, Any]) -> None:
    async with repositories.autocommit() as uow:
        await uow.repo(NotificationDeliveryRepository).add(**row)


def _record(row: dict[str, Any], *, own_engine: bool) -> None:
    """Write the attempt; a database outage is logged, never retried (the delivery itself goes on)."""
    try:
        if own_engine:
            asyncio.run(_insert_with_own_engine(row))
        else:
            get_runtime().run(_insert(get_runtime().repositories, row))
    except Exception:  # noqa: BLE001
        log.exception("could not record webhook delivery attempt %s/%s", row["delivery_id"], row["attempt"])


async def _insert_with_own_engine(row: dict[str, Any]) -> None:
    from config.database import build_engine
    from config.repository_factory import RepositoryFactory

    engine = build_engine(get_settings().database, pooled=False)
    try:
        await _insert(RepositoryFactory(engine), row)
    finally:
        await engine.dispose()


def _attempt_and_record(meta: dict[str, Any], body: bytes, attempt: int, *, own_engine: bool) -> bool:
    settings = get_settings().notify
    row = attempt_once(settings, meta["url"], body, meta["event"], meta["delivery_id"], attempt)
    last = row["ok"] or attempt >= settings.max_attempts
    row.update(delivery_id=meta["delivery_id"], event=meta["event"], task_name=meta.get("task_name"),
               task_id=meta.get("task_id"), outcome=("delivered" if row["ok"] else "gave_up") if last else None)
    _record(row, own_engine=own_engine)
    if not row["ok"]:
        log.warning("webhook %s attempt %d to %s failed: %s", meta["event"], attempt, meta["url"], row["error"])
    return bool(last)


def register(app: Celery) -> Task:
    """The delivery task, registered on the app (a plain Celery task: never listed, never in the run registry)."""

    @app.task(name=TASK_NAME, base=Task, bind=True, ignore_result=True, acks_late=True)
    def deliver_notification(self: Task, meta: dict[str, Any], body: str, attempt: int = 1) -> None:
        if _attempt_and_record(meta, body.encode(), attempt, own_engine=False):
            return
        settings = get_settings().notify
        self.apply_async(kwargs={"meta": meta, "body": body, "attempt": attempt + 1},
                         countdown=backoff_s(settings, attempt), queue=settings.queue)

    return deliver_notification


def deliver_in_thread(meta: dict[str, Any], body: bytes) -> threading.Thread:
    """Beat's path: every attempt from a daemon thread, sleeping out the backoff between them."""

    def run() -> None:
        settings = get_settings().notify
        for attempt in range(1, settings.max_attempts + 1):
            if _attempt_and_record(meta, body, attempt, own_engine=True):
                return
            time.sleep(backoff_s(settings, attempt))

    thread = threading.Thread(target=run, name=f"webhook-{meta['delivery_id'][:8]}", daemon=True)
    thread.start()
    return thread
