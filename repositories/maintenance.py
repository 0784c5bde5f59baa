"""SQL about the database itself (table sizes and row counts)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from repositories.base import BaseRepository

UNDEFINED_TABLE = "42P01"


class MaintenanceRepository(BaseRepository):
    """Catalog queries for operators."""

    async def table_stats(self, schema: str) -> list[dict[str, Any]]:
        """Exact row count and on-disk size of every table in `schema`.

        Each table is counted and measured by its name, in one statement, after the catalog is read: a
        rebuild that swaps a table in (drops it and renames its new copy, `RebuildRepository.swap_in`)
        while this runs is waited for, and the new table is both counted and measured. Measured by the
        catalog's oid, the dropped table's size was null. A table dropped meanwhile is left out.
        """
        names = (await self.session.execute(text(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = :schema and c.relkind in ('r', 'p') order by c.relname"
        ), {"schema": schema})).scalars().all()
        out: list[dict[str, Any]] = []
        for name in names:
            quoted = '"' + schema.replace('"', '""') + '"."' + str(name).replace('"', '""') + '"'
            try:
                async with self.session.begin_nested():
                    rows, size = (await self.session.execute(text(
                        f"select count(*), pg_total_relation_size(cast(:table as regclass)) from {quoted}"),
                        {"table": quoted})).one()
            except DBAPIError as exc:
                if getattr(exc.orig, "sqlstate", None) != UNDEFINED_TABLE:
                    raise
                continue
            out.append({"table": name, "rows": int(rows), "bytes": int(size)})
        return out
