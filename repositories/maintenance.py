"""SQL about the database itself (table sizes and row counts)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from repositories.base import BaseRepository


class MaintenanceRepository(BaseRepository):
    """Catalog queries for operators."""

    async def table_stats(self, schema: str) -> list[dict[str, Any]]:
        """Exact row count and on-disk size of every table in `schema`."""
        tables = (await self.session.execute(text(
            "select c.relname as name, pg_total_relation_size(c.oid) as bytes "
            "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = :schema and c.relkind in ('r', 'p') order by c.relname"
        ), {"schema": schema})).mappings().all()
        out: list[dict[str, Any]] = []
        for table in tables:
            quoted = '"' + schema.replace('"', '""') + '"."' + str(table["name"]).replace('"', '""') + '"'
            rows = (await self.session.execute(text(f"select count(*) from {quoted}"))).scalar_one()
            out.append({"table": table["name"], "rows": int(rows), "bytes": int(table["bytes"])})
        return out
