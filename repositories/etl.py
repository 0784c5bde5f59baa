"""SQL of the CSV loads: bulk COPY into a staging table, rejects and batch bookkeeping."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import text

from repositories.etl_files import FIRST_DATE, LAST_DATE, CsvFile
from repositories.factoring_sql import LOADED_TABLES, RebuildRepository

# A CSV line split into fields, in SQL. Lines without quotes (nearly all) take the cheap path;
# quoted fields ("a, b" and doubled "" quotes) go through a regular expression.
SPLIT = """case when strpos(raw, '"') = 0 then string_to_array(raw, ',')
    else array(select replace(regexp_replace(m[1], '^"(.*)"$', '\\1'), '""', '"')
               from regexp_matches(raw, '(?:^|,)("(?:[^"]|"")*"|[^,]*)', 'g') with ordinality as t(m, n)
               order by n) end"""


def _copy_type(kind: str) -> str:
    """The staging column type of the fast path: numbers typed (COPY parses them), dates as text
    (COPY would take any date style, such as 05/01/2024; the check wants YYYY-MM-DD)."""
    return "text" if kind == "date" else kind


def _trimmed(kind: str, column: str, exact: bool) -> str:
    """First step of a value: trimmed text; a number typed (by COPY already on the fast path)."""
    if kind in ("text", "date"):
        return f"btrim({column})"
    if not exact:
        return column  # a number, or null for an empty field
    return f"case when pg_input_is_valid(btrim({column}), '{kind}') then cast(btrim({column}) as {kind}) end"


def _value(kind: str, column: str) -> str:
    """The value a check reads (from the trimmed one): a date only when written exactly YYYY-MM-DD,
    null when the field is not one.

    Ten characters whose ISO text as a date is the field itself (no regular expression): that
    leaves out every other form PostgreSQL reads (`05/01/2024`, `20250610`, `J2460000`, `epoch`,
    `today`, a time after the date) and those it prints back unchanged but longer (`infinity`,
    `-infinity`, an era suffix such as `2025-05-10 BC`, a year after 9999)."""
    if kind != "date":
        return column
    return (f"case when length({column}) = 10 and pg_input_is_valid({column}, 'date') "
            f"and cast(cast({column} as date) as text) = {column} then cast({column} as date) end")


# The notice COPY ... (ON_ERROR ignore, LOG_VERBOSITY verbose) sends for each line it skips (PostgreSQL 17+).
SKIPPED_LINE = re.compile(r'^skipping row due to data type incompatibility at line (\d+) for column "')


class _NotOneRecordPerLine(Exception):
    """COPY read a different number of records than the file has lines (a quoted line break)."""


class EtlRepository(RebuildRepository):
    """Stages one CSV file at a time in a temporary table and checks it there.

    Fast path: COPY's own CSV parser fills `etl_fields` (line_number, f1 .. fN as text). A file
    COPY cannot parse as N columns (a line with too few or too many fields, a broken quote), or
    whose record count differs from its line count (a quoted line break), takes the exact path
    instead: `etl_raw` holds each physical line untouched and SQL splits it, so every malformed
    line becomes a reject with its own line number.
    """

    async def tune(self, *, big_hashes: bool = True) -> None:
        """Rebuild settings, and synchronous_commit off: a crash in the instant after commit can lose
        the load, which then shows as not loaded and is loaded again (loads are idempotent)."""
        await super().tune(big_hashes=big_hashes)
        await self.session.execute(text("set local synchronous_commit = off"))
        # dates print as YYYY-MM-DD: the check compares a date's text with the field
        await self.session.execute(text("set local datestyle = 'ISO, YMD'"))

    async def _driver(self) -> Any:
        raw = await self.session.connection()
        dbapi = await raw.get_raw_connection()
        driver = dbapi.driver_connection
        assert driver is not None
        return driver

    async def stage_fields(self, path: Path, spec: CsvFile, data_lines: int) -> list[int] | None:
        """COPY the file as CSV into `etl_fields`; None when it needs the exact path (nothing staged then),
        else the line numbers of the lines COPY left out because a number field is no number.

        Number columns are typed here, so COPY's own parser reads them. On PostgreSQL 17 and later
        COPY skips a line whose number does not convert (`ON_ERROR ignore`) and names it in a notice
        (`LOG_VERBOSITY verbose`), so one typo no longer sends the whole file down the exact path;
        `split_skipped` gives those lines their reasons. On older servers such a field makes COPY
        fail and the file take the exact path, where the check names the line.
        """
        width = len(spec.columns)
        columns = [f"f{i}" for i in range(1, width + 1)]
        types = [_copy_type(spec.type_of(i)) for i in range(1, width + 1)]
        await self.session.execute(text("drop table if exists etl_fields"))
        # Unlogged, not temporary: parallel workers read it (see `drop_staging`).
        await self.session.execute(text(
            "create unlogged table etl_fields (line_number integer generated always as identity (start with 2), "
            + ", ".join(f"{c} {t}" for c, t in zip(columns, types, strict=True)) + ")"))
        driver = await self._driver()
        # force_not_null: an empty text field is '' as on the exact path, not NULL.
        texts = ", ".join(c for c, t in zip(columns, types, strict=True) if t == "text")
        skip = driver.get_server_version() >= (17,)
        options = (f"format csv, header true, encoding 'utf-8', force_not_null ({texts})"
                   + (", on_error ignore, log_verbosity verbose" if skip else ""))
        skipped: list[int] = []

        def listen(_: object, message: asyncpg.PostgresLogMessage) -> None:
            found = SKIPPED_LINE.match(message.message or "")
            if found:
                skipped.append(int(found.group(1)))

        # A savepoint of our own on the driver connection: a COPY that fails leaves nothing behind.
        await self.savepoint("etl_copy")
        driver.add_log_listener(listen)
        try:
            # asyncpg's copy_to_table has no ON_ERROR option; _copy_in runs the COPY it is given
            # (pyproject bounds asyncpg; pytest/domain/test_etl.py covers this path).
            status = await driver._copy_in(f"copy etl_fields ({', '.join(columns)}) from stdin ({options})",
                                           path, None)
            # Every line is a record (no quoted line break), and every line COPY skipped was named in
            # a notice we could read (notices in another language than English are not: exact path).
            if int(status.split()[-1]) + len(skipped) != data_lines:
                raise _NotOneRecordPerLine
        except (asyncpg.exceptions.DataError, _NotOneRecordPerLine):
            await self.rollback_to("etl_copy")
            return None
        finally:
            driver.remove_log_listener(listen)
        await self.release("etl_copy")
        return skipped

    async def split_skipped(self, spec: CsvFile, skipped: list[int]) -> None:
        """After a COPY that skipped `skipped` lines (see `stage_fields`; `etl_raw` staged too): `etl_split`
        holds those lines split by SQL and every line COPY read, as text, so the exact path's checks
        give each line the reason it would have had, duplicates across all lines included."""
        width = len(spec.columns)
        await self.split(spec, only=skipped)
        await self.session.execute(text(
            f"insert into etl_split select line_number, null, {', '.join(f'cast(f{i} as text)' for i in range(1, width + 1))}, "
            f"{width} from etl_fields"))

    async def savepoint(self, name: str) -> None:
        """A savepoint on the driver connection (SQLAlchemy's session does not track it)."""
        await (await self._driver()).execute(f"savepoint {name}")

    async def release(self, name: str) -> None:
        await (await self._driver()).execute(f"release savepoint {name}")

    async def rollback_to(self, name: str) -> None:
        await (await self._driver()).execute(f"rollback to savepoint {name}")

    async def stage(self, path: Path) -> int:
        """COPY the file's lines, untouched, into `etl_raw`; line_number 1 is the header. Returns the line count."""
        await self.session.execute(text("drop table if exists etl_raw"))
        await self.session.execute(text(
            "create temp table etl_raw (line_number integer generated always as identity, raw text) on commit drop"))
        driver = await self._driver()
        # Each line is one field: a delimiter and a quote that never occur in text, so COPY does no
        # parsing of its own and a malformed line becomes a reject instead of aborting the load.
        await driver.copy_to_table("etl_raw", source=path, columns=["raw"], format="csv", delimiter="\x1f",
                                   quote="\x01", encoding="utf-8")
        return int((await self.session.execute(text("select count(*) from etl_raw"))).scalar_one())

    async def split(self, spec: CsvFile, *, only: list[int] | None = None) -> None:
        """Exact path: split each staged line of `etl_raw` (or the lines `only`) into fields, once, into
        `etl_split` (line_number, raw, f1 .. fN as text, nf: the number of fields found); blank lines are left out."""
        split = ", ".join(f"f[{i}] as f{i}" for i in range(1, len(spec.columns) + 1))
        lines = "line_number > 1" if only is None else "line_number = any(:only)"
        await self.session.execute(text("drop table if exists etl_split"))
        await self.session.execute(text(f"""
            create temp table etl_split on commit drop as
            select line_number, raw, {split}, cardinality(f) as nf
            from (select line_number, raw, {SPLIT} as f
                  from (select line_number, rtrim(raw, E'\\r') as raw from etl_raw where {lines}) as lines
                  where btrim(coalesce(raw, '')) <> '') as lines"""), {} if only is None else {"only": only})

    @staticmethod
    def _parsed(spec: CsvFile, *, exact: bool, parallel: bool = False) -> str:
        """The CTEs `staged` and `parsed(line_number, raw, f1 .. fN, v1 .. vN, nf)` over the staged file
        (`etl_fields` on the fast path, `etl_split` on the exact one), which the checks read.

        `offset 0` keeps `staged` and `parsed` subqueries of their own: each value is computed once
        per line, where an inlined one would be computed again at every check that reads it
        (bench.domain measures the difference). On the fast path a number field that is empty is
        null and its reason quotes it as ''.

        With `parallel`, on the fast path, there is no `offset 0`: a subquery with one never runs in
        parallel workers, and for a statement that can (CREATE TABLE AS, `fill_empty`), checking the
        lines in the workers, each value computed more than once, takes less time than checking them
        in one process (the operations' check of a first load of a million lines, in psql: 1.8 s against 2.3 s).
        """
        width = len(spec.columns)
        kinds = {i: spec.type_of(i) for i in range(1, width + 1)}
        fields = ", ".join(f"f{i}" for i in kinds)
        trimmed = ", ".join(f"{_trimmed(kind, f'f{i}', exact)} as t{i}" for i, kind in kinds.items())
        # A date is looked up in `etl_calendar` (one hash probe); only a field not found there (not
        # a date, or one outside the calendar's years) is parsed, to tell the two reasons apart.
        values = ", ".join(f"coalesce(c{i}.day, {_value(kind, f's.t{i}')}) as v{i}" if kind == "date"
                           else f"{_value(kind, f's.t{i}')} as v{i}" for i, kind in kinds.items())
        calendar = " ".join(f"left join etl_calendar c{i} on c{i}.iso = s.t{i}"
                            for i, kind in kinds.items() if kind == "date")
        source = (f"select line_number, raw, {fields}, {trimmed}, nf from etl_split" if exact else
                  f"select line_number, null::text as raw, {fields}, {trimmed}, {width} as nf from etl_fields")
        kept = ", ".join(f"s.f{i}" for i in kinds)
        fence = "" if parallel and not exact else " offset 0"  # the exact path reads a temporary table
        # not materialized: the checks and the duplicate search each scan the staged table
        return (f"staged as not materialized ({source}{fence}), "
                f"parsed as not materialized (select s.line_number, s.raw, {kept}, {values}, s.nf "
                f"from staged s {calendar}{fence})")

    async def make_calendar(self) -> None:
        """`etl_calendar(iso, day)`: every date of the years the checks accept, by its YYYY-MM-DD text
        (110k rows, built once per batch): a field found there is a date written exactly so and
        within those years, with no parsing (a date's input and output functions per field cost more)."""
        await self.session.execute(text("drop table if exists etl_calendar"))
        await self.session.execute(text(
            "create unlogged table etl_calendar as "
            "select to_char(d, 'YYYY-MM-DD') as iso, cast(d as date) as day "
            f"from generate_series(date '{FIRST_DATE}', date '{LAST_DATE}', interval '1 day') as d"))
        await self.session.execute(text("analyze etl_calendar"))

    async def drop_staging(self) -> None:
        """Drop `etl_calendar` and `etl_fields`, at the end of the load's transaction.

        They are unlogged tables, not temporary ones, so that parallel workers can read them: a first
        load's insert (`fill_empty`) then checks and converts its lines in the workers (bench.domain).
        Created in the load's transaction and dropped before its commit, no other session ever sees
        them; a load that fails rolls their creation back with the rest, and `serialise` keeps two
        loads from creating them at once.
        """
        await self.session.execute(text("drop table if exists etl_fields, etl_calendar"))

    async def keep_rejects(self, spec: CsvFile, batch: str, *, exact: bool, duplicates: bool = True) -> int:
        """Check every staged line and keep the rejected ones, with their reason, in `etl_rejects`;
        returns how many. Only the rejects are written: the good lines are read again by the insert."""
        result = await self.session.execute(text(
            "insert into etl_rejects (batch, file, line_number, reason, raw) "
            f"with {self._parsed(spec, exact=exact)} "
            f"select :batch, :file, line_number, reason, raw from ({spec.checks(duplicates=duplicates)}) as c "
            "where reason is not null"), {"batch": batch, "file": spec.name})
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def rejected_key_loaded(self, spec: CsvFile, batch: str, *, exact: bool) -> bool:
        """Whether a line rejected from this file has the key of a row the file loaded: a later line of
        a repeated key whose first line was rejected (the first line wins, so it is a duplicate)."""
        key = spec.columns[0]
        return bool((await self.session.execute(text(
            f"with {self._parsed(spec, exact=exact)} "
            "select exists (select 1 from etl_rejects r join parsed p on p.line_number = r.line_number "
            f"join {spec.name} t on t.{key} = p.v1 where r.batch = :batch and r.file = :file)"),
            {"batch": batch, "file": spec.name})).scalar_one())

    def good_lines(self, spec: CsvFile, *, exact: bool, duplicates: bool, parallel: bool = False) -> str:
        """`with` CTEs ending in `etl_checked`: the good lines of the staged file and their values
        (a line the checks give no reason), which `spec.insert` reads; `parallel`: see `_parsed`."""
        return (f"with {self._parsed(spec, exact=exact, parallel=parallel)}, "
                f"etl_checked as ({spec.good(duplicates=duplicates)})")

    async def fill_reject_lines(self, path: Path, batch: str, file: str) -> None:
        """Give the rejects of a fast-path file their line as written (staged only when there are rejects)."""
        await self.stage(path)
        await self.session.execute(text(
            "update etl_rejects r set raw = rtrim(e.raw, E'\\r') from etl_raw e "
            "where r.batch = :batch and r.file = :file and r.raw is null and e.line_number = r.line_number"),
            {"batch": batch, "file": file})

    async def load_lock_mode(self) -> str:
        """The mode in which this load locks the loaded tables (`lock_loaded`): ACCESS EXCLUSIVE when
        one is empty, for a first load drops and re-creates its keys; else ROW EXCLUSIVE, which its
        upserts take anyway, so rebuilds keep reading while it runs."""
        empty = " or ".join(f"not exists (select 1 from {table})" for table in LOADED_TABLES)
        first = bool((await self.session.execute(text(f"select {empty}"))).scalar_one())
        return "access exclusive" if first else "row exclusive"

    async def is_empty(self, table: str) -> bool:
        """True when `table` has no row (its first load needs no conflict handling)."""
        return bool((await self.session.execute(text(f"select not exists (select 1 from {table})"))).scalar_one())

    async def fill_empty(self, spec: CsvFile, source: str) -> int | None:
        """Fill the empty table of `spec` in bulk with the good lines of `source` (`good_lines`): the row
        count; None, having done nothing, when the table cannot be replaced (`_replaceable`) or a table
        whose foreign keys refer to it has rows, and `insert_into_empty` fills it instead.

        INSERT ... SELECT writes its rows one by one; CREATE TABLE AS writes them in bulk, several
        times faster (bench.domain, a first load). So the rows go into a build copy of the table
        (`create_build_as`: its column types, defaults, not-null and check constraints): the file's
        columns (`spec.values`), the identity column numbered in line order from the sequence's next
        value (line 2, the first data line, gets it; a rejected line leaves a gap, as the sequence's
        cache of 1000 can), every other column its default. The copy is keyed and swapped in
        (`swap_in`); the identity column then gets its sequence back, same name and options, restarted
        after the last id; the foreign keys of the (empty) tables that refer to the table are dropped
        for the swap and re-created after it.
        """
        table = spec.name
        # the foreign keys of other tables that refer to this one: (table, drop, re-create)
        referring = (await self.session.execute(text("""
            select conrelid::regclass::text,
                   format('alter table %s drop constraint %I', conrelid::regclass, conname),
                   format('alter table %s add constraint %I %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
            from pg_constraint where contype = 'f' and confrelid = cast(:table as regclass)
              and conrelid <> confrelid"""), {"table": table})).all()
        if not await self._replaceable(table) or not all([await self.is_empty(r[0]) for r in referring]):
            return None
        columns = (await self.session.execute(text("""
            select a.attname::text, a.attidentity::text, pg_get_expr(d.adbin, d.adrelid)
            from pg_attribute a left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
            where a.attrelid = cast(:table as regclass) and a.attnum > 0 and not a.attisdropped
            order by a.attnum"""), {"table": table})).all()
        identities = [(name, kind) for name, kind, _ in columns if kind]
        if len(identities) > 1:
            return None
        values = dict(spec.values)
        params: dict[str, Any] = {}
        identity = None
        if identities:
            name, kind = identities[0]
            identity = (await self.session.execute(text("""
                select s.seqrelid::regclass::text, s.seqincrement, s.seqmin,
                       s.seqmax, s.seqstart, s.seqcache, s.seqcycle, nextval(s.seqrelid)
                from pg_sequence s where s.seqrelid = cast(pg_get_serial_sequence(:table, :column) as regclass)
            """), {"table": table, "column": name})).one()
            if identity[1] != 1:
                return None
            params["first_id"] = identity[-1]
            values[name] = "cast(:first_id as bigint) + line_number - 2"
        select = ", ".join(f"{values.get(name, default or 'null')} as {name}" for name, _, default in columns)
        names = [name for name, _, _ in columns]
        rows = await self.create_build_as(table, names, f"select {select} from ({source} select * from etl_checked) "
                                          "as etl_checked", params, referenced=True, partial_scans=True, writer=True)
        for _, drop, _ in referring:
            await self.session.execute(text(drop))
        await self.swap_in(table)
        if identity is not None:
            sequence, _, low, high, start, cache, cycle, first_id = identity
            name, kind = identities[0]
            await self.session.execute(text(
                f"alter table {table} alter column {name} add generated {'always' if kind == 'a' else 'by default'} "
                f"as identity (sequence name {sequence} increment by 1 minvalue {low} maxvalue {high} "
                f"start with {start} cache {cache} {'cycle' if cycle else 'no cycle'})"))
            after = (await self.session.execute(text(f"select max({name}) + 1 from {table}"))).scalar_one()
            await self.session.execute(text(f"alter table {table} alter column {name} restart with {after or first_id}"))
        for _, _, create in referring:
            await self.session.execute(text(create))
        return rows

    async def _replaceable(self, table: str) -> bool:
        """Whether a swap (`fill_empty`) may replace `table`: nothing hangs on it that the swap would lose
        or that would keep it from being dropped (grants, triggers, rules and views, policies, comments,
        publications, inheritance, storage options, extended statistics, a foreign key to itself)."""
        return bool((await self.session.execute(text("""
            select c.relkind = 'r' and c.relacl is null and c.reloptions is null and c.reltablespace = 0
               and not c.relrowsecurity
               and not exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attacl is not null)
               and not exists (select 1 from pg_trigger t where t.tgrelid = c.oid and not t.tgisinternal)
               and not exists (select 1 from pg_policy p where p.polrelid = c.oid)
               and not exists (select 1 from pg_depend d where d.refobjid = c.oid and d.classid = 'pg_rewrite'::regclass)
               and not exists (select 1 from pg_description e where e.objoid = c.oid and e.classoid = 'pg_class'::regclass)
               and not exists (select 1 from pg_publication_rel r where r.prrelid = c.oid)
               and not exists (select 1 from pg_inherits i where i.inhrelid = c.oid or i.inhparent = c.oid)
               and not exists (select 1 from pg_statistic_ext x where x.stxrelid = c.oid)
               and not exists (select 1 from pg_constraint k where k.contype = 'f' and k.conrelid = c.oid
                               and k.confrelid = c.oid)
               and not exists (select 1 from pg_depend d join pg_class s on s.oid = d.objid
                               where d.refobjid = c.oid and d.deptype in ('a', 'i') and s.relkind = 'S'
                                 and s.relacl is not null)
            from pg_class c where c.oid = cast(:table as regclass)"""), {"table": table})).scalar_one())

    async def upsert(self, spec: CsvFile, *, exact: bool) -> tuple[int, int]:
        """Upsert the good lines of the staged file (`spec.upsert`); (inserted, updated)."""
        row = (await self.session.execute(text(
            f"{self.good_lines(spec, exact=exact, duplicates=True)}, up as ({spec.upsert}) "
            "select count(*) filter (where inserted), count(*) filter (where not inserted) from up"))).one()
        return int(row[0]), int(row[1])

    async def forget_rejects(self, batch: str) -> None:
        """Drop the rejects of a previous load of `batch` (a reload records them afresh)."""
        await self.session.execute(text("delete from etl_rejects where batch = :batch"), {"batch": batch})

    async def loaded_batches(self) -> set[str]:
        """Names of the batches whose last load succeeded."""
        rows = await self.session.execute(text("select name from etl_batches where status = 'loaded'"))
        return {r[0] for r in rows}

    async def record_batch(self, name: str, status: str, counts: dict[str, Any] | None, error: str | None) -> None:
        """Upsert the outcome of a batch load."""
        await self.session.execute(text("""
            insert into etl_batches (name, status, loaded_at, counts, error)
            values (:name, :status, now(), cast(:counts as jsonb), :error)
            on conflict (name) do update
                set status = excluded.status, loaded_at = excluded.loaded_at, counts = excluded.counts,
                    error = excluded.error
        """), {"name": name, "status": status, "counts": json.dumps(counts) if counts is not None else None,
               "error": error})
