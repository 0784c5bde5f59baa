"""The one list of run-state names (Celery's, plus Toolbox's PROGRESS), and the sets built from them."""

from __future__ import annotations

from enum import StrEnum


class RunState(StrEnum):
    """Every state GET /tasks/status/<id> can report, each accepted by the history's `status` filter.

    PROGRESS lives only in the result backend: the registry holds such runs as STARTED, so the
    filter `PROGRESS` matches the running ones (as `STARTED` does).
    """

    PENDING = "PENDING"
    STARTED = "STARTED"
    PROGRESS = "PROGRESS"
    RETRY = "RETRY"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    REVOKED = "REVOKED"


# Plain strings (the values), so they can be bound into SQL or compared with what Celery stores.
# A run in one of these states is over: it will not change again.
ENDED_STATES = frozenset({RunState.SUCCESS.value, RunState.FAILURE.value, RunState.REVOKED.value})
# A worker is executing the run.
RUNNING_STATES = frozenset({RunState.STARTED.value, RunState.PROGRESS.value})
# The states Celery's result backend can hold for a run (PENDING is its answer for "nothing stored").
BACKEND_STATES = frozenset(state.value for state in RunState) - {RunState.PENDING.value}
