"""The processes behind `toolbox up`: embedded servers (unless external URLs are given) and children.

Every child runs in its own process group and is stopped with SIGTERM (then SIGKILL). PIDs are
kept in var/up.pids so that a run after a crash can stop what the crashed run left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from config.embedded import EmbeddedPostgres, EmbeddedValkey, free_port
from config.settings import PROJECT_ROOT, get_settings


class LocalStack:
    """Embedded PostgreSQL + Valkey, migrations, then uvicorn, a Celery worker and Celery Beat."""

    def __init__(self, api_port: int = 8000, concurrency: int = 2, beat: bool = True) -> None:
        self.settings = get_settings()
        self.var_dir = self.settings.var_dir.resolve()
        self.log_dir = self.var_dir / "log"
        self.pids_file = self.var_dir / "up.pids"
        self.api_port = free_port(api_port)
        self.concurrency = concurrency
        self.beat = beat
        self.postgres: EmbeddedPostgres | None = None
        self.valkey: EmbeddedValkey | None = None
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self._commands: dict[str, tuple[list[str], dict[str, str]]] = {}
        self.database_url = os.environ.get("DATABASE_URL", "")
        self.redis_url = os.environ.get("REDIS_URL", "")

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self) -> None:
        """Start servers and children; raises if any fails to come up."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._stop_leftovers()
        if not self.database_url:
            self.postgres = EmbeddedPostgres(self.var_dir / "postgres", port=free_port(54329)).start()
            self.database_url = self.postgres.url
            self._remember("postgres", self.postgres.process)
            print(f"embedded PostgreSQL on port {self.postgres.port} (data: {self.postgres.data_dir})", flush=True)
        if not self.redis_url:
            self.valkey = EmbeddedValkey(self.var_dir / "valkey", port=free_port(63799), persist=True).start()
            self.redis_url = self.valkey.url
            self._remember("valkey", self.valkey.process)
            print(f"embedded Valkey on port {self.valkey.port}", flush=True)
        from config.commands.migrate import migrate

        migrate("head", database_url=self.database_url)
        print("migrations applied", flush=True)
        env = {**os.environ, "DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url,
               "AUTH_JWT_SECRET": self.settings.auth.jwt_secret, "VAR_DIR": str(self.var_dir),
               "ENVIRONMENT": self.settings.environment}
        celery = [sys.executable, "-m", "celery", "-A", "config.celery_config"]
        self._spawn("worker", [*celery, "worker", "--loglevel", "INFO", "--concurrency", str(self.concurrency),
                               "-n", "local@%h", "-E"], env)
        if self.beat:
            # RedBeat keeps the schedule and its lock in Redis: no schedule file.
            self._spawn("beat", [*celery, "beat", "--loglevel", "INFO"], env)
        self._spawn("api", [sys.executable, "-m", "uvicorn", "main:app", "--host", "127.0.0.1",
                            "--port", str(self.api_port)], env)
        self._wait_for_api()

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.children[name] = process
        self._commands[name] = (command, env)
        self._remember(name, process)

    def _wait_for_api(self, timeout: float = 60) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            failed = self.failed_child()
            if failed:
                raise RuntimeError(f"{failed} exited during start-up; see {self.log_dir / (failed + '.log')}")
            try:
                if httpx.get(f"{self.api_url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the API did not answer in {timeout}s; see {self.log_dir / 'api.log'}")

    def failed_child(self) -> str | None:
        """The name of a child that has exited, if any."""
        for name, process in self.children.items():
            if process.poll() is not None:
                return name
        return None

    # What config/supervision.py needs to restart a crashed child.

    def exited(self) -> dict[str, int]:
        """Children that have exited, with their exit codes."""
        return {name: code for name, process in self.children.items() if (code := process.poll()) is not None}

    def respawn(self, name: str) -> int:
        """Start `name` again with the command and environment it was first started with; its pid."""
        self._spawn(name, *self._commands[name])
        return self.children[name].pid

    def forget(self, name: str) -> None:
        """Stop watching `name` (it stays stopped)."""
        self.children.pop(name, None)

    def log_path(self, name: str) -> str:
        return str(self.log_dir / f"{name}.log")

    def dev_token(self) -> str:
        from services.auth import TokenService

        return TokenService(self.settings.auth).mint("dev", "admin", 24 * 3600)

    def stop(self) -> None:
        """Children first (they hold connections), then the servers."""
        for name in ("api", "beat", "worker"):
            process = self.children.pop(name, None)
            if process is not None:
                _terminate(process.pid, process)
        if self.valkey is not None:
            self.valkey.stop()
        if self.postgres is not None:
            self.postgres.stop()
        self.pids_file.unlink(missing_ok=True)

    def _remember(self, name: str, process: subprocess.Popen[bytes] | None) -> None:
        if process is None:
            return
        with self.pids_file.open("a") as handle:
            handle.write(f"{name} {process.pid}\n")

    def _stop_leftovers(self) -> None:
        """Stop what a crashed `toolbox up` left running (only PIDs it recorded, only if still ours)."""
        if not self.pids_file.exists():
            return
        for line in self.pids_file.read_text().splitlines():
            name, _, pid_text = line.partition(" ")
            if not pid_text.isdigit():
                continue
            pid = int(pid_text)
            cmdline = _cmdline(pid)
            if cmdline and (str(self.var_dir) in cmdline or "config.celery_config" in cmdline or "main:app" in cmdline):
                print(f"stopping {name} (pid {pid}) left by an earlier run", flush=True)
                _terminate(pid, None, sig=signal.SIGINT if name == "postgres" else signal.SIGTERM)
        self.pids_file.unlink(missing_ok=True)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _terminate(pid: int, process: subprocess.Popen[bytes] | None, timeout: float = 15,
               sig: int = signal.SIGTERM) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None:
            if process.poll() is not None:
                return
        elif not _cmdline(pid):
            return
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if process is not None:
        process.wait(5)
