"""The last error Beat met sending each schedule, and the count of send failures per task.

Both live in Redis so that every Beat process writes them and any API process reads them:

- `toolbox:schedules:send_errors` (hash, no TTL): field = schedule (task) name, value = JSON
  `{"at": ISO-8601 UTC, "message": "<ExceptionType>: <text>", "task_id": "<id it would have had>"}`.
  Overwritten by the next failure and kept after later successful sends (compare `at` with the
  schedule's last run); removing the field forgets it.
- `toolbox:metrics:schedule_send_failures` (hash, no TTL): field = task name, value = failures
  since the counter was created; `/metrics` renders it as `toolbox_schedule_send_failures_total`.

`record_send_error` is the one place a failed send is written: whatever else should happen on a
failed send (a notification) belongs next to it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
import redis
from redis.exceptions import RedisError

from background.schemas.schedules import ScheduleSendError
from config.redis_keys import METRICS_SCHEDULE_SEND_FAILURES_KEY, SCHEDULE_SEND_ERRORS_KEY

# A message is what a user reads in the schedules list: bounded, whatever the exception carries.
MESSAGE_MAX_CHARS = 1000
log = logging.getLogger("toolbox.schedules")


@dataclass(frozen=True)
class SendError:
    """One failed send of a schedule."""

    at: datetime
    message: str
    task_id: str | None = None

    def as_json(self) -> bytes:
        return orjson.dumps({"at": self.at.isoformat(), "message": self.message, "task_id": self.task_id})

    def as_view(self) -> ScheduleSendError:
        """What the schedules endpoint shows."""
        return ScheduleSendError(at=self.at.isoformat(), message=self.message, task_id=self.task_id)


def describe(exc: BaseException) -> str:
    """`<ExceptionType>: <text>` of the error's root cause, bounded to MESSAGE_MAX_CHARS."""
    cause: BaseException = exc
    while cause.__cause__ is not None:
        cause = cause.__cause__
    text = f"{type(cause).__name__}: {cause}"
    return text if len(text) <= MESSAGE_MAX_CHARS else text[: MESSAGE_MAX_CHARS - 1] + "…"


def parse(raw: bytes | str | None) -> SendError | None:
    """A stored record, or None if there is none (or it cannot be read)."""
    if not raw:
        return None
    try:
        data = orjson.loads(raw)
        return SendError(at=datetime.fromisoformat(data["at"]), message=str(data["message"]),
                         task_id=data.get("task_id"))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def record_send_error(client: redis.Redis, name: str, exc: BaseException, task_id: str | None = None) -> SendError:
    """Store the failure as the schedule's last send error and count it; Redis trouble is only logged
    (the caller has already logged the failure itself at ERROR)."""
    error = SendError(at=datetime.now(UTC), message=describe(exc), task_id=task_id)
    try:
        pipe = client.pipeline(transaction=False)
        pipe.hset(SCHEDULE_SEND_ERRORS_KEY, name, error.as_json())
        pipe.hincrby(METRICS_SCHEDULE_SEND_FAILURES_KEY, name, 1)
        pipe.execute()
    except (RedisError, OSError) as exc_redis:
        log.warning("send error of schedule %s not recorded: %s", name, exc_redis)
    return error
