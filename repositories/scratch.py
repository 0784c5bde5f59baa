"""SQL for `scratch_notes`, a table the test suite creates to exercise task sessions."""

from __future__ import annotations

from sqlalchemy import text

from repositories.base import BaseRepository


class ScratchRepository(BaseRepository):
    """Notes in the scratch table (created and dropped by the tests)."""

    async def add(self, body: str) -> None:
        await self.session.execute(text("insert into scratch_notes (body) values (:body)"), {"body": body})

    async def count(self) -> int:
        return int((await self.session.execute(text("select count(*) from scratch_notes"))).scalar_one())
