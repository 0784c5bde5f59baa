"""A real `toolbox up` in a subprocess, with its own folder and API port, on a private stack's servers.

Given DATABASE_URL and REDIS_URL, `toolbox up` starts no server of its own: only the API, a
worker and Beat, which is what these tests kill. Nothing here uses a fixed port.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from config.embedded import free_port
from support.processes import ROOT, wait_for_log


@dataclass
class Up:
    """One `toolbox up` process and where it keeps its state."""

    process: subprocess.Popen[bytes]
    var_dir: Path
    log_path: Path
    api_url: str

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def pids(self) -> dict[str, int]:
        """The latest pid `toolbox up` recorded for each child (var/up.pids)."""
        found: dict[str, int] = {}
        path = self.var_dir / "up.pids"
        for line in (path.read_text().splitlines() if path.exists() else []):
            name, _, pid = line.partition(" ")
            if pid.isdigit():
                found[name] = int(pid)
        return found

    def wait_for(self, needle: str, timeout: float = 120, count: int = 1) -> None:
        """Block until `needle` has been printed `count` times; fail with the output if `up` exits."""
        deadline = time.monotonic() + timeout
        while self.output().count(needle) < count:
            if self.process.poll() is not None:
                raise AssertionError(f"toolbox up exited ({self.process.returncode}):\n{self.output()[-4000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {needle!r} x{count}:\n{self.output()[-4000:]}")
            time.sleep(0.2)


def start_up(env: dict[str, str], var_dir: Path, log_path: Path, *, port: int | None = None) -> Up:
    """Start `toolbox up` (its own process group) writing its output to `log_path`; not waited for."""
    port = port or free_port()
    command = [sys.executable, "-m", "config.cli", "up", "--port", str(port), "--concurrency", "1"]
    log = open(log_path, "ab")  # noqa: SIM115 - owned by the child
    process = subprocess.Popen(command, cwd=ROOT, env={**env, "VAR_DIR": str(var_dir)}, stdout=log,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()
    return Up(process=process, var_dir=var_dir, log_path=log_path, api_url=f"http://127.0.0.1:{port}")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid)


def _state(pid: int) -> str:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return "zombie"
    return next((line for line in status.splitlines() if line.startswith("State:")), "").lower()


def stop_up(up: Up, timeout: float = 60, *, leftovers: bool = True) -> None:
    """Ctrl-C, as a user stops it; then (`leftovers`) SIGKILL whatever var/up.pids still names."""
    if up.process.poll() is None:
        up.process.send_signal(signal.SIGINT)
        try:
            up.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(up.process.pid, signal.SIGKILL)
            up.process.wait(5)
    for pid in (up.pids() if leftovers else {}).values():
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


@contextmanager
def toolbox_up(env: dict[str, str], var_dir: Path, log_path: Path) -> Iterator[Up]:
    """A `toolbox up` that is up (banner printed) for the block, stopped after it."""
    up = start_up(env, var_dir, log_path)
    try:
        up.wait_for("Toolbox is up")
        wait_for_log(up.process, var_dir / "log" / "worker.log", "ready.", timeout=120)
        yield up
    finally:
        stop_up(up)
