"""Accounts: users, profiles, devices, tokens, UIA sessions, registration tokens.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.String(255)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("user_id", ID, primary_key=True),
        sa.Column("password_hash", sa.Text, nullable=True),
        sa.Column("created_ts", sa.BigInteger, nullable=False),
        sa.Column("is_admin", sa.Boolean, nullable=False),
        sa.Column("is_guest", sa.Boolean, nullable=False),
        sa.Column("deactivated", sa.Boolean, nullable=False),
    )
    op.create_table(
        "profiles",
        sa.Column("user_id", ID, primary_key=True),
        sa.Column("displayname", sa.Text, nullable=True),
        sa.Column("avatar_url", sa.Text, nullable=True),
    )
    op.create_table(
        "devices",
        sa.Column("user_id", ID, primary_key=True),
        sa.Column("device_id", ID, primary_key=True),
        sa.Column("display_name", sa.Text, nullable=True),
        sa.Column("created_ts", sa.BigInteger, nullable=False),
        sa.Column("last_seen_ts", sa.BigInteger, nullable=True),
        sa.Column("last_seen_ip", sa.Text, nullable=True),
        sa.Column("last_seen_user_agent", sa.Text, nullable=True),
    )
    op.create_table(
        "access_tokens",
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("device_id", ID, nullable=False),
        sa.Column("created_ts", sa.BigInteger, nullable=False),
        sa.Column("expires_ts", sa.BigInteger, nullable=True),
    )
    op.create_index("access_tokens_device", "access_tokens", ["user_id", "device_id"])
    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("device_id", ID, nullable=False),
        sa.Column("created_ts", sa.BigInteger, nullable=False),
    )
    op.create_index("refresh_tokens_device", "refresh_tokens", ["user_id", "device_id"])
    op.create_table(
        "uia_sessions",
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("created_ts", sa.BigInteger, nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("uri", sa.Text, nullable=False),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("completed", sa.Text, nullable=False),
        sa.Column("registration_token", sa.String(64), nullable=True),
    )
    op.create_index("uia_sessions_created", "uia_sessions", ["created_ts"])
    op.create_table(
        "registration_tokens",
        sa.Column("token", sa.String(64), primary_key=True),
        sa.Column("uses_allowed", sa.Integer, nullable=True),
        sa.Column("completed", sa.Integer, nullable=False),
        sa.Column("expiry_ts", sa.BigInteger, nullable=True),
        sa.Column("created_ts", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "registration_tokens",
        "uia_sessions",
        "refresh_tokens",
        "access_tokens",
        "devices",
        "profiles",
        "users",
    ):
        op.drop_table(table)
