"""Every Redis key Toolbox reads or writes, and the rule for its TTL.

`CELERY_RESULT_EXPIRES_S` below means `settings.celery.result_expires_s` (a run's result, its
events, log, progress and revoke all expire together). A key's writer passes the TTL it names.
"""

from __future__ import annotations

# --- Celery's own -------------------------------------------------------------------------------
# A run's result (Celery's Redis result backend). TTL: CELERY_RESULT_EXPIRES_S, set by Celery
# (a revoke of a queued run writes it too, with the same TTL).
RESULT_META_PREFIX = "celery-task-meta-"

# --- runs ---------------------------------------------------------------------------------------
# A run's latest progress as JSON {current, total, message}. TTL: CELERY_RESULT_EXPIRES_S.
PROGRESS_PREFIX = "toolbox:progress:"
# A revoked run id (value b"1"), checked by the worker before a run starts. TTL: CELERY_RESULT_EXPIRES_S.
REVOKED_PREFIX = "toolbox:revoked:"
# A run's events (Stream), log lines (list) and log bounds (hash). TTL: CELERY_RESULT_EXPIRES_S.
# The events key is also the pub/sub channel each entry is published on, and Celery publishes each
# stored state on the result key's name: the API's run-event hub subscribes to both.
RUN_EVENTS_PREFIX = "toolbox:run-events:"
RUN_LOGS_PREFIX = "toolbox:run-logs:"
RUN_LOGS_META_PREFIX = "toolbox:run-logs-meta:"
# The lock of a single-run task, holding its active run's id.
# TTL: the task's time limit plus CELERY_VISIBILITY_MARGIN_S (background/processors/single_run.py, lock_ttl).
SINGLE_RUN_PREFIX = "toolbox:single-run:"
# + sha256(subject NUL key): the run id an Idempotency-Key launched.
# TTL: IDEMPOTENCY_TTL_S once the run is enqueued, IDEMPOTENCY_PENDING_TTL_S while it is being enqueued.
IDEMPOTENCY_PREFIX = "toolbox:idempotency:"
IDEMPOTENCY_TTL_S = 24 * 3600
IDEMPOTENCY_PENDING_TTL_S = 60

# --- dead workers -------------------------------------------------------------------------------
# delivery tag -> owner (worker channel) of each unacknowledged message, beside kombu's own
# `unacked` hash. No TTL: fields are removed with kombu's entry.
UNACKED_OWNER_KEY = "toolbox:unacked-owner"
# + owner: the owner's liveness. TTL: CELERY_WORKER_LIVENESS_TTL_S, refreshed every TTL/6.
WORKER_ALIVE_PREFIX = "toolbox:worker-alive:"
# + task id: the owner whose death put the run back on its queue.
# TTL: CELERY_RESULT_EXPIRES_S (LOST_MARKER_DEFAULT_TTL_S when that is unset).
WORKER_LOST_PREFIX = "toolbox:worker-lost:"
LOST_MARKER_DEFAULT_TTL_S = 7 * 24 * 3600

# --- schedules (Beat) ---------------------------------------------------------------------------
# RedBeat's entries (its redbeat_key_prefix) and leader lock (TTL 5 x the Beat interval, RedBeat's).
BEAT_KEY_PREFIX = "toolbox:beat:"
BEAT_LOCK_KEY = BEAT_KEY_PREFIX + ":lock"
# Paused schedules (hash: name -> flag); who holds the leader lock (JSON). No TTL.
SCHEDULES_PAUSED_KEY = "toolbox:schedules:paused"
SCHEDULES_LEADER_KEY = "toolbox:schedules:leader"
# schedule name -> JSON of the last error sending it. No TTL (one field per schedule).
SCHEDULE_SEND_ERRORS_KEY = "toolbox:schedules:send_errors"

# --- metrics (rendered by services/metrics.py) --------------------------------------------------
# No TTL: counters, one field per label set (HINCRBY from every process).
METRICS_TASKS_KEY = "toolbox:metrics:tasks"  # `<event>|<task>`
METRICS_DURATIONS_KEY = "toolbox:metrics:durations"  # `<task>|<bucket index>`, `<task>|sum`, `<task>|count`
METRICS_HTTP_KEY = "toolbox:metrics:http"  # `<method>|<route>|<status>|count` and `...|sum`
METRICS_SCHEDULE_SEND_FAILURES_KEY = "toolbox:metrics:schedule_send_failures"  # `<task>`

# --- notifications ------------------------------------------------------------------------------
# task name -> id of its last run if that run failed; cleared by the next success. No TTL.
NOTIFY_LAST_FAILED_KEY = "toolbox:notify:last-failed"


def result_meta_key(task_id: str) -> str:
    return RESULT_META_PREFIX + task_id


def progress_key(task_id: str) -> str:
    return PROGRESS_PREFIX + task_id


def revoked_key(task_id: str) -> str:
    return REVOKED_PREFIX + task_id


def events_key(task_id: str) -> str:
    return RUN_EVENTS_PREFIX + task_id


def logs_key(task_id: str) -> str:
    return RUN_LOGS_PREFIX + task_id


def logs_meta_key(task_id: str) -> str:
    return RUN_LOGS_META_PREFIX + task_id


def lock_key(task_name: str) -> str:
    return SINGLE_RUN_PREFIX + task_name


def alive_key(owner: str) -> str:
    return WORKER_ALIVE_PREFIX + owner


def lost_key(task_id: str) -> str:
    return WORKER_LOST_PREFIX + task_id
