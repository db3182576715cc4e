"""Cross-signing keys and signatures, server-side key backups.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

ID = sa.String(255)


def upgrade() -> None:
    op.create_table(
        "e2e_cross_signing_keys",
        sa.Column("user_id", ID, primary_key=True),
        sa.Column("usage", sa.String(16), primary_key=True),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("key_json", sa.Text, nullable=False),
    )
    op.create_table(
        "e2e_cross_signing_signatures",
        sa.Column("target_user_id", ID, primary_key=True),
        sa.Column("target_key", ID, primary_key=True),
        sa.Column("signer_user_id", ID, primary_key=True),
        sa.Column("signer_key_id", sa.String(255), primary_key=True),
        sa.Column("signature", sa.String(255), nullable=False),
    )
    op.create_table(
        "e2e_room_key_versions",
        sa.Column("user_id", ID, primary_key=True),
        sa.Column("version", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("algorithm", sa.String(255), nullable=False),
        sa.Column("auth_data", sa.Text, nullable=False),
        sa.Column("etag", sa.BigInteger, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
    )
    op.create_table(
        "e2e_room_keys",
        sa.Column("user_id", ID, primary_key=True),
        sa.Column("version", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("room_id", ID, primary_key=True),
        sa.Column("session_id", sa.String(255), primary_key=True),
        sa.Column("first_message_index", sa.BigInteger, nullable=False),
        sa.Column("forwarded_count", sa.BigInteger, nullable=False),
        sa.Column("is_verified", sa.Boolean, nullable=False),
        sa.Column("session_data", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("e2e_room_keys")
    op.drop_table("e2e_room_key_versions")
    op.drop_table("e2e_cross_signing_signatures")
    op.drop_table("e2e_cross_signing_keys")
