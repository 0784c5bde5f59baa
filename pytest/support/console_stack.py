"""Scratch tasks that log, report progress and sleep, served by their own worker and API.

Shared by the console's API tests and browser tests: the API is started after the scratch
domain exists, so discovery lists the tasks (nothing else is edited).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from config.embedded import free_port
from support.processes import start_api, start_worker, stop
from support.scratch_domain import ScratchDomain, scratch_domain

SOURCE = '''
"""Tasks the console tests follow live."""
import logging
import time
from datetime import date, datetime
from enum import Enum
from typing import Annotated, Literal

from pydantic import Field

from background.processors.progress import Progress
from config.celery_config import celery_app

log = logging.getLogger(__name__)
chatter = logging.getLogger("kombu.console_test")  # not the run's: never captured


class Region(str, Enum):
    north = "north"
    south = "south"


@celery_app.task(name="{domain}.console_steps", queue="{domain}")
def steps(progress: Progress,
          steps: Annotated[int, Field(ge=1, le=50, description="How many steps to take.")] = 3,
          pause_s: Annotated[float, Field(ge=0, le=5, description="Seconds between steps.")] = 0.3,
          secret: str | None = None, fail: bool = False) -> list:
    """Take a few steps, logging and reporting each; return one row per step."""
    rows = []
    for step in range(1, steps + 1):
        time.sleep(pause_s)
        log.info("step %s of %s done", step, steps)
        chatter.warning("worker chatter that is not the run's")
        if secret:
            log.info("calling the provider with Authorization: Bearer %s and key %s", secret, secret)
        progress.update(step, steps, f"step {step}")
        rows.append({"step": step, "square": step * step})
    if fail:
        log.error("giving up on purpose")
        raise RuntimeError("failed on purpose")
    return rows


@celery_app.task(name="{domain}.console_chatty", queue="{domain}")
def chatty(lines: Annotated[int, Field(ge=1, le=100000)] = 10) -> int:
    """Write many log lines."""
    for number in range(lines):
        log.info("line %06d %s", number, "x" * 80)
    return lines


@celery_app.task(name="{domain}.console_sleepy", queue="{domain}")
def sleepy(progress: Progress, seconds: Annotated[float, Field(gt=0, le=600)] = 60) -> str:
    """Sleep for a long time, reporting progress every half second."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        time.sleep(0.5)
        progress.update(int(time.monotonic() - started), int(seconds), "sleeping")
    return "woke up"


@celery_app.task(name="{domain}.console_every_type", queue="{domain}")
def every_type(
    title: Annotated[str, Field(min_length=3, max_length=20, description="A short title.")],
    count: Annotated[int, Field(ge=1, le=10, description="Between 1 and 10.")] = 2,
    ratio: Annotated[float, Field(gt=0, lt=1)] = 0.5,
    enabled: bool = True,
    region: Region = Region.north,
    mode: Literal["fast", "careful"] = "fast",
    on: date | None = None,
    at: datetime | None = None,
    limit: int | None = None,
    tags: list[str] | None = None,
) -> dict:
    """Take every parameter type the toolbox supports and echo them."""
    log.info("every_type ran with %s", title)
    return {"title": title, "count": count, "ratio": ratio, "enabled": enabled, "region": region.value,
            "mode": mode, "on": on.isoformat() if on else None, "at": at.isoformat() if at else None,
            "limit": limit, "tags": tags}
'''


@dataclass
class ConsoleStack:
    domain: ScratchDomain
    api_url: str

    def task(self, short: str) -> str:
        """The full name of a scratch task (`console_` keeps short names apart from other tests' tasks)."""
        return f"{self.domain.name}.console_{short}"


@contextmanager
def console_stack(run_dir: Path, env_extra: dict[str, str] | None = None) -> Iterator[ConsoleStack]:
    """The scratch domain, a worker on its queue (and the default one) and an API that lists it."""
    with scratch_domain({"console_task.py": SOURCE}) as domain:
        env = {**os.environ, **(env_extra or {})}
        folder = run_dir / domain.name
        folder.mkdir(parents=True, exist_ok=True)
        worker = start_worker(env, folder / "worker.log", queues=f"{domain.name},celery", name=domain.name,
                              concurrency=2)
        port = free_port()
        try:
            api = start_api(env, port, folder / "api.log")
        except BaseException:
            stop(worker)
            raise
        try:
            yield ConsoleStack(domain=domain, api_url=f"http://127.0.0.1:{port}")
        finally:
            stop(api)
            stop(worker)
