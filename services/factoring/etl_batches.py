"""The ETL loads as analysts read them: batches, then one batch's rejected lines, page by page."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import orjson

from background.schemas.etl import EtlBatchPage, EtlBatchView, EtlRejectPage, EtlRejectView
from config.repository_factory import RepositoryFactory
from repositories.etl_batches import EtlBatchReadRepository
from schemas.errors import EtlBatchNotFoundError, InvalidParametersError

MAX_LIMIT = 200


def _encode(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode()


def _decode(cursor: str, size: int) -> list[Any]:
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, orjson.JSONDecodeError):
        values = None
    if not isinstance(values, list) or len(values) != size:
        raise InvalidParametersError("The cursor is not one this endpoint gave.",
                                     description="Pass `next_cursor` of the previous page unchanged.")
    return values


class EtlBatchService:
    """Read-only views of `etl_batches` and `etl_rejects` with keyset pagination."""

    def __init__(self, repositories: RepositoryFactory) -> None:
        self._repositories = repositories

    async def batches(self, *, cursor: str | None, limit: int) -> EtlBatchPage:
        after = None
        if cursor:
            loaded_at, name = _decode(cursor, 2)
            try:
                after = (datetime.fromisoformat(str(loaded_at)), str(name))
            except ValueError:
                raise InvalidParametersError("The cursor is not one this endpoint gave.") from None
        async with self._repositories.autocommit() as uow:
            rows = await uow.repo(EtlBatchReadRepository).batches(after=after, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = _encode([rows[-1]["loaded_at"].isoformat(), rows[-1]["name"]]) if more else None
        return EtlBatchPage(success=True, batches=[self._batch(row) for row in rows], next_cursor=next_cursor)

    async def rejects(self, batch: str, *, file: str | None, cursor: str | None, limit: int) -> EtlRejectPage:
        after = None
        if cursor:
            file_after, line, reject_id = _decode(cursor, 3)
            if not isinstance(line, int) or not isinstance(reject_id, int):
                raise InvalidParametersError("The cursor is not one this endpoint gave.")
            after = (str(file_after), line, reject_id)
        async with self._repositories.autocommit() as uow:
            repo = uow.repo(EtlBatchReadRepository)
            found = await repo.batch(batch)
            if found is None:
                raise EtlBatchNotFoundError(f"No ETL batch named {batch[:100]!r}.",
                                            description="GET /toolbox/etl/batches lists the loaded batches.")
            rows = await repo.rejects(batch, file=file, after=after, limit=limit + 1)
            by_file = await repo.reject_counts(batch)
        more = len(rows) > limit
        rows = rows[:limit]
        last = rows[-1] if rows else None
        next_cursor = _encode([last["file"], last["line_number"], last["id"]]) if more and last else None
        return EtlRejectPage(success=True, batch=self._batch({**found, "rejected": sum(by_file.values())}),
                             rejected_by_file=by_file,
                             rejects=[EtlRejectView(file=r["file"], line_number=r["line_number"], line=r["raw"],
                                                    reason=r["reason"]) for r in rows],
                             next_cursor=next_cursor)

    @staticmethod
    def _batch(row: dict[str, Any]) -> EtlBatchView:
        return EtlBatchView(name=row["name"], status=row["status"], loaded_at=row["loaded_at"].isoformat(),
                            counts=row["counts"], error=row["error"], rejected=int(row.get("rejected") or 0))
