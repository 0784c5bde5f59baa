"""Worker signal handlers: keep the run registry in PostgreSQL in step with what workers do.

Runs that never came through the API (Beat, a retry by Celery, `celery call`) get their row here.
A registry write that fails is logged and never fails the task itself.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from celery import Task
from celery.signals import (
    task_postrun,
    task_prerun,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_shutdown,
)

from background.processors.notifications import run_finished
from background.processors.run_events import stop_capture
from background.processors.run_follow import run_ended, run_started
from background.processors.runtime import close_runtime, get_runtime
from background.processors.task_base import ToolboxTask
from background.processors.worker_liveness import WorkerLiveness
from config.settings import get_settings
from models.run_state import RunState

log = logging.getLogger("toolbox.worker")
# When each run executing in this process started (prerun and postrun run in the same process).
_started_at: dict[str, datetime] = {}


def _now() -> datetime:
    return datetime.now(UTC)


def _tracked(task: Task | None) -> bool:
    return isinstance(task, ToolboxTask) and (task.__module__ or "").startswith("background.tasks.")


def _write(task_id: str, action: str, **values: Any) -> None:
    runtime = get_runtime()

    async def write() -> None:
        # One upsert statement: atomic on its own, so no BEGIN/COMMIT round trips around it.
        await getattr(runtime.run_states, action)(task_id=task_id, **values)

    try:
        runtime.run(write())
    except Exception:  # noqa: BLE001 - the registry must never fail a task
        log.exception("run registry write failed", extra={"task_id": task_id})


_liveness: WorkerLiveness | None = None


@worker_init.connect
def _start_liveness(sender: Any = None, **_: Any) -> None:
    # In the worker's main process, before it consumes: from now on its deliveries are owned.
    global _liveness
    if sender is None or _liveness is not None:
        return
    _liveness = WorkerLiveness(sender.app, str(sender.hostname), get_settings().celery.worker_liveness_ttl_s)
    _liveness.start()


@worker_shutdown.connect
def _stop_liveness(**_: Any) -> None:
    global _liveness
    if _liveness is not None:
        _liveness.stop()
        _liveness = None


@worker_process_init.connect
def _init_process(**_: Any) -> None:
    get_runtime()


@worker_process_shutdown.connect
def _close_process(**_: Any) -> None:
    close_runtime()


@task_prerun.connect
def _on_prerun(task_id: str, task: Task, args: Any = None, kwargs: Any = None, **_: Any) -> None:
    if not _tracked(task) or task.request.called_directly or task.request.is_eager:
        return
    started_at = _started_at[task_id] = _now()
    _write(
        task_id, "mark_started", task_name=task.name, started_at=started_at, worker=task.request.hostname,
        params=dict(kwargs or {}), retries=int(task.request.retries or 0),
        origin=str(getattr(task.request, "toolbox_origin", None) or "worker"),
    )
    run_started(task, task_id)


@task_postrun.connect
def _on_postrun(task_id: str, task: Task, retval: Any = None, state: str | None = None, kwargs: Any = None,
                **_: Any) -> None:
    started_at = _started_at.pop(task_id, None)
    if not _tracked(task) or task.request.called_directly or task.request.is_eager or state is None:
        return
    if state == "IGNORED":
        stop_capture(task_id)
        return  # the run did not execute (e.g. revoked before it started); whoever skipped it recorded why
    failed = state in (RunState.FAILURE, RunState.RETRY)
    error = f"{type(retval).__name__}: {retval}" if failed and isinstance(retval, BaseException) else None
    result = None if failed or isinstance(retval, BaseException) else retval
    finished_at = _now()
    # Followers first: Celery stored the result before this handler, so a follower woken by the
    # final event reads the final state from the status endpoint already; the registry follows.
    run_ended(task, task_id, state, result, error)
    _write(
        task_id, "mark_finished", task_name=task.name, status=state,
        finished_at=None if state == RunState.RETRY else finished_at, result=result, error=error,
        retries=int(task.request.retries or 0), worker=task.request.hostname,
    )
    # A receiver that follows the link finds the run finished.
    run_finished(task, task_id, state, params=dict(kwargs or {}), error=error, started_at=started_at,
                 finished_at=finished_at, worker=task.request.hostname,
                 origin=str(getattr(task.request, "toolbox_origin", None) or "worker"))
