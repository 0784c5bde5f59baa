"""The services under test: how each starts and how to talk to it."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson

from bench.api.cpu import tree_cpu
from config.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]
PING = "maintenance.ping"


@dataclass
class Service:
    """A server under test, its start command and its request shapes."""

    name: str
    command: list[str]
    execute_path: str
    status_prefix: str
    ready_path: str
    port: int = field(default_factory=free_port)
    headers: dict[str, str] = field(default_factory=dict)
    cwd: Path = ROOT
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def task_id_of(self, body: bytes) -> str:
        data = orjson.loads(body)
        return str(data.get("task_id") or data.get("task-id"))

    def is_success(self, body: bytes) -> bool:
        data = orjson.loads(body)
        return bool((data.get("status") or data.get("state")) == "SUCCESS")

    def start(self, env: dict[str, str], log: Path) -> None:
        handle = open(log, "ab")  # noqa: SIM115 - owned by the child
        command = [part.replace("{port}", str(self.port)) for part in self.command]
        self.process = subprocess.Popen(command, cwd=self.cwd, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        handle.close()

    def wait_ready(self, timeout: float = 600) -> float:
        """Seconds until the service answers and its processes are done starting (see `_settle`)."""
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited during start-up (see its log)")
            try:
                if httpx.get(self.base + self.ready_path, headers=self.headers, timeout=2).status_code < 500:
                    self._settle(deadline)
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not start on port {self.port} within {timeout:.0f} s")

    def _settle(self, deadline: float) -> None:
        # With `uvicorn --workers N` the first process to answer says nothing of the others, which
        # may still be importing (500 task modules each on a loaded machine): wait until the whole
        # process tree is idle, so the first round does not measure their start-up.
        last = sum(tree_cpu(self.pid).values())
        while time.monotonic() < deadline:
            time.sleep(1.0)
            now = sum(tree_cpu(self.pid).values())
            if now - last < 0.05:
                return
            last = now

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def _uvicorn(app: str, workers: int = 1) -> list[str]:
    command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", "{port}",
               "--no-access-log", "--log-level", "warning"]
    return command + (["--workers", str(workers)] if workers > 1 else [])


def toolbox(token: str, workers: int = 1, cwd: Path = ROOT) -> Service:
    """Toolbox as `toolbox up` serves it (auth, validation, registry), with `workers` uvicorn processes."""
    return Service("toolbox", _uvicorn("main:app", workers), "/tasks/execute/ping", "/tasks/status/", "/health",
                   headers={"Authorization": f"Bearer {token}"}, cwd=cwd)


def naive(name: str) -> Service:
    """The day-one FastAPI + delay() + AsyncResult service (bench/api/naive_app.py)."""
    return Service(name, _uvicorn("bench.api.naive_app:app"), f"/execute/{PING}", "/status/", "/docs")


def flower() -> Service:
    """Flower 2.x's own task API (one tornado process)."""
    return Service("flower", [sys.executable, "-m", "celery", "-A", "config.celery_config", "flower",
                              "--port={port}", "--address=127.0.0.1", "--logging=warning"],
                   f"/api/task/async-apply/{PING}", "/api/task/result/", "/api/workers?refresh=false")
