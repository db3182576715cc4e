"""Alembic environment: migrations always run on a connection handed over by
`homeserver.storage.migrate` (never from a URL in an ini file)."""

from __future__ import annotations

from alembic import context

from homeserver.storage.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
