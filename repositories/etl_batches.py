"""SQL for reading the CSV loads' bookkeeping: batches and their rejected lines."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, tuple_

from models.etl import EtlBatch, EtlReject
from repositories.base import BaseRepository


class EtlBatchReadRepository(BaseRepository):
    """Pages of `etl_batches` (newest load first) and of one batch's `etl_rejects` (file, line order)."""

    async def batches(self, *, after: tuple[datetime, str] | None, limit: int) -> list[dict[str, Any]]:
        rejected = (select(func.count()).select_from(EtlReject).where(EtlReject.batch == EtlBatch.name)
                    .correlate(EtlBatch).scalar_subquery())
        stmt = select(EtlBatch.name, EtlBatch.status, EtlBatch.loaded_at, EtlBatch.counts, EtlBatch.error,
                      rejected.label("rejected"))
        if after is not None:
            stmt = stmt.where(tuple_(EtlBatch.loaded_at, EtlBatch.name) < tuple_(*after))
        stmt = stmt.order_by(EtlBatch.loaded_at.desc(), EtlBatch.name.desc()).limit(limit)
        return [dict(row) for row in (await self.session.execute(stmt)).mappings().all()]

    async def batch(self, name: str) -> dict[str, Any] | None:
        stmt = select(EtlBatch.name, EtlBatch.status, EtlBatch.loaded_at, EtlBatch.counts, EtlBatch.error).where(
            EtlBatch.name == name)
        row = (await self.session.execute(stmt)).mappings().first()
        return dict(row) if row is not None else None

    async def rejects(self, batch: str, *, file: str | None, after: tuple[str, int, int] | None,
                      limit: int) -> list[dict[str, Any]]:
        stmt = select(EtlReject.id, EtlReject.file, EtlReject.line_number, EtlReject.raw, EtlReject.reason).where(
            EtlReject.batch == batch)
        if file is not None:
            stmt = stmt.where(EtlReject.file == file)
        if after is not None:
            stmt = stmt.where(tuple_(EtlReject.file, EtlReject.line_number, EtlReject.id) > tuple_(*after))
        stmt = stmt.order_by(EtlReject.file, EtlReject.line_number, EtlReject.id).limit(limit)
        return [dict(row) for row in (await self.session.execute(stmt)).mappings().all()]

    async def reject_counts(self, batch: str) -> dict[str, int]:
        stmt = (select(EtlReject.file, func.count()).where(EtlReject.batch == batch)
                .group_by(EtlReject.file).order_by(EtlReject.file))
        return {str(file): int(count) for file, count in (await self.session.execute(stmt)).all()}
