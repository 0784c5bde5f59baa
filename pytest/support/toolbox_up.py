"""A real `toolbox up` in a folder of its own, as a user starts it, stopped as Ctrl-C stops it.

It runs `python -m config.cli up` with VAR_DIR in a temporary folder and no DATABASE_URL,
REDIS_URL, AUTH_JWT_SECRET or ENVIRONMENT (the suite's own servers stay out of it), in its own
process group; `stop()` sends SIGINT to that group and waits.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from support.processes import ROOT

SUITE_VARIABLES = ("DATABASE_URL", "REDIS_URL", "AUTH_JWT_SECRET", "ENVIRONMENT", "VAR_DIR",
                   "CELERY_WORKER_CONCURRENCY")


def user_env(folder: Path, **extra: str) -> dict[str, str]:
    """The environment of a user's shell in `folder`: no server variables, VAR_DIR=<folder>/var."""
    env = {key: value for key, value in os.environ.items() if key not in SUITE_VARIABLES}
    env.update(VAR_DIR=str(folder / "var"), **extra)
    return env


def toolbox(folder: Path, *args: str, env: dict[str, str] | None = None,
            timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run one `toolbox` command as a user in `folder` would, and wait for it."""
    return subprocess.run([sys.executable, "-m", "config.cli", *args], cwd=ROOT, env=env or user_env(folder),
                          capture_output=True, text=True, timeout=timeout, check=False)


@dataclass
class ToolboxUp:
    """One `toolbox up` process and what it printed."""

    folder: Path
    args: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    out_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.out_path = self.folder / "up-output.txt"

    @property
    def var_dir(self) -> Path:
        return self.folder / "var"

    @property
    def output(self) -> str:
        return self.out_path.read_text(errors="replace") if self.out_path.exists() else ""

    def start(self, timeout: float = 240) -> ToolboxUp:
        """Start it and wait for the banner; fail with its output if it exits first."""
        with self.out_path.open("ab") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "config.cli", "up", *self.args], cwd=ROOT,
                                            env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        start_at = len(self.output)
        while "Toolbox is up." not in self.output[start_at:]:
            if self.process.poll() is not None:
                raise AssertionError(f"toolbox up exited ({self.process.returncode}):\n{self.output[-4000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"toolbox up did not come up in {timeout}s:\n{self.output[-4000:]}")
            time.sleep(0.2)
        return self

    def stop(self, timeout: float = 120) -> int | None:
        """Ctrl-C (SIGINT to its process group), then wait; SIGKILL only if it hangs."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGINT)
                process.wait(timeout)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
                self._kill_recorded_children()
        self.process = None
        return process.returncode

    def _kill_recorded_children(self) -> None:
        # Only when `toolbox up` hung and was killed: its children run in process groups of their own.
        pids = self.var_dir / "up.pids"
        for line in pids.read_text().splitlines() if pids.exists() else []:
            pid_text = line.partition(" ")[2]
            if pid_text.isdigit():
                try:
                    os.killpg(int(pid_text), signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
