"""A private PostgreSQL + Valkey (+ worker + API) that a fault test may stop, kill and restart.

The session-wide servers and worker are shared by every other test and are never touched by
fault tests: each fault module starts its own copies here, on free ports, and removes them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from config.embedded import EmbeddedPostgres, EmbeddedValkey, free_port
from support.processes import ROOT, start_api, start_worker, stop


@dataclass
class PrivateStack:
    """Servers and processes of one fault module; `env` is what its processes were given."""

    folder: Path
    postgres: EmbeddedPostgres
    valkey: EmbeddedValkey
    env: dict[str, str]
    api_port: int = 0
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start_worker(self, *, queues: str = "celery", concurrency: int = 1,
                     name: str = "fault") -> subprocess.Popen[bytes]:
        process = start_worker(self.env, self.folder / f"{name}-worker.log", queues=queues, name=name,
                               concurrency=concurrency)
        self.processes.append(process)
        return process

    def start_api(self) -> str:
        self.api_port = free_port()
        self.processes.append(start_api(self.env, self.api_port, self.folder / "api.log"))
        return self.api_url


def migrate(env: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"migrations failed:\n{done.stderr[-3000:]}")


@contextmanager
def private_stack(run_dir: Path, name: str, *, persistent_broker: bool = True) -> Iterator[PrivateStack]:
    """Own PostgreSQL (migrated) and own Valkey; every process started through it is stopped after.

    `persistent_broker` turns on Valkey's append-only file, as a production broker would have it:
    a broker restart then keeps the queued messages and results.
    """
    folder = run_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    with ExitStack() as cleanup:
        if not os.environ.get("TOOLBOX_KEEP_TEST_DIR"):  # keep logs for a post-mortem
            cleanup.callback(shutil.rmtree, folder, True)
        postgres = EmbeddedPostgres(folder / "pg", port=free_port(), fast_unsafe=True)
        cleanup.callback(postgres.kill)
        cleanup.callback(postgres.stop)
        postgres.start()
        valkey = EmbeddedValkey(folder / "valkey", port=free_port(), persist=persistent_broker)
        cleanup.callback(valkey.kill)
        cleanup.callback(valkey.stop)
        valkey.start()
        env = {**os.environ, "DATABASE_URL": postgres.url, "REDIS_URL": valkey.url,
               "VAR_DIR": str(folder / "var")}
        migrate(env)
        stack = PrivateStack(folder=folder, postgres=postgres, valkey=valkey, env=env)
        try:
            yield stack
        finally:
            for process in reversed(stack.processes):
                stop(process)
