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

from config import up_env
from config.embedded import EmbeddedPostgres, EmbeddedValkey, free_port, port_is_free
from config.log_files import RotatingOutput
from config.settings import PROJECT_ROOT, DatabaseSettings, get_settings

DEFAULT_POSTGRES_PORT = 54329
DEFAULT_REDIS_PORT = 63799


class StackError(RuntimeError):
    """`toolbox up` cannot start; the message says what and where to look (printed as one line)."""


class LocalStack:
    """Embedded PostgreSQL + Valkey, migrations, then uvicorn, a Celery worker and Celery Beat."""

    def __init__(self, api_port: int = 8000, concurrency: int = 2, beat: bool = True,
                 postgres_port: int = DEFAULT_POSTGRES_PORT, redis_port: int = DEFAULT_REDIS_PORT) -> None:
        self.settings = get_settings()
        self.var_dir = self.settings.var_dir.resolve()
        self.log_dir = self.var_dir / "log"
        self.pids_file = self.var_dir / "up.pids"
        self.api_port = api_port
        self.postgres_port = postgres_port
        self.redis_port = redis_port
        self.outputs: dict[str, RotatingOutput] = {}
        self.token = ""
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
        check_task_modules()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._stop_leftovers()
        up_env.remove(self.var_dir)
        self.api_port = choose_port("the API", self.api_port)
        if not self.database_url:
            self.postgres = EmbeddedPostgres(self.var_dir / "postgres", port=choose_port("PostgreSQL", self.postgres_port),
                                             piped=True)
            self.postgres.log_path = self.log_dir / "postgres.log"
            self._start_server("postgres", self.postgres)
            self.database_url = self.postgres.url
            print(f"embedded PostgreSQL on port {self.postgres.port} (data: {self.postgres.data_dir})", flush=True)
        if not self.redis_url:
            self.valkey = EmbeddedValkey(self.var_dir / "valkey", port=choose_port("Valkey", self.redis_port),
                                         persist=True, piped=True)
            self._start_server("valkey", self.valkey)
            self.redis_url = self.valkey.url
            print(f"embedded Valkey on port {self.valkey.port}", flush=True)
        from config.migrations import migrate

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
        self.write_up_env()

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self.output(name).follow(process.stdout)
        self.children[name] = process
        self._commands[name] = (command, env)
        self._remember(name, process)

    def output(self, name: str) -> RotatingOutput:
        """The rotated `var/log/<name>.log` (one per name, shared by every start of that process)."""
        if name not in self.outputs:
            self.outputs[name] = RotatingOutput(self.log_dir / f"{name}.log", self.settings.log_max_bytes,
                                                self.settings.log_backups)
        return self.outputs[name]

    def _start_server(self, name: str, server: EmbeddedPostgres | EmbeddedValkey) -> None:
        """Start an embedded server whose output goes to its rotated log (read while it starts)."""
        try:
            server.start_process()
            self.output(name).follow(server.process.stdout if server.process else None)
            self._remember(name, server.process)
            server.wait_ready()
        except Exception as exc:
            raise StackError(f"{name} did not start: {exc}") from exc

    def write_up_env(self) -> None:
        """var/up.env: the API URL, a dev token and psql/redis-cli-ready URLs, for `. var/up.env`."""
        self.token = self.dev_token()
        up_env.write(self.var_dir, {
            "TOOLBOX_URL": self.api_url,
            "TOOLBOX_TOKEN": self.token,
            "TOOLBOX_DATABASE_URL": self.psql_url,
            "TOOLBOX_REDIS_URL": self.redis_url,
            "TOOLBOX_PID": str(os.getpid()),
        })

    @property
    def psql_url(self) -> str:
        """The database URL in the form psql and libpq accept (no `+asyncpg`)."""
        return DatabaseSettings(url=self.database_url).dsn

    def _wait_for_api(self, timeout: float = 60) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            failed = self.failed_child()
            if failed:
                self.output(failed).drain()
                raise StackError(start_up_failure(failed, self.log_dir / f"{failed}.log"))
            try:
                if httpx.get(f"{self.api_url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise StackError(f"the API did not answer in {timeout:.0f} s; see {self.log_dir / 'api.log'}")

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
        up_env.remove(self.var_dir)
        self.pids_file.unlink(missing_ok=True)
        for output in self.outputs.values():
            output.close()

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


def choose_port(label: str, preferred: int) -> int:
    """`preferred` when free; otherwise another free port, said in one line (nothing moves silently)."""
    if port_is_free(preferred):
        return preferred
    chosen = free_port()
    print(f"port {preferred} is taken by another program: {label} uses port {chosen} instead "
          "(var/up.env has the URLs)", flush=True)
    return chosen


def check_task_modules() -> None:
    """Import every task module here first, so a broken one stops `toolbox up` naming its file and cause."""
    from background.processors.discovery import DiscoveryError

    try:
        import config.celery_config  # noqa: F401 - importing it discovers every task
    except DiscoveryError as exc:
        raise StackError(str(exc)) from None


def start_up_failure(name: str, log_path: Path) -> str:
    """One line on a child that died while starting: the last error line of its log, and the log."""
    try:
        lines = [line.strip() for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        lines = []
    cause = next((line for line in reversed(lines) if "Error" in line or "error" in line), lines[-1] if lines else "")
    return f"{name} exited during start-up: {cause[:400] or 'no output'} (log: {log_path})"


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
