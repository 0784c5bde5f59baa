"""`toolbox migrate`: apply the Alembic migrations (or another revision)."""

from __future__ import annotations

import argparse

from config.settings import PROJECT_ROOT


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("migrate", help="apply database migrations")
    parser.add_argument("revision", nargs="?", default="head")
    parser.add_argument("--downgrade", action="store_true", help="downgrade to REVISION instead")
    parser.set_defaults(handler=run)


def migrate(revision: str = "head", *, database_url: str | None = None, downgrade: bool = False) -> None:
    """Run Alembic in-process against `database_url` (default: DATABASE_URL)."""
    from alembic import command
    from alembic.config import Config

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes["configure_logger"] = False
    if database_url:
        config.attributes["database_url"] = database_url
    (command.downgrade if downgrade else command.upgrade)(config, revision)


def run(args: argparse.Namespace) -> int:
    migrate(args.revision, downgrade=args.downgrade)
    print(f"database at {args.revision}")
    return 0
