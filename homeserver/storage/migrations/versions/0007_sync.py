"""Sync: stored filters, and the client's transaction ID kept with each sent event (echoed
back in unsigned.transaction_id).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_filters",
        sa.Column("user_id", sa.String(255), primary_key=True),
        sa.Column("filter_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("json", sa.Text, nullable=False),
    )
    with op.batch_alter_table("event_txn_ids") as batch:
        batch.add_column(sa.Column("txn_id", sa.Text, nullable=True))
    op.create_index("event_txn_ids_event", "event_txn_ids", ["event_id"])


def downgrade() -> None:
    op.drop_index("event_txn_ids_event", "event_txn_ids")
    with op.batch_alter_table("event_txn_ids") as batch:
        batch.drop_column("txn_id")
    op.drop_table("sync_filters")
