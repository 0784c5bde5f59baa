"""Fixtures: real throwaway PostgreSQL and Valkey servers, migrations, a real Celery worker and API.

The environment is fixed in `pytest_configure`, before any project module is imported, so
settings (read once per process) already point at the servers the fixtures will start.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx

import pytest
from support.processes import start_api, start_worker, stop

_RUN_DIR = Path(tempfile.mkdtemp(prefix="toolbox-tests-"))
_PORTS: dict[str, int] = {}


def pytest_configure(config: pytest.Config) -> None:
    from config.embedded import free_port

    _PORTS.update(pg=free_port(), redis=free_port(), api=free_port())
    os.environ.update(
        ENVIRONMENT="test",
        DATABASE_URL=f"postgresql+asyncpg://postgres@127.0.0.1:{_PORTS['pg']}/toolbox",
        REDIS_URL=f"redis://127.0.0.1:{_PORTS['redis']}/0",
        AUTH_JWT_SECRET="test-secret-" + os.urandom(16).hex(),
        VAR_DIR=str(_RUN_DIR / "var"),
        CELERY_WORKER_CONCURRENCY="2",
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    if os.environ.get("TOOLBOX_KEEP_TEST_DIR"):
        print(f"test scratch kept in {_RUN_DIR}")
        return
    shutil.rmtree(_RUN_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def run_dir() -> Path:
    """Scratch folder of this test session (logs, data directories)."""
    return _RUN_DIR


@pytest.fixture(scope="session")
def servers(run_dir: Path) -> Iterator[dict[str, Any]]:
    """A real PostgreSQL (migrated to head) and a real Valkey for the whole session."""
    from config.embedded import EmbeddedPostgres, EmbeddedValkey

    postgres = EmbeddedPostgres(run_dir / "pg", port=_PORTS["pg"], fast_unsafe=True).start()
    valkey = EmbeddedValkey(run_dir / "valkey", port=_PORTS["redis"]).start()
    try:
        subprocess.run(["alembic", "upgrade", "head"], cwd=Path(__file__).resolve().parents[1], check=True,
                       env=os.environ.copy(), capture_output=True)
        yield {"postgres": postgres, "valkey": valkey}
    finally:
        valkey.stop()
        postgres.stop()


@pytest.fixture(scope="session")
def worker(servers: dict[str, Any], run_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real Celery worker (prefork, 2 processes) consuming the default queue."""
    process = start_worker(os.environ.copy(), run_dir / "worker.log")
    yield process
    stop(process)


@pytest.fixture(scope="session")
def api_url(servers: dict[str, Any], run_dir: Path) -> Iterator[str]:
    """A real uvicorn serving main:app."""
    process = start_api(os.environ.copy(), _PORTS["api"], run_dir / "api.log")
    yield f"http://127.0.0.1:{_PORTS['api']}"
    stop(process)


@pytest.fixture(scope="session")
def mint() -> Callable[..., str]:
    """Mint a token: mint(role="operator", subject="tester", ttl_s=None)."""
    from config.settings import get_settings
    from services.auth import TokenService

    tokens = TokenService(get_settings().auth)

    def make(role: str = "operator", subject: str = "tester", ttl_s: int | None = None) -> str:
        return tokens.mint(subject, role, ttl_s)

    return make


@pytest.fixture
async def client(api_url: str, mint: Callable[..., str]) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the real API, authenticated as an operator."""
    headers = {"Authorization": f"Bearer {mint('operator')}"}
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=30) as http:
        yield http


@pytest.fixture
async def anonymous(api_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client with no token."""
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        yield http


@pytest.fixture
async def db(servers: dict[str, Any]) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection to the test database, for arranging and checking rows."""
    conn = await asyncpg.connect(servers["postgres"].dsn)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def repositories(servers: dict[str, Any]) -> AsyncIterator[Any]:
    """The services' entry point (a RepositoryFactory), on a pool-less engine bound to this test's event loop."""
    from config.database import build_engine
    from config.repository_factory import RepositoryFactory
    from config.settings import get_settings

    engine = build_engine(get_settings().database, pooled=False)
    try:
        yield RepositoryFactory(engine)
    finally:
        await engine.dispose()
