"""One `toolbox up` per folder: a second one refuses and leaves the first alone; a crashed one's
leftovers are still stopped by the next. Real `toolbox up` subprocesses on a private stack's servers.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx

import pytest
from support.private_stack import PrivateStack, private_stack
from support.up_process import pid_alive, start_up, stop_up, toolbox_up


@pytest.fixture(scope="module")
def stack(run_dir: Path) -> Iterator[PrivateStack]:
    with private_stack(run_dir, "up-single") as created:
        yield created


def test_a_second_up_in_the_same_folder_refuses_and_leaves_the_first_running(stack: PrivateStack) -> None:
    var_dir = stack.folder / "var-second"
    with toolbox_up(stack.env, var_dir, stack.folder / "first.out") as first:
        children = first.pids()
        assert set(children) == {"worker", "beat", "api"}

        second = start_up(stack.env, var_dir, stack.folder / "second.out")
        try:
            assert second.process.wait(120) == 1
        finally:
            stop_up(second, leftovers=False)  # the pids file is the first one's
        said = second.output()
        assert f"already running: pid {first.process.pid}, API at {first.api_url}" in said, said
        assert "stopping" not in said and "Traceback" not in said

        assert first.process.poll() is None
        assert first.pids() == children, (first.pids(), children)
        assert all(pid_alive(pid) for pid in children.values()), {p: pid_alive(p) for p in children.values()}
        assert httpx.get(f"{first.api_url}/health", timeout=5).status_code == 200
        assert (var_dir / "log" / "dev_token").exists()


def test_after_a_killed_up_the_next_one_stops_its_leftovers_and_comes_up(stack: PrivateStack) -> None:
    var_dir = stack.folder / "var-killed"
    first = start_up(stack.env, var_dir, stack.folder / "killed.out")
    left: dict[str, int] = {}
    try:
        first.wait_for("Toolbox is up")
        left = first.pids()
        os.kill(first.process.pid, signal.SIGKILL)  # the supervisor dies; its children do not at once
        first.process.wait(10)
        assert left and all(pid_alive(pid) for pid in left.values())

        with toolbox_up(stack.env, var_dir, stack.folder / "next.out") as following:
            said = following.output()
            # A child whose output pipe lost its reader may end by itself on its next log line;
            # every one still running is stopped by the next `toolbox up`, which says so.
            stopped = [name for name, pid in left.items() if f"stopping {name} (pid {pid}) left by an earlier run" in said]
            assert "api" in stopped, said  # the API writes nothing while nobody calls it
            for pid in left.values():
                assert not pid_alive(pid)
            assert httpx.get(f"{following.api_url}/health", timeout=5).status_code == 200
    finally:
        for pid in left.values():
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
