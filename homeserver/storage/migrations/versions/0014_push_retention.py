"""Push actions carry whether they are read and when they were stored: unread counts read only
unread rows, read rows past the retention period are deleted, redactions delete their target's
rows. The per-thread read positions are folded into the rows and dropped.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

ID = sa.String(255)

# Rows at or below the user's unthreaded read position or their thread's, or in a room they
# are no longer joined to, are read. Correlated subqueries: the same SQL on both databases.
_MARK_READ = """
UPDATE event_push_actions SET read = TRUE
WHERE stream_ordering <= COALESCE((SELECT p.stream_ordering FROM push_read_positions p
        WHERE p.user_id = event_push_actions.user_id AND p.room_id = event_push_actions.room_id
        AND p.thread_id = ''), 0)
   OR stream_ordering <= COALESCE((SELECT p.stream_ordering FROM push_read_positions p
        WHERE p.user_id = event_push_actions.user_id AND p.room_id = event_push_actions.room_id
        AND p.thread_id = event_push_actions.thread_id), 0)
   OR NOT EXISTS (SELECT 1 FROM room_memberships m
        WHERE m.user_id = event_push_actions.user_id AND m.room_id = event_push_actions.room_id
        AND m.membership = 'join')
"""
_STORED_AT = """
UPDATE event_push_actions SET ts = COALESCE((SELECT e.origin_server_ts FROM events e
    WHERE e.event_id = event_push_actions.event_id), 0)
"""


def upgrade() -> None:
    op.add_column(
        "event_push_actions", sa.Column("read", sa.Boolean, nullable=False, server_default=sa.false())
    )
    op.add_column("event_push_actions", sa.Column("ts", sa.BigInteger, nullable=False, server_default="0"))
    op.execute(_MARK_READ)
    op.execute(_STORED_AT)
    op.drop_index("event_push_actions_user_room", "event_push_actions")
    op.create_index(
        "event_push_actions_user_read_room",
        "event_push_actions",
        ["user_id", "read", "room_id", "stream_ordering"],
    )
    op.create_index("event_push_actions_read_ts", "event_push_actions", ["read", "ts"])
    op.create_index("event_push_actions_stream", "event_push_actions", ["stream_ordering"])
    op.drop_table("push_read_positions")


def downgrade() -> None:
    op.create_table(
        "push_read_positions",
        sa.Column("user_id", ID, primary_key=True),
        sa.Column("room_id", ID, primary_key=True),
        sa.Column("thread_id", ID, primary_key=True),
        sa.Column("stream_ordering", sa.BigInteger, nullable=False),
    )
    op.drop_index("event_push_actions_stream", "event_push_actions")
    op.drop_index("event_push_actions_read_ts", "event_push_actions")
    op.drop_index("event_push_actions_user_read_room", "event_push_actions")
    op.create_index(
        "event_push_actions_user_room", "event_push_actions", ["user_id", "room_id", "stream_ordering"]
    )
    # Each room's highest read row becomes the user's unthreaded read position there.
    op.execute(
        "INSERT INTO push_read_positions (user_id, room_id, thread_id, stream_ordering)"
        " SELECT user_id, room_id, '', MAX(stream_ordering) FROM event_push_actions"
        " WHERE read = TRUE GROUP BY user_id, room_id"
    )
    with op.batch_alter_table("event_push_actions") as batch:
        batch.drop_column("ts")
        batch.drop_column("read")
