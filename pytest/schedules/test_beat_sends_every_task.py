"""A real Beat sends every discovered task, each shipped schedule included, to a real worker.

The stack is private (own PostgreSQL and Valkey): the domain data it needs and Beat's state in
Redis touch no other test. Every task is given `@every 2s` through SCHEDULE_OVERRIDES. The ETL
inbox holds a demo batch, exchange rates covering its dates are in the database, and the HTTP
rate provider is a local server, so the domain tasks have real work to do and can succeed.
"""

from __future__ import annotations

import asyncio
import csv
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx

import pytest
from factories.rate_server import RateServer, Reply
from services.demo_data import write_batch
from support.beat import beat_environment, start_beat
from support.private_stack import PrivateStack, private_stack
from support.processes import stop, wait_for_log

SHIPPED_SCHEDULES = {"maintenance.purge_runs", "maintenance.redeliver_lost", "toolbox.etl", "toolbox.tipo_cambio",
                     "toolbox.kpi", "toolbox.kpi_acumulado", "toolbox.tablas_reportes", "toolbox.tablas_cxc"}
OPERATIONS = 200
ACTIVE = ("PENDING", "STARTED", "PROGRESS", "RETRY")


def _rates_for(path: str) -> Reply:
    """The provider's answer for `?from=...&to=...`: one rate per weekday."""
    query = parse_qs(urlsplit(path).query)
    day, end = date.fromisoformat(query["from"][0]), date.fromisoformat(query["to"][0])
    rates = []
    while day <= end:
        if day.weekday() < 5:
            rates.append({"date": day.isoformat(), "buy": "3.7010", "sell": "3.7120"})
        day += timedelta(days=1)
    return Reply(200, {"rates": rates})


@pytest.fixture(scope="module")
def rate_server() -> Iterator[RateServer]:
    with RateServer(fallback=_rates_for) as server:
        yield server


@pytest.fixture(scope="module")
def stack(run_dir: Path, rate_server: RateServer) -> Iterator[PrivateStack]:
    with private_stack(run_dir, "beat-every-task") as created:
        created.env.update(RATES_PROVIDER="http", RATES_HTTP_URL=rate_server.url + "/rates?from={start}&to={end}",
                           ETL_INBOX=str(created.folder / "inbox"))
        yield created


@pytest.fixture
async def stack_db(stack: PrivateStack) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(stack.postgres.dsn)
    try:
        yield conn
    finally:
        await conn.close()


async def _load_rates(db: asyncpg.Connection, path: Path) -> int:
    with path.open(newline="") as handle:
        rows = [(date.fromisoformat(r["date"]), Decimal(r["buy"]), Decimal(r["sell"]), "demo")
                for r in csv.DictReader(handle)]
    await db.copy_records_to_table("exchange_rates", records=rows, columns=["rate_date", "buy", "sell", "source"])
    return len(rows)


async def _until(check: Callable[[], Any], what: str, log: Path, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{log.read_text(errors='replace')[-4000:]}"
        await asyncio.sleep(0.5)


def _every_task() -> set[str]:
    from config.celery_config import discovered_tasks

    return {name for name, task in discovered_tasks.items() if task.__module__.startswith("background.tasks.")}


def _shipped_schedules() -> set[str]:
    from config.celery_config import schedules

    return {name for name, resolved in schedules.items() if resolved.declared is not None}


async def test_beat_sends_every_task_and_each_run_succeeds(
    stack: PrivateStack, stack_db: asyncpg.Connection, rate_server: RateServer
) -> None:
    shipped = _shipped_schedules()
    assert shipped >= SHIPPED_SCHEDULES  # the README's list; a new shipped schedule is covered below too
    names = _every_task() | shipped
    batch = stack.folder / "inbox" / "beat-demo"
    write_batch(batch, OPERATIONS, seed=5)
    assert await _load_rates(stack_db, batch / "exchange_rates.csv") > 500
    # The worker, the API and Beat all see the same overrides (the API lists what Beat sends).
    stack.env = beat_environment(stack.env, {name: "@every 2s" for name in names})
    stack.start_worker(name="beat-every-task", concurrency=2)
    api = stack.start_api()
    beat_log = stack.folder / "beat.log"
    beat = start_beat(stack.env, beat_log)
    try:
        wait_for_log(beat, beat_log, "beat: Acquired lock", timeout=60)

        async def runs() -> list[asyncpg.Record]:
            return await stack_db.fetch("select task_name, status, started_at, finished_at, error from task_runs "
                                        "where origin = 'beat'")

        async def etl_loaded() -> Any:
            return await stack_db.fetchval("select min(finished_at) from task_runs where origin = 'beat' "
                                           "and task_name = 'toolbox.etl' and status = 'SUCCESS'")

        loaded_at = await _until(etl_loaded, "the ETL sent by Beat to load the batch", beat_log, timeout=240)

        async def every_task_succeeded_on_the_data() -> bool:
            # Each task has a run that started once the batch was in: the rebuilds saw the data.
            done = {row["task_name"] for row in await runs()
                    if row["status"] == "SUCCESS" and row["started_at"] >= loaded_at}
            return names - {"toolbox.etl"} <= done

        await _until(every_task_succeeded_on_the_data, f"a successful Beat run of each of {sorted(names)}",
                     beat_log, timeout=300)
    finally:
        stop(beat)

    async def drained() -> bool:  # what Beat sent before it stopped is finished
        return not any(row["status"] in ACTIVE for row in await runs())

    await _until(drained, "the runs Beat sent to finish", beat_log, timeout=120)
    rows = await runs()
    assert {row["task_name"] for row in rows} == names
    assert [(r["task_name"], r["status"], r["error"]) for r in rows if r["status"] != "SUCCESS"] == []
    assert "Couldn't apply scheduled task" not in beat_log.read_text()

    # The runs did their work on the data.
    assert await stack_db.fetchval("select count(*) from operations") == OPERATIONS
    assert await stack_db.fetchval("select count(*) from report_operations") == await stack_db.fetchval(
        "select count(*) from operations where status <> 'cancelled'")
    assert await stack_db.fetchval("select count(*) from kpi_monthly where year = $1", date.today().year) == 12
    assert await stack_db.fetchval("select count(*) from receivables") > 0
    assert await stack_db.fetchval("select count(*) from exchange_rates where source <> 'demo'") > 0
    assert rate_server.paths  # tipo_cambio asked the provider

    async with httpx.AsyncClient(base_url=api, timeout=30) as http:
        from config.settings import get_settings
        from services.auth import TokenService

        token = TokenService(get_settings().auth).mint("beat-test", "viewer", None)
        listed = (await http.get("/tasks/schedules", headers={"Authorization": f"Bearer {token}"})).json()
        by_name = {s["name"]: s for s in listed["schedules"]}
        assert set(by_name) == names
        assert {n: (s["last_run"] or {}).get("status") for n, s in by_name.items()} == dict.fromkeys(names, "SUCCESS")
        assert {n: s["last_send_error"] for n, s in by_name.items()} == dict.fromkeys(names)
        metrics = (await http.get("/metrics")).text
        assert "toolbox_schedule_send_failures_total{" not in metrics
