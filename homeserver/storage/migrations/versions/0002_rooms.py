"""Rooms and events: the event table, delta state groups, current state, memberships,
forward extremities, transaction IDs, aliases.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.String(255)


def upgrade() -> None:
    op.create_table(
        "rooms",
        sa.Column("room_id", ID, primary_key=True),
        sa.Column("room_version", sa.String(32), nullable=False),
        sa.Column("creator", ID, nullable=False),
        sa.Column("created_ts", sa.BigInteger, nullable=False),
        sa.Column("is_public", sa.Boolean, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("stream_ordering", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("event_id", ID, nullable=False, unique=True),
        sa.Column("room_id", ID, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("state_key", sa.Text, nullable=True),
        sa.Column("sender", ID, nullable=False),
        sa.Column("depth", sa.BigInteger, nullable=False),
        sa.Column("origin_server_ts", sa.BigInteger, nullable=False),
        sa.Column("json", sa.Text, nullable=False),
        sa.Column("rejected_reason", sa.Text, nullable=True),
        sa.Column("outlier", sa.Boolean, nullable=False),
        sa.Column("redacted_by", ID, nullable=True),
        sa.Column("state_group", sa.BigInteger, nullable=True),
        sa.Column("replaces_state", ID, nullable=True),
    )
    op.create_index("events_room_stream", "events", ["room_id", "stream_ordering"])
    op.create_index("events_room_depth", "events", ["room_id", "depth", "stream_ordering"])
    op.create_table(
        "room_forward_extremities",
        sa.Column("room_id", ID, primary_key=True),
        sa.Column("event_id", ID, primary_key=True),
    )
    op.create_table(
        "state_groups",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("room_id", ID, nullable=False),
        sa.Column("prev_group", sa.BigInteger, nullable=True),
        sa.Column("chain_length", sa.Integer, nullable=False),
    )
    op.create_table(
        "state_group_entries",
        sa.Column("group_id", sa.BigInteger, primary_key=True),
        sa.Column("type", sa.Text, primary_key=True),
        sa.Column("state_key", sa.Text, primary_key=True),
        sa.Column("event_id", ID, nullable=True),
    )
    op.create_table(
        "current_state",
        sa.Column("room_id", ID, primary_key=True),
        sa.Column("type", sa.Text, primary_key=True),
        sa.Column("state_key", sa.Text, primary_key=True),
        sa.Column("event_id", ID, nullable=False),
    )
    op.create_table(
        "room_memberships",
        sa.Column("room_id", ID, primary_key=True),
        sa.Column("user_id", ID, primary_key=True),
        sa.Column("membership", sa.String(16), nullable=False),
        sa.Column("event_id", ID, nullable=False),
        sa.Column("stream_ordering", sa.BigInteger, nullable=False),
        sa.Column("forgotten", sa.Boolean, nullable=False),
    )
    op.create_index("room_memberships_user", "room_memberships", ["user_id", "membership"])
    op.create_index("room_memberships_room", "room_memberships", ["room_id", "membership"])
    op.create_table(
        "event_txn_ids",
        sa.Column("user_id", ID, primary_key=True),
        sa.Column("device_id", ID, primary_key=True),
        sa.Column("txn_key", sa.String(64), primary_key=True),
        sa.Column("event_id", ID, nullable=False),
        sa.Column("created_ts", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "room_aliases",
        sa.Column("alias", ID, primary_key=True),
        sa.Column("room_id", ID, nullable=False),
        sa.Column("creator", ID, nullable=False),
    )
    op.create_index("room_aliases_room", "room_aliases", ["room_id"])


def downgrade() -> None:
    for table in (
        "room_aliases",
        "event_txn_ids",
        "room_memberships",
        "current_state",
        "state_group_entries",
        "state_groups",
        "room_forward_extremities",
        "events",
        "rooms",
    ):
        op.drop_table(table)
