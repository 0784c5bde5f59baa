"""Tasks with injected helpers (RepositoryFactory, Progress) sent by plain Celery code and `celery call`.

Celery checks a send's arguments against the task's signature; the injected parameters are not
the caller's, so `delay()` and `celery call` pass only the task's own parameters.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from typing import Any

import asyncpg
import httpx

import pytest
from support.polling import wait_for_status
from support.processes import ROOT

TASK = "maintenance.table_stats"  # injects `repositories` and `progress`; not single-run


async def _started(db: asyncpg.Connection, task_id: str, timeout: float = 60) -> None:
    """A run sent past the API is known to the status endpoint once a worker starts it (and writes its row)."""
    deadline = time.monotonic() + timeout
    while not await db.fetchval("select count(*) from task_runs where task_id = $1", task_id):
        assert time.monotonic() < deadline, f"run {task_id} was never started by a worker"
        await asyncio.sleep(0.1)


async def test_delay_from_plain_celery_code_runs_a_task_with_injected_parameters(
    client: httpx.AsyncClient, worker: Any, db: asyncpg.Connection
) -> None:
    from config.celery_config import celery_app

    sent = celery_app.tasks[TASK].delay(schema_name="public", min_rows=0)
    try:
        await _started(db, sent.id)
        status = await wait_for_status(client, sent.id, timeout=60)
        assert status["status"] == "SUCCESS", status
        assert status["params"] == {"schema_name": "public", "min_rows": 0}
        assert "task_runs" in {table["table"] for table in status["result"]["tables"]}
        assert sent.get(timeout=10) == status["result"]  # plain Celery reads the same result
    finally:
        await db.execute("delete from task_runs where task_id = $1", sent.id)


@pytest.mark.parametrize(("args", "kwargs", "complaint"), [
    ((), {"schema": "public"}, "unexpected keyword argument 'schema'"),
    (("public",), {}, "too many positional arguments"),
    ((), {"repositories": None}, "unexpected keyword argument 'repositories'"),
])
def test_delay_with_arguments_the_task_does_not_take_fails_in_the_caller(
    servers: dict[str, Any], args: tuple[Any, ...], kwargs: dict[str, Any], complaint: str
) -> None:
    from config.celery_config import celery_app

    with pytest.raises(TypeError, match=complaint) as raised:
        celery_app.tasks[TASK].apply_async(args=args, kwargs=kwargs)
    assert "keyword-only: ['schema_name', 'min_rows']" in str(raised.value)


async def test_celery_call_runs_a_task_with_injected_parameters(
    client: httpx.AsyncClient, worker: Any, db: asyncpg.Connection
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "config.celery_config", "call", TASK,
         "--kwargs", json.dumps({"schema_name": "public", "min_rows": 1})],
        cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    task_id = done.stdout.strip().splitlines()[-1]
    try:
        await _started(db, task_id)
        status = await wait_for_status(client, task_id, timeout=60)
        assert status["status"] == "SUCCESS", status
        assert status["params"] == {"schema_name": "public", "min_rows": 1}
        assert all(table["rows"] >= 1 for table in status["result"]["tables"])
    finally:
        await db.execute("delete from task_runs where task_id = $1", task_id)
