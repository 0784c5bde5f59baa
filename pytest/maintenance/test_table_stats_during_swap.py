"""maintenance.table_stats while a rebuild swaps a table in, or a table is dropped: no failed run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

import pytest
from factories.progress import RecordingProgress
from services.maintenance import table_report

SCHEMA = "stats_swap"


@pytest.fixture
async def schema(db: asyncpg.Connection) -> AsyncIterator[None]:
    """Tables `kept` (2 rows) and `swapped` (3 rows) in a schema of their own."""
    await db.execute(f"drop schema if exists {SCHEMA} cascade; create schema {SCHEMA}; "
                     f"create table {SCHEMA}.kept as select generate_series(1, 2) as id; "
                     f"create table {SCHEMA}.swapped as select generate_series(1, 3) as id")
    yield
    await db.execute(f"drop schema {SCHEMA} cascade")


async def _report_during(repositories: Any, servers: dict[str, Any], db: asyncpg.Connection,
                         statements: str) -> dict[str, Any]:
    """The table report of SCHEMA, started while another transaction has run `statements`, which it
    commits once the report waits for its locks."""
    other = await asyncpg.connect(servers["postgres"].dsn)
    try:
        tx = other.transaction()
        await tx.start()
        await other.execute(statements)
        report = asyncio.create_task(table_report(repositories, RecordingProgress(), SCHEMA, 0))
        blocking = "select exists (select 1 from pg_stat_activity where $1 = any(pg_blocking_pids(pid)))"
        for _ in range(200):
            if await db.fetchval(blocking, other.get_server_pid()):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("table_stats never waited for the other transaction's lock")
        await tx.commit()
        return await asyncio.wait_for(report, 30)
    finally:
        await other.close()


async def test_a_table_swapped_in_meanwhile_is_counted_and_measured_as_the_new_one(
        repositories: Any, servers: dict[str, Any], db: asyncpg.Connection, schema: None) -> None:
    # as RebuildRepository.swap_in does: the new copy, then drop and rename, committed at the end
    result = await _report_during(repositories, servers, db, (
        f"create table {SCHEMA}.swapped_build as select generate_series(1, 5000) as id; "
        f"drop table {SCHEMA}.swapped; alter table {SCHEMA}.swapped_build rename to swapped"))
    size = await db.fetchval(f"select pg_total_relation_size('{SCHEMA}.swapped')")
    assert [(t["table"], t["rows"]) for t in result["tables"]] == [("swapped", 5000), ("kept", 2)]
    assert result["tables"][0]["bytes"] == size > 0


async def test_a_table_dropped_meanwhile_is_left_out(
        repositories: Any, servers: dict[str, Any], db: asyncpg.Connection, schema: None) -> None:
    result = await _report_during(repositories, servers, db, f"drop table {SCHEMA}.swapped")
    assert [(t["table"], t["rows"]) for t in result["tables"]] == [("kept", 2)]
    assert result["total_rows"] == 2
