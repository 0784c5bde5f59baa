"""Beat schedules declared next to the task, with per-environment overrides.

A task declares `schedule=` in `@celery_app.task(...)` as one of:

- a cron expression, `"*/15 6-20 * * 1-5"` (minute hour day-of-month month day-of-week), or an
  alias: `@hourly`, `@daily`, `@midnight`, `@weekly`, `@monthly`, `@yearly`, `@annually`,
  `@every 30s` / `@every 10m` / `@every 2h`;
- `Scheduled("0 6 * * *", kwargs={...})` when the scheduled run needs fixed parameters;
- a `celery.schedules.crontab` or `celery.schedules.schedule`.

Overrides (config/schedule_overrides.py per environment, then `SCHEDULE_OVERRIDES` as JSON) replace the
expression, or switch a schedule off with `null` / `"off"`. Every cron runs in the one Beat
timezone (`SCHEDULE_TIMEZONE`), which is Celery's `timezone`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from celery.schedules import BaseSchedule, crontab
from celery.schedules import schedule as interval
from pydantic import ValidationError

from background.processors.task_base import ToolboxTask
from config.redis_keys import BEAT_KEY_PREFIX, BEAT_LOCK_KEY
from config.settings import Settings

ALIASES = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
EVERY = re.compile(r"^@every\s+(\d+)\s*(s|m|h)$")
UNITS = {"s": 1, "m": 60, "h": 3600}
OFF = frozenset({"off", "none", "disabled", "false"})
# What Beat does with the ticks of a schedule missed while no Beat ran (README, Operating):
# skip them (the next run is the next tick) or send one run for all of them at once.
CATCH_UP = ("skip", "once")
ORIGIN_HEADER = "toolbox_origin"
# RedBeat keeps each entry at BEAT_KEY_PREFIX + task name (config/redis_keys.py).
# RedBeat's leader lock (redbeat_key_prefix + ":lock"; its value is the holder's token, TTL 5 x
# the Beat interval) and our record of who took it: {"holder": "host:pid", "since", "token"}.


class ScheduleError(ValueError):
    """A schedule expression or its fixed parameters are invalid."""


@dataclass(frozen=True)
class Scheduled:
    """A schedule with fixed parameters: `schedule=Scheduled("0 6 * * *", kwargs={"days": 7})`."""

    cron: str
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ResolvedSchedule:
    """The effective schedule of one task in this environment."""

    task: ToolboxTask
    expression: str | None  # None when switched off
    declared: str | None  # what the task itself declares
    source: str  # "task" or "override"
    kwargs: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.task.name)

    @property
    def configured_on(self) -> bool:
        return self.expression is not None

    @property
    def catch_up(self) -> str:
        return str(getattr(self.task, "catch_up", "skip"))

    def celery_schedule(self) -> BaseSchedule:
        """The Celery schedule object Beat evaluates."""
        if self.expression is None:
            raise ScheduleError(f"schedule of {self.name} is switched off")
        return parse(self.expression)

    def next_run_after(self, last_run_at: datetime | None, now: datetime, timezone: str) -> datetime:
        """When Beat will next send it, given its last tick (None: first run is one period from now).

        `timezone` is Beat's (Celery's `timezone`), passed explicitly so the answer never depends on
        which Celery app happens to be current in this process.
        """
        when = self.celery_schedule()
        last = last_run_at or now
        if isinstance(when, crontab):
            start, delta, _ = when.remaining_delta(last, tz=timezone)
            following: datetime = start + delta
        else:
            following = last + when.run_every
        return max(following, now)  # an overdue entry is sent at the next tick

    def next_runs(self, last_run_at: datetime | None, now: datetime, timezone: str, count: int = 5) -> list[datetime]:
        """The next `count` times Beat will send it (the first as `next_run_after`, then the cron's own)."""
        first = self.next_run_after(last_run_at, now, timezone)
        runs = [first]
        while len(runs) < count:
            runs.append(self.next_run_after(runs[-1], runs[-1], timezone))
        return runs


def parse(expression: str) -> BaseSchedule:
    """A cron expression, alias or `@every Ns|m|h` as a Celery schedule; ScheduleError if invalid."""
    text = " ".join(expression.strip().split())
    every = EVERY.match(text)
    if every:
        seconds = int(every.group(1)) * UNITS[every.group(2)]
        if seconds <= 0:
            raise ScheduleError(f"{expression!r}: the interval must be positive")
        return interval(run_every=timedelta(seconds=seconds))
    text = ALIASES.get(text.lower(), text)
    parts = text.split(" ")
    if len(parts) != 5:
        raise ScheduleError(f"{expression!r}: expected 5 cron fields (minute hour day month weekday) or an alias")
    minute, hour, day_of_month, month_of_year, day_of_week = parts
    try:
        cron = crontab(minute=minute, hour=hour, day_of_month=day_of_month,
                       month_of_year=month_of_year, day_of_week=day_of_week)
        cron.remaining_estimate(cron.now())  # some invalid combinations only fail when evaluated
    except (ValueError, TypeError, IndexError) as exc:
        raise ScheduleError(f"{expression!r}: {exc}") from exc
    return cron


def expression_of(declared: Any) -> tuple[str, dict[str, Any]]:
    """The cron text and fixed parameters of whatever a task declared."""
    if isinstance(declared, Scheduled):
        return declared.cron, dict(declared.kwargs)
    if isinstance(declared, str):
        return declared, {}
    if isinstance(declared, crontab):
        return " ".join(str(part) for part in (declared._orig_minute, declared._orig_hour,
                                                 declared._orig_day_of_month, declared._orig_month_of_year,
                                                 declared._orig_day_of_week)), {}
    if isinstance(declared, interval):
        return f"@every {int(declared.run_every.total_seconds())}s", {}
    raise ScheduleError(f"unsupported schedule {declared!r}: use a cron string, Scheduled(...) or crontab(...)")


def resolve(task: ToolboxTask, overrides: dict[str, str | None]) -> ResolvedSchedule | None:
    """The task's effective schedule, None if it has none. ScheduleError names what is wrong.

    An override may also give a schedule to a task that declares none (e.g. a health ping in staging).
    """
    if task.schedule is None and task.name not in overrides:
        return None
    declared, kwargs = expression_of(task.schedule) if task.schedule is not None else (None, {})
    expression = declared
    source = "task"
    if task.name in overrides:
        override = overrides[task.name]
        expression = None if override is None or override.strip().lower() in OFF else override
        source = "override"
    if expression is not None:
        parse(expression)
    if getattr(task, "catch_up", "skip") not in CATCH_UP:
        raise ScheduleError(f"catch_up of {task.name} must be one of {', '.join(CATCH_UP)}, "
                            f"not {task.catch_up!r}")
    try:
        task.params_model.model_validate(kwargs)
    except ValidationError as exc:
        raise ScheduleError(f"scheduled parameters of {task.name} are invalid: {exc}") from exc
    return ResolvedSchedule(task=task, expression=expression, declared=declared, source=source, kwargs=kwargs)


def resolve_all(tasks: dict[str, ToolboxTask], overrides: dict[str, str | None]) -> dict[str, ResolvedSchedule]:
    """Every scheduled task by name; an override naming no discovered task is an error (likely a typo)."""
    unknown = sorted(set(overrides) - set(tasks))
    if unknown:
        raise ScheduleError(f"schedule overrides name unknown tasks: {', '.join(unknown)}")
    found: dict[str, ResolvedSchedule] = {}
    for name, task in sorted(tasks.items()):
        try:
            resolved = resolve(task, overrides)
        except ScheduleError as exc:
            raise ScheduleError(f"{_source_file(task)}: {exc}") from exc
        if resolved is not None:
            found[name] = resolved
    return found


def beat_entries(schedules: dict[str, ResolvedSchedule]) -> dict[str, dict[str, Any]]:
    """Celery's `beat_schedule`: one entry per switched-on schedule, named after its task."""
    return {
        name: {"task": name, "schedule": resolved.celery_schedule(), "kwargs": resolved.kwargs,
               "options": {"headers": {ORIGIN_HEADER: "beat"}}}
        for name, resolved in schedules.items() if resolved.configured_on
    }


def beat_conf(schedules: dict[str, ResolvedSchedule], settings: Settings) -> dict[str, Any]:
    """Celery settings for Beat: RedBeat as scheduler, its keys in Redis, and the entries."""
    redis_options: dict[str, Any] = {
        "socket_timeout": settings.redis.socket_timeout_s,
        "socket_connect_timeout": settings.redis.socket_timeout_s,
        # Ride out a short Redis outage instead of letting Beat die on the first refused call.
        "retry_period": 30,
    }
    return {
        "beat_scheduler": "background.processors.beat:ToolboxScheduler",
        "beat_schedule": beat_entries(schedules) if settings.schedules.enabled else {},
        "beat_max_loop_interval": settings.schedules.beat_max_interval_s,
        "redbeat_redis_url": settings.redis.url,
        "redbeat_redis_options": redis_options,
        "redbeat_key_prefix": BEAT_KEY_PREFIX,
        "redbeat_lock_key": BEAT_LOCK_KEY,
    }


def _source_file(task: ToolboxTask) -> str:
    import sys

    module = sys.modules.get(task.__module__)
    return str(getattr(module, "__file__", task.__module__))
