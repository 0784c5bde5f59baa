"""SQL of the CSV loads: bulk COPY into a staging table, rejects and batch bookkeeping."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import text

from repositories.etl_files import CsvFile
from repositories.factoring_sql import RebuildRepository

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

    async def stage_fields(self, path: Path, spec: CsvFile, data_lines: int) -> bool:
        """COPY the file as CSV into `etl_fields`; False when it needs the exact path (nothing staged then).

        Number columns are typed here, so COPY's own parser reads them; a field that is no number
        makes COPY fail and the file take the exact path, where the check names the line.
        """
        width = len(spec.columns)
        columns = [f"f{i}" for i in range(1, width + 1)]
        types = [_copy_type(spec.type_of(i)) for i in range(1, width + 1)]
        await self.session.execute(text("drop table if exists etl_fields"))
        await self.session.execute(text(
            "create temp table etl_fields (line_number integer generated always as identity (start with 2), "
            + ", ".join(f"{c} {t}" for c, t in zip(columns, types, strict=True)) + ") on commit drop"))
        # A savepoint of our own on the driver connection: a COPY that fails leaves nothing behind.
        await self.savepoint("etl_copy")
        try:
            # force_not_null: an empty text field is '' as on the exact path, not NULL.
            status = await (await self._driver()).copy_to_table(
                "etl_fields", source=path, columns=columns, format="csv", header=True, encoding="utf-8",
                force_not_null=[c for c, t in zip(columns, types, strict=True) if t == "text"])
            if int(status.split()[-1]) != data_lines:
                raise _NotOneRecordPerLine
        except (asyncpg.exceptions.DataError, _NotOneRecordPerLine):
            await self.rollback_to("etl_copy")
            return False
        await self.release("etl_copy")
        return True

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

    async def check(self, spec: CsvFile, *, exact: bool, duplicates: bool = True) -> None:
        """Materialise `etl_checked`: every data line, its values and its reject reason (null when good).

        `offset 0` keeps `staged` and `parsed` subqueries of their own: each value is computed once
        per line, where an inlined one would be computed again at every check that reads it
        (bench.domain measures the difference). On the fast path a number field that is empty is
        null and its reason quotes it as ''.
        """
        width = len(spec.columns)
        kinds = {i: spec.type_of(i) for i in range(1, width + 1)}
        fields = ", ".join(f"f{i}" for i in kinds)
        trimmed = ", ".join(f"{_trimmed(kind, f'f{i}', exact)} as t{i}" for i, kind in kinds.items())
        values = ", ".join(f"{_value(kind, f't{i}')} as v{i}" for i, kind in kinds.items())
        if exact:
            split = ", ".join(f"f[{i}] as f{i}" for i in kinds)
            source = f"""lines as materialized (
                select line_number, raw, {SPLIT} as f
                from (select line_number, rtrim(raw, E'\\r') as raw from etl_raw where line_number > 1) as lines
                where btrim(coalesce(raw, '')) <> ''),
            split as (select line_number, raw, {split}, cardinality(f) as nf from lines),
            staged as (select line_number, raw, {fields}, {trimmed}, nf from split offset 0)"""
        else:
            source = (f"staged as not materialized (select line_number, null::text as raw, {fields}, {trimmed}, "
                      f"{width} as nf from etl_fields offset 0)")
        # not materialized: the check and the duplicate search each scan the staged table
        parsed = f"{source}, parsed as not materialized (select line_number, raw, {fields}, {values}, nf from staged offset 0)"
        await self.session.execute(text("drop table if exists etl_checked"))
        await self.session.execute(text(
            f"create temp table etl_checked on commit drop as with {parsed} {spec.checks(duplicates=duplicates)}"))

    async def keep_rejects(self, batch: str, file: str) -> int:
        """Copy the rejected lines of `etl_checked` into `etl_rejects`; returns how many."""
        result = await self.session.execute(text(
            "insert into etl_rejects (batch, file, line_number, reason, raw) "
            "select :batch, :file, line_number, reason, raw from etl_checked where reason is not null"),
            {"batch": batch, "file": file})
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def fill_reject_lines(self, path: Path, batch: str, file: str) -> None:
        """Give the rejects of a fast-path file their line as written (staged only when there are rejects)."""
        await self.stage(path)
        await self.session.execute(text(
            "update etl_rejects r set raw = rtrim(e.raw, E'\\r') from etl_raw e "
            "where r.batch = :batch and r.file = :file and r.raw is null and e.line_number = r.line_number"),
            {"batch": batch, "file": file})

    async def is_empty(self, table: str) -> bool:
        """True when `table` has no row (its first load needs no conflict handling)."""
        return bool((await self.session.execute(text(f"select not exists (select 1 from {table})"))).scalar_one())

    async def upsert(self, statement: str) -> tuple[int, int]:
        """Run an `insert ... on conflict ... returning (xmax = 0) as inserted`; (inserted, updated)."""
        row = (await self.session.execute(text(
            f"with up as ({statement}) "
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
