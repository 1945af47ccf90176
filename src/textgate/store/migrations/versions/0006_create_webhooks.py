"""Create webhooks (one URL and sealed signing secret per account); index verification-code
messages by account for the console's verification log.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("account_id", sa.Integer, nullable=False),
        sa.Column("url", sa.String(2000), nullable=True),
        sa.Column("secret_sealed", sa.LargeBinary(128), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_webhooks_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint("account_id", name="pk_webhooks"),
    )
    op.create_index(
        "ix_messages_otp_account_id_id",
        "messages",
        ["account_id", "id"],
        sqlite_where=sa.text("kind = 'otp'"),
        postgresql_where=sa.text("kind = 'otp'"),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_otp_account_id_id", table_name="messages")
    op.drop_table("webhooks")
