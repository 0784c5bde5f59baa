"""Celery Beat processes for the schedule tests, and the environment they share with an API."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from support.processes import ROOT


def beat_environment(base: dict[str, str], overrides: dict[str, str | None], max_interval_s: float = 1) -> dict[str, str]:
    """`base` with schedule overrides; every other scheduled task is switched off so that only the
    schedules under test can fire while the test runs."""
    from config.celery_config import schedules

    everything_off: dict[str, str | None] = {name: None for name in schedules}
    return {**base, "SCHEDULE_OVERRIDES": json.dumps({**everything_off, **overrides}),
            "SCHEDULE_BEAT_MAX_INTERVAL_S": str(max_interval_s)}


def start_beat(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """A real `celery -A config.celery_config beat`; it may still be waiting for the leader lock."""
    command = [sys.executable, "-m", "celery", "-A", "config.celery_config", "beat", "--loglevel", "INFO",
               "--schedule", str(log_path.with_suffix(".schedule"))]
    log = open(log_path, "ab")  # noqa: SIM115
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()
    return process


def sent_ids(log_path: Path, task_name: str) -> list[str]:
    """Ids of the runs this Beat sent for `task_name`, from its log."""
    pattern = re.compile(re.escape(f"Sending due task {task_name} ({task_name}) id=") + r"([0-9a-f-]{36})")
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    return pattern.findall(text)


@contextmanager
def beat_env_for(task_name: str, schedule: str = "@every 1s") -> Iterator[dict[str, str]]:
    """An environment scheduling `task_name`; afterwards the Beats' Redis state is removed."""
    env = beat_environment(os.environ.copy(), {task_name: schedule})
    try:
        yield env
    finally:
        client = redis.Redis.from_url(os.environ["REDIS_URL"])
        keys = list(client.scan_iter("toolbox:beat:*"))
        if keys:
            client.delete(*keys)
        client.hdel("toolbox:schedules:paused", task_name)
        client.close()
