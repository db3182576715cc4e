"""Relations between events (edits, reactions, threads, references) and the thread index.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.String(255)


def upgrade() -> None:
    op.create_table(
        "event_relations",
        sa.Column("event_id", ID, primary_key=True),
        sa.Column("relates_to_id", ID, nullable=False),
        sa.Column("rel_type", ID, nullable=False),
        sa.Column("room_id", ID, nullable=False),
        sa.Column("sender", ID, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("depth", sa.BigInteger, nullable=False),
        sa.Column("stream_ordering", sa.BigInteger, nullable=False),
        sa.Column("aggregation_key", sa.Text, nullable=True),
    )
    op.create_index(
        "event_relations_parent", "event_relations", ["relates_to_id", "depth", "stream_ordering"]
    )
    op.create_index(
        "event_relations_parent_rel",
        "event_relations",
        ["relates_to_id", "rel_type", "depth", "stream_ordering"],
    )
    op.create_index(
        "event_relations_parent_sender", "event_relations", ["relates_to_id", "sender", "rel_type"]
    )
    op.create_table(
        "event_threads",
        sa.Column("thread_id", ID, primary_key=True),
        sa.Column("room_id", ID, primary_key=True),
        sa.Column("latest_event_id", ID, nullable=False),
        sa.Column("latest_depth", sa.BigInteger, nullable=False),
        sa.Column("latest_stream_ordering", sa.BigInteger, nullable=False),
        sa.Column("reply_count", sa.Integer, nullable=False),
    )
    op.create_index(
        "event_threads_room_latest", "event_threads", ["room_id", "latest_depth", "latest_stream_ordering"]
    )


def downgrade() -> None:
    op.drop_table("event_threads")
    op.drop_table("event_relations")
