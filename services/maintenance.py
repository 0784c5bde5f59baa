"""Operator reports about the database."""

from __future__ import annotations

import logging

from config.repository_factory import RepositoryFactory
from repositories.maintenance import MaintenanceRepository
from schemas.progress import ProgressReporter

# Lines of this logger become the run's own log (GET /tasks/status/<id>/logs, the console).
log = logging.getLogger(__name__)


async def table_report(repositories: RepositoryFactory, progress: ProgressReporter, schema: str, min_rows: int) -> dict[str, object]:
    """Tables of `schema` with at least `min_rows` rows, largest first, and the totals."""
    progress.update(0, 1, f"reading tables of {schema}")
    async with repositories.unit_of_work() as uow:
        stats = await uow.repo(MaintenanceRepository).table_stats(schema)
    kept = sorted((s for s in stats if s["rows"] >= min_rows), key=lambda s: (-s["bytes"], s["table"]))
    progress.update(1, 1, f"{len(stats)} tables read")
    log.info("%d tables in schema %s, %d with at least %d rows", len(stats), schema, len(kept), min_rows)
    return {"schema": schema, "tables": kept, "total_rows": sum(s["rows"] for s in kept),
            "total_bytes": sum(s["bytes"] for s in kept)}
