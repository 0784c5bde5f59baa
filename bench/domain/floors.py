"""The two floors the domain tasks are compared with, measured on the same server in the same run."""

from __future__ import annotations

import time
from pathlib import Path

import asyncpg

# Same columns and types as the CSV files, no keys, no constraints: PostgreSQL's own COPY speed.
FLOOR_TABLES = {
    "clients": "tax_id text, name text",
    "debtors": "tax_id text, name text",
    "operations": ("code text, client_tax_id text, debtor_tax_id text, currency text, face_value numeric(18,2), "
                   "advance_pct numeric(5,2), monthly_rate numeric(8,6), commission numeric(18,2), "
                   "disbursed_on date, due_on date, status text"),
    "payments": "code text, operation_code text, paid_on date, amount numeric(18,2)",
}

# For a second, informative ETL floor: after the COPY, the keys, indexes and foreign keys the
# ETL's tables have (by natural key here: the CSV files carry no ids), built after the rows as the
# ETL's first load builds its own.
FLOOR_KEYS = (
    "alter table floor_clients add unique (tax_id)",
    "alter table floor_debtors add unique (tax_id)",
    "alter table floor_operations add unique (code)",
    "create index on floor_operations (client_tax_id)",
    "create index on floor_operations (debtor_tax_id)",
    "create index on floor_operations (disbursed_on)",
    "create index on floor_operations (due_on)",
    "alter table floor_payments add unique (code)",
    "create index on floor_payments (operation_code, paid_on)",
    "create index on floor_payments (paid_on)",
    "alter table floor_operations add foreign key (client_tax_id) references floor_clients (tax_id)",
    "alter table floor_operations add foreign key (debtor_tax_id) references floor_debtors (tax_id)",
    "alter table floor_payments add foreign key (operation_code) references floor_operations (code)",
)

SCAN = """
    select o.currency, o.status, count(*), sum(o.face_value), sum(p.total), max(p.last_on)
    from operations o
    left join (select operation_id, sum(amount) as total, max(paid_on) as last_on
               from payments group by operation_id) as p on p.operation_id = o.id
    group by o.currency, o.status"""


async def copy_floor(dsn: str, folder: Path, *, keys: bool = False) -> float:
    """Seconds for plain COPY of the batch's four CSV files into typed tables, commit included;
    with `keys`, the tables' keys, indexes and foreign keys (FLOOR_KEYS) built after the rows.

    The tables are created in the same transaction, as the ETL's first load truncates its own: on
    the embedded server (wal_level = minimal) neither writes its rows to the WAL.
    """
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("drop table if exists " + ", ".join(f"floor_{name}" for name in FLOOR_TABLES))
        transaction = conn.transaction()
        await transaction.start()
        for name, columns in FLOOR_TABLES.items():
            await conn.execute(f"create table floor_{name} ({columns})")
        started = time.perf_counter()
        for name in FLOOR_TABLES:
            await conn.copy_to_table(f"floor_{name}", source=folder / f"{name}.csv", format="csv", header=True)
        if keys:
            await conn.execute("set local maintenance_work_mem = '512MB'")  # as the ETL's load
            for statement in FLOOR_KEYS:
                await conn.execute(statement)
        await transaction.commit()
        elapsed = time.perf_counter() - started
        await conn.execute("drop table " + ", ".join(f"floor_{name}" for name in FLOOR_TABLES))
        return elapsed
    finally:
        await conn.close()


async def scan_floor(dsn: str, repeat: int = 2) -> float:
    """Seconds for one GROUP BY scan over operations and payments (the best of `repeat`, at least 2: warm cache)."""
    conn = await asyncpg.connect(dsn)
    try:
        timings = []
        for _ in range(max(repeat, 2)):
            started = time.perf_counter()
            await conn.fetch(SCAN)
            timings.append(time.perf_counter() - started)
        return min(timings)
    finally:
        await conn.close()
