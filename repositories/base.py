"""Base class for repositories: every SQL statement of the project lives in a subclass."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession


class BaseRepository:
    """Holds the unit of work's session. Repositories flush, never commit."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
