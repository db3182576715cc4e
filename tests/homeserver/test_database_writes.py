"""Write transactions (Database.transaction / run_transaction). On SQLite they run on the event
loop's thread: they must roll back cleanly, wait for another process's write lock without
blocking the loop, and leave the WAL to a background checkpoint."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import TextClause, text
from sqlalchemy.exc import OperationalError

from homeserver.storage import database as database_module
from homeserver.storage.database import CHECKPOINT_EVERY, Database, create_database

CREATE = text("CREATE TABLE t (n INTEGER PRIMARY KEY)")


def insert(n: int) -> TextClause:
    return text(f"INSERT INTO t (n) VALUES ({int(n)})")


COUNT = text("SELECT count(*) FROM t")


async def new_table(db: Database) -> None:
    """Table t, empty (PostgreSQL's test schema outlives a test)."""
    await db.execute(text("DROP TABLE IF EXISTS t"))
    await db.execute(CREATE)


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[tuple[Database, Path]]:
    path = tmp_path / "w.db"
    db = create_database(f"sqlite+aiosqlite:///{path}")
    await db.execute(CREATE)
    try:
        yield db, path
    finally:
        await db.close()


async def test_a_failing_transaction_leaves_nothing_and_the_next_one_runs(database: Database) -> None:
    await new_table(database)
    with pytest.raises(RuntimeError):
        async with database.transaction() as conn:
            await conn.execute(insert(1))
            raise RuntimeError("refused")
    assert await database.fetch_value(COUNT) == 0
    async with database.transaction() as conn:
        await conn.execute(insert(2))
        assert await conn.scalar(COUNT) == 1  # the transaction sees its own write
    assert await database.fetch_value(COUNT) == 1


async def test_a_transaction_cancelled_midway_is_rolled_back(database: Database) -> None:
    await new_table(database)
    inside = asyncio.Event()

    async def write() -> None:
        async with database.transaction() as conn:
            await conn.execute(insert(1))
            inside.set()
            await asyncio.sleep(3600)

    task = asyncio.ensure_future(write())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await database.fetch_value(COUNT) == 0
    assert await database.run_transaction(lambda conn: conn.execute(insert(2)).rowcount) == 1


async def test_another_process_writing_makes_a_write_wait_without_blocking_the_loop(
    sqlite_db: tuple[Database, Path],
) -> None:
    db, path = sqlite_db
    other = sqlite3.connect(path, isolation_level=None)  # as another process would
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t (n) VALUES (100)")
    writing = asyncio.ensure_future(db.execute(insert(1)))
    ticks = 0
    while ticks < 50:  # the loop runs on while the write waits
        await asyncio.sleep(0.001)
        ticks += 1
    assert not writing.done()
    other.execute("COMMIT")
    other.close()
    assert await writing == 1
    assert await db.fetch_value(COUNT) == 2


async def test_a_write_gives_up_once_the_other_process_holds_on_too_long(
    sqlite_db: tuple[Database, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, path = sqlite_db
    monkeypatch.setattr(database_module, "BUSY_TIMEOUT_S", 0.05)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OperationalError, match="locked"):
            await db.execute(insert(1))
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert await db.execute(insert(2)) == 1  # the lock was released with the failure


def rows_in_main_file(path: Path, tmp_path: Path) -> int:
    """Rows of t in the database file alone: what has been checkpointed out of the WAL."""
    copy = tmp_path / "copy.db"
    shutil.copyfile(path, copy)
    conn = sqlite3.connect(copy)
    try:
        return int(conn.execute("SELECT count(*) FROM t").fetchone()[0])
    except sqlite3.OperationalError:  # not even the table yet
        return 0
    finally:
        conn.close()


async def test_commits_leave_the_wal_to_a_background_checkpoint(
    sqlite_db: tuple[Database, Path], tmp_path: Path
) -> None:
    db, path = sqlite_db
    for n in range(5):
        await db.execute(insert(n))
    assert rows_in_main_file(path, tmp_path) == 0  # no commit checkpointed on its own
    assert db.checkpoint is None
    for n in range(5, CHECKPOINT_EVERY - 1):  # with the CREATE, CHECKPOINT_EVERY commits
        await db.execute(insert(n))
    assert db.checkpoint is not None  # the last commit started one
    await db.checkpoint
    assert rows_in_main_file(path, tmp_path) == CHECKPOINT_EVERY - 1


async def test_a_failed_checkpoint_is_logged_and_the_next_one_runs(
    sqlite_db: tuple[Database, Path], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    db, _path = sqlite_db
    monkeypatch.setattr(database_module, "CHECKPOINT_EVERY", 2)
    real = database_module._checkpoint

    def failing(writer: Any) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(database_module, "_checkpoint", failing)
    for n in range(2):
        await db.execute(insert(n))
    first = db.checkpoint
    assert first is not None
    with pytest.raises(sqlite3.OperationalError):
        await first
    assert "WAL checkpoint failed: disk I/O error" in caplog.text
    monkeypatch.setattr(database_module, "_checkpoint", real)
    for n in range(2, 4):
        await db.execute(insert(n))
    assert db.checkpoint is not None and db.checkpoint is not first
    await db.checkpoint
