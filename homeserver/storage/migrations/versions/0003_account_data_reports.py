"""User data and reports: account data (global and per room, with a stream position per
change), content reports, and the index behind /timestamp_to_event.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.String(255)


def upgrade() -> None:
    op.create_table(
        "account_data",
        sa.Column("user_id", ID, primary_key=True),
        sa.Column("room_id", ID, primary_key=True),
        sa.Column("type", sa.String(255), primary_key=True),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("stream_id", sa.BigInteger, nullable=False),
    )
    op.create_index("account_data_user_stream", "account_data", ["user_id", "stream_id"])
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("reporter", ID, nullable=False),
        sa.Column("room_id", ID, nullable=True),
        sa.Column("event_id", ID, nullable=True),
        sa.Column("target_user_id", ID, nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("score", sa.Integer, nullable=True),
        sa.Column("received_ts", sa.BigInteger, nullable=False),
    )
    op.create_index("events_room_ts", "events", ["room_id", "origin_server_ts", "stream_ordering"])


def downgrade() -> None:
    op.drop_index("events_room_ts", "events")
    op.drop_table("reports")
    op.drop_table("account_data")
