"""The push action store on both databases: unread rows counted per joined room and thread
together with how far the read rows go, receipts marking rows read (per thread, never back),
leaving and redaction, the retention sweep in batches, and the query plans: counting and
marking read walk only unread rows through an index."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Connection, insert, text

from homeserver.events.model import Event
from homeserver.ids import EventID, RoomID, UserID
from homeserver.notifier import Notifier
from homeserver.push.retention import DAY_MS, PushRetention
from homeserver.push.unread import UnreadCounts
from homeserver.room_versions import KNOWN_ROOM_VERSIONS
from homeserver.storage.database import Database
from homeserver.storage.events import EventToPersist
from homeserver.storage.push import (
    PushAction,
    PushActionStore,
    UnreadRow,
    advance_read_position,
    delete_read_statement,
    forget_redacted,
    forget_redacted_statement,
    insert_push_actions,
    mark_read_statement,
    mark_room_read,
    push_action_row,
    unread_statement,
)
from homeserver.storage.tables import events, room_memberships

BOB = UserID("@bob:example.org")
ROOM, OTHER = RoomID("!a:example.org"), RoomID("!b:example.org")
THREAD = "$root"


async def _join(db: Database, room_id: RoomID, membership: str = "join") -> None:
    row = {"room_id": room_id, "user_id": BOB, "membership": membership, "event_id": f"$m{room_id}"}
    async with db.transaction() as conn:
        await conn.execute(insert(room_memberships).values(**row, stream_ordering=1, forgotten=False))


async def _notify(
    db: Database, room_id: RoomID, streams: range, thread: str = "main", highlight: bool = False, ts: int = 0
) -> None:
    def work(conn: Connection) -> None:
        action = PushAction(BOB, thread, highlight, '["notify"]')
        rows = [push_action_row(action, EventID(f"$e{s}"), room_id, s) for s in streams]
        insert_push_actions(conn, [{**row, "ts": ts} if ts else row for row in rows])

    await db.run_transaction(work)


async def _read(db: Database, room_id: RoomID, stream: int, thread: str = "") -> None:
    async with db.transaction() as conn:
        await advance_read_position(conn, BOB, room_id, thread, stream)


def _rows(rows: list[UnreadRow]) -> set[tuple[str, str, int, int, int]]:
    return {(r.room_id, r.thread_id, r.notifications, r.highlights, r.max_stream) for r in rows}


async def test_unread_counts_unread_rows_and_says_how_far_read_ones_go(database: Database) -> None:
    store = PushActionStore(database)
    await _join(database, ROOM)
    await _notify(database, ROOM, range(1, 6))
    await _notify(database, ROOM, range(6, 8), thread=THREAD, highlight=True)
    assert _rows(await store.unread(BOB)) == {(ROOM, "main", 5, 0, 5), (ROOM, THREAD, 2, 2, 7)}
    await _read(database, ROOM, 3)  # unthreaded: every thread up to 3
    await _read(database, ROOM, 6, thread=THREAD)  # only the thread's rows
    assert _rows(await store.unread(BOB)) == {
        (ROOM, "main", 2, 0, 5),
        (ROOM, THREAD, 1, 1, 7),
        (ROOM, "", 0, 0, 6),  # the highest read row: a late report of it is not counted
    }
    await _read(database, ROOM, 1)  # older than the read position: nothing moves back
    assert {r.notifications for r in await store.unread(BOB) if r.thread_id == "main"} == {2}
    read = {n.stream_ordering: n.read for n in await store.notifications(BOB, None, 10, False)}
    assert read == {1: True, 2: True, 3: True, 4: False, 5: False, 6: True, 7: False}


async def test_rooms_not_joined_do_not_count_and_leaving_marks_read(database: Database) -> None:
    store = PushActionStore(database)
    await _join(database, ROOM)
    await _join(database, OTHER, "leave")
    await _notify(database, ROOM, range(1, 3))
    await _notify(database, OTHER, range(3, 5))
    assert _rows(await store.unread(BOB)) == {(ROOM, "main", 2, 0, 2)}
    await database.run_transaction(lambda conn: mark_room_read(conn, BOB, ROOM))
    assert _rows(await store.unread(BOB)) == {(ROOM, "", 0, 0, 2)}
    assert [n.read for n in await store.notifications(BOB, None, 10, False)] == [False, False, True, True]


async def test_a_redacted_events_rows_are_deleted(database: Database) -> None:
    store = PushActionStore(database)
    await _join(database, ROOM)
    await _notify(database, ROOM, range(1, 4))
    event = {"stream_ordering": 2, "event_id": "$e2", "room_id": ROOM, "type": "m.room.message"}
    extra = {"sender": "@a:example.org", "depth": 2, "origin_server_ts": 0, "json": "{}", "outlier": False}
    async with database.transaction() as conn:
        await conn.execute(insert(events).values(**event, **extra))
    await database.run_transaction(lambda conn: forget_redacted(conn, EventID("$e2")))
    assert [n.event_id for n in await store.notifications(BOB, None, 10, False)] == ["$e3", "$e1"]
    assert _rows(await store.unread(BOB)) == {(ROOM, "main", 2, 0, 3)}


async def test_retention_deletes_old_read_rows_in_batches_and_keeps_unread_ones(database: Database) -> None:
    store = PushActionStore(database)
    await _join(database, ROOM)
    for s in range(1, 6):
        await _notify(database, ROOM, range(s, s + 1), ts=1000 + s)  # old
    await _notify(database, ROOM, range(6, 9), ts=10 * DAY_MS)  # recent
    await _read(database, ROOM, 7)  # rows 1..7 read, 8 unread
    await _notify(database, ROOM, range(9, 10), ts=1000)  # old but unread
    assert await store.delete_read_before(5000, 2) == 2
    assert await store.delete_read_before(5000, 2) == 2
    assert await store.delete_read_before(5000, 2) == 1
    assert await store.delete_read_before(5000, 2) == 0
    left = {n.stream_ordering for n in await store.notifications(BOB, None, 20, False)}
    assert left == {6, 7, 8, 9}
    retention = PushRetention(store, 1, clock=lambda: (11 * DAY_MS + 1) / 1000)
    assert await retention.sweep() == 2  # 6 and 7: read and a day old
    page = await store.notifications(BOB, None, 1, False)
    assert [n.stream_ordering for n in page] == [9]
    after = await store.notifications(BOB, page[-1].stream_ordering, 20, False)
    assert [n.stream_ordering for n in after] == [8]  # paging by stream ordering skips nothing
    assert _rows(await store.unread(BOB)) == {(ROOM, "main", 2, 0, 9)}


async def test_a_receipt_between_commit_and_report_does_not_count_twice(database: Database) -> None:
    """The race: an event's push action is committed, a receipt marks it read, the counts are
    read, and only then does the writer report the event: it must not be counted."""
    store = PushActionStore(database)
    counts = UnreadCounts(store, Notifier())
    await _join(database, ROOM)
    await _notify(database, ROOM, range(1, 3))
    await _read(database, ROOM, 2)
    assert (await counts.for_rooms(BOB, [ROOM]))[ROOM].total().notifications == 0
    pdu = {"type": "m.room.message", "room_id": ROOM, "sender": "@a:example.org", "content": {}}
    event = Event(EventID("$e2"), KNOWN_ROOM_VERSIONS["11"], pdu)
    action = PushAction(BOB, "main", False, '["notify"]')
    counts.on_committed([EventToPersist(event, 2, None, push_actions=(action,))])
    assert (await counts.for_rooms(BOB, [ROOM]))[ROOM].total().notifications == 0
    await _notify(database, ROOM, range(3, 4))
    counts.on_committed([EventToPersist(event, 3, None, push_actions=(action,))])
    assert (await counts.for_rooms(BOB, [ROOM]))[ROOM].total().notifications == 1


async def _history(db: Database) -> None:
    """Bob's long read history in three rooms, a few unread rows, other users' rows mostly unread;
    PostgreSQL's statistics are taken (SQLite's planner must do without: none are)."""
    for n, room_id in enumerate((ROOM, OTHER, RoomID("!c:example.org"))):
        await _join(db, room_id)
        base = n * 1000
        await _notify(db, room_id, range(base + 1, base + 600))
        await _read(db, room_id, base + 590)

    def others(conn: Connection) -> None:
        rows = [
            push_action_row(
                PushAction(UserID(f"@u{i % 40}:example.org"), "main", False, "[]"), EventID(f"$o{i}"), ROOM, i
            )
            for i in range(4000)
        ]
        insert_push_actions(conn, [{**row, "read": n % 10 < 3} for n, row in enumerate(rows)])

    await db.run_transaction(others)
    if not db.is_sqlite:
        async with db.engine.begin() as conn:
            await conn.execute(text("ANALYZE"))


async def _plan(db: Database, stmt: Any) -> str:
    sql = str(stmt.compile(db.engine.sync_engine, compile_kwargs={"literal_binds": True}))
    async with db.engine.connect() as conn:
        if db.is_sqlite:
            rows = (await conn.execute(text("EXPLAIN QUERY PLAN " + sql))).all()
            return "\n".join(str(r[-1]) for r in rows)
        # Small tables are cheapest to scan whole: ask which index PostgreSQL would take.
        await conn.execute(text("SET enable_seqscan = off"))
        return "\n".join(str(r[0]) for r in (await conn.execute(text("EXPLAIN " + sql))).all())


async def test_unread_counting_walks_only_unread_rows_through_an_index(database: Database) -> None:
    await _history(database)
    plan = await _plan(database, unread_statement(BOB))
    assert plan.count("event_push_actions_user_read_room") == 2, plan
    if database.is_sqlite:
        assert plan.count("(user_id=? AND read=? AND room_id=?)") == 2, plan
    else:
        assert "(read = false)" in plan and "(read = true)" in plan, plan
        assert "Seq Scan on event_push_actions" not in plan, plan


@pytest.mark.parametrize("thread", ["", THREAD])
async def test_a_receipt_marks_through_an_index(database: Database, thread: str) -> None:
    await _history(database)
    plan = await _plan(database, mark_read_statement(BOB, ROOM, thread, 10))
    assert "event_push_actions_user_read_room" in plan, plan
    if database.is_sqlite:
        assert "(user_id=? AND read=? AND room_id=? AND stream_ordering<?)" in plan, plan


async def test_retention_and_redaction_delete_through_an_index(database: Database) -> None:
    await _history(database)
    plan = await _plan(database, delete_read_statement(5000, 1000))
    assert plan.count("event_push_actions_read_ts") == 2, plan
    plan = await _plan(database, forget_redacted_statement(EventID("$e5")))
    assert "event_push_actions_stream" in plan, plan
    assert "Seq Scan on event_push_actions" not in plan and "SCAN event_push_actions" not in plan, plan
