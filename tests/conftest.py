"""Shared fixtures: a real homeserver on a real port, on SQLite or on the PostgreSQL at
127.0.0.1:5432. Each test run gets its own PostgreSQL schema, emptied between tests."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from homeserver.config import Config, PasswordHashing, RateLimits, load_config
from homeserver.storage.database import Database, create_database
from homeserver.storage.migrate import migrate
from homeserver.storage.search import index_tables
from homeserver.storage.tables import metadata
from tests.helpers import HomeserverUnderTest

PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def pg_schema() -> Iterator[str]:
    """A schema of our own in the shared test database, dropped at the end of the run."""
    schema = f"hs_test_{os.getpid()}_{secrets.token_hex(4)}"

    async def run(sql: str) -> None:
        db = create_database(Config(database_url=PG_URL).sqlalchemy_url)
        try:
            async with db.transaction() as conn:
                await conn.execute(text(sql))
        finally:
            await db.close()

    async def migrated() -> None:
        db = create_database(Config(database_url=PG_URL).sqlalchemy_url, schema=schema)
        try:
            await migrate(db)
        finally:
            await db.close()

    # In a thread of its own: this may be first asked for from inside a running event loop.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run(f'CREATE SCHEMA "{schema}"')).result()
        pool.submit(asyncio.run, migrated()).result()
        yield schema
        pool.submit(asyncio.run, run(f'DROP SCHEMA "{schema}" CASCADE')).result()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database, copied for each test instead of migrating each time."""
    path = tmp_path_factory.mktemp("template") / "homeserver.db"

    async def build() -> None:
        db = create_database(f"sqlite+aiosqlite:///{path}")
        try:
            await migrate(db)
        finally:
            await db.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, build()).result()
    return path


def _copy_sqlite(template: Path, data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, data_dir / "homeserver.db")


async def _empty_postgres(schema: str) -> None:
    """Empty every table of the run's schema (migrated once, when the schema was made)."""
    db = create_database(Config(database_url=PG_URL).sqlalchemy_url, schema=schema)
    try:
        tables = [t.name for t in metadata.sorted_tables] + sorted(index_tables("postgresql"))
        names = ", ".join(f'"{schema}"."{name}"' for name in tables)
        async with db.transaction() as conn:
            await conn.execute(text(f"TRUNCATE {names}"))
    finally:
        await db.close()


@pytest.fixture(params=BACKENDS)
async def config(request: pytest.FixtureRequest, tmp_path: Path) -> Config:
    """A config for a test server: fast password hashing, no rate limits, a temporary data
    directory, and the database backend given by the parameter."""
    base = load_config(None, env={})
    overrides: dict[str, Any] = {
        "data_dir": str(tmp_path / "data"),
        "port": 8008,
        "password_hashing": PasswordHashing(opslimit=1, memlimit=8192, min_length=8),
        "rate_limits": RateLimits(enabled=False),
    }
    if request.param == "postgres":
        schema = request.getfixturevalue("pg_schema")
        await _empty_postgres(schema)
        overrides.update(database_url=PG_URL, database_schema=schema)
    else:
        _copy_sqlite(request.getfixturevalue("sqlite_template"), tmp_path / "data")
    return dataclasses.replace(base, **overrides)


@pytest.fixture
async def hs(config: Config) -> AsyncIterator[HomeserverUnderTest]:
    server = HomeserverUnderTest(config)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture(params=BACKENDS)
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated, empty database of each kind, for storage tests."""
    if request.param == "postgres":
        schema = request.getfixturevalue("pg_schema")
        await _empty_postgres(schema)
        db = create_database(Config(database_url=PG_URL).sqlalchemy_url, schema=schema)
    else:
        db = create_database(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
    await migrate(db)
    try:
        yield db
    finally:
        await db.close()
