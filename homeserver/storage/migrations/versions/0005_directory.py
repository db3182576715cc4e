"""The room and user directories: a partial index on room-level current state (state key ""),
so "rooms whose join rule is public" and the directory's state lookups need not read the
member rows.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ROOM_STATE = sa.text("state_key = ''")


def upgrade() -> None:
    op.create_index(
        "current_state_room_level",
        "current_state",
        ["type", "room_id"],
        sqlite_where=ROOM_STATE,
        postgresql_where=ROOM_STATE,
    )


def downgrade() -> None:
    op.drop_index("current_state_room_level", table_name="current_state")
