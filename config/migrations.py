"""Applying the Alembic migrations in-process (`toolbox migrate`, `toolbox up`)."""

from __future__ import annotations

from config.settings import PROJECT_ROOT


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
