"""Create message parts, pending receipts and inbound messages.

Revision ID: 0004
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "message_parts",
        sa.Column("id", BigId, nullable=False),
        sa.Column("message_id", sa.BigInteger, nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("part_id", sa.String(100), nullable=False),
        sa.Column("seq", sa.SmallInteger, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name="fk_message_parts_message_id_messages"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_message_parts"),
    )
    op.create_index("ix_message_parts_provider_part_id", "message_parts", ["provider", "part_id"])
    op.create_index("ix_message_parts_message_id", "message_parts", ["message_id"])
    op.create_table(
        "pending_receipts",
        sa.Column("id", BigId, nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("provider_message_id", sa.String(100), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("received_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pending_receipts"),
    )
    op.create_index(
        "ix_pending_receipts_provider_provider_message_id",
        "pending_receipts",
        ["provider", "provider_message_id"],
    )
    op.create_index("ix_pending_receipts_received_at", "pending_receipts", ["received_at"])
    op.create_table(
        "inbound_messages",
        sa.Column("id", BigId, nullable=False),
        sa.Column("account_id", sa.Integer, nullable=True),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("from_number", sa.String(32), nullable=False),
        sa.Column("to_number", sa.String(32), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("received_at", sa.BigInteger, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_inbound_messages_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_inbound_messages"),
    )
    op.create_index("ix_inbound_messages_account_id_id", "inbound_messages", ["account_id", "id"])


def downgrade() -> None:
    op.drop_table("inbound_messages")
    op.drop_table("pending_receipts")
    op.drop_table("message_parts")
