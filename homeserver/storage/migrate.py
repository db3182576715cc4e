"""Run the Alembic migrations to the newest revision at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from homeserver.storage.database import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def _alembic_config(connection: Any) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


async def migrate(db: Database, revision: str = "head") -> None:
    async with db.transaction() as conn:
        await conn.run_sync(lambda sync: command.upgrade(_alembic_config(sync), revision))


async def downgrade(db: Database, revision: str) -> None:
    async with db.transaction() as conn:
        await conn.run_sync(lambda sync: command.downgrade(_alembic_config(sync), revision))


async def current_revision(db: Database) -> str | None:
    async with db.engine.connect() as conn:
        return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config(None)).get_current_head()
