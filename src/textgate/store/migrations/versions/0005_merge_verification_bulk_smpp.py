"""Join the three branches (verification, bulk, SMPP receipts) into one head again.

Revision ID: 0005
Revises: 0002, 0003, 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

revision = "0005"
down_revision = ("0002", "0003", "0004")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
