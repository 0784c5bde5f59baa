"""toolbox.etl: CSV batches load set-based; bad lines are kept with line and reason; reloads change nothing."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal as D

import asyncpg
from sqlalchemy import text

import pytest
from config.repository_factory import RepositoryFactory
from factories.factoring import FactoringData
from factories.inbox import Inbox
from factories.progress import RecordingProgress
from repositories.etl import EtlRepository
from repositories.etl_files import CSV_FILES
from repositories.kpi_daily import KpiDailyRepository
from schemas.errors import EtlError
from services.factoring.etl import run_etl

CLIENTS = '''
tax_id,name
20100000001,Textiles Andinos SAC
20100000002,"Pesquera ""Del Sur"", SA"
bad id!,Broken
20100000001,Textiles Again
'''
DEBTORS = '''
tax_id,name
20500000001,Minera Norte SA
20500000002,
'''
OPERATIONS = '''
code,client_tax_id,debtor_tax_id,currency,face_value,advance_pct,monthly_rate,commission,disbursed_on,due_on,status
OP1,20100000001,20500000001,PEN,1000.00,90,0.02,10.00,2024-01-10,2024-02-09,active
OP2,20100000002,20500000001,usd,500.50,80,0.015,0,2024-01-11,2024-03-11,paid
OP3,20199999999,20500000001,PEN,100,90,0.02,0,2024-01-10,2024-02-09,active
OP4,20100000001,20500000001,PEN,abc,90,0.02,0,2024-01-10,2024-02-09,active
OP5,20100000001,20500000001,PEN,-5,90,0.02,0,2024-01-10,2024-02-09,active
OP6,20100000001,20500000001,PEN,100,90,0.02,0,2024-02-10,2024-02-09,active
OP7,20100000001,20500000001,EUR,100,90,0.02,0,2024-01-10,2024-02-09,active
OP8,20100000001,20500000001,PEN,100,90,0.02,0,2024-13-01,2024-02-09,active
OP9,too,few
'''
PAYMENTS = '''
code,operation_code,paid_on,amount
PY1,OP1,2024-02-01,400.00
PY2,OP2,2024-03-01,500.50
PY3,OP4,2024-02-01,10
PY4,OP1,2024-01-01,10
PY5,OP1,2024-02-02,0
'''


def batch(inbox: Inbox, name: str, operations: str = OPERATIONS) -> None:
    inbox.batch(name, clients=CLIENTS, debtors=DEBTORS, operations=operations, payments=PAYMENTS)


async def test_good_lines_load_and_bad_lines_are_kept_with_their_reason(
        repositories: RepositoryFactory, data: FactoringData, inbox: Inbox) -> None:
    batch(inbox, "2024-01-b1")

    result = await run_etl(repositories, RecordingProgress(), "2024-01-b1")

    assert result["batches"]["2024-01-b1"] == {
        "clients": {"loaded": 2, "updated": 0, "rejected": 2},
        "debtors": {"loaded": 1, "updated": 0, "rejected": 1},
        "operations": {"loaded": 2, "updated": 0, "rejected": 7},
        "payments": {"loaded": 2, "updated": 0, "rejected": 3},
    }
    rejects = {(r["file"], r["line_number"]): r["reason"]
               for r in await data.rows("select file, line_number, reason from etl_rejects")}
    assert rejects == {
        ("clients", 4): "tax_id must be 1 to 20 letters or digits: bad id!",
        ("clients", 5): "duplicate of line 2",
        ("debtors", 3): "name is empty",
        ("operations", 4): "unknown client 20199999999",
        ("operations", 5): "face_value is not a number of type numeric(18,2): abc",
        ("operations", 6): "face_value must be positive: -5.00",
        ("operations", 7): "due_on 2024-02-09 is before disbursed_on 2024-02-10",
        ("operations", 8): "currency must be PEN or USD: EUR",
        ("operations", 9): "disbursed_on is not a date (YYYY-MM-DD): 2024-13-01",
        ("operations", 10): "expected 11 fields, found 3",
        ("payments", 4): "unknown operation OP4",
        ("payments", 5): "paid_on 2024-01-01 is before the disbursement on 2024-01-10",
        ("payments", 6): "amount must be positive: 0.00",
    }
    assert await data.db.fetchval("select raw from etl_rejects where file = 'operations' and line_number = 10") \
        == "OP9,too,few"
    assert await data.rows("select name from clients order by tax_id") == [
        {"name": "Textiles Andinos SAC"}, {"name": 'Pesquera "Del Sur", SA'}]
    assert await data.rows(
        "select o.code, c.tax_id, o.currency, o.face_value, o.advance_pct, o.monthly_rate, o.commission, "
        "o.disbursed_on, o.due_on, o.status from operations o join clients c on c.id = o.client_id order by o.code"
    ) == [
        {"code": "OP1", "tax_id": "20100000001", "currency": "PEN", "face_value": D("1000.00"),
         "advance_pct": D("90.00"), "monthly_rate": D("0.020000"), "commission": D("10.00"),
         "disbursed_on": date(2024, 1, 10), "due_on": date(2024, 2, 9), "status": "active"},
        {"code": "OP2", "tax_id": "20100000002", "currency": "USD", "face_value": D("500.50"),
         "advance_pct": D("80.00"), "monthly_rate": D("0.015000"), "commission": D("0.00"),
         "disbursed_on": date(2024, 1, 11), "due_on": date(2024, 3, 11), "status": "paid"},
    ]
    assert await data.rows("select name, status, counts->'payments'->>'loaded' as paid from etl_batches") == [
        {"name": "2024-01-b1", "status": "loaded", "paid": "2"}]


async def test_loading_twice_changes_nothing_and_a_changed_line_counts_as_updated(
        repositories: RepositoryFactory, data: FactoringData, inbox: Inbox) -> None:
    batch(inbox, "b1")
    await run_etl(repositories, RecordingProgress(), "b1")
    snapshot = await data.rows("select * from operations order by id")

    again = await run_etl(repositories, RecordingProgress(), "b1")

    assert {f: (c["loaded"], c["updated"]) for f, c in again["batches"]["b1"].items()} == {
        "clients": (0, 0), "debtors": (0, 0), "operations": (0, 0), "payments": (0, 0)}
    assert await data.rows("select * from operations order by id") == snapshot
    assert await data.db.fetchval("select count(*) from etl_rejects") == 13

    batch(inbox, "b2", OPERATIONS.replace("OP1,20100000001,20500000001,PEN,1000.00", "OP1,20100000001,20500000001,PEN,1200.00"))
    pending = await run_etl(repositories, RecordingProgress())  # only b2 is pending

    assert list(pending["batches"]) == ["b2"]
    assert pending["batches"]["b2"]["operations"] == {"loaded": 0, "updated": 1, "rejected": 7}
    assert await data.db.fetchval("select face_value from operations where code = 'OP1'") == D("1200.00")


STAGING = "select count(*) from pg_class where relname in ('etl_fields', 'etl_calendar')"


async def test_the_staging_tables_never_outlive_a_load(
        repositories: RepositoryFactory, data: FactoringData, inbox: Inbox) -> None:
    # etl_fields and etl_calendar are unlogged tables, not temporary ones (parallel workers read them):
    # each load drops them before it commits, and a failed load rolls their creation back
    batch(inbox, "first")
    await run_etl(repositories, RecordingProgress(), "first")  # a first load (swaps)
    assert await data.db.fetchval(STAGING) == 0
    batch(inbox, "later", OPERATIONS.replace("PEN,1000.00", "PEN,1200.00"))
    await run_etl(repositories, RecordingProgress(), "later")  # upserts
    assert await data.db.fetchval(STAGING) == 0
    inbox.batch("broken", clients=CLIENTS, debtors=DEBTORS, operations="code,wrong\nOP1,x")
    with pytest.raises(EtlError):
        await run_etl(repositories, RecordingProgress(), "broken")
    assert await data.db.fetchval(STAGING) == 0
    assert await data.db.fetchval("select face_value from operations where code = 'OP1'") == D("1200.00")


async def test_a_wrong_header_fails_the_whole_batch_and_marks_it_failed(
        repositories: RepositoryFactory, data: FactoringData, inbox: Inbox) -> None:
    inbox.batch("bad", clients="taxid,name\n1,A", debtors=DEBTORS)

    with pytest.raises(EtlError, match="bad/clients.csv: the header must be tax_id,name"):
        await run_etl(repositories, RecordingProgress(), "bad")

    assert await data.db.fetchval("select count(*) from debtors") == 0
    assert await data.db.fetchval("select status from etl_batches where name = 'bad'") == "failed"


async def test_batch_names_cannot_leave_the_inbox(repositories: RepositoryFactory, inbox: Inbox) -> None:
    with pytest.raises(EtlError, match="invalid batch name"):
        await run_etl(repositories, RecordingProgress(), "../etc")
    with pytest.raises(EtlError, match="not found"):
        await run_etl(repositories, RecordingProgress(), "missing")


async def test_a_well_formed_file_keeps_each_rejected_line_as_written(
        repositories: RepositoryFactory, data: FactoringData, inbox: Inbox) -> None:
    # clients.csv parses as CSV (COPY's fast path); debtors.csv has a quoted line break, so its
    # records no longer match its lines and it is split line by line: line numbers stay physical.
    inbox.batch("b1", clients='tax_id,name\n20100000001,"Textiles, SAC"\nbad id!,Broken\n20100000001,Again',
                debtors='tax_id,name\n20500000001,"Minera\nNorte"\n20500000002,Pesquera SA')

    result = await run_etl(repositories, RecordingProgress(), "b1")

    assert result["batches"]["b1"]["clients"] == {"loaded": 1, "updated": 0, "rejected": 2}
    assert await data.rows("select file, line_number, reason, raw from etl_rejects order by file, line_number") == [
        {"file": "clients", "line_number": 3, "reason": "tax_id must be 1 to 20 letters or digits: bad id!",
         "raw": "bad id!,Broken"},
        {"file": "clients", "line_number": 4, "reason": "duplicate of line 2", "raw": "20100000001,Again"},
        {"file": "debtors", "line_number": 3, "reason": "expected 2 fields, found 1", "raw": 'Norte"'},
    ]
    assert await data.db.fetchval("select name from debtors where tax_id = '20500000002'") == "Pesquera SA"


TYPED = '''
code,client_tax_id,debtor_tax_id,currency,face_value,advance_pct,monthly_rate,commission,disbursed_on,due_on,status
OK1,20100000001,20500000001,PEN, 1e3 ,90,0.02,0,2024-01-10,2024-02-09,active
NAN1,20100000001,20500000001,PEN,NaN,90,0.02,0,2024-01-10,2024-02-09,active
DMY1,20100000001,20500000001,PEN,100,90,0.02,0,05/01/2024,2024-02-09,active
FEB30,20100000001,20500000001,PEN,100,90,0.02,0,2024-01-10,2024-02-30,active
ADV1,20100000001,20500000001,PEN,100,150,0.02,0,2024-01-10,2024-02-09,active
EMPTY1,20100000001,20500000001,PEN,,90,0.02,0,2024-01-10,2024-02-09,active
COM1,20100000001,20500000001,PEN,100,90,0.02,-1,2024-01-10,2024-02-09,active
ABC1,20100000001,20500000001,PEN,abc,90,0.02,0,2024-01-10,2024-02-09,active
ABC2,20199999999,20500000001,PEN,100,90,x.5,0,2024-01-10,2024-02-09,active
'''
TYPED_REASONS = {
    3: "face_value is not a number of type numeric(18,2): NaN",
    4: "disbursed_on is not a date (YYYY-MM-DD): 05/01/2024",
    5: "due_on is not a date (YYYY-MM-DD): 2024-02-30",
    6: "advance_pct must be in (0, 100]: 150.00",
    7: "face_value is not a number of type numeric(18,2): ",
    8: "commission must not be negative: -1.00",
    # a number that does not convert: COPY skips the line (it no longer sends the file down the exact
    # path), and the line still gets the reason of its first failing check
    9: "face_value is not a number of type numeric(18,2): abc",
    10: "unknown client 20199999999",
}


@pytest.mark.parametrize("malformed", ["", "OPX,too,few\n"], ids=["copy-parses-the-file", "split-line-by-line"])
async def test_typed_values_are_checked_alike_whether_copy_or_sql_splits_the_file(
        repositories: RepositoryFactory, data: FactoringData, inbox: Inbox, malformed: str) -> None:
    # A well-formed file is parsed by COPY, numbers typed; a line with too few fields sends the whole
    # file down the line-by-line path. The reasons must not depend on which path a file took.
    folder = inbox.batch("b1", clients=CLIENTS, debtors=DEBTORS, operations=TYPED + malformed)
    async with repositories.unit_of_work() as uow:  # which path the load takes (the staging table drops at commit)
        operations = next(spec for spec in CSV_FILES if spec.name == "operations")
        lines = len((TYPED + malformed).strip().splitlines()) - 1
        skipped = await uow.repo(EtlRepository).stage_fields(folder / "operations.csv", operations, lines)
        assert skipped == (None if malformed else [9, 10])

    result = await run_etl(repositories, RecordingProgress(), "b1")

    rejects = {r["line_number"]: r["reason"] for r in await data.rows(
        "select line_number, reason from etl_rejects where file = 'operations'")}
    expected = dict(TYPED_REASONS)
    if malformed:
        expected[11] = "expected 11 fields, found 3"
    assert rejects == expected
    assert result["batches"]["b1"]["operations"] == {"loaded": 1, "updated": 0, "rejected": len(expected)}
    assert await data.rows("select code, face_value from operations") == [{"code": "OK1", "face_value": D("1000.00")}]
    assert await data.db.fetchval("select raw from etl_rejects where file = 'operations' and line_number = 4") \
        == "DMY1,20100000001,20500000001,PEN,100,90,0.02,0,05/01/2024,2024-02-09,active"


REPEATED_AFTER_A_REJECT = '''
code,client_tax_id,debtor_tax_id,currency,face_value,advance_pct,monthly_rate,commission,disbursed_on,due_on,status
OPR,20100000001,20500000001,PEN,-5,90,0.02,0,2024-01-10,2024-02-09,active
OPR,20100000001,20500000001,PEN,100,90,0.02,0,2024-01-10,2024-02-09,active
OPS,20100000001,20500000001,PEN,200,90,0.02,0,2024-01-10,2024-02-09,active
'''


@pytest.mark.parametrize("into", ["empty-tables", "loaded-tables"])
async def test_the_first_line_of_a_repeated_key_wins_even_when_it_is_rejected(
        repositories: RepositoryFactory, data: FactoringData, inbox: Inbox, into: str) -> None:
    # The first line of OPR is rejected; its second line is a duplicate of it, not a replacement,
    # whether the file is a first load into empty tables or an upsert into loaded ones.
    if into == "loaded-tables":
        batch(inbox, "a0")
        await run_etl(repositories, RecordingProgress(), "a0")
    inbox.batch("b1", clients=CLIENTS, debtors=DEBTORS, operations=REPEATED_AFTER_A_REJECT)

    result = await run_etl(repositories, RecordingProgress(), "b1")

    assert await data.rows("select line_number, reason from etl_rejects where batch = 'b1' and file = 'operations' "
                           "order by line_number") == [
        {"line_number": 2, "reason": "face_value must be positive: -5.00"},
        {"line_number": 3, "reason": "duplicate of line 2"},
    ]
    assert result["batches"]["b1"]["operations"]["rejected"] == 2
    assert await data.db.fetchval("select count(*) from operations where code = 'OPR'") == 0
    assert await data.db.fetchval("select face_value from operations where code = 'OPS'") == D("200.00")


async def test_a_first_load_and_a_rebuild_wait_for_each_other_instead_of_deadlocking(
        repositories: RepositoryFactory, db: asyncpg.Connection, inbox: Inbox) -> None:
    """A rebuild reads operations, then clients, while a first load (which re-keys every loaded table)
    starts between the two reads: one waits for the other, neither is aborted as a deadlock.

    Beat sending the ETL and the rebuilds together on a new database deadlocked this way."""
    batch(inbox, "b1")
    async with repositories.unit_of_work() as uow:
        rebuild = uow.repo(KpiDailyRepository)
        await rebuild.lock("kpi_daily")
        await rebuild.session.execute(text("select count(*) from operations"))
        etl = asyncio.create_task(run_etl(repositories, RecordingProgress(), "b1"))
        while not await db.fetchval("select count(*) from pg_locks where not granted and locktype = 'relation'"):
            assert not etl.done(), etl.exception()
            await asyncio.sleep(0.02)
        await asyncio.sleep(1.2)  # past deadlock_timeout: a lock cycle would be found and broken by now
        assert await rebuild.session.scalar(text("select count(*) from clients")) == 0
    result = await etl
    assert result["totals"] == {"loaded": 7, "updated": 0, "rejected": 13}


async def test_the_loaded_tables_draw_their_ids_1000_at_a_time(db: asyncpg.Connection) -> None:
    """A load draws one id per row: operations and payments hand them out from a cache of 1000
    (migration 0006), not one sequence update each, and the models say the same."""
    from models.operations import Operation, Payment

    for table, model in (("operations", Operation), ("payments", Payment)):
        cache = await db.fetchval("select seqcache from pg_sequence where seqrelid = "
                                  "cast(pg_get_serial_sequence($1, 'id') as regclass)", table)
        assert cache == 1000, table
        identity = model.__table__.c.id.identity
        assert identity is not None and identity.cache == 1000, table


@pytest.mark.parametrize("commented", [False, True], ids=["swapped-in", "filled-row-by-row"])
async def test_a_first_load_leaves_statistics_of_each_table_for_the_files_after_it(
        repositories: RepositoryFactory, db: asyncpg.Connection, inbox: Inbox, commented: bool) -> None:
    """A first load analyses each table it filled (a small sample, FIRST_STATISTICS_TARGET), in its
    own transaction: the payments file's statement then plans its hash of the operations for their
    real width, not the declared one (at 5M operations that hash went to disk in two batches and
    stored the payments half out of operation order; bench.domain). Autovacuum, which analyses with
    the default target, is off on the test server meanwhile (not per table: storage options on a table
    make the load fill it row by row instead of swapping it in), so the statistics seen are the load's.
    Both ways of filling a table: swapped in, and row by row (a comment on the tables keeps them)."""
    from repositories.factoring_sql import FIRST_STATISTICS_TARGET

    operations = "code,client_tax_id,debtor_tax_id,currency,face_value,advance_pct,monthly_rate,commission," \
                 "disbursed_on,due_on,status\n" + "".join(
                     f"OP{i:05d},20100000001,20500000001,PEN,{100 + i}.00,90,0.02,0,2024-01-10,2024-02-09,active\n"
                     for i in range(500))
    payments = "code,operation_code,paid_on,amount\n" + "".join(
        f"PY{i:05d},OP{i:05d},2024-02-01,{10 + i}.00\n" for i in range(500))
    inbox.batch("2024-01-stats", clients=CLIENTS, debtors=DEBTORS, operations=operations, payments=payments)
    await db.execute("alter system set autovacuum = off")
    await db.execute("select pg_reload_conf()")
    for table in ("operations", "payments") if commented else ():
        await db.execute(f"comment on table {table} is 'kept'")
    oid = await db.fetchval("select cast('operations' as regclass)::oid")
    try:
        await run_etl(repositories, RecordingProgress(), "2024-01-stats")
        for table in ("operations", "payments"):
            bounds = await db.fetchval("select cardinality(histogram_bounds::text::text[]) from pg_stats "
                                       "where schemaname = 'public' and tablename = $1 and attname = 'code'", table)
            # the default target would keep up to 101 bounds of 500 distinct codes; the load's sample, 11 at most
            assert bounds is not None and bounds <= FIRST_STATISTICS_TARGET + 1, table
        swapped = await db.fetchval("select cast('operations' as regclass)::oid") != oid
        assert swapped is not commented
    finally:
        for table in ("operations", "payments") if commented else ():
            await db.execute(f"comment on table {table} is null")
        await db.execute("alter system reset autovacuum")
        await db.execute("select pg_reload_conf()")


# Everything the migrations define on a loaded table, as the catalog describes it.
SCHEMA = """
    select 'column' as kind, a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull
           || ' ' || a.attidentity::text || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '') as what
    from pg_attribute a left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
    where a.attrelid = cast($1 as regclass) and a.attnum > 0 and not a.attisdropped
    union all
    -- a check's text as re-created can differ in its casts (PostgreSQL's deparsing: `x in ('a', 'b')`
    -- comes back as `x::text = any (array['a'::varchar::text, ...])`), the same check: its name here
    select 'constraint', conname || ' ' || case when contype = 'c' then 'check' else pg_get_constraintdef(oid) end
    from pg_constraint
    where conrelid = cast($1 as regclass) or confrelid = cast($1 as regclass)
    union all
    select 'index', pg_get_indexdef(indexrelid) from pg_index where indrelid = cast($1 as regclass)
    union all
    select 'identity', s.seqrelid::regclass::text || ' ' || s.seqstart || ' ' || s.seqincrement || ' ' || s.seqmin || ' '
           || s.seqmax || ' ' || s.seqcache || ' ' || s.seqcycle
    from pg_sequence s where s.seqrelid = cast(pg_get_serial_sequence(cast($1 as text), 'id') as regclass)
    order by 1, 2"""


async def test_a_first_load_swaps_in_tables_with_the_schema_of_the_migrations_and_ids_in_line_order(
        repositories: RepositoryFactory, data: FactoringData, db: asyncpg.Connection, inbox: Inbox) -> None:
    """A first load builds each table in bulk and swaps it in (`EtlRepository.fill_empty`): the tables
    keep every column, default, identity (its sequence's name and options), key, index and foreign key,
    ids follow the lines of the file from the sequence's next value (a rejected line leaves a gap), and
    the next load's new rows get ids after them."""
    tables = ("clients", "debtors", "operations", "payments")
    before = {table: await db.fetch(SCHEMA, table) for table in tables}
    oids = {table: await db.fetchval("select cast($1 as regclass)::oid", table) for table in tables}
    await db.execute("select setval(pg_get_serial_sequence('operations', 'id'), 41)")
    batch(inbox, "2024-01-swap")
    await run_etl(repositories, RecordingProgress(), "2024-01-swap")

    for table in tables:
        assert await db.fetchval("select cast($1 as regclass)::oid", table) != oids[table], f"{table} was not swapped"
        assert await db.fetch(SCHEMA, table) == before[table], table
    # OP1 and OP2 are lines 2 and 3 of the file; OP3..OP9 are rejected
    assert await data.rows("select id, code from operations order by id") == [
        {"id": 42, "code": "OP1"}, {"id": 43, "code": "OP2"}]
    assert await data.rows("select o.code, p.code as payment from payments p join operations o on o.id = p.operation_id "
                           "order by p.id") == [{"code": "OP1", "payment": "PY1"}, {"code": "OP2", "payment": "PY2"}]
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await db.execute("insert into payments (code, operation_id, paid_on, amount) values ('PX', 999, '2024-02-01', 1)")
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute("update operations set currency = 'EUR' where code = 'OP1'")

    inbox.batch("2024-01-swap2", operations=OPERATIONS.replace("OP1,", "OP10,"))
    await run_etl(repositories, RecordingProgress(), "2024-01-swap2")
    new_id = await db.fetchval("select id from operations where code = 'OP10'")
    assert new_id > 43


async def test_a_first_load_into_a_table_with_a_comment_inserts_its_rows_and_keeps_it(
        repositories: RepositoryFactory, data: FactoringData, db: asyncpg.Connection, inbox: Inbox) -> None:
    """A swap would lose what hangs on a table besides its keys (here a comment; a grant is refused
    alike): such a table is filled row by row instead, and keeps it. (A comment, not a grant, so that
    the test leaves the table as it found it: a revoke leaves an explicit privilege list behind.)"""
    await db.execute("comment on table operations is 'loaded by toolbox.etl'")
    oid = await db.fetchval("select cast('operations' as regclass)::oid")
    try:
        batch(inbox, "2024-01-comment")
        result = await run_etl(repositories, RecordingProgress(), "2024-01-comment")
        assert result["batches"]["2024-01-comment"]["operations"] == {"loaded": 2, "updated": 0, "rejected": 7}
        assert await db.fetchval("select obj_description(cast('operations' as regclass), 'pg_class')") == \
            "loaded by toolbox.etl"
        assert await db.fetchval("select cast('operations' as regclass)::oid") == oid, "operations was swapped"
        assert [r["code"] for r in await data.rows("select code from operations order by id")] == ["OP1", "OP2"]
    finally:
        await db.execute("comment on table operations is null")


@pytest.mark.parametrize("attach", [
    None, "grant select on swap_probe to public", "comment on table swap_probe is 'x'",
    "create view swap_probe_view as select * from swap_probe", "alter table swap_probe set (fillfactor = 90)",
    "alter table swap_probe add foreign key (parent) references swap_probe (id)",
])
async def test_a_swap_is_refused_for_a_table_with_something_it_would_lose(
        repositories: RepositoryFactory, db: asyncpg.Connection, attach: str | None) -> None:
    """`EtlRepository._replaceable`, on a table of its own: a bare table may be swapped, one with a grant,
    a comment, a view on it, storage options or a foreign key to itself may not."""
    await db.execute("create table swap_probe (id bigint primary key, parent bigint)")
    try:
        if attach:
            await db.execute(attach)
        async with repositories.unit_of_work() as uow:
            assert await uow.repo(EtlRepository)._replaceable("swap_probe") is (attach is None)
    finally:
        await db.execute("drop table swap_probe cascade")
