"""Repository factory: the only way tasks and services reach the database.

Each `unit_of_work()` is one session in one transaction: committed when the block ends
normally, rolled back when it raises, and closed either way. Repositories only `flush()`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from config.database import build_sessionmaker
from repositories.base import BaseRepository
from schemas.errors import DatabaseUnavailableError

R = TypeVar("R", bound=BaseRepository)


class UnitOfWork:
    """One session; hands out repositories bound to it."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._repositories: dict[type[BaseRepository], BaseRepository] = {}

    def repo(self, repository_type: type[R]) -> R:
        """The repository of that type for this unit of work (one instance per type)."""
        found = self._repositories.get(repository_type)
        if found is None:
            found = self._repositories[repository_type] = repository_type(self.session)
        return found  # type: ignore[return-value]


class RepositoryFactory:
    """Opens isolated units of work on one engine.

    With `outages_as_errors` (the API's factory) a connection that cannot be opened (the driver's
    OSError or TimeoutError) is raised as DatabaseUnavailableError, a 503 `database_unavailable`;
    a worker's factory keeps the driver's own error, which is what its run's error then shows.
    """

    def __init__(self, engine: AsyncEngine, *, outages_as_errors: bool = False) -> None:
        self.engine = engine
        self._outages: tuple[type[BaseException], ...] = (OSError, TimeoutError) if outages_as_errors else ()
        self._sessionmaker: async_sessionmaker[AsyncSession] = build_sessionmaker(engine)
        self._autocommit_sessionmaker: async_sessionmaker[AsyncSession] = build_sessionmaker(
            engine.execution_options(isolation_level="AUTOCOMMIT"))

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[UnitOfWork]:
        """Commit on success, rollback on error, always close."""
        try:
            async with self._sessionmaker() as session:
                async with session.begin():
                    yield UnitOfWork(session)
        except self._outages as exc:
            raise DatabaseUnavailableError.outage() from exc

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[UnitOfWork]:
        """Each statement commits on its own: one round trip for single-statement work (the API's hot path)."""
        try:
            async with self._autocommit_sessionmaker() as session:
                yield UnitOfWork(session)
        except self._outages as exc:
            raise DatabaseUnavailableError.outage() from exc

