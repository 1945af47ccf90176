"""Create bulk jobs and opt-outs; tie messages to their bulk job.

Revision ID: 0003
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "bulk_jobs",
        sa.Column("id", BigId, nullable=False),
        sa.Column("account_id", sa.Integer, nullable=False),
        sa.Column("api_key_id", sa.Integer, nullable=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("encoding", sa.String(8), nullable=False),
        sa.Column("segments", sa.SmallInteger, nullable=False),
        sa.Column("recipients", sa.Integer, nullable=False),
        sa.Column("rejected_invalid", sa.Integer, nullable=False),
        sa.Column("rejected_duplicate", sa.Integer, nullable=False),
        sa.Column("rejected_opted_out", sa.Integer, nullable=False),
        sa.Column("price_micros", sa.BigInteger, nullable=False),
        sa.Column("refunded_micros", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("cancelled_at", sa.BigInteger, nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_bulk_jobs_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_bulk_jobs"),
    )
    op.create_index("ix_bulk_jobs_account_id", "bulk_jobs", ["account_id"])
    op.create_table(
        "opt_outs",
        sa.Column("account_id", sa.Integer, nullable=False),
        sa.Column("phone_number", sa.String(20), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_opt_outs_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint("account_id", "phone_number", name="pk_opt_outs"),
    )
    # A plain nullable column: SQLite adds it in place (no table copy), as PostgreSQL does.
    op.add_column("messages", sa.Column("bulk_job_id", sa.BigInteger, nullable=True))
    op.create_index(
        "ix_messages_bulk_job_id_status",
        "messages",
        ["bulk_job_id", "status"],
        sqlite_where=sa.text("bulk_job_id IS NOT NULL"),
        postgresql_where=sa.text("bulk_job_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_bulk_job_id_status", table_name="messages")
    op.drop_column("messages", "bulk_job_id")
    op.drop_table("opt_outs")
    op.drop_table("bulk_jobs")
