"""A user's mistakes at the command line get one or two lines and exit code 2, never a traceback.

Each case runs the real CLI in a subprocess, in a folder of its own with no server variable set.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from support.scratch_domain import scratch_domain
from support.toolbox_up import toolbox, user_env

BAD_PARAMETER_TYPE = '''
"""A task whose parameter type has no JSON Schema."""
import socket

from config.celery_config import celery_app


@celery_app.task(name="{domain}.listen")
def listen(sock: socket.socket | None = None) -> None:
    """Listen on a socket."""
'''

DOES_NOT_IMPORT = '''
"""A task module importing a module that does not exist."""
from services.fx import take_snapshot

from config.celery_config import celery_app
'''


def assert_one_line_error(done: object, *needles: str) -> str:
    """The command failed with exit code 2 and said why in one or two lines on stderr."""
    stderr, stdout, code = done.stderr, done.stdout, done.returncode  # type: ignore[attr-defined]
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 2, (code, stdout, stderr)
    assert 1 <= len(lines) <= 2, stderr
    assert "Traceback" not in stderr + stdout
    for needle in needles:
        assert needle in stderr, stderr
    return str(stderr)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path


def test_run_with_a_word_without_equals(folder: Path) -> None:
    assert_one_line_error(toolbox(folder, "run", "ping", "echo"), "'echo'", "key=value")


def test_run_an_unknown_task(folder: Path) -> None:
    assert_one_line_error(toolbox(folder, "run", "no-such-task"), "no-such-task", "toolbox tasks")


def test_run_with_an_invalid_parameter(folder: Path) -> None:
    assert_one_line_error(toolbox(folder, "run", "table-stats", "min_rows=-1"), "min_rows")


@pytest.mark.parametrize(("option", "value", "needle"), [
    ("--port", "99999", "--port"), ("--port", "http", "--port"), ("--concurrency", "-3", "--concurrency"),
    ("--concurrency", "0", "--concurrency"), ("--postgres-port", "0", "--postgres-port"),
])
def test_up_validates_its_options_before_anything_starts(folder: Path, option: str, value: str, needle: str) -> None:
    done = toolbox(folder, "up", option, value)
    assert_one_line_error(done, needle, value)
    assert "Toolbox is up" not in done.stdout and "embedded" not in done.stdout
    assert not (folder / "var").exists()  # nothing was started or created


def test_a_database_url_that_is_not_postgresql(folder: Path) -> None:
    env = user_env(folder, DATABASE_URL="mysql://root:hunter2@127.0.0.1:3306/toolbox")
    stderr = assert_one_line_error(toolbox(folder, "migrate", env=env), "DATABASE_URL", "PostgreSQL")
    assert "hunter2" not in stderr  # the password is never echoed
    up = toolbox(folder, "up", env=env)
    assert_one_line_error(up, "DATABASE_URL")


def test_an_unreachable_database(folder: Path) -> None:
    from config.embedded import free_port

    port = free_port()
    env = user_env(folder, DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/toolbox")
    assert_one_line_error(toolbox(folder, "migrate", env=env), f"127.0.0.1:{port}", "PostgreSQL")


def test_migrate_without_any_stack_says_what_to_start(folder: Path) -> None:
    from config.embedded import free_port

    # No variable and no var/up.env: the default URL; the message says how to get a database.
    env = user_env(folder, DATABASE_URL=f"postgresql://postgres@127.0.0.1:{free_port()}/toolbox")
    env.pop("DATABASE_URL")
    done = toolbox(folder, "migrate", env=env)
    assert_one_line_error(done, "toolbox up")


def test_a_parameter_type_without_json_schema_names_the_file_and_the_parameter(folder: Path) -> None:
    with scratch_domain({"listen_task.py": BAD_PARAMETER_TYPE}) as domain:
        done = toolbox(folder, "tasks")
    stderr = assert_one_line_error(done, str(domain.folder / "listen_task.py"), "'sock'", "socket")
    assert "arbitrary_types_allowed" not in stderr  # no setting the task's author cannot change


def test_a_module_that_does_not_import_names_the_file_and_the_cause(folder: Path) -> None:
    with scratch_domain({"snapshot_task.py": DOES_NOT_IMPORT}) as domain:
        tasks = toolbox(folder, "tasks")
        up = toolbox(folder, "up", "--no-beat")
    path = str(domain.folder / "snapshot_task.py")
    for done in (tasks, up):
        assert_one_line_error(done, f"{path}:3", "No module named 'services.fx'")
    assert not (folder / "var" / "postgres").exists()  # toolbox up stopped before starting any server


def test_run_needs_no_broker(folder: Path, servers: dict[str, Any]) -> None:
    from config.embedded import free_port

    # A real database, and a Redis URL where nothing listens: `toolbox run` never asks it.
    env = user_env(folder, DATABASE_URL=servers["postgres"].dsn, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    done = toolbox(folder, "run", "table-stats", "min_rows=0", env=env)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["status"] == "SUCCESS" and answer["result"]["schema"] == "public"
    assert re.search(r"^progress \d+/\d+ ", done.stderr, flags=re.M), done.stderr
    failed = toolbox(folder, "run", "etl", "batch=no-such-batch", env=env)
    assert failed.returncode == 1
    assert "no-such-batch" in json.loads(failed.stdout)["error"]
