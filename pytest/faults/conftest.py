"""Fault tests: a scratch task domain (support.fault_tasks) with its own worker and API.

Shared by the modules of this folder (package scope). The worker has one prefork child and
consumes only the domain's queue, so killing that child never touches the session-wide worker.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx

import pytest
from config.embedded import free_port
from support.fault_tasks import DROP, FILES, TABLES, FaultStack
from support.processes import start_api, start_worker, stop
from support.scratch_domain import ScratchDomain, scratch_domain


@pytest.fixture(scope="package")
def fault_domain() -> Iterator[ScratchDomain]:
    with scratch_domain(FILES) as created:
        yield created


@pytest.fixture(scope="package")
def fault_stack(fault_domain: ScratchDomain, servers: dict[str, Any], run_dir: Path) -> Iterator[FaultStack]:
    env = os.environ.copy()
    worker = start_worker(env, run_dir / f"{fault_domain.name}-worker.log", queues=fault_domain.queue,
                          name=fault_domain.name, concurrency=1)
    api = None
    try:
        port = free_port()
        api = start_api(env, port, run_dir / f"{fault_domain.name}-api.log")
        yield FaultStack(url=f"http://127.0.0.1:{port}", worker=worker)
    finally:
        stop(api)
        stop(worker)


@pytest.fixture
async def fault_http(fault_stack: FaultStack, mint: Callable[..., str],
                     db: asyncpg.Connection) -> AsyncIterator[httpx.AsyncClient]:
    """An operator client of the fault API; the scratch tables exist for the test and are dropped after."""
    for statement in TABLES:
        await db.execute(statement)
    async with httpx.AsyncClient(base_url=fault_stack.url, headers={"Authorization": f"Bearer {mint()}"},
                                 timeout=30) as client:
        yield client
    await db.execute(DROP)
