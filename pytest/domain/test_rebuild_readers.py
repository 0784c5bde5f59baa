"""Readers during a rebuild: they keep reading the old rows without waiting, then the new ones; schema unchanged.

The rebuilds fill a build copy and swap it in at the end of their transaction, so a reader with
a short lock timeout never waits for a rebuild and never sees it half done.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg

from config.repository_factory import RepositoryFactory
from factories.factoring import FactoringData
from factories.progress import PausingProgress, RecordingProgress
from services.factoring.receivables import rebuild_receivables
from services.factoring.reports import rebuild_report_operations

REPORT_TOTALS = "select count(*), sum(face_value_pen) from report_operations"
SNAPSHOT_TOTALS = ("select (select count(*) from receivables), (select sum(outstanding_pen) from receivables), "
                   "(select sum(outstanding_pen) from receivables_by_debtor), "
                   "(select sum(outstanding_pen) from receivables_by_client)")
TABLES = ("report_operations", "receivables", "receivables_by_debtor", "receivables_by_client")
SCHEMA = """
    select 'index' as kind, tablename as table, indexname as name, indexdef as definition
    from pg_indexes where tablename = any($1::text[])
    union all
    select 'constraint', conrelid::regclass::text, conname, contype::text || ' ' || pg_get_constraintdef(oid)
    from pg_constraint where conrelid::regclass::text = any($1::text[])
    union all
    select 'table', relname, relname, relkind::text from pg_class where relname like any($2::text[])
    order by 1, 2, 3
"""


async def portfolio(data: FactoringData, operations: int) -> None:
    """`operations` operations (a third in USD, half of them part-paid), set-based so a few thousand are quick."""
    await data.db.execute("insert into exchange_rates (rate_date, buy, sell, source) "
                          "select d::date, 3.70, 3.71, 'test' "
                          "from generate_series(date '2024-01-01', date '2024-12-31', interval '1 day') d")
    clients = [await data.client(f"C{i}") for i in range(20)]
    debtors = [await data.debtor(f"D{i}") for i in range(20)]
    await data.db.execute("""
        insert into operations (code, client_id, debtor_id, currency, face_value, advance_pct, monthly_rate,
                                commission, disbursed_on, due_on, status)
        select 'RD' || lpad(i::text, 8, '0'), ($2::bigint[])[1 + i % 20], ($3::bigint[])[1 + i % 20],
               case when i % 3 = 0 then 'USD' else 'PEN' end, 100 + i % 997, 90, 0, 0,
               date '2024-01-01' + i % 150, date '2024-01-01' + i % 150 + 30 + i % 90, 'active'
        from generate_series(1, $1::int) i""", operations, clients, debtors)
    await data.db.execute("insert into payments (code, operation_id, paid_on, amount) "
                          "select 'RP' || id, id, disbursed_on + 10, 50 from operations where id % 2 = 0")


def read_until_stopped(dsn: str, query: str, progress: PausingProgress, stop: threading.Event,
                       seen: list[tuple[str, Any]]) -> None:
    """In its own thread and loop: run `query` over and over with a 200 ms lock timeout, noting each
    answer (or error) and whether the rebuild was paused then; releases the pause after a few reads."""

    async def run() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("set lock_timeout = '200ms'; set statement_timeout = '2s'")
            paused_reads = 0
            while not stop.is_set():
                paused = progress.reached.is_set() and not progress.release.is_set()
                try:
                    seen.append(("paused" if paused else "running", tuple(await conn.fetchrow(query))))
                except Exception as error:  # noqa: BLE001 - every failure is a finding
                    seen.append(("error", repr(error)))
                if paused:
                    paused_reads += 1
                    if paused_reads >= 5:
                        progress.release.set()
                await asyncio.sleep(0.005)
        finally:
            await conn.close()

    asyncio.run(run())


async def rebuild_while_reading(dsn: str, query: str, rebuild: Any, progress: PausingProgress) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []
    stop = threading.Event()
    reader = threading.Thread(target=read_until_stopped, args=(dsn, query, progress, stop, seen))
    reader.start()
    try:
        await asyncio.sleep(0.05)
        await rebuild(progress)
        await asyncio.sleep(0.05)
    finally:
        progress.release.set()
        stop.set()
        reader.join(10)
    return seen


def assert_old_until_the_commit_then_new(seen: list[tuple[str, Any]], old: tuple[Any, ...],
                                         new: tuple[Any, ...]) -> None:
    """No read failed, at least 5 were made while the rebuild was paused and all of those saw `old`; every
    read saw `old` or `new`, and once `new` was seen, `old` never came back."""
    assert [s for s in seen if s[0] == "error"] == []
    assert {s[1] for s in seen if s[0] == "paused"} == {old}
    assert len([s for s in seen if s[0] == "paused"]) >= 5
    answers = [s[1] for s in seen]
    assert set(answers) <= {old, new}
    assert answers[answers.index(new):] == [new] * (len(answers) - answers.index(new))


async def read_through_a_report_rerun(repositories: RepositoryFactory, data: FactoringData, dsn: str,
                                      changes: list[str], pause_at: str
                                      ) -> tuple[tuple[Any, ...], list[tuple[str, Any]], PausingProgress]:
    """report_operations built over 3000 operations, `changes` made to them, then a rerun read by
    `rebuild_while_reading`, paused at the progress message `pause_at`: the totals before, what the
    readers saw, and the rerun's progress."""
    await portfolio(data, 3000)
    await rebuild_report_operations(repositories, RecordingProgress())
    old = tuple(await data.db.fetchrow(REPORT_TOTALS))
    for change in changes:
        await data.db.execute(change)
    progress = PausingProgress(pause_at)
    seen = await rebuild_while_reading(dsn, REPORT_TOTALS, lambda p: rebuild_report_operations(repositories, p),
                                       progress)
    return old, seen, progress


async def test_report_readers_see_the_old_rows_until_the_commit_then_the_new(
        repositories: RepositoryFactory, data: FactoringData, servers: dict[str, Any]) -> None:
    # paused after the new rows are in, just before the swap: the longest a reader could be kept waiting
    old, seen, _ = await read_through_a_report_rerun(
        repositories, data, servers["postgres"].dsn,
        ["update operations set face_value = face_value + 1 where id % 7 = 0",
         "update operations set status = 'cancelled' where id % 11 = 0"], "swapping")

    new = tuple(await data.db.fetchrow(REPORT_TOTALS))
    assert new != old and new[0] < old[0]
    assert_old_until_the_commit_then_new(seen, old, new)


async def test_report_readers_see_the_old_rows_until_a_rerun_that_changes_rows_in_place_commits(
        repositories: RepositoryFactory, data: FactoringData, servers: dict[str, Any]) -> None:
    # paused after the changed rows are deleted and inserted, before the commit
    old, seen, progress = await read_through_a_report_rerun(
        repositories, data, servers["postgres"].dsn,
        ["update operations set face_value = face_value + 1 where id % 100 = 0"], "totalling")

    assert any(m.startswith("changing 30 rows") for _, _, m in progress.updates)
    new = tuple(await data.db.fetchrow(REPORT_TOTALS))
    assert new != old and new[0] == old[0]
    assert_old_until_the_commit_then_new(seen, old, new)


async def test_snapshot_readers_see_the_old_snapshot_until_the_commit_then_the_new(
        repositories: RepositoryFactory, data: FactoringData, servers: dict[str, Any]) -> None:
    await portfolio(data, 3000)
    await rebuild_receivables(repositories, RecordingProgress(), date(2024, 3, 31))
    old = tuple(await data.db.fetchrow(SNAPSHOT_TOTALS))

    progress = PausingProgress("swapping")
    seen = await rebuild_while_reading(servers["postgres"].dsn, SNAPSHOT_TOTALS,
                                       lambda p: rebuild_receivables(repositories, p, date(2024, 6, 30)), progress)

    new = tuple(await data.db.fetchrow(SNAPSHOT_TOTALS))
    assert new != old
    assert [s for s in seen if s[0] == "error"] == []
    assert {s[1] for s in seen if s[0] == "paused"} == {old}
    assert {s[1] for s in seen} <= {old, new}


async def test_after_rebuilds_the_schema_is_the_migrated_one(
        repositories: RepositoryFactory, data: FactoringData) -> None:
    await portfolio(data, 50)
    schema_args = (list(TABLES), [f"{t}%" for t in TABLES])
    before = await data.rows(SCHEMA, *schema_args)
    assert await data.db.fetchval("select count(*) from pg_constraint where contype = 'f' "
                                  "and confrelid::regclass::text = any($1::text[])", list(TABLES)) == 0

    for _ in range(2):
        await rebuild_report_operations(repositories, RecordingProgress())
        await rebuild_receivables(repositories, RecordingProgress(), date(2024, 6, 30))

    assert await data.rows(SCHEMA, *schema_args) == before
    assert {r["name"] for r in before} >= {"pk_report_operations", "ix_report_operations_code", "pk_receivables",
                                          "ix_receivables_bucket", "pk_receivables_by_client"}
    assert not [r for r in before if r["name"].endswith("_build")]
    check = subprocess.run(["alembic", "check"], cwd=Path(__file__).resolve().parents[2], env=os.environ.copy(),
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
