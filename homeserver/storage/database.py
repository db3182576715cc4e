"""The database handle: one async SQLAlchemy engine for SQLite (WAL) or PostgreSQL (asyncpg).

Reads run on a pooled connection without taking any lock. Writes go through `transaction()`
or `run_transaction()`; on SQLite they are serialised by one asyncio lock so concurrent
writers queue in the event loop instead of failing with "database is locked".

Through aiosqlite every statement is a round trip to the connection's thread (and back through
the event loop), several for one statement. `run_transaction()` runs a whole transaction of
synchronous statements at once: on SQLite in one trip to a writer thread with its own
connection, on PostgreSQL on the async connection through SQLAlchemy's greenlet bridge.

A single read (`fetch_one`, `fetch_all`, `fetch_value`) on PostgreSQL runs in autocommit: one
statement sees one snapshot anyway, and a transaction around it would cost two more round trips
(BEGIN, then ROLLBACK when the connection goes back to the pool)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Executable, Row, create_engine, event, make_url
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

T = TypeVar("T")


class Database:
    def __init__(self, engine: AsyncEngine, writer: Engine | None = None) -> None:
        """`writer`: SQLite only, a synchronous engine on the same file for run_transaction."""
        self.engine = engine
        self.dialect = engine.dialect.name  # "sqlite" or "postgresql"
        # SQLite's driver opens no transaction for a SELECT; asyncpg's adapter would.
        self._reader = engine if self.is_sqlite else engine.execution_options(isolation_level="AUTOCOMMIT")
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._writer = writer
        self._writer_thread = ThreadPoolExecutor(1, "sqlite-writer") if writer is not None else None

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

    async def run_transaction(self, work: Callable[[Connection], T]) -> T:
        """Run `work` (synchronous statements on the connection it is given) as one
        transaction: committed if it returns, rolled back if it raises; returns its result.
        On SQLite, `work` runs in the writer thread: the write lock is held until it has
        finished there, even if the caller is cancelled meanwhile."""
        if self._writer is None or self._writer_thread is None or self._write_lock is None:
            async with self.engine.begin() as conn:
                return await conn.run_sync(work)
        lock, loop = self._write_lock, asyncio.get_running_loop()
        await lock.acquire()
        try:
            done = self._writer_thread.submit(self._run_writer, work)
        except BaseException:
            lock.release()
            raise
        done.add_done_callback(lambda _: loop.call_soon_threadsafe(lock.release))
        return await asyncio.wrap_future(done)

    def _run_writer(self, work: Callable[[Connection], T]) -> T:
        assert self._writer is not None
        with self._writer.begin() as conn:
            return work(conn)

    # Reads run to their end even when their caller is cancelled (a WebSocket's frame task
    # when the socket closes, a request whose client went away): SQLAlchemy terminates a
    # connection interrupted mid-query, and with aiosqlite that close then waits forever on
    # the connection's stopped thread, leaving a task that never ends (and a shutdown that
    # hangs in asyncio's cancel-all). The caller still gets its CancelledError at once.

    async def fetch_one(self, stmt: Executable) -> Row[Any] | None:
        return await asyncio.shield(self._fetch_one(stmt))

    async def fetch_all(
        self, stmt: Executable, params: Mapping[str, Any] | None = None
    ) -> Sequence[Row[Any]]:
        """`params`: values for the statement's named bind parameters, so that a statement
        built once can be run again without building (and hashing) it anew."""
        return await asyncio.shield(self._fetch_all(stmt, params))

    async def fetch_value(self, stmt: Executable) -> Any:
        return await asyncio.shield(self._fetch_value(stmt))

    async def _fetch_one(self, stmt: Executable) -> Row[Any] | None:
        async with self._reader.connect() as conn:
            return (await conn.execute(stmt)).first()

    async def _fetch_all(self, stmt: Executable, params: Mapping[str, Any] | None) -> Sequence[Row[Any]]:
        async with self._reader.connect() as conn:
            return (await conn.execute(stmt, params)).all()

    async def _fetch_value(self, stmt: Executable) -> Any:
        async with self._reader.connect() as conn:
            return (await conn.execute(stmt)).scalar()

    async def execute(self, stmt: Executable) -> int:
        """Run one write in its own transaction; returns the number of rows it touched."""
        async with self.transaction() as conn:
            result: CursorResult[Any] = await conn.execute(stmt)
            return result.rowcount

    async def close(self) -> None:
        await self.engine.dispose()
        if self._writer is not None and self._writer_thread is not None:
            await asyncio.wrap_future(self._writer_thread.submit(self._writer.dispose))
            self._writer_thread.shutdown()


def create_database(url: str, *, schema: str = "") -> Database:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        writer = create_engine(make_url(url).set(drivername="sqlite"), connect_args={"timeout": 30})
        event.listen(writer, "connect", _sqlite_pragmas)
        return Database(engine, writer)
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
