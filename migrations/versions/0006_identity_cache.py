"""ids of operations and payments drawn 1000 at a time (identity CACHE 1000)

A load draws one id per row; with the default cache of 1 each draw locks and updates the sequence's
page (and logs it every 32 draws). Drawn 1000 at a time, a backend hands out ids from memory
(figures: bench/RESULTS.md, Domain). Ids stay unique and increasing within a load; a backend that
ends leaves the rest of its 1000 unused (gaps, as a rolled-back load already leaves).

Revision ID: 0006_identity_cache
Revises: 0005_task_runs_parent_index
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006_identity_cache"
down_revision: str | None = "0005_task_runs_parent_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("operations", "payments")


def upgrade() -> None:
    for table in TABLES:
        op.execute(f"alter table {table} alter column id set cache 1000")


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"alter table {table} alter column id set cache 1")
