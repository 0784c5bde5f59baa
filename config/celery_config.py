"""The Celery app (`celery -A config.celery_config worker|beat`). Importing it discovers every task."""

from __future__ import annotations

from typing import Any

from kombu.entity import Queue

from background.processors.task_base import ToolboxCelery, ToolboxTask
from config.settings import get_settings

settings = get_settings()

celery_app = ToolboxCelery("toolbox", task_cls=ToolboxTask, set_as_current=True)
celery_app.conf.update(
    broker_url=settings.redis.url,
    # kombu's Redis transport with one crash on broker loss fixed (see background/processors/broker.py)
    broker_transport="background.processors.broker:Transport",
    result_backend=settings.redis.url,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_accept_content=["json"],
    task_default_queue=settings.celery.default_queue,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_track_started=True,
    result_extended=True,
    result_expires=settings.celery.result_expires_s,
    task_time_limit=settings.celery.task_time_limit_s,
    task_soft_time_limit=settings.celery.task_soft_time_limit_s,
    worker_send_task_events=True,
    task_send_sent_event=True,
    worker_concurrency=settings.celery.worker_concurrency,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    broker_transport_options={"socket_timeout": settings.redis.socket_timeout_s, "socket_connect_timeout": settings.redis.socket_timeout_s},
    result_backend_transport_options={"socket_timeout": settings.redis.socket_timeout_s, "socket_connect_timeout": settings.redis.socket_timeout_s},
    redis_socket_timeout=settings.redis.socket_timeout_s,
    redis_socket_connect_timeout=settings.redis.socket_timeout_s,
    timezone=settings.schedules.timezone,
    enable_utc=True,
)

# Imported after the app exists: task modules import `celery_app` from here.
# signals: worker signal handlers for the run registry; task_metrics: counters for /metrics.
from background.processors import signals, task_metrics  # noqa: E402,F401
from background.processors.discovery import discover_tasks  # noqa: E402
from config import structured_logging  # noqa: E402,F401  (structured worker log lines)

discovered_tasks = discover_tasks(celery_app)

# The webhook delivery task (not a discovered task: never listed nor in the run registry).
from background.processors.webhook_delivery import register as register_delivery  # noqa: E402

register_delivery(celery_app)


def _visibility_timeout() -> int:
    """Above the longest time limit of any task, so acks_late never redelivers a running task."""
    limits = [settings.celery.task_time_limit_s]
    limits += [int(t.time_limit) for t in discovered_tasks.values() if t.time_limit]
    return max(limits) + settings.celery.visibility_margin_s


def _route(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **_: Any) -> dict[str, str] | None:
    """Send a task to the queue it declared (`@celery_app.task(queue=...)`)."""
    declared = getattr(task, "declared_queue", None) if task is not None else None
    if declared is None and name in celery_app.tasks:
        declared = getattr(celery_app.tasks[name], "declared_queue", None)
    return {"queue": declared} if declared else None


declared_queues = sorted({settings.celery.default_queue, settings.notify.queue} | {
    t.declared_queue for t in discovered_tasks.values() if t.declared_queue})
celery_app.conf.task_routes = (_route,)
# A worker started without -Q consumes every queue a task declared.
celery_app.conf.task_queues = [Queue(name, routing_key=name) for name in declared_queues]

celery_app.conf.broker_transport_options = {
    **celery_app.conf.broker_transport_options,
    "visibility_timeout": _visibility_timeout(),
}

# Schedules declared next to the tasks (with config/schedule_overrides.py overrides), run by RedBeat.
from background.processors.schedule_resolution import beat_conf, resolve_all  # noqa: E402
from config.schedule_overrides import overrides_for  # noqa: E402

schedules = resolve_all(discovered_tasks, overrides_for(settings.environment, settings.schedules.overrides))
celery_app.conf.update(beat_conf(schedules, settings))

app = celery_app  # `celery -A config.celery_config` finds either name
