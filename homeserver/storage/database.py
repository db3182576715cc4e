"""The database handle: one async SQLAlchemy engine for SQLite (WAL) or PostgreSQL (asyncpg).

Reads run on a pooled connection without taking any lock. Writes go through `transaction()`
or `run_transaction()`.

On SQLite, writes run on the event loop's own thread, on one synchronous connection, serialised
by an asyncio lock. A write transaction is small, and its I/O is mostly the commit's append to
the WAL (synchronous=NORMAL: no fsync), so it costs the loop less than handing it to a thread:
behind a busy event loop a thread waits for the GIL (CPython hands it over every 5 ms at best)
each time it wants it back, several times a statement. Measured on the WebSocket benchmark,
a commit sent to a writer thread waited 14 ms (median) for the GIL before it began. The one
wait that could be long stays off the loop: `BEGIN IMMEDIATE` does not wait for another
process's write lock but is retried after a sleep, and WAL checkpoints (the copy back to the
database file, with its fsync) run in a thread of their own every CHECKPOINT_EVERY commits.

Reads through aiosqlite are a round trip to the connection's thread, and stay there: a slow
read (search, a big room's state) must not stop the server.

A single read (`fetch_one`, `fetch_all`, `fetch_value`) on PostgreSQL runs in autocommit: one
statement sees one snapshot anyway, and a transaction around it would cost two more round trips
(BEGIN, then ROLLBACK when the connection goes back to the pool)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, Dialect, Engine, Executable, Row, create_engine, event, make_url
from sqlalchemy.engine import CursorResult
from sqlalchemy.engine.interfaces import _CoreAnyExecuteParams, _CoreSingleExecuteParams
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

T = TypeVar("T")
log = logging.getLogger(__name__)

CHECKPOINT_EVERY = 200  # SQLite commits between two WAL checkpoints
BUSY_RETRY_S = (0.001, 0.005, 0.02, 0.05)  # sleeps while another process writes, then the last
BUSY_TIMEOUT_S = 30.0  # how long any connection waits for another process's write lock


class WriteConnection(Protocol):
    """What a transaction's body uses: AsyncConnection's writing methods (PostgreSQL), or the
    same over SQLite's synchronous connection on the loop's thread (`InlineConnection`)."""

    @property
    def dialect(self) -> Dialect: ...

    async def execute(
        self, statement: Executable, parameters: _CoreAnyExecuteParams | None = None
    ) -> CursorResult[Any]: ...

    async def scalar(
        self, statement: Executable, parameters: _CoreSingleExecuteParams | None = None
    ) -> Any: ...

    async def run_sync(self, fn: Callable[[Connection], T]) -> T: ...


class InlineConnection:
    """A synchronous connection behind AsyncConnection's methods: each call runs at once."""

    __slots__ = ("sync",)

    def __init__(self, sync: Connection) -> None:
        self.sync = sync

    @property
    def dialect(self) -> Dialect:
        return self.sync.dialect

    async def execute(
        self, statement: Executable, parameters: _CoreAnyExecuteParams | None = None
    ) -> CursorResult[Any]:
        return self.sync.execute(statement, parameters)

    async def scalar(self, statement: Executable, parameters: _CoreSingleExecuteParams | None = None) -> Any:
        return self.sync.scalar(statement, parameters)

    async def run_sync(self, fn: Callable[[Connection], T]) -> T:
        return fn(self.sync)


class Database:
    def __init__(self, engine: AsyncEngine, writer: Engine | None = None) -> None:
        """`writer`: SQLite only, a synchronous engine on the same file, in autocommit mode
        (transactions are begun and ended by hand), for the writes."""
        self.engine = engine
        self.dialect = engine.dialect.name  # "sqlite" or "postgresql"
        # SQLite's driver opens no transaction for a SELECT; asyncpg's adapter would.
        self._reader = engine if self.is_sqlite else engine.execution_options(isolation_level="AUTOCOMMIT")
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._writer = writer
        self._commits = 0  # since the last checkpoint began
        self._checkpointer = ThreadPoolExecutor(1, "sqlite-checkpoint") if writer is not None else None
        self.checkpoint: asyncio.Future[None] | None = None  # the last one started

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[WriteConnection]:
        """One atomic unit of writes: committed on normal exit, rolled back on any error."""
        if self._writer is None or self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock:
            with self._writer.connect() as sync:
                await _begin_immediate(sync)
                try:
                    yield InlineConnection(sync)
                except BaseException:
                    sync.exec_driver_sql("ROLLBACK")
                    raise
                sync.exec_driver_sql("COMMIT")
            self._committed()

    async def run_transaction(self, work: Callable[[Connection], T]) -> T:
        """Run `work` (synchronous statements on the connection it is given) as one
        transaction: committed if it returns, rolled back if it raises; returns its result.
        On SQLite nothing is awaited once it has begun, so it is never cut short."""
        async with self.transaction() as conn:
            return await conn.run_sync(work)

    def _committed(self) -> None:
        """Count a commit; start a checkpoint in the background every CHECKPOINT_EVERY."""
        self._commits += 1
        if self._commits < CHECKPOINT_EVERY or (self.checkpoint is not None and not self.checkpoint.done()):
            return
        assert self._writer is not None and self._checkpointer is not None
        self._commits = 0
        loop = asyncio.get_running_loop()
        self.checkpoint = loop.run_in_executor(self._checkpointer, _checkpoint, self._writer)
        self.checkpoint.add_done_callback(_log_failure)

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
        if self._writer is not None and self._checkpointer is not None:
            if self.checkpoint is not None:
                await asyncio.gather(self.checkpoint, return_exceptions=True)
            self._checkpointer.shutdown()
            self._writer.dispose()  # the last connection to close checkpoints the WAL


def create_database(url: str, *, schema: str = "") -> Database:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        writer = create_engine(
            make_url(url).set(drivername="sqlite"), isolation_level="AUTOCOMMIT", pool_size=1, max_overflow=1
        )
        event.listen(writer, "connect", _writer_pragmas)
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
        f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}",
    ):
        cursor.execute(pragma)
    cursor.close()
    # SQLite's lower() folds ASCII only; dialect.text_lower() uses this one instead.
    dbapi_conn.create_function("unicode_lower", 1, _unicode_lower, deterministic=True)


def _writer_pragmas(dbapi_conn: Any, record: ConnectionPoolEntry) -> None:
    """The writer's connections: as the readers', but a BEGIN that finds another process
    writing fails at once (to be retried after a sleep, not in the loop's thread), and the WAL
    is checkpointed in the background (see Database._committed), not by the commit that
    crosses SQLite's threshold."""
    _sqlite_pragmas(dbapi_conn, record)
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA busy_timeout=0")
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


async def _begin_immediate(sync: Connection) -> None:
    """Take SQLite's write lock now, sleeping (not blocking) while another process holds it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BUSY_TIMEOUT_S
    for attempt in itertools.count():
        try:
            sync.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except OperationalError as e:
            if not _is_busy(e) or loop.time() >= deadline:
                raise
        await asyncio.sleep(BUSY_RETRY_S[min(attempt, len(BUSY_RETRY_S) - 1)])


def _is_busy(error: OperationalError) -> bool:
    return getattr(error.orig, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY


def _log_failure(done: asyncio.Future[None]) -> None:
    """A failed checkpoint is logged (the next one retries it), not left unretrieved."""
    if not done.cancelled() and (error := done.exception()) is not None:
        log.error("WAL checkpoint failed: %s", error)


def _checkpoint(writer: Engine) -> None:
    """Copy the WAL back into the database file as far as no reader still needs it."""
    with writer.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value
