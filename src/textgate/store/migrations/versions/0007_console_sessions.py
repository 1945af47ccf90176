"""Create console sessions (server-side, revocable: a row per signed-in browser, keyed by the
SHA-256 of its cookie's token); give bulk jobs the one-time console token that started them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.LargeBinary(32), nullable=False),
        sa.Column("account_id", sa.Integer, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_seen_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("user_agent", sa.String(200), nullable=False, server_default=""),
        sa.Column("client", sa.String(64), nullable=False, server_default=""),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_console_sessions_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_console_sessions"),
    )
    op.create_index("ix_console_sessions_account_id", "console_sessions", ["account_id"])
    op.create_index("ix_console_sessions_expires_at", "console_sessions", ["expires_at"])
    # A plain nullable column: SQLite adds it in place (no table copy), as PostgreSQL does.
    op.add_column("bulk_jobs", sa.Column("console_token", sa.String(64), nullable=True))
    op.create_index(
        "uq_bulk_jobs_account_id_console_token",
        "bulk_jobs",
        ["account_id", "console_token"],
        unique=True,
        sqlite_where=sa.text("console_token IS NOT NULL"),
        postgresql_where=sa.text("console_token IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_bulk_jobs_account_id_console_token", table_name="bulk_jobs")
    op.drop_column("bulk_jobs", "console_token")
    op.drop_index("ix_console_sessions_expires_at", table_name="console_sessions")
    op.drop_index("ix_console_sessions_account_id", table_name="console_sessions")
    op.drop_table("console_sessions")
