"""Alembic migrations from an empty database, on a fresh SQLite file and a fresh PostgreSQL
schema: up to head, down to base, and up again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect

from homeserver.config import Config
from homeserver.storage.database import Database, create_database
from homeserver.storage.migrate import current_revision, downgrade, head_revision, migrate
from homeserver.storage.search import index_tables
from homeserver.storage.tables import metadata
from tests.conftest import PG_URL
from tests.homeserver.storage_helpers import fresh_pg_schema

ALEMBIC_TABLE = "alembic_version"


@pytest.fixture(params=["sqlite", "postgres"])
async def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A database nothing has touched: a new SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        path = tmp_path / "fresh.db"
        assert not path.exists()
        db = create_database(f"sqlite+aiosqlite:///{path}")
        try:
            yield db
        finally:
            await db.close()
        return
    async with fresh_pg_schema(PG_URL, "hs_migrate") as schema:
        db = create_database(Config(database_url=PG_URL).sqlalchemy_url, schema=schema)
        try:
            yield db
        finally:
            await db.close()


async def table_names(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


async def columns(db: Database, table: str) -> set[str]:
    async with db.engine.connect() as conn:
        cols = await conn.run_sync(lambda sync: inspect(sync).get_columns(table))
    return {c["name"] for c in cols}


async def test_migrate_from_empty_down_to_base_and_up_again(empty_database: Database) -> None:
    db = empty_database
    expected = {t.name for t in metadata.sorted_tables} | index_tables(db.dialect)
    head = head_revision()
    assert head is not None
    assert await current_revision(db) is None
    assert await table_names(db) == set()

    await migrate(db)

    assert await current_revision(db) == head
    assert await table_names(db) == expected | {ALEMBIC_TABLE}
    for table in metadata.sorted_tables:  # the migrations build what the stores query
        assert await columns(db, table.name) == {c.name for c in table.columns}, table.name

    await migrate(db)  # running again at head is a no-op
    assert await current_revision(db) == head

    await downgrade(db, "base")

    assert await current_revision(db) is None
    assert await table_names(db) <= {ALEMBIC_TABLE}

    await migrate(db)

    assert await current_revision(db) == head
    assert await table_names(db) == expected | {ALEMBIC_TABLE}


async def test_migrations_match_the_table_definitions(empty_database: Database) -> None:
    """No difference between the schema the migrations build and `tables.py` (alembic's
    autogenerate comparison: tables, columns, types, nullability, indexes)."""
    await migrate(empty_database)
    async with empty_database.engine.connect() as conn:
        diff = await conn.run_sync(lambda sync: compare_metadata(_context(sync), metadata))
    assert diff == []


def _context(sync: Connection) -> MigrationContext:
    """A comparison context that leaves out the search index: it is not in `tables.py`
    because SQLite and PostgreSQL store it differently (homeserver/storage/search.py)."""
    skip = index_tables(sync.dialect.name)
    return MigrationContext.configure(
        sync, opts={"include_name": lambda name, kind, _parent: kind != "table" or name not in skip}
    )
