"""OpenID and login tokens in the database (they were in one process's memory: unknown to
another process, forgotten at a restart).

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "short_lived_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("expires_ts", sa.BigInteger, nullable=False),
    )
    op.create_index("short_lived_tokens_expiry", "short_lived_tokens", ["expires_ts"])
    op.create_index("short_lived_tokens_user", "short_lived_tokens", ["kind", "user_id", "expires_ts"])


def downgrade() -> None:
    op.drop_table("short_lived_tokens")
