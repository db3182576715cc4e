"""Media repository: uploaded content (or a pending asynchronous upload) and its thumbnails.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

ID = sa.String(255)


def upgrade() -> None:
    op.create_table(
        "media",
        sa.Column("media_id", ID, primary_key=True),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("created_ts", sa.BigInteger, nullable=False),
        sa.Column("content_type", sa.String(255), nullable=True),
        sa.Column("upload_name", sa.Text, nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("size", sa.BigInteger, nullable=True),
        sa.Column("uploaded_ts", sa.BigInteger, nullable=True),
        sa.Column("expires_ts", sa.BigInteger, nullable=True),
    )
    op.create_index("media_user_pending", "media", ["user_id", "expires_ts"])
    op.create_index("media_expiry", "media", ["expires_ts"])
    op.create_index("media_sha256", "media", ["sha256"])
    op.create_table(
        "media_thumbnails",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("width", sa.Integer, primary_key=True),
        sa.Column("height", sa.Integer, primary_key=True),
        sa.Column("method", sa.String(16), primary_key=True),
        sa.Column("animated", sa.Boolean, primary_key=True),
        sa.Column("content_type", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_ts", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("media_thumbnails")
    op.drop_index("media_sha256", table_name="media")
    op.drop_index("media_expiry", table_name="media")
    op.drop_index("media_user_pending", table_name="media")
    op.drop_table("media")
