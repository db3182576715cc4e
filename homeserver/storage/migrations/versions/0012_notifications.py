"""Notifications: push actions per user and event, read positions, pushers.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

ID = sa.String(255)


def upgrade() -> None:
    op.create_table(
        "event_push_actions",
        sa.Column("user_id", ID, primary_key=True),
        sa.Column("event_id", ID, primary_key=True),
        sa.Column("room_id", ID, nullable=False),
        sa.Column("stream_ordering", sa.BigInteger, nullable=False),
        sa.Column("thread_id", ID, nullable=False),
        sa.Column("highlight", sa.Boolean, nullable=False),
        sa.Column("actions", sa.Text, nullable=False),
    )
    op.create_index(
        "event_push_actions_user_room", "event_push_actions", ["user_id", "room_id", "stream_ordering"]
    )
    op.create_index("event_push_actions_user_stream", "event_push_actions", ["user_id", "stream_ordering"])
    op.create_table(
        "push_read_positions",
        sa.Column("user_id", ID, primary_key=True),
        sa.Column("room_id", ID, primary_key=True),
        sa.Column("thread_id", ID, primary_key=True),
        sa.Column("stream_ordering", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "pushers",
        sa.Column("user_id", ID, primary_key=True),
        sa.Column("app_id", sa.String(64), primary_key=True),
        sa.Column("pushkey", sa.String(512), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("app_display_name", sa.Text, nullable=False),
        sa.Column("device_display_name", sa.Text, nullable=False),
        sa.Column("profile_tag", sa.Text, nullable=True),
        sa.Column("lang", sa.Text, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("device_id", ID, nullable=True),
        sa.Column("pushkey_ts", sa.BigInteger, nullable=False),
    )
    op.create_index("pushers_pushkey", "pushers", ["app_id", "pushkey"])
    op.create_index("pushers_device", "pushers", ["user_id", "device_id"])


def downgrade() -> None:
    op.drop_table("pushers")
    op.drop_table("push_read_positions")
    op.drop_table("event_push_actions")
