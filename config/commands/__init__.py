"""The `toolbox` sub-commands (one module each, with a `register()`), and what they share."""

from __future__ import annotations

import argparse
import os
import socket
import typing


class CommandError(Exception):
    """A mistake or a condition the user can fix: `toolbox` prints the message alone and exits 2."""


def port_number(text: str) -> int:
    """argparse type: a TCP port, 1-65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a port number, 1 to 65535 (got {text!r})") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number, 1 to 65535 (got {value})")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1 (got {text!r})") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


def _database_target() -> str:
    from sqlalchemy.engine import make_url

    from config.settings import DatabaseSettings

    try:
        url = make_url(DatabaseSettings().dsn)
        return f"{url.host or '127.0.0.1'}:{url.port or 5432}/{url.database or ''}"
    except Exception:  # noqa: BLE001 - only used to word a message
        return "DATABASE_URL"


def _redis_target() -> str:
    from config.settings import RedisSettings

    return RedisSettings().url.split("@")[-1]


def explain(exc: BaseException, adopted: str | None) -> str | None:
    """The one line a user gets for an error they can act on; None for a bug of Toolbox."""
    from pydantic import ValidationError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    from background.processors.discovery import DiscoveryError

    where = f" (found in {adopted})" if adopted else ""
    if adopted:
        hint = "is that `toolbox up` still running?"
    elif os.environ.get("DATABASE_URL"):
        hint = "check DATABASE_URL."
    else:
        hint = "start `uv run toolbox up`, or set DATABASE_URL."
    if isinstance(exc, CommandError | DiscoveryError):
        return str(exc)
    if isinstance(exc, ValidationError):
        return "; ".join(f"{str(e.get('msg', '')).removeprefix('Value error, ')}" for e in exc.errors())
    if isinstance(exc, RedisConnectionError):
        return f"cannot reach Redis at {_redis_target()}{where}: {exc}; set REDIS_URL or start `uv run toolbox up`"
    asyncpg_error = _asyncpg_error(exc)
    if isinstance(exc, ConnectionRefusedError | ConnectionResetError | TimeoutError | socket.gaierror | OperationalError | InterfaceError | DBAPIError) or asyncpg_error:
        cause = asyncpg_error or getattr(exc, "orig", None) or exc
        detail = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        return f"cannot use PostgreSQL at {_database_target()}{where}: {detail}; {hint}"
    return None


def _asyncpg_error(exc: BaseException) -> BaseException | None:
    import asyncpg

    seen: BaseException | None = exc
    for _ in range(10):  # the chain SQLAlchemy builds is short; never loop on a cycle
        if seen is None:
            break
        if isinstance(seen, asyncpg.PostgresError | asyncpg.InterfaceError):
            return typing.cast(BaseException, seen)
        seen = seen.__cause__ or seen.__context__
    return None
