"""`toolbox migrate`: apply the Alembic migrations (or another revision)."""

from __future__ import annotations

import argparse

from config.migrations import migrate


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("migrate", help="apply database migrations")
    parser.add_argument("revision", nargs="?", default="head")
    parser.add_argument("--downgrade", action="store_true", help="downgrade to REVISION instead")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    migrate(args.revision, downgrade=args.downgrade)
    print(f"database at {args.revision}")
    return 0
