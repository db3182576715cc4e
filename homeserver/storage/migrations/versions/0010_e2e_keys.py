"""End-to-end encryption keys: device keys, one-time keys and fallback keys.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ID = sa.String(255)


def upgrade() -> None:
    op.create_table(
        "e2e_device_keys",
        sa.Column("user_id", ID, primary_key=True),
        sa.Column("device_id", ID, primary_key=True),
        sa.Column("key_json", sa.Text, nullable=False),
    )
    op.create_table(
        "e2e_one_time_keys",
        sa.Column("user_id", ID, primary_key=True),
        sa.Column("device_id", ID, primary_key=True),
        sa.Column("algorithm", sa.String(255), primary_key=True),
        sa.Column("key_id", sa.String(255), primary_key=True),
        sa.Column("key_json", sa.Text, nullable=False),
    )
    op.create_table(
        "e2e_fallback_keys",
        sa.Column("user_id", ID, primary_key=True),
        sa.Column("device_id", ID, primary_key=True),
        sa.Column("algorithm", sa.String(255), primary_key=True),
        sa.Column("key_id", sa.String(255), nullable=False),
        sa.Column("key_json", sa.Text, nullable=False),
        sa.Column("used", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("e2e_fallback_keys")
    op.drop_table("e2e_one_time_keys")
    op.drop_table("e2e_device_keys")
