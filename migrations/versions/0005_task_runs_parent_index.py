"""index for the retries of a run: task_runs (parent_id, submitted_at) where parent_id is not null

Revision ID: 0005_task_runs_parent_index
Revises: 0004_notification_deliveries
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_task_runs_parent_index"
down_revision: str | None = "0004_notification_deliveries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_task_runs_parent_id_submitted_at", "task_runs", ["parent_id", "submitted_at"],
                    postgresql_where=sa.text("parent_id is not null"))


def downgrade() -> None:
    op.drop_index("ix_task_runs_parent_id_submitted_at", table_name="task_runs")
