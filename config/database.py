"""Engine construction. Engines are built at start-up of a process (or event loop), never at import."""

from __future__ import annotations

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from config.settings import DatabaseSettings


def build_engine(settings: DatabaseSettings, *, pooled: bool = True, pre_ping: bool = True) -> AsyncEngine:
    """An asyncpg engine bound to the event loop that first uses it.

    `pre_ping=False` saves a round trip per checkout on hot paths; a connection broken by a
    database restart is still detected on use and the pool is invalidated then.
    """
    connect_args: dict[str, object] = {"timeout": settings.connect_timeout_s}
    if settings.statement_timeout_ms:
        connect_args["server_settings"] = {"statement_timeout": str(settings.statement_timeout_ms)}
    if not pooled:
        return create_async_engine(settings.async_url, poolclass=NullPool, connect_args=connect_args)
    return create_async_engine(
        settings.async_url,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_pre_ping=pre_ping,
        pool_recycle=1800,
        pool_timeout=5,
        connect_args=connect_args,
    )


def build_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def create_pool(settings: DatabaseSettings, *, max_size: int = 10, application_name: str = "toolbox-api"
                ) -> asyncpg.Pool:
    """A plain asyncpg pool for the run registry's hot path; `await` it (inside the running loop) to open it.

    Used by the API (a run's record at launch, status reads) and by each worker process (a run's
    start and end). Its commits do not wait for the WAL flush (`synchronous_commit=off`); README
    "Durability of run records" says what that guarantees.
    """
    # A run record is as durable as the broker message it goes with: Redis does not fsync each
    # write either (appendfsync everysec at best). A committed record is visible to every reader
    # at once; the flush to disk follows within 3 x wal_writer_delay. A crash of PostgreSQL or of
    # the machine can lose the records of that last fraction of a second, never half a record.
    # Task bodies keep the server's own setting (they use their own engine).
    server_settings = {"application_name": application_name, "synchronous_commit": "off"}
    if settings.statement_timeout_ms:
        server_settings["statement_timeout"] = str(settings.statement_timeout_ms)
    # min_size=0: the API starts (and reports not-ready) while the database is down.
    return asyncpg.create_pool(settings.dsn, min_size=0, max_size=max_size, timeout=settings.connect_timeout_s,
                               command_timeout=30, server_settings=server_settings, reset=_keep_session)


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Released connections skip asyncpg's default reset query (a second round trip per call).

    The pool only runs single autocommit statements (repositories/run_registry.py): no
    session setting, advisory lock, cursor or LISTEN to undo. asyncpg still rolls back an open transaction.
    """
