"""run registry

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "task_runs",
        sa.Column("task_id", sa.String(64), nullable=False),
        sa.Column("task_name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("params", postgresql.JSONB()),
        sa.Column("origin", sa.String(16), nullable=False, server_default="api"),
        sa.Column("submitted_by", sa.String(200)),
        sa.Column("parent_id", sa.String(64)),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("worker", sa.String(200)),
        sa.Column("retries", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("result", postgresql.JSONB()),
        sa.Column("error", sa.Text()),
        sa.PrimaryKeyConstraint("task_id", name="pk_task_runs"),
    )
    op.create_index("ix_task_runs_submitted_at", "task_runs", ["submitted_at"])
    op.create_index("ix_task_runs_task_name_submitted_at", "task_runs", ["task_name", "submitted_at"])
    op.create_index("ix_task_runs_status_submitted_at", "task_runs", ["status", "submitted_at"])


def downgrade() -> None:
    op.drop_table("task_runs")
