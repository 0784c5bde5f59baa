"""The Beat scheduler: RedBeat (schedule state and a leader lock in Redis) plus the toolbox's rules.

Any number of `celery beat` processes may run: RedBeat lets only the one holding the Redis lock
send anything (the others wait for it, and take over within `lock_timeout` when it dies or at
once when it stops cleanly), so each tick is dispatched once. On top of that, for every due tick:

- a paused schedule (flag set over the API) is advanced without sending, so resuming does not
  fire the missed ticks;
- a single-run task whose previous run is still active is skipped the same way;
- the run is recorded in the registry (origin `beat`) before its message is sent, so it shows in
  the status endpoint and the history from the moment it is queued;
- a tick that cannot be sent is logged at ERROR, stored as the schedule's last send error and
  counted per task (background.processors.schedule_errors), and the other entries go on.
- a tick found more than the grace period late was missed while no Beat ran: the task's
  `catch_up` policy says whether it is skipped (`skip`, the default) or sent once for all the
  missed ticks (`once`).

The Beat that acquires the leader lock records itself (hostname:pid, since when, the lock's
token) under SCHEDULES_LEADER_KEY, so GET /tasks/schedules can say who holds the lock.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from datetime import UTC, datetime
from typing import Any

from celery.beat import SchedulingError
from celery.signals import beat_init
from celery.utils import uuid
from redbeat.schedulers import RedBeatScheduler, get_redis

from background.processors.notifications import schedule_failed
from background.processors.runtime import get_runtime
from background.processors.schedule_errors import record_send_error
from background.processors.schedule_resolution import ORIGIN_HEADER
from background.processors.single_run import SingleRunLock
from background.processors.task_base import ToolboxTask
from config.redis_keys import SCHEDULES_LEADER_KEY, SCHEDULES_PAUSED_KEY
from config.settings import get_settings
from models.run_state import RunState
from repositories.task_runs import TaskRunRepository

logger = logging.getLogger("celery.beat")


class ScheduleSendError(SchedulingError):
    """A due tick whose message could not be sent; `task_id` is the id the run would have had."""

    def __init__(self, message: str, task_id: str | None = None) -> None:
        super().__init__(message)
        self.task_id = task_id


class ToolboxScheduler(RedBeatScheduler):
    """RedBeat with pause flags, single-run skips, registry records and recorded send errors
    (see the module docstring)."""

    def maybe_due(self, entry: Any, **kwargs: Any) -> float:
        is_due, next_time_to_run = entry.is_due()
        if is_due:
            try:
                self.apply_async(entry, **kwargs)
            except Exception as exc:  # noqa: BLE001 - one bad entry must not stop the others
                error = record_send_error(get_redis(self.app), entry.name, exc, getattr(exc, "task_id", None))
                logger.error("Scheduler: could not send schedule %s: %s", entry.name, error.message, exc_info=True)
        return float(next_time_to_run)

    def apply_async(self, entry: Any, producer: Any = None, advance: bool = True, **kwargs: Any) -> Any:
        late_s = _lateness_s(entry)  # before advancing: reserve() moves last_run_at to now
        # Advance first, as Celery does: a tick that fails to send is not retried in a tight loop.
        entry = self.reserve(entry) if advance else entry
        task = self.app.tasks.get(entry.task)
        if not isinstance(task, ToolboxTask):
            return super().apply_async(entry, producer=producer, advance=False, **kwargs)
        if get_redis(self.app).hexists(SCHEDULES_PAUSED_KEY, entry.name):
            logger.info("Scheduler: %s is paused; tick skipped", entry.name)
            return None
        if late_s > self._missed_grace_s():
            if task.catch_up != "once":
                logger.warning("Scheduler: %s missed its tick(s) while no Beat ran (%.0f s late); skipped "
                               "(catch_up=skip)", entry.name, late_s)
                return None
            logger.warning("Scheduler: %s missed its tick(s) while no Beat ran (%.0f s late); catching up with "
                           "one run (catch_up=once)", entry.name, late_s)
        task_id = uuid()
        lock = SingleRunLock(self.app.backend.client) if task.single_run else None
        if lock is not None:
            holder = lock.acquire(task, task_id)
            if holder is not None:
                logger.warning("Scheduler: %s is single-run and run %s is still active; tick skipped",
                               entry.name, holder)
                return None
        logger.info("Scheduler: Sending due task %s (%s) id=%s", entry.name, entry.task, task_id)
        recorded = _record(task, task_id, dict(entry.kwargs or {}))
        options = dict(entry.options or {})
        headers = {**options.pop("headers", {}), ORIGIN_HEADER: "beat", "celery_beat_task": True}
        try:
            return task.apply_async(args=entry.args, kwargs=entry.kwargs, task_id=task_id, producer=producer,
                                    headers=headers, **options)
        except Exception as exc:
            if lock is not None:
                lock.release(task, task_id)
            if recorded:
                _forget(task_id)
            schedule_failed(self.app, entry.name, task.name, dict(entry.kwargs or {}), exc)
            raise ScheduleSendError(f"Couldn't apply scheduled task {entry.name}: {exc}", task_id) from exc

    def _missed_grace_s(self) -> float:
        schedules = get_settings().schedules
        return schedules.missed_grace_s or 6 * schedules.beat_max_interval_s


def _lateness_s(entry: Any) -> float:
    """How long ago the tick being sent was due (0 for a schedule that never ran)."""
    if entry.last_run_at is None:
        return 0.0
    try:
        return max(-float(entry.schedule.remaining_estimate(entry.last_run_at).total_seconds()), 0.0)
    except Exception:  # noqa: BLE001 - a schedule that cannot say is treated as on time
        return 0.0


@beat_init.connect
def _record_leader(sender: Any = None, **_: Any) -> None:
    # Connected after RedBeat's own beat_init handler (this module imports it first), which
    # blocks until this Beat holds the lock: from here on it is the leader.
    scheduler = getattr(sender, "scheduler", None)
    lock = getattr(scheduler, "lock", None)
    if scheduler is None or lock is None:
        return
    token = lock.local.token
    record = {"holder": f"{socket.gethostname()}:{os.getpid()}", "since": datetime.now(UTC).isoformat(),
              "token": token.decode() if isinstance(token, bytes) else str(token)}
    try:
        get_redis(scheduler.app).set(SCHEDULES_LEADER_KEY, json.dumps(record))
    except Exception:  # noqa: BLE001 - Beat runs on without the record
        logger.exception("beat: could not record the leader lock holder")


def _record(task: ToolboxTask, task_id: str, kwargs: dict[str, Any]) -> bool:
    """Insert the PENDING row; a database outage is logged and never stops the schedule."""

    async def write() -> None:
        async with get_runtime().repositories.autocommit() as uow:
            await uow.repo(TaskRunRepository).add(
                task_id=task_id, task_name=task.name, status=RunState.PENDING.value, params=kwargs, origin="beat",
                submitted_by="beat", submitted_at=datetime.now(UTC), retries=0,
            )

    try:
        get_runtime().run(write())
    except Exception:  # noqa: BLE001
        logger.exception("Scheduler: could not record run %s of %s in the registry", task_id, task.name)
        return False
    return True


def _forget(task_id: str) -> None:
    async def remove() -> None:
        async with get_runtime().repositories.autocommit() as uow:
            await uow.repo(TaskRunRepository).remove(task_id)

    try:
        get_runtime().run(remove())
    except Exception:  # noqa: BLE001
        logger.exception("Scheduler: could not remove the record of unsent run %s", task_id)
