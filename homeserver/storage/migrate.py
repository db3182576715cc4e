"""Run the Alembic migrations to the newest revision at start-up."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from homeserver.storage.database import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def _alembic_config(connection: Any) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


async def migrate(db: Database, revision: str = "head") -> None:
    if revision == "head" and await _is_current(db):
        return  # the usual start-up: skip Alembic's environment entirely
    async with db.engine.begin() as conn:  # as before: Alembic runs its DDL its own way
        await conn.run_sync(lambda sync: command.upgrade(_alembic_config(sync), revision))


async def _is_current(db: Database) -> bool:
    try:
        value = await db.fetch_value(text("SELECT version_num FROM alembic_version"))
    except DBAPIError:
        return False  # no version table yet: a new database
    return value is not None and value == head_revision()


async def downgrade(db: Database, revision: str) -> None:
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda sync: command.downgrade(_alembic_config(sync), revision))


async def current_revision(db: Database) -> str | None:
    async with db.engine.connect() as conn:
        return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())


@functools.cache
def head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config(None)).get_current_head()
