"""The full-text index of room events: an FTS5 virtual table on SQLite, a table with a tsvector
column and a GIN index on PostgreSQL (homeserver/storage/search.py). Events stored before this
revision are indexed here.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from homeserver.storage.search import index_existing_events

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # rowid = events.stream_ordering. The text is tokenised in Python (homeserver/fulltext.py)
        # and stored as space-separated tokens, so the plain `ascii` tokenizer suffices.
        op.execute("CREATE VIRTUAL TABLE event_search USING fts5(value, key UNINDEXED, tokenize = 'ascii')")
    else:
        op.create_table(
            "event_search",
            sa.Column("stream_ordering", sa.BigInteger, primary_key=True, autoincrement=False),
            sa.Column("key", sa.String(32), nullable=False),
            sa.Column("vector", postgresql.TSVECTOR, nullable=False),
        )
        op.create_index("event_search_vector", "event_search", ["vector"], postgresql_using="gin")
    index_existing_events(bind)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE event_search")
    else:
        op.drop_index("event_search_vector", table_name="event_search")
        op.drop_table("event_search")
