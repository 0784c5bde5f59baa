"""factoring domain: parties, operations, payments, rates, ETL bookkeeping and output tables

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(18, 2)


def _timestamps() -> list[sa.Column]:
    return [sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())]


def _party(table: str) -> None:
    op.create_table(
        table,
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("tax_id", sa.String(20), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
        sa.UniqueConstraint("tax_id", name=f"uq_{table}_tax_id"),
    )


def _inputs() -> None:
    _party("clients")
    _party("debtors")
    op.create_table(
        "operations",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("client_id", sa.BigInteger(), nullable=False),
        sa.Column("debtor_id", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("face_value", MONEY, nullable=False),
        sa.Column("advance_pct", sa.Numeric(5, 2), nullable=False),
        sa.Column("monthly_rate", sa.Numeric(8, 6), nullable=False),
        sa.Column("commission", MONEY, nullable=False),
        sa.Column("disbursed_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_operations"),
        sa.UniqueConstraint("code", name="uq_operations_code"),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], name="fk_operations_client_id_clients"),
        sa.ForeignKeyConstraint(["debtor_id"], ["debtors.id"], name="fk_operations_debtor_id_debtors"),
        sa.CheckConstraint("currency in ('PEN', 'USD')", name="ck_operations_currency"),
        sa.CheckConstraint("face_value > 0", name="ck_operations_face_value_positive"),
        sa.CheckConstraint("advance_pct > 0 and advance_pct <= 100", name="ck_operations_advance_pct_range"),
        sa.CheckConstraint("monthly_rate >= 0", name="ck_operations_monthly_rate_non_negative"),
        sa.CheckConstraint("commission >= 0", name="ck_operations_commission_non_negative"),
        sa.CheckConstraint("due_on >= disbursed_on", name="ck_operations_due_after_disbursement"),
        sa.CheckConstraint("status in ('active', 'paid', 'defaulted', 'cancelled')", name="ck_operations_status"),
    )
    op.create_index("ix_operations_client_id", "operations", ["client_id"])
    op.create_index("ix_operations_debtor_id", "operations", ["debtor_id"])
    op.create_index("ix_operations_disbursed_on", "operations", ["disbursed_on"])
    op.create_index("ix_operations_due_on", "operations", ["due_on"])
    op.create_table(
        "payments",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("operation_id", sa.BigInteger(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_payments"),
        sa.UniqueConstraint("code", name="uq_payments_code"),
        sa.ForeignKeyConstraint(["operation_id"], ["operations.id"], name="fk_payments_operation_id_operations"),
        sa.CheckConstraint("amount > 0", name="ck_payments_amount_positive"),
    )
    op.create_index("ix_payments_operation_id_paid_on", "payments", ["operation_id", "paid_on"])
    op.create_index("ix_payments_paid_on", "payments", ["paid_on"])
    op.create_table(
        "exchange_rates",
        sa.Column("rate_date", sa.Date(), nullable=False),
        sa.Column("buy", sa.Numeric(10, 4), nullable=False),
        sa.Column("sell", sa.Numeric(10, 4), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("rate_date", name="pk_exchange_rates"),
        sa.CheckConstraint("buy > 0", name="ck_exchange_rates_buy_positive"),
        sa.CheckConstraint("sell > 0", name="ck_exchange_rates_sell_positive"),
    )
    op.create_table(
        "etl_batches",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("counts", postgresql.JSONB()),
        sa.Column("error", sa.Text()),
        sa.PrimaryKeyConstraint("name", name="pk_etl_batches"),
        sa.CheckConstraint("status in ('loaded', 'failed')", name="ck_etl_batches_status"),
    )
    op.create_table(
        "etl_rejects",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("batch", sa.String(100), nullable=False),
        sa.Column("file", sa.String(40), nullable=False),
        sa.Column("line_number", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_etl_rejects"),
    )
    op.create_index("ix_etl_rejects_batch_file_line_number", "etl_rejects", ["batch", "file", "line_number"])


def _kpi_columns() -> list[sa.Column]:
    return [sa.Column("placements_count", sa.Integer(), nullable=False),
            sa.Column("placements_pen", MONEY, nullable=False),
            sa.Column("financed_pen", MONEY, nullable=False),
            sa.Column("expected_income_pen", MONEY, nullable=False),
            sa.Column("collections_pen", MONEY, nullable=False)]


def _summary(table: str, key: str) -> None:
    op.create_table(
        table,
        sa.Column(key, sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("operations", sa.Integer(), nullable=False),
        sa.Column("outstanding_pen", MONEY, nullable=False),
        sa.Column("current_pen", MONEY, nullable=False),
        sa.Column("due_1_30_pen", MONEY, nullable=False),
        sa.Column("due_31_60_pen", MONEY, nullable=False),
        sa.Column("due_61_90_pen", MONEY, nullable=False),
        sa.Column("due_90_plus_pen", MONEY, nullable=False),
        sa.PrimaryKeyConstraint(key, name=f"pk_{table}"),
    )


def _outputs() -> None:
    op.create_table("kpi_daily", sa.Column("day", sa.Date(), nullable=False), *_kpi_columns(),
                    sa.PrimaryKeyConstraint("day", name="pk_kpi_daily"))
    op.create_table(
        "kpi_monthly",
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("month", sa.SmallInteger(), nullable=False),
        *_kpi_columns(),
        sa.Column("ytd_placements_count", sa.Integer(), nullable=False),
        sa.Column("ytd_placements_pen", MONEY, nullable=False),
        sa.Column("ytd_financed_pen", MONEY, nullable=False),
        sa.Column("ytd_expected_income_pen", MONEY, nullable=False),
        sa.Column("ytd_collections_pen", MONEY, nullable=False),
        sa.Column("outstanding_pen", MONEY, nullable=False),
        sa.Column("overdue_30_pen", MONEY, nullable=False),
        sa.Column("delinquency_ratio", sa.Numeric(9, 6), nullable=False),
        sa.PrimaryKeyConstraint("year", "month", name="pk_kpi_monthly"),
    )
    op.create_table(
        "report_operations",
        sa.Column("operation_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("client_name", sa.String(200), nullable=False),
        sa.Column("debtor_name", sa.String(200), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("face_value", MONEY, nullable=False),
        sa.Column("face_value_pen", MONEY, nullable=False),
        sa.Column("financed_pen", MONEY, nullable=False),
        sa.Column("disbursed_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("term_days", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("paid_total", MONEY, nullable=False),
        sa.Column("last_payment_on", sa.Date()),
        sa.PrimaryKeyConstraint("operation_id", name="pk_report_operations"),
    )
    op.create_index("ix_report_operations_code", "report_operations", ["code"], unique=True)
    op.create_index("ix_report_operations_disbursed_on", "report_operations", ["disbursed_on"])
    op.create_table(
        "receivables",
        sa.Column("operation_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("client_id", sa.BigInteger(), nullable=False),
        sa.Column("debtor_id", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("face_value", MONEY, nullable=False),
        sa.Column("paid_total", MONEY, nullable=False),
        sa.Column("outstanding", MONEY, nullable=False),
        sa.Column("outstanding_pen", MONEY, nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("days_past_due", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.String(8), nullable=False),
        sa.PrimaryKeyConstraint("operation_id", name="pk_receivables"),
    )
    op.create_index("ix_receivables_debtor_id", "receivables", ["debtor_id"])
    op.create_index("ix_receivables_client_id", "receivables", ["client_id"])
    op.create_index("ix_receivables_bucket", "receivables", ["bucket"])
    _summary("receivables_by_debtor", "debtor_id")
    _summary("receivables_by_client", "client_id")


def upgrade() -> None:
    _inputs()
    _outputs()


def downgrade() -> None:
    for table in ("receivables_by_client", "receivables_by_debtor", "receivables", "report_operations",
                  "kpi_monthly", "kpi_daily", "etl_rejects", "etl_batches", "exchange_rates", "payments",
                  "operations", "debtors", "clients"):
        op.drop_table(table)
