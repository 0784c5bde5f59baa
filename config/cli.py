"""`toolbox` command line. Each sub-command lives in config/commands/<name>.py with a `register()`.

A user's mistake (a bad argument, a server that does not answer, a task module that does not
import) ends in one or two lines on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import socket
import sys
import typing
from collections.abc import Sequence

import config.commands
from config.commands import CommandError

# These find the servers of a running `toolbox up` (var/up.env) when DATABASE_URL/REDIS_URL are unset.
USES_RUNNING_STACK = frozenset({"run", "migrate", "tasks", "token"})


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (the usage block only with --help)."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The parser with every sub-command found in config/commands/."""
    parser = _Parser(prog="toolbox", description="Toolbox: auto-discovered background tasks.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_info in sorted(pkgutil.iter_modules(config.commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"config.commands.{module_info.name}")
        module.register(sub)
    return parser


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


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `toolbox` script."""
    args = build_parser().parse_args(argv)
    adopted = None
    if args.command in USES_RUNNING_STACK:
        from config.up_env import adopt_running_stack

        adopted = adopt_running_stack()
    try:
        code = args.handler(args)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("TOOLBOX_TRACEBACK"):
            raise
        message = explain(exc, adopted)
        if message is None:
            message = (f"unexpected error: {type(exc).__name__}: {exc}".splitlines()[0][:500]
                       + " (TOOLBOX_TRACEBACK=1 shows where)")
        print(f"toolbox {args.command}: {message}", file=sys.stderr)
        sys.exit(2)
    sys.exit(code or 0)


if __name__ == "__main__":
    main()
