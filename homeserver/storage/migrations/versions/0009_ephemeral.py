"""Receipts, presence, send-to-device inboxes and device-list changes (the sync streams
besides room events and account data; typing lives in memory only).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ID = sa.String(255)


def upgrade() -> None:
    op.create_table(
        "receipts",
        sa.Column("room_id", ID, primary_key=True),
        sa.Column("receipt_type", sa.String(64), primary_key=True),
        sa.Column("user_id", ID, primary_key=True),
        sa.Column("thread_id", ID, primary_key=True),
        sa.Column("event_id", ID, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("stream_id", sa.BigInteger, nullable=False),
    )
    op.create_index("receipts_stream", "receipts", ["stream_id"])
    op.create_index("receipts_room_stream", "receipts", ["room_id", "stream_id"])
    op.create_table(
        "presence",
        sa.Column("user_id", ID, primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("status_msg", sa.Text, nullable=True),
        sa.Column("last_active_ts", sa.BigInteger, nullable=False),
        sa.Column("currently_active", sa.Boolean, nullable=False),
        sa.Column("stream_id", sa.BigInteger, nullable=False),
    )
    op.create_index("presence_stream", "presence", ["stream_id"])
    op.create_table(
        "device_inbox",
        sa.Column("stream_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("device_id", ID, nullable=False),
        sa.Column("sender", ID, nullable=False),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
    )
    op.create_index("device_inbox_device", "device_inbox", ["user_id", "device_id", "stream_id"])
    op.create_table(
        "to_device_txns",
        sa.Column("user_id", ID, primary_key=True),
        sa.Column("device_id", ID, primary_key=True),
        sa.Column("txn_id", sa.String(255), primary_key=True),
        sa.Column("created_ts", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "device_list_changes",
        sa.Column("stream_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("user_id", ID, nullable=False),
    )
    op.create_index("device_list_changes_user", "device_list_changes", ["user_id", "stream_id"])


def downgrade() -> None:
    op.drop_index("device_list_changes_user", "device_list_changes")
    op.drop_table("device_list_changes")
    op.drop_table("to_device_txns")
    op.drop_index("device_inbox_device", "device_inbox")
    op.drop_table("device_inbox")
    op.drop_index("presence_stream", "presence")
    op.drop_table("presence")
    op.drop_index("receipts_room_stream", "receipts")
    op.drop_index("receipts_stream", "receipts")
    op.drop_table("receipts")
