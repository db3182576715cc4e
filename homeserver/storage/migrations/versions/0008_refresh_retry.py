"""Refresh tokens that survive until their successor is used (spec: "Refreshing access
tokens": a client that lost a /refresh response can repeat it).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("access_tokens") as batch:
        batch.add_column(sa.Column("refresh_parent", sa.String(64), nullable=True))
    with op.batch_alter_table("refresh_tokens") as batch:
        batch.add_column(sa.Column("parent_hash", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("refresh_tokens") as batch:
        batch.drop_column("parent_hash")
    with op.batch_alter_table("access_tokens") as batch:
        batch.drop_column("refresh_parent")
