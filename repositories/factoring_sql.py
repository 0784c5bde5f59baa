"""SQL fragments shared by the factoring rebuild repositories."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text

from repositories.base import BaseRepository

# The tables the ETL loads, in the order every domain transaction locks them (see `lock`).
LOADED_TABLES = ("clients", "debtors", "operations", "payments")

# Consecutive ranges of operation ids a rebuild's big select is split into (see `by_id_ranges`).
# Each process (PostgreSQL's two parallel workers per query by default, and this backend, which also
# writes every row) takes the next range when it finishes one: with 4 ranges one worker ran two while
# the others waited; 8 ranges of an eighth each end within an eighth of each other. In psql on one
# 1M server, alternated: CREATE TABLE AS of report_operations 1.63-2.07 s against 2.01-2.28 s with 4
# (12 and 16 ranges: slower again, each branch hashes the names anew).
ID_RANGES = 8
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1

# Statistics target of the ANALYZE of a swapped-in table (see `swap_in`): 300 rows sampled per unit.
FIRST_STATISTICS_TARGET = 10

# One row per calendar day from the first stored rate to :rates_until, carrying the latest
# `sell` on or before that day. Built once per statement (a few thousand rows at most) so the
# big tables are converted with a plain hash join on the date, not one index probe per row.
RATE_CALENDAR = """
rate_calendar as materialized (
    select (b.first_day + i)::date as day, r.sell
    from (select min(rate_date) as first_day from exchange_rates) as b
    cross join lateral generate_series(0, greatest(cast(:rates_until as date) - b.first_day, 0)) as i
    cross join lateral (select e.sell from exchange_rates as e where e.rate_date <= (b.first_day + i)::date
                        order by e.rate_date desc limit 1) as r
    where b.first_day is not null
)"""


def fx(currency: str, rate: str) -> str:
    """PEN per unit of the operation's currency: 1 for PEN, the looked-up `sell` for USD."""
    return f"(case when {currency} = 'USD' then {rate} else 1 end)"


def money(amount: str) -> str:
    """`amount` as numeric(18, 2), the type of every amount column of the output tables, rounded to cents
    as round(amount, 2) rounds (half away from zero).

    A value of a column of that type is left as it is (PostgreSQL adds no cast to the type a value
    has already). A select whose amounts have the column's type spares the rebuild's casts to it
    (`RebuildRepository.typed`), numeric operations that run per row, and, with nothing else to cast,
    the whole projection they ran in."""
    return f"cast({amount} as numeric(18, 2))"


def pen_cents(amount: str, currency: str, rate: str) -> str:
    """`amount` (cents at most: a numeric(18,2) value or a difference of them) in PEN, rounded to cents,
    as numeric(18, 2) (see `money`).

    The same value as round(amount * fx(...), 2), without the multiplication and the rounding for
    PEN amounts (most rows): numeric arithmetic runs per row and is not cheap."""
    return f"(case when {currency} = 'USD' then {money(f'({amount}) * {rate}')} else {money(amount)} end)"


def month_index(day: str) -> str:
    """Months since year 0 (year * 12 + month - 1): consecutive integers across years.

    date_part (a float) rather than extract (a numeric since PostgreSQL 14): it runs per row."""
    return f"(date_part('year', {day})::int * 12 + date_part('month', {day})::int - 1)"


# expected income of one operation, in its currency: financed x monthly_rate x term_days / day_count + commission
INCOME = ("o.face_value * o.advance_pct / 100 * o.monthly_rate * (o.due_on - o.disbursed_on) / :day_count"
          " + o.commission")

# The same income summed over many operations: sum(INCOME_BEFORE_DIVISION) * 0.01 / :day_count + sum(commission).
# Numeric products are exact, so the division once per group in place of twice per row gives the exact
# sum where per row each quotient is rounded (to 16 significant digits at least): the same cents, and
# numeric division is what a row of those sums costs most (kpi_acumulado's pass over the operations).
INCOME_BEFORE_DIVISION = "o.face_value * o.advance_pct * o.monthly_rate * (o.due_on - o.disbursed_on)"

def pen_by_day(placed: str, collected: str) -> str:
    """CTEs `placed_by_day` (n, placements, financed, income) and `collected_by_day` (collections) in
    PEN for the days from :lo on, from CTEs `placed` (day, currency, n, face_value, financed, income)
    and `collected` (day, currency, amount) summed in the operation's currency. Each (day, currency)
    group is converted once: the same day shares one rate, so sum(x * rate) = rate * sum(x)
    exactly (numeric), and no row of the big tables is joined with the rates. Needs RATE_CALENDAR."""
    return f"""
placed_by_day as (
    select p.day, sum(p.n) as n, sum(p.face_value * {fx('p.currency', 'rc.sell')}) as placements,
           sum(p.financed * {fx('p.currency', 'rc.sell')}) as financed,
           sum(p.income * {fx('p.currency', 'rc.sell')}) as income
    from {placed} p left join rate_calendar rc on rc.day = p.day
    where p.day >= :lo
    group by p.day),
collected_by_day as (
    select c.day, sum(c.amount * {fx('c.currency', 'rc.sell')}) as collections
    from {collected} c left join rate_calendar rc on rc.day = c.day
    where c.day >= :lo
    group by c.day)"""


# Placements and collections per day in PEN, for the days of [:lo, :hi] (see pen_by_day).
DAILY_FLOWS = f"""
placed_native as (
    select o.disbursed_on as day, o.currency, count(*) as n, sum(o.face_value) as face_value,
           sum(o.face_value * o.advance_pct / 100) as financed, sum({INCOME}) as income
    from operations o
    where o.status <> :excluded and o.disbursed_on between :lo and :hi
    group by 1, 2),
collected_native as (
    select p.paid_on as day, o.currency, sum(p.amount) as amount
    from payments p join operations o on o.id = p.operation_id
    where o.status <> :excluded and p.paid_on between :lo and :hi
    group by 1, 2),
{pen_by_day("placed_native", "collected_native")}"""


def by_id_ranges(select: str, ranges: Sequence[tuple[int, int]], params: dict[str, Any]) -> str:
    """`select` once per range of operation ids (`RebuildRepository.id_ranges`), as one UNION ALL;
    `select` keeps its operations and their payments within :id_lo and :id_hi, set here per branch.

    With `create_build_as`, PostgreSQL runs the branches side by side, each whole in one process (a
    Parallel Append), where the one select over all the rows runs in a single process: a merge with
    per-operation payment totals has no parallel form but one in which every worker totals every payment.
    """
    branches = []
    for i, (lo, hi) in enumerate(ranges):
        params[f"id_lo_{i}"], params[f"id_hi_{i}"] = lo, hi
        branches.append("(" + select.replace(":id_lo", f":id_lo_{i}").replace(":id_hi", f":id_hi_{i}") + ")")
    return "\nunion all\n".join(branches)


class RebuildRepository(BaseRepository):
    """Base of the repositories that rebuild an output table."""

    async def lock(self, name: str) -> None:
        """`serialise` runs of `name`, then `lock_loaded` for reading."""
        await self.serialise(name)
        await self.lock_loaded("access share")

    async def serialise(self, name: str) -> None:
        """Serialise runs of `name`: a second run waits for the first to commit."""
        await self.session.execute(text("select pg_advisory_xact_lock(hashtext(:name))"), {"name": name})

    async def lock_loaded(self, mode: str) -> None:
        """Lock the tables the ETL loads, all at once, in `LOADED_TABLES` order and in `mode`.

        Every domain transaction takes these locks before it reads or writes them, in the one order,
        so none ever holds one of them while it waits for another: a first ETL load (ACCESS
        EXCLUSIVE, it drops and re-creates keys) and a rebuild (ACCESS SHARE) wait for each other
        instead of deadlocking, as they did when each locked the tables in the order it read them.
        """
        await self.session.execute(text(f"lock table {', '.join(LOADED_TABLES)} in {mode} mode"))

    async def tune(self, *, big_hashes: bool = True) -> None:
        """Memory for this transaction's index builds and, with `big_hashes`, its sorts and hashes
        (the default 4 MB sends 1M-row sorts to disk). Without it the planner keeps merge joins
        over the (operation_id, paid_on) index, which bench.domain finds faster for the
        per-operation tables."""
        await self.session.execute(text("set local maintenance_work_mem = '512MB'"))
        if big_hashes:
            await self.session.execute(text("set local work_mem = '256MB'"))

    async def insert_rows(self, table: str, columns: str, select: str, params: dict[str, Any]) -> int:
        """Insert the rows of `select` (a few, computed from many) into `table`; the row count.

        Through a temporary table: PostgreSQL runs the select of CREATE TABLE AS with parallel
        workers, never that of INSERT ... SELECT (bench.domain: the kpi rebuilds).
        """
        rows = f"{table.rsplit('.', 1)[-1]}_rows"
        await self.session.execute(text(f"drop table if exists {rows}"))
        await self.session.execute(text(f"create temp table {rows} ({columns}) on commit drop as {select}"), params)
        result = await self.session.execute(text(f"insert into {table} ({columns}) select {columns} from {rows}"))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def id_ranges(self, parts: int = ID_RANGES) -> list[tuple[int, int]]:
        """Up to `parts` consecutive ranges of about as many ids of `operations`, together covering every
        bigint: an operation a load commits after this statement, before the one that reads the ranges,
        is read with the rest of that load (each statement reads the rows committed when it starts)."""
        lo, hi = (await self.session.execute(text("select min(id), max(id) from operations"))).one()
        if lo is None:
            return [(BIGINT_MIN, BIGINT_MAX)]
        step = (hi - lo) // parts + 1
        ranges = [[first, first + step - 1] for first in range(lo, hi + 1, step)]
        ranges[0][0], ranges[-1][1] = BIGINT_MIN, BIGINT_MAX
        return [(first, last) for first, last in ranges]

    async def create_build_as(self, table: str, columns: Sequence[str], select: str, params: dict[str, Any], *,
                              referenced: bool = False, partial_scans: bool = False, writer: bool = False) -> int:
        """Create `<table>_build` (see `start_build`) from the rows of `select`, whose columns are `table`'s,
        named `columns` in its order; the row count.

        CREATE TABLE AS, unlike INSERT ... SELECT, runs its select with parallel workers (this process
        writes the rows they send). The new table gets `table`'s column types (casts), defaults,
        not-null and check constraints, under their names, checked in one scan after the rows;
        keys, indexes and foreign keys come with `swap_in`, as for `start_build`. With `referenced`, foreign
        keys may refer to `table`: the caller drops them before `swap_in` and re-creates them after.
        `partial_scans` and `writer`: see `create_table_as`.
        """
        if not referenced:
            await self._refuse_referenced(table)
        build = await self._build_name(table)
        await self.session.execute(text(f"drop table if exists {build}"))
        rows = await self.create_table_as(build, await self.typed(table, columns, select), params,
                                          partial_scans=partial_scans, writer=writer)
        constraints = (await self.session.execute(text("""
            select string_agg(c, ', ') from (
                select format('alter column %I set default %s', a.attname, pg_get_expr(d.adbin, d.adrelid)) as c
                from pg_attrdef d join pg_attribute a on a.attrelid = d.adrelid and a.attnum = d.adnum
                where d.adrelid = cast(:table as regclass)
                union all
                select format('add constraint %I not null %I', k.conname, a.attname)
                from pg_constraint k join pg_attribute a on a.attrelid = k.conrelid and a.attnum = k.conkey[1]
                where k.conrelid = cast(:table as regclass) and k.contype = 'n'
                union all
                select format('add constraint %I %s', conname, pg_get_constraintdef(oid))
                from pg_constraint where conrelid = cast(:table as regclass) and contype = 'c') as all_constraints
        """), {"table": table})).scalar_one()
        if constraints:
            await self.session.execute(text(f"alter table {build} {constraints}"))
        differs = (await self.session.execute(text("""
            select exists (
                (select attnum, attname, atttypid, atttypmod, attnotnull, atthasdef, attcollation from pg_attribute
                 where attrelid = cast(:table as regclass) and attnum > 0 and not attisdropped
                 except
                 select attnum, attname, atttypid, atttypmod, attnotnull, atthasdef, attcollation from pg_attribute
                 where attrelid = cast(:build as regclass) and attnum > 0 and not attisdropped))
        """), {"table": table, "build": build})).scalar_one()
        if differs:
            raise RuntimeError(f"{build} does not have the columns of {table}")
        return rows

    async def typed(self, table: str, columns: Sequence[str], select: str) -> str:
        """`select` (its columns named `columns`, `table`'s in any order) with each column cast to its type in
        `table`, in `table`'s column order: rows as `table` would store them."""
        names, casts = (await self.session.execute(text("""
            select array_agg(attname::text order by attnum),
                   string_agg(format('cast(s.%1$I as %2$s) as %1$I', attname, format_type(atttypid, atttypmod)), ', '
                              order by attnum)
            from pg_attribute where attrelid = cast(:table as regclass) and attnum > 0 and not attisdropped
        """), {"table": table})).one()
        if sorted(names) != sorted(columns):
            raise RuntimeError(f"the select for {table} has columns {sorted(columns)}, the table {sorted(names)}")
        return f"select {casts} from ({select}) as s({', '.join(columns)})"

    async def create_table_as(self, table: str, select: str, params: dict[str, Any], *, temp: bool = False,
                              partial_scans: bool = False, writer: bool = False) -> int:
        """CREATE [TEMP] TABLE `table` AS `select` (with `by_id_ranges` branches, see there); the row count.

        Without partial scans, each branch of a `by_id_ranges` select runs whole in one process, the
        branches spread over the workers, instead of every process running its share of every branch
        (each with its own full payment totals for it). With `partial_scans`, for a select without
        branches, the workers share its scans as they do by default.

        With `writer`, for a select of as many rows as it reads, this backend only writes the rows the
        workers send (parallel_leader_participation off; it still runs the select when no worker is
        free). Running its share of the select, it let the workers wait with full queues. Alternated at 1M:
        report_operations' CREATE TABLE AS 0.96-1.03 s against 1.04-1.09 s (the statement alone); the
        ETL's first load (its tables copied from the checked staging), a median of 8.49 s against
        8.63 s (8 runs each).
        """
        if not partial_scans:
            await self.session.execute(text("set local min_parallel_table_scan_size = '1TB'"))
            await self.session.execute(text("set local min_parallel_index_scan_size = '1TB'"))
        if writer:
            await self.session.execute(text("set local parallel_leader_participation = off"))
        kind = "temp table" if temp else "table"
        suffix = " on commit drop" if temp else ""
        result = await self.session.execute(text(f"create {kind} {table}{suffix} as {select}"), params)
        if not partial_scans:
            await self.session.execute(text("reset min_parallel_table_scan_size"))
            await self.session.execute(text("reset min_parallel_index_scan_size"))
        if writer:
            await self.session.execute(text("reset parallel_leader_participation"))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def _refuse_referenced(self, table: str) -> None:
        """Refuse to rebuild `table` by a swap when foreign keys refer to it: dropping it would drop them."""
        referenced = (await self.session.execute(text(
            "select string_agg(conname || ' on ' || conrelid::regclass::text, ', ') from pg_constraint "
            "where contype = 'f' and confrelid = cast(:table as regclass)"), {"table": table})).scalar_one()
        if referenced:
            raise RuntimeError(f"{table} cannot be swapped: foreign keys refer to it ({referenced})")

    async def start_build(self, table: str) -> str:
        """Create `<table>_build`, an empty copy of `table` without its indexes, in the same schema; its name.

        The rebuild fills the copy and `swap_in` replaces `table` with it at the very end, so until
        the commit readers keep reading the old rows without waiting (TRUNCATE would lock them out
        for the whole rebuild). Columns, defaults, check and not-null constraints, storage and
        comments come with LIKE; keys, indexes and foreign keys are added by `swap_in`, after the rows.
        """
        await self._refuse_referenced(table)
        build = await self._build_name(table)
        await self.session.execute(text(f"drop table if exists {build}"))
        await self.session.execute(text(f"create table {build} (like {table} including all excluding indexes)"))
        return build

    async def swap_in(self, table: str) -> None:
        """Key and index `<table>_build` as `table` is, then drop `table` and rename the copy to it.

        Keys and indexes are built after the rows (one sort each, no per-row maintenance), from
        the old table's own catalog definitions, under temporary names, and renamed to the old
        names once the old table is gone: the schema is the one the migration made (renaming an
        index that backs a primary or unique key renames the key too). Only the DROP and the
        renames take an ACCESS EXCLUSIVE lock on `table`, held for the commit alone.
        """
        build = await self._build_name(table)
        rows = await self.session.execute(text("""
            -- primary and unique keys: temporary name, renamed through their index
            select format('alter table %s add constraint %I %s', cast(:build as regclass),
                          left(conname, 57) || '_build', pg_get_constraintdef(oid)),
                   format('alter index %s.%I rename to %I', connamespace::regnamespace, left(conname, 57) || '_build',
                          conname),
                   1 as step
            from pg_constraint where conrelid = cast(:table as regclass) and contype in ('p', 'u', 'x')
            union all
            -- other indexes: the old definition from USING on, on the copy, under a temporary name
            select format('create %sindex %I on %s %s', case when i.indisunique then 'unique ' else '' end,
                          left(c.relname, 57) || '_build', cast(:build as regclass),
                          substring(pg_get_indexdef(i.indexrelid) from ' (USING .*)$')),
                   format('alter index %s.%I rename to %I', c.relnamespace::regnamespace,
                          left(c.relname, 57) || '_build', c.relname),
                   1
            from pg_index i join pg_class c on c.oid = i.indexrelid
            where i.indrelid = cast(:table as regclass)
              and not exists (select 1 from pg_constraint k where k.conindid = i.indexrelid and k.conrelid = i.indrelid)
            union all
            -- foreign keys (names are per table: the old name at once), after the indexes they can use
            select format('alter table %s add constraint %I %s', cast(:build as regclass), conname,
                          pg_get_constraintdef(oid)), null, 2
            from pg_constraint where conrelid = cast(:table as regclass) and contype = 'f'
            order by 3
        """), {"table": table, "build": build})
        keys = [(r[0], r[1]) for r in rows]
        for create, _ in keys:
            await self.session.execute(text(create))
        # Statistics of the new rows (a sample), visible at commit: the first readers of the swapped-in
        # table get plans for its real size and values instead of the defaults of a never-analysed table.
        # A small sample (FIRST_STATISTICS_TARGET): the default one reads nearly every page of a big table,
        # and autovacuum analyses the new table with the default target soon after the commit anyway
        # (the rebuild's inserts count as changes since this ANALYZE once they are committed).
        await self.analyze_sample(build)
        await self.session.execute(text(f"drop table {table}"))
        await self.session.execute(text(f"alter table {build} rename to {table.rsplit('.', 1)[-1]}"))
        for _, rename in keys:
            if rename:
                await self.session.execute(text(rename))

    async def _build_name(self, table: str) -> str:
        """`<schema>.<table>_build`, next to `table` whatever the search path."""
        return str((await self.session.execute(text(
            "select format('%s.%I', relnamespace::regnamespace, relname || '_build') from pg_class "
            "where oid = cast(:table as regclass)"), {"table": table})).scalar_one())

    async def _truncate_if_empty(self, table: str) -> None:
        """TRUNCATE the empty `table` (and the tables whose foreign keys refer to it, when empty too).

        The table gets a new file in this transaction: with wal_level = minimal (the embedded
        server's) the rows then loaded into it are not also written to the WAL.
        """
        tables = list((await self.session.execute(text("""
            with recursive refs(rel) as (
                select cast(:table as regclass)
                union
                select k.conrelid::regclass from pg_constraint k join refs r on k.confrelid = r.rel
                where k.contype = 'f')
            select rel::text from refs"""), {"table": table})).scalars())
        for other in tables:
            if other != table and (await self.session.execute(text(f"select exists (select 1 from {other})"))).scalar_one():
                return
        await self.session.execute(text(f"truncate {', '.join(tables)}"))

    async def insert_into_empty(self, table: str, statement: str, params: dict[str, Any] | None = None) -> int:
        """Fill an empty `table` with a plain `insert ... select`, its keys built afterwards; the row count.

        Foreign keys, indexes, unique and primary keys (those no foreign key refers to) are dropped,
        the rows inserted, then each one is re-created from its own catalog definition: one sort
        per index and one anti-join per foreign key instead of a probe and a trigger per row
        (bench.domain: the first ETL load). The DDL
        locks the table until commit: readers wait for the new rows instead of seeing none.
        """
        rows = await self.session.execute(text("""
            select format('alter table %s drop constraint %I', conrelid::regclass, conname),
                   format('alter table %s add constraint %I %s', conrelid::regclass, conname,
                          pg_get_constraintdef(oid)),
                   contype = 'f'
            from pg_constraint k where conrelid = cast(:table as regclass) and (contype = 'f'
                -- a unique or primary key unless a foreign key refers to it
                or contype in ('u', 'p') and not exists (select 1 from pg_constraint r
                                                         where r.contype = 'f' and r.conindid = k.conindid))
            union all
            select format('drop index %s', indexrelid::regclass), pg_get_indexdef(indexrelid), false
            from pg_index i where indrelid = cast(:table as regclass) and not indisprimary
              and not exists (select 1 from pg_constraint c where c.conindid = i.indexrelid)
        """), {"table": table})
        keys = [(r[0], r[1], bool(r[2])) for r in rows]
        for drop, _, _ in keys:
            await self.session.execute(text(drop))
        await self._truncate_if_empty(table)
        result = await self.session.execute(text(statement), params or {})
        # keys and indexes first: the foreign-key checks that follow can use them
        for _, create, _ in sorted(keys, key=lambda k: k[2]):
            await self.session.execute(text(create))
        await self.analyze_sample(table)
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def analyze_sample(self, table: str) -> None:
        """Statistics of `table`'s rows from a small sample (FIRST_STATISTICS_TARGET).

        After a first load the planner knows the row count (the index builds set it) but not the
        columns' widths: for a never-analysed table it assumes the declared maximum. The next file's
        statement then plans its hash of this table for several times its real size, in batches on
        disk, and a hash join in batches returns its rows out of their input order: the payments of
        a first load were stored half out of operation order (correlation 0.5, not 1), which made every
        rebuild that reads them by operation fetch pages at random (bench.domain, a first load).
        """
        await self.session.execute(text(f"set local default_statistics_target = {FIRST_STATISTICS_TARGET}"))
        await self.session.execute(text(f"analyze {table}"))
        await self.session.execute(text("reset default_statistics_target"))

