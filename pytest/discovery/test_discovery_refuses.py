"""A broken task module or a duplicated name stops start-up, naming the file."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from support.processes import ROOT
from support.scratch_domain import scratch_domain

BROKEN = {"broken_task.py": "from config.celery_config import celery_app\nimport no_such_module_here\n"}
DUPLICATE = {
    "first_task.py": ('from config.celery_config import celery_app\n\n'
                      '@celery_app.task(name="{domain}.same")\ndef one() -> int:\n    return 1\n'),
    "second_task.py": ('from config.celery_config import celery_app\n\n'
                       '@celery_app.task(name="{domain}.same")\ndef two() -> int:\n    return 2\n'),
}
UNNAMED = {"unnamed_task.py": "from config.celery_config import celery_app\n\n@celery_app.task\ndef anonymous() -> None:\n    pass\n"}

START_COMMANDS = {
    "import": [sys.executable, "-c", "import config.celery_config"],
    "api": [sys.executable, "-c", "import main"],
    "worker": [sys.executable, "-m", "celery", "-A", "config.celery_config", "worker", "--pool", "solo"],
    "beat": [sys.executable, "-m", "celery", "-A", "config.celery_config", "beat"],
}


def _start(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("process", sorted(START_COMMANDS))
def test_a_module_that_fails_to_import_stops_start_up(process: str) -> None:
    with scratch_domain(BROKEN) as domain:
        done = _start(START_COMMANDS[process])
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert str(domain.folder / "broken_task.py") in output
    assert "No module named 'no_such_module_here'" in output


def test_two_tasks_with_one_name_stop_start_up_naming_both_files() -> None:
    with scratch_domain(DUPLICATE) as domain:
        done = _start(START_COMMANDS["import"])
    assert done.returncode != 0
    assert f"task name '{domain.name}.same' is declared twice" in done.stderr
    assert str(domain.folder / "first_task.py") in done.stderr
    assert str(domain.folder / "second_task.py") in done.stderr


def test_a_task_without_an_explicit_name_is_refused() -> None:
    with scratch_domain(UNNAMED) as domain:
        done = _start(START_COMMANDS["import"])
    assert done.returncode != 0
    assert str(domain.folder / "unnamed_task.py") in done.stderr
    assert "must be explicit" in done.stderr
