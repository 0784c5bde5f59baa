"""audit trail (issue 13): audit_events

Revision ID: 0003_audit_events
Revises: 0002
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_audit_events"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200)),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("task_name", sa.String(200)),
        sa.Column("task_id", sa.String(64)),
        sa.Column("params", postgresql.JSONB()),
        sa.Column("client", sa.String(200)),
        sa.Column("detail", postgresql.JSONB()),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at", "id"])
    op.create_index("ix_audit_events_actor_at", "audit_events", ["actor", "at"])
    op.create_index("ix_audit_events_task_name_at", "audit_events", ["task_name", "at"])


def downgrade() -> None:
    op.drop_table("audit_events")
