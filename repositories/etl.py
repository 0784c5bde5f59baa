"""SQL of the CSV loads: bulk COPY into a staging table, rejects and batch bookkeeping."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import text

from repositories.factoring_sql import RebuildRepository

# A CSV line split into fields, in SQL. Lines without quotes (nearly all) take the cheap path;
# quoted fields ("a, b" and doubled "" quotes) go through a regular expression.
SPLIT = """case when strpos(raw, '"') = 0 then string_to_array(raw, ',')
    else array(select replace(regexp_replace(m[1], '^"(.*)"$', '\\1'), '""', '"')
               from regexp_matches(raw, '(?:^|,)("(?:[^"]|"")*"|[^,]*)', 'g') with ordinality as t(m, n)
               order by n) end"""


class EtlRepository(RebuildRepository):
    """Stages one CSV file at a time in `etl_raw` (a temporary table: one row per physical line)."""

    async def stage(self, path: Path) -> int:
        """COPY the file's lines, untouched, into `etl_raw`; line_number 1 is the header. Returns the line count."""
        await self.session.execute(text("drop table if exists etl_raw"))
        await self.session.execute(text(
            "create temp table etl_raw (line_number integer generated always as identity, raw text) on commit drop"))
        raw = await self.session.connection()
        dbapi = await raw.get_raw_connection()
        driver = dbapi.driver_connection
        assert driver is not None
        # Each line is one field: a delimiter and a quote that never occur in text, so COPY does no
        # parsing of its own and a malformed line becomes a reject instead of aborting the load.
        await driver.copy_to_table("etl_raw", source=path, columns=["raw"], format="csv", delimiter="\x1f",
                                   quote="\x01", encoding="utf-8")
        return int((await self.session.execute(text("select count(*) from etl_raw"))).scalar_one())

    async def header(self) -> str:
        """The staged file's first line, without a byte-order mark or a carriage return."""
        value = (await self.session.execute(text("select raw from etl_raw where line_number = 1"))).scalar_one_or_none()
        return (value or "").lstrip("\ufeff").rstrip("\r")

    async def check(self, select_checked: str, params: dict[str, Any]) -> None:
        """Materialise `etl_checked`: every data line, split, with its reject reason (null when good)."""
        await self.session.execute(text("drop table if exists etl_checked"))
        await self.session.execute(text(f"""
            create temp table etl_checked on commit drop as
            with parsed as materialized (
                select line_number, raw, {SPLIT} as f
                from (select line_number, rtrim(raw, E'\\r') as raw from etl_raw where line_number > 1) as lines
                where btrim(coalesce(raw, '')) <> '')
            {select_checked}
        """), params)

    async def keep_rejects(self, batch: str, file: str) -> int:
        """Copy the rejected lines of `etl_checked` into `etl_rejects`; returns how many."""
        result = await self.session.execute(text(
            "insert into etl_rejects (batch, file, line_number, reason, raw) "
            "select :batch, :file, line_number, reason, raw from etl_checked where reason is not null"),
            {"batch": batch, "file": file})
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

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
