"""The database handle: one async SQLAlchemy engine for SQLite (WAL) or PostgreSQL (asyncpg).

Reads run on a pooled connection without taking any lock. Writes go through `transaction()`;
on SQLite they are serialised by one asyncio lock so concurrent writers queue in the event loop
instead of failing with "database is locked"."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import Executable, Row, event
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry


class Database:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name  # "sqlite" or "postgresql"
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One atomic unit of writes: committed on normal exit, rolled back on any error."""
        async with contextlib.AsyncExitStack() as stack:
            if self._write_lock is not None:
                await stack.enter_async_context(self._write_lock)
            conn = await stack.enter_async_context(self.engine.begin())
            yield conn

    async def fetch_one(self, stmt: Executable) -> Row[Any] | None:
        async with self.engine.connect() as conn:
            return (await conn.execute(stmt)).first()

    async def fetch_all(self, stmt: Executable) -> Sequence[Row[Any]]:
        async with self.engine.connect() as conn:
            return (await conn.execute(stmt)).all()

    async def fetch_value(self, stmt: Executable) -> Any:
        async with self.engine.connect() as conn:
            return (await conn.execute(stmt)).scalar()

    async def execute(self, stmt: Executable) -> int:
        """Run one write in its own transaction; returns the number of rows it touched."""
        async with self.transaction() as conn:
            result: CursorResult[Any] = await conn.execute(stmt)
            return result.rowcount

    async def close(self) -> None:
        await self.engine.dispose()


def create_database(url: str, *, schema: str = "") -> Database:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    else:
        args: dict[str, Any] = {"server_settings": {"search_path": schema}} if schema else {}
        engine = create_async_engine(url, connect_args=args, pool_size=10, max_overflow=20)
    return Database(engine)


def _sqlite_pragmas(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_conn.cursor()
    for pragma in (
        "PRAGMA journal_mode=WAL",
        "PRAGMA synchronous=NORMAL",
        "PRAGMA foreign_keys=ON",
        "PRAGMA busy_timeout=30000",
    ):
        cursor.execute(pragma)
    cursor.close()
    # SQLite's lower() folds ASCII only; dialect.text_lower() uses this one instead.
    dbapi_conn.create_function("unicode_lower", 1, _unicode_lower, deterministic=True)


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value
