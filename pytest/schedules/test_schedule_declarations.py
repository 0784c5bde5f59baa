"""How a task's `schedule=` and the config overrides become the schedule Beat runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from celery.schedules import crontab
from celery.schedules import schedule as interval

import pytest
from background.processors.schedule_resolution import (
    Scheduled,
    ScheduleError,
    beat_entries,
    expression_of,
    parse,
    resolve,
    resolve_all,
)
from config.celery_config import celery_app, discovered_tasks


def _task(name: str, **options: Any) -> Any:
    """A real task object as the decorator makes it, without registering it on the app."""
    task = discovered_tasks[name]
    clone = type(task)()
    clone.name, clone._decorated_fun, clone.run = task.name, task._decorated_fun, task.run
    for key, value in options.items():
        setattr(clone, key, value)
    return clone


@pytest.mark.parametrize(("expression", "expected"), [
    ("*/15 6-20 * * 1-5", "*/15 6-20 * * 1-5"),
    ("  0   6 * * *  ", "0 6 * * *"),
    ("@daily", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
    ("@weekly", "0 0 * * 0"),
    ("@every 30s", "@every 30s"),
    ("@every 10m", "@every 600s"),
])
def test_cron_expressions_and_aliases_are_understood(expression: str, expected: str) -> None:
    assert expression_of(parse(expression))[0] == expected


@pytest.mark.parametrize("expression", ["", "* * * *", "61 * * * *", "0 0 31 2 *", "@every 0s", "@fortnightly",
                                        "* * * * * *"])
def test_invalid_expressions_are_refused_with_the_expression_named(expression: str) -> None:
    with pytest.raises(ScheduleError) as error:
        parse(expression)
    assert repr(expression) in str(error.value)


def test_a_cron_runs_at_its_next_slot_in_the_beat_timezone() -> None:
    resolved = resolve(_task("maintenance.purge_runs"), {})
    assert resolved is not None and resolved.expression == "30 3 * * *" and resolved.source == "task"
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # 07:00 in Lima (UTC-5)
    assert resolved.next_run_after(now, now, "America/Lima") == datetime(2026, 3, 11, 8, 30, tzinfo=UTC)  # 03:30 Lima


def test_an_interval_runs_one_period_after_the_last_run() -> None:
    resolved = resolve(_task("maintenance.ping"), {"maintenance.ping": "@every 10m"})
    assert resolved is not None and resolved.source == "override" and resolved.declared is None
    now = datetime.now(UTC)
    last = now - timedelta(minutes=4)
    assert abs(resolved.next_run_after(last, now, "UTC") - (last + timedelta(minutes=10))) < timedelta(seconds=1)
    # Overdue: Beat sends it at once.
    assert abs(resolved.next_run_after(now - timedelta(hours=1), now, "UTC") - now) < timedelta(seconds=1)


def test_overrides_replace_or_switch_off_a_declared_schedule() -> None:
    task = _task("maintenance.purge_runs")
    replaced = resolve(task, {"maintenance.purge_runs": "@daily"})
    assert replaced is not None and replaced.expression == "@daily" and replaced.source == "override"
    assert replaced.declared == "30 3 * * *"
    for off in (None, "off", "OFF"):
        switched = resolve(task, {"maintenance.purge_runs": off})
        assert switched is not None and switched.expression is None and not switched.configured_on
        assert beat_entries({task.name: switched}) == {}


def test_an_override_naming_no_task_stops_start_up() -> None:
    with pytest.raises(ScheduleError, match="maintenance.purge_rnus"):
        resolve_all(discovered_tasks, {"maintenance.purge_rnus": "@daily"})


def test_scheduled_parameters_are_validated_against_the_task_signature() -> None:
    good = resolve(_task("maintenance.purge_runs", schedule=Scheduled("0 4 * * 0", kwargs={"older_than_days": 90})), {})
    assert good is not None and good.kwargs == {"older_than_days": 90}
    entry = beat_entries({"maintenance.purge_runs": good})["maintenance.purge_runs"]
    assert entry["kwargs"] == {"older_than_days": 90} and isinstance(entry["schedule"], crontab)
    with pytest.raises(ScheduleError, match="older_than_days"):
        resolve(_task("maintenance.purge_runs", schedule=Scheduled("0 4 * * 0", kwargs={"older_than_days": 0})), {})


def test_celery_schedule_objects_are_accepted_as_declarations() -> None:
    cron = resolve(_task("maintenance.ping", schedule=crontab(minute="5", hour="*/2")), {})
    assert cron is not None and cron.expression == "5 */2 * * *"
    every = resolve(_task("maintenance.ping", schedule=interval(timedelta(seconds=45))), {})
    assert every is not None and every.expression == "@every 45s"


def test_the_discovered_schedules_are_what_beat_is_configured_with() -> None:
    from config import celery_config

    assert celery_app.conf.beat_scheduler == "background.processors.beat:ToolboxScheduler"
    assert "maintenance.purge_runs" in celery_config.schedules
    configured = celery_app.conf.beat_schedule
    assert set(configured) == {name for name, s in celery_config.schedules.items() if s.configured_on}
    assert configured["maintenance.purge_runs"]["options"]["headers"] == {"toolbox_origin": "beat"}
