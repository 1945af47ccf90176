"""Create verifications (one live code per account and number), the log of codes sent (for
the send limits) and per-account settings.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "verifications",
        sa.Column("id", BigId, nullable=False),
        sa.Column("account_id", sa.Integer, nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("code_sealed", sa.LargeBinary(64), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("message_id", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("verified_at", sa.BigInteger, nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_verifications_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_verifications"),
        sa.UniqueConstraint("account_id", "phone", name="uq_verifications_account_id_phone"),
    )
    op.create_table(
        "verification_sends",
        sa.Column("id", BigId, nullable=False),
        sa.Column("account_id", sa.Integer, nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("calling_code", sa.Integer, nullable=False),
        sa.Column("sent_at", sa.BigInteger, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_verification_sends_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_verification_sends"),
    )
    op.create_index(
        "ix_verification_sends_account_id_phone_sent_at",
        "verification_sends",
        ["account_id", "phone", "sent_at"],
    )
    op.create_index(
        "ix_verification_sends_account_id_calling_code_sent_at",
        "verification_sends",
        ["account_id", "calling_code", "sent_at"],
    )
    op.create_table(
        "account_settings",
        sa.Column("account_id", sa.Integer, nullable=False),
        sa.Column("code_length", sa.SmallInteger, nullable=True),
        sa.Column("mask_codes", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("allowed_countries", sa.Text, nullable=True),
        sa.Column("otp_prefix_hourly", sa.Integer, nullable=True),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.CheckConstraint(
            "code_length IS NULL OR code_length BETWEEN 4 AND 10",
            name="ck_account_settings_code_length_range",
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_account_settings_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint("account_id", name="pk_account_settings"),
    )


def downgrade() -> None:
    op.drop_table("account_settings")
    op.drop_table("verification_sends")
    op.drop_table("verifications")
