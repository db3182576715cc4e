"""Push outcomes stored once per event (push_events) with a row per user only where a user's
outcome differs (push_user_actions, replacing event_push_actions); read state becomes read
positions again.

The old per-user rows all become rows of their own with notify true (none is a push_events
row), and each thread's highest read row becomes the user's read position in that thread
(rows were only ever marked read up to a position, so the read rows of a thread are exactly
those up to its highest one). Downgrading turns rows back into per-user rows, read where a
position covers them; push_events rows have no per-user form and are dropped.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

ID = sa.String(255)

_POSITIONS_FROM_READ_ROWS = """
INSERT INTO push_read_positions (user_id, room_id, thread_id, stream_ordering, joined_at)
SELECT user_id, room_id, thread_id, MAX(stream_ordering), 0 FROM event_push_actions
WHERE read = TRUE GROUP BY user_id, room_id, thread_id
"""
_ROWS_OF_THEIR_OWN = """
INSERT INTO push_user_actions (user_id, stream_ordering, event_id, room_id, thread_id, notify,
    highlight, actions, ts)
SELECT user_id, stream_ordering, event_id, room_id, thread_id, TRUE, highlight, actions, ts
FROM event_push_actions
"""
_ROWS_BACK = """
INSERT INTO event_push_actions (user_id, event_id, room_id, stream_ordering, thread_id,
    highlight, actions, read, ts)
SELECT x.user_id, x.event_id, x.room_id, x.stream_ordering, x.thread_id, x.highlight, x.actions,
    x.stream_ordering <= COALESCE((SELECT MAX(p.stream_ordering) FROM push_read_positions p
        WHERE p.user_id = x.user_id AND p.room_id = x.room_id
        AND p.thread_id IN ('', x.thread_id)), 0),
    x.ts
FROM push_user_actions x WHERE x.notify = TRUE
"""
_OLD_INDEXES = {
    "event_push_actions_user_read_room": ["user_id", "read", "room_id", "stream_ordering"],
    "event_push_actions_user_stream": ["user_id", "stream_ordering"],
    "event_push_actions_read_ts": ["read", "ts"],
    "event_push_actions_stream": ["stream_ordering"],
}


def upgrade() -> None:
    op.create_table(
        "push_events",
        sa.Column("stream_ordering", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("event_id", ID, nullable=False),
        sa.Column("room_id", ID, nullable=False),
        sa.Column("sender", ID, nullable=False),
        sa.Column("thread_id", ID, nullable=False),
        sa.Column("highlight", sa.Boolean, nullable=False),
        sa.Column("actions", sa.Text, nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
    )
    op.create_index("push_events_room", "push_events", ["room_id", "stream_ordering"])
    op.create_table(
        "push_user_actions",
        sa.Column("user_id", ID, primary_key=True),
        sa.Column("stream_ordering", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("event_id", ID, nullable=False),
        sa.Column("room_id", ID, nullable=False),
        sa.Column("thread_id", ID, nullable=False),
        sa.Column("notify", sa.Boolean, nullable=False),
        sa.Column("highlight", sa.Boolean, nullable=False),
        sa.Column("actions", sa.Text, nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
    )
    op.create_index(
        "push_user_actions_user_notify_room",
        "push_user_actions",
        ["user_id", "notify", "room_id", "stream_ordering"],
    )
    op.create_index("push_user_actions_stream", "push_user_actions", ["stream_ordering"])
    op.create_index("push_user_actions_ts", "push_user_actions", ["ts"])
    op.create_table(
        "push_read_positions",
        sa.Column("user_id", ID, primary_key=True),
        sa.Column("room_id", ID, primary_key=True),
        sa.Column("thread_id", ID, primary_key=True),
        sa.Column("stream_ordering", sa.BigInteger, nullable=False),
        sa.Column("joined_at", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("left_at", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.execute(_POSITIONS_FROM_READ_ROWS)
    op.execute(_ROWS_OF_THEIR_OWN)
    op.drop_table("event_push_actions")


def downgrade() -> None:
    op.create_table(
        "event_push_actions",
        sa.Column("user_id", ID, primary_key=True),
        sa.Column("event_id", ID, primary_key=True),
        sa.Column("room_id", ID, nullable=False),
        sa.Column("stream_ordering", sa.BigInteger, nullable=False),
        sa.Column("thread_id", ID, nullable=False),
        sa.Column("highlight", sa.Boolean, nullable=False),
        sa.Column("actions", sa.Text, nullable=False),
        sa.Column("read", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("ts", sa.BigInteger, nullable=False, server_default="0"),
    )
    for name, columns in _OLD_INDEXES.items():
        op.create_index(name, "event_push_actions", columns)
    op.execute(_ROWS_BACK)
    op.drop_table("push_read_positions")
    op.drop_table("push_user_actions")
    op.drop_table("push_events")
