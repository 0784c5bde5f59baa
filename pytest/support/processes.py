"""Real servers and processes for the test suite: PostgreSQL, Valkey, Celery worker, uvicorn."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def start_worker(env: dict[str, str], log_path: Path, *, queues: str = "celery", name: str = "test",
                 concurrency: int = 2, pool: str = "prefork") -> subprocess.Popen[bytes]:
    """A real `celery -A config.celery_config worker`, logging to `log_path`."""
    command = [sys.executable, "-m", "celery", "-A", "config.celery_config", "worker", "--loglevel", "INFO",
               "-Q", queues, "-n", f"{name}-{os.getpid()}@%h", "--pool", pool, "--concurrency", str(concurrency),
               "--without-gossip", "--without-mingle", "-E"]
    log = open(log_path, "ab")  # noqa: SIM115
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()
    wait_for_log(process, log_path, "ready.", timeout=60)
    return process


def start_api(env: dict[str, str], port: int, log_path: Path) -> subprocess.Popen[bytes]:
    """A real `uvicorn main:app` on 127.0.0.1:port, waited for until /health answers."""
    command = [sys.executable, "-m", "uvicorn", "main:app", "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning", "--no-access-log"]
    log = open(log_path, "ab")  # noqa: SIM115
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"uvicorn exited:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.1)


def wait_for_log(process: subprocess.Popen[bytes], log_path: Path, needle: str, timeout: float) -> None:
    """Block until `needle` appears in the log; fail with the log if the process dies first."""
    deadline = time.monotonic() + timeout
    while True:
        text = log_path.read_text(errors="replace") if log_path.exists() else ""
        if needle in text:
            return
        if process.poll() is not None:
            raise RuntimeError(f"process exited ({process.returncode}):\n{text[-3000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {needle!r}:\n{text[-3000:]}")
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes] | None, timeout: float = 15) -> None:
    """SIGTERM the process group, then SIGKILL if it lingers."""
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


@contextmanager
def running_api(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """A `start_api` on a free port for the block; yields its base URL and stops it after."""
    from config.embedded import free_port

    port = free_port()
    api = start_api(env, port, log_path)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(api)
