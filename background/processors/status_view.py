"""The `/tasks/status/<id>` view of one run: the registry (PostgreSQL) merged with Celery's result backend.

Built by the BaseProcessor (background/processors/base.py) from the reads injected into it.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any, Protocol

from models.run_state import BACKEND_STATES, ENDED_STATES, RunState
from schemas.errors import RunNotFoundError
from schemas.responses import dumps


class RegistryReads(Protocol):
    """The run registry's single-run read (repositories/run_registry.py)."""

    async def get(self, task_id: str) -> dict[str, Any] | None: ...


class ResultReads(Protocol):
    """The result backend's reads (background/processors/results.py)."""

    async def meta(self, task_id: str) -> dict[str, Any] | None: ...

    async def last_progress(self, task_id: str) -> dict[str, Any] | None: ...


# States whose backend meta no longer carries the run's progress: the last one reported is shown.
KEEPS_LAST_PROGRESS = frozenset({RunState.RETRY.value, RunState.FAILURE.value, RunState.REVOKED.value})


class FinishedRuns:
    """Status views of runs the registry records as finished, kept a few minutes per API process.

    A finished run never changes again (a retry is a new run), so its status is read from
    PostgreSQL once, not on every poll. Entries expire so that retention deletes show through.
    Each view is kept with its JSON body, rendered once.
    """

    def __init__(self, ttl_s: float = 300.0, capacity: int = 50_000) -> None:
        self._ttl_s = ttl_s
        self._capacity = capacity
        self._views: dict[str, tuple[float, dict[str, Any], bytes]] = {}

    def _entry(self, task_id: str) -> tuple[float, dict[str, Any], bytes] | None:
        found = self._views.get(task_id)
        if found is not None and found[0] < time.monotonic():
            self._views.pop(task_id, None)
            return None
        return found

    def get(self, task_id: str) -> dict[str, Any] | None:
        found = self._entry(task_id)
        return found[1] if found is not None else None

    def body(self, task_id: str) -> bytes | None:
        """The JSON body of the run's status, if it is held."""
        found = self._entry(task_id)
        return found[2] if found is not None else None

    def put(self, task_id: str, view: dict[str, Any]) -> None:
        if len(self._views) >= self._capacity:
            self._views.clear()  # crude but bounded; a miss only costs one query
        self._views[task_id] = (time.monotonic() + self._ttl_s, view, dumps(view))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse(value: Any) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    parsed = datetime.fromisoformat(value)
    # Celery stamps date_done in its own timezone; the API answers in UTC like the registry.
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _error_text(result: Any) -> str:
    if isinstance(result, dict) and "exc_type" in result:
        message = result.get("exc_message")
        if isinstance(message, list | tuple):
            message = ", ".join(str(part) for part in message)
        return f"{result['exc_type']}: {message}"
    return str(result)


class RunStatusView:
    """Builds the status view of a run from the registry row and the backend meta, read at once."""

    def __init__(self, registry: RegistryReads, results: ResultReads) -> None:
        self._registry = registry
        self._results = results
        self._finished = FinishedRuns()

    def finished_status_body(self, task_id: str) -> bytes | None:
        """The rendered status of a run this process already knows as finished, else None."""
        return self._finished.body(task_id)

    async def status(self, task_id: str) -> dict[str, Any]:
        """Everything known of one run; RunNotFoundError for an id the toolbox never issued."""
        finished = self._finished.get(task_id)
        if finished is not None:
            return finished
        # Both stores at once: a poll of an unfinished run waits for one round trip, not two.
        row, meta = await asyncio.gather(self._registry.get(task_id), self._results.meta(task_id))
        if row is not None and row["status"] in ENDED_STATES:
            meta = None  # the registry's final record wins
        if row is None and meta is None:
            raise RunNotFoundError(f"No task run with id {task_id[:100]!r}.",
                                   description="Ids come from POST /tasks/execute/<name>.")
        view: dict[str, Any] = dict(row) if row is not None else {
            "task_id": task_id, "task_name": meta.get("name") if meta else None, "status": RunState.PENDING.value,
            "params": meta.get("kwargs") if meta else None, "submitted_by": None, "submitted_at": None,
            "started_at": None, "finished_at": None, "worker": None, "retries": 0, "result": None, "error": None,
            "origin": "worker", "parent_id": None,
        }
        progress = None
        if meta is not None and meta.get("status") in BACKEND_STATES:
            state = meta["status"]
            view["status"] = state
            view["worker"] = view.get("worker") or meta.get("worker")
            view["retries"] = max(int(view.get("retries") or 0), int(meta.get("retries") or 0))
            if state == RunState.PROGRESS and isinstance(meta.get("result"), dict):
                progress = meta["result"]
            elif state == RunState.SUCCESS:
                view["result"] = meta.get("result")
            elif state in (RunState.FAILURE, RunState.REVOKED, RunState.RETRY):
                view["error"] = _error_text(meta.get("result"))
            if state in ENDED_STATES and view.get("finished_at") is None:
                view["finished_at"] = _parse(meta.get("date_done"))
        if progress is None and view["status"] in KEEPS_LAST_PROGRESS:
            progress = await self._results.last_progress(task_id)
        rendered = self._render(view, progress)
        if row is not None and row["status"] in ENDED_STATES:
            self._finished.put(task_id, rendered)
        return rendered

    @staticmethod
    def _render(view: dict[str, Any], progress: dict[str, Any] | None) -> dict[str, Any]:
        status = view["status"]
        started, finished = view.get("started_at"), view.get("finished_at")
        runtime = (finished - started).total_seconds() if started and finished else None
        return {
            "task_id": view["task_id"],
            "task_name": view["task_name"],
            "status": status,
            "ready": status in ENDED_STATES,
            "successful": status == RunState.SUCCESS,
            "failed": status == RunState.FAILURE,
            "result": view.get("result"),
            "error": view.get("error"),
            "progress": progress,
            "params": view.get("params"),
            "submitted_by": view.get("submitted_by"),
            "submitted_at": _iso(view.get("submitted_at")),
            "started_at": _iso(started),
            "finished_at": _iso(finished),
            "runtime_s": round(runtime, 6) if runtime is not None else None,
            "worker": view.get("worker"),
            "retries": int(view.get("retries") or 0),
            "origin": view.get("origin"),
            "parent_id": view.get("parent_id"),
        }
