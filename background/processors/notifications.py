"""Which runs and schedules notify which webhooks (NOTIFY_WEBHOOKS), and the notification bodies.

Events: `failure` (a run ended in FAILURE), `recovery` (the first SUCCESS of a task whose last
finished run failed) and `schedule_failed` (Beat could not send a due run). Everything here is
best effort: a Redis or broker error is logged and never fails the run or stops Beat.
"""

from __future__ import annotations

import fnmatch
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from celery import Celery, Task

from background.processors.runtime import get_runtime
from background.processors.webhook_delivery import TASK_NAME, deliver_in_thread
from config.redis_keys import NOTIFY_LAST_FAILED_KEY
from config.settings import NotifySettings, Webhook, get_settings
from models.run_state import RunState
from repositories.task_runs import TaskRunRepository

log = logging.getLogger("toolbox.notify")


def targets(settings: NotifySettings, event: str, task_name: str) -> list[Webhook]:
    """The webhooks subscribed to `event` for this task (`tasks` patterns use `*`, e.g. `toolbox.*`)."""
    return [hook for hook in settings.webhooks
            if event in hook.events and any(fnmatch.fnmatchcase(task_name, p) for p in hook.tasks)]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _links(settings: NotifySettings, task_id: str | None) -> dict[str, str | None]:
    base = settings.public_url.rstrip("/")
    if task_id is None:
        return {"link": f"{base}/#/schedules", "status_url": None}
    return {"link": f"{base}/#/runs/{task_id}", "status_url": f"{base}/tasks/status/{task_id}"}


def _event(task: Task, task_id: str, state: str) -> tuple[str, str | None] | None:
    client = task.app.backend.client
    if state == RunState.FAILURE:
        client.hset(NOTIFY_LAST_FAILED_KEY, task.name, task_id)
        return "failure", None
    pipe = client.pipeline(transaction=True)
    pipe.hget(NOTIFY_LAST_FAILED_KEY, task.name)
    pipe.hdel(NOTIFY_LAST_FAILED_KEY, task.name)
    failed_id, removed = pipe.execute()
    if not removed:
        return None
    return "recovery", failed_id.decode() if isinstance(failed_id, bytes) else failed_id


def run_finished(task: Task, task_id: str, state: str, *, params: dict[str, Any], error: str | None,
                 origin: str, started_at: datetime | None, finished_at: datetime, worker: str | None) -> None:
    """Called by the worker's task_postrun handler: queue one delivery per subscribed webhook."""
    settings = get_settings().notify
    if not settings.webhooks or state not in (RunState.SUCCESS, RunState.FAILURE):
        return
    try:
        found = _event(task, task_id, state)
        if found is None:
            return
        event, recovered_from = found
        hooks = targets(settings, event, task.name)
        if not hooks:
            return
        launched = _launch(task_id)
        runtime = (finished_at - started_at).total_seconds() if started_at else None
        payload = {"event": event, "task": task.name, "run_id": task_id, "status": state, "params": params,
                   "error": error, "origin": launched.get("origin") or origin,
                   "submitted_by": launched.get("submitted_by"), "submitted_at": _iso(launched.get("submitted_at")),
                   "worker": worker, "started_at": _iso(started_at),
                   "finished_at": _iso(finished_at), "runtime_s": round(runtime, 6) if runtime is not None else None,
                   **_links(settings, task_id)}
        if recovered_from is not None:
            payload["recovered_from"] = recovered_from
        deliver = task.app.tasks[TASK_NAME]
        for hook in hooks:
            meta, body = _envelope(hook, event, task.name, task_id, payload)
            deliver.apply_async(kwargs={"meta": meta, "body": body.decode()}, queue=settings.queue)
    except Exception:  # noqa: BLE001 - a notification must never fail the run
        log.exception("could not queue the %s notification of run %s", state, task_id)


def _launch(task_id: str) -> dict[str, Any]:
    """Who launched the run and how, from the registry (the message carries no origin for API runs)."""

    async def read() -> dict[str, Any]:
        async with get_runtime().repositories.autocommit() as uow:
            return await uow.repo(TaskRunRepository).get_status(task_id) or {}

    try:
        return get_runtime().run(read())
    except Exception:  # noqa: BLE001 - the notification goes out without it
        log.exception("could not read run %s for its notification", task_id)
        return {}


def schedule_failed(app: Celery, schedule: str, task_name: str, kwargs: dict[str, Any], error: BaseException) -> None:
    """Called by Beat when a due run could not be sent: delivered from threads of Beat's own."""
    settings = get_settings().notify
    try:
        now = datetime.now(UTC)
        for hook in targets(settings, "schedule_failed", task_name):
            payload = {"event": "schedule_failed", "task": task_name, "schedule": schedule, "run_id": None,
                       "params": kwargs, "error": f"{type(error).__name__}: {error}"[:2000], "origin": "beat",
                       "at": now.isoformat(), "timezone": str(app.conf.timezone), **_links(settings, None)}
            meta, body = _envelope(hook, "schedule_failed", task_name, None, payload)
            deliver_in_thread(meta, body)
    except Exception:  # noqa: BLE001 - Beat goes on with the other schedules
        log.exception("could not notify that schedule %s failed", schedule)


def _envelope(hook: Webhook, event: str, task_name: str, task_id: str | None,
              payload: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    delivery_id = str(uuid.uuid4())
    meta = {"delivery_id": delivery_id, "url": hook.url, "event": event, "task_name": task_name, "task_id": task_id}
    return meta, orjson.dumps({**payload, "delivery_id": delivery_id})
