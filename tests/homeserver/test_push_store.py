"""The push store on both databases: an event's common outcome stored once and counted for
the members it was for (not its sender, not a member with an outcome of their own, not a
member who joined later), read positions per thread that never move back, redaction, the
retention sweep, GET /notifications pages, and the query plans: counting starts at the read
positions through indexes, whatever the history before them."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert, text

from homeserver.events.model import Event
from homeserver.ids import EventID, RoomID, UserID
from homeserver.notifier import Notifier
from homeserver.push.retention import DAY_MS, PushRetention
from homeserver.push.unread import UnreadCounts
from homeserver.room_versions import KNOWN_ROOM_VERSIONS
from homeserver.storage import push
from homeserver.storage.database import Database
from homeserver.storage.events import EventToPersist
from homeserver.storage.push import (
    Outcome,
    PushActionStore,
    PushPlan,
    UnreadRow,
    UserOutcome,
    advance_read_position,
    delete_read_statement,
    forget_redacted,
    forget_redacted_statements,
    unread_statement,
    write_push_plans,
)
from homeserver.storage.tables import events, room_memberships

ALICE, BOB, CAROL = UserID("@alice:example.org"), UserID("@bob:example.org"), UserID("@carol:example.org")
ROOM, OTHER = RoomID("!a:example.org"), RoomID("!b:example.org")
THREAD = "$root"
NOTIFY = Outcome(False, '["notify"]')
MENTION = Outcome(True, '["notify",{"set_tweak":"highlight"}]')


def _event(room_id: RoomID, stream: int, sender: UserID = ALICE) -> Event:
    pdu = {"type": "m.room.message", "room_id": room_id, "sender": sender, "content": {}}
    return Event(EventID(f"$e{stream}"), KNOWN_ROOM_VERSIONS["11"], pdu)


async def _join(db: Database, room_id: RoomID, user_id: UserID = BOB, membership: str = "join") -> None:
    row = {
        "room_id": room_id,
        "user_id": user_id,
        "membership": membership,
        "event_id": f"$m{room_id}{user_id}",
    }
    async with db.transaction() as conn:
        await conn.execute(insert(room_memberships).values(**row, stream_ordering=1, forgotten=False))


async def _write(
    db: Database, room_id: RoomID, streams: range, plan: PushPlan, sender: UserID = ALICE
) -> None:
    planned = [(_event(room_id, s, sender), s, plan) for s in streams]
    await db.run_transaction(lambda conn: write_push_plans(conn, planned))


async def _common(
    db: Database, room_id: RoomID, streams: range, thread: str = "main", outcome: Outcome = NOTIFY
) -> None:
    """Events whose common outcome is for bob (and carol)."""
    await _write(db, room_id, streams, PushPlan(thread, outcome, (BOB, CAROL)))


async def _own(
    db: Database, room_id: RoomID, streams: range, outcome: Outcome | None, user_id: UserID = BOB
) -> None:
    """Events that notify carol, with an outcome of `user_id`'s own."""
    await _write(db, room_id, streams, PushPlan("main", NOTIFY, (CAROL,), (UserOutcome(user_id, outcome),)))


async def _read(db: Database, room_id: RoomID, stream: int, thread: str = "") -> None:
    async with db.transaction() as conn:
        await advance_read_position(conn, BOB, room_id, thread, stream)


def _rows(rows: list[UnreadRow]) -> set[tuple[str, str, int, int, int]]:
    return {(r.room_id, r.thread_id, r.notifications, r.highlights, r.max_stream) for r in rows}


async def _listed(store: PushActionStore, before: int | None = None, limit: int = 50) -> dict[int, bool]:
    rows, _ = await store.notifications(BOB, before, limit, False)
    return {n.stream_ordering: n.read for n in rows}


async def test_common_rows_count_per_thread_after_the_read_positions(database: Database) -> None:
    store = PushActionStore(database)
    await _join(database, ROOM)
    await _common(database, ROOM, range(1, 6))
    await _common(database, ROOM, range(6, 8), thread=THREAD, outcome=MENTION)
    assert _rows(await store.unread(BOB)) == {
        (ROOM, "main", 5, 0, 5),
        (ROOM, THREAD, 2, 2, 7),
        (ROOM, "", 0, 0, 7),
    }
    await _read(database, ROOM, 3)  # unthreaded: every thread up to 3
    await _read(database, ROOM, 6, thread=THREAD)  # only the thread's rows
    assert _rows(await store.unread(BOB)) == {
        (ROOM, "main", 2, 0, 5),
        (ROOM, THREAD, 1, 1, 7),
        (ROOM, "", 0, 0, 7),  # how far the read saw: a late report of 6 or 7 is not counted
    }
    await _read(database, ROOM, 1)  # older than the read position: nothing moves back
    assert {r.notifications for r in await store.unread(BOB) if r.thread_id == "main"} == {2}
    assert await _listed(store) == {1: True, 2: True, 3: True, 4: False, 5: False, 6: True, 7: False}


async def test_own_outcomes_replace_the_common_one_and_the_sender_is_left_out(database: Database) -> None:
    store = PushActionStore(database)
    await _join(database, ROOM)
    await _common(database, ROOM, range(1, 3))
    await _own(database, ROOM, range(3, 5), MENTION)  # mentions of bob
    await _own(database, ROOM, range(5, 7), None)  # bob muted the room for these
    await _own(database, ROOM, range(7, 8), MENTION, user_id=CAROL)  # carol's: bob gets the common one
    await _write(database, ROOM, range(8, 9), PushPlan("main", NOTIFY, (CAROL,)), sender=BOB)  # bob's own
    assert _rows(await store.unread(BOB)) == {(ROOM, "main", 5, 2, 7), (ROOM, "", 0, 0, 8)}
    assert await _listed(store) == {1: False, 2: False, 3: False, 4: False, 7: False}
    highlights, _ = await store.notifications(BOB, None, 10, True)
    assert [n.stream_ordering for n in highlights] == [4, 3]


async def test_only_joined_rooms_count_and_a_join_starts_the_count(database: Database) -> None:
    store = PushActionStore(database)
    await _join(database, ROOM)
    await _join(database, OTHER, membership="leave")
    await _common(database, ROOM, range(1, 3))
    await _common(database, OTHER, range(3, 5))
    assert _rows(await store.unread(BOB)) == {(ROOM, "main", 2, 0, 2), (ROOM, "", 0, 0, 2)}
    third = RoomID("!c:example.org")
    await _common(database, third, range(5, 8))  # before bob joins
    await _join(database, third)
    await _write(database, third, range(8, 9), PushPlan("main", joined=BOB), sender=BOB)
    await _common(database, third, range(9, 10))
    assert (third, "main", 1, 0, 9) in _rows(await store.unread(BOB))
    assert set(await _listed(store)) == {1, 2, 9}


async def test_a_room_left_lists_what_reached_the_user_while_in_it_as_read(database: Database) -> None:
    store = PushActionStore(database)
    await _join(database, ROOM)
    await _common(database, ROOM, range(1, 3))
    await _write(database, ROOM, range(3, 4), PushPlan("main", left=BOB), sender=BOB)
    async with database.transaction() as conn:
        await conn.execute(room_memberships.update().values(membership="leave"))
    await _common(database, ROOM, range(4, 6))  # after bob left
    assert await store.unread(BOB) == []
    assert await _listed(store) == {1: True, 2: True}


async def test_a_redacted_events_rows_are_deleted(database: Database) -> None:
    store = PushActionStore(database)
    await _join(database, ROOM)
    await _common(database, ROOM, range(1, 4))
    await _own(database, ROOM, range(4, 5), MENTION)
    extra = {"room_id": ROOM, "type": "m.room.message", "sender": ALICE, "depth": 2, "origin_server_ts": 0}
    async with database.transaction() as conn:
        for s in (2, 4):
            await conn.execute(
                insert(events).values(stream_ordering=s, event_id=f"$e{s}", json="{}", outlier=False, **extra)
            )
    for s in (2, 4):
        await database.run_transaction(lambda conn, s=s: forget_redacted(conn, EventID(f"$e{s}")))
    rows, _ = await store.notifications(BOB, None, 10, False)
    assert [n.event_id for n in rows] == ["$e3", "$e1"]
    assert _rows(await store.unread(BOB)) == {(ROOM, "main", 2, 0, 3), (ROOM, "", 0, 0, 3)}


async def test_retention_deletes_old_read_own_notifications_in_batches_and_keeps_the_rest(
    database: Database,
) -> None:
    store = PushActionStore(database)
    await _join(database, ROOM)
    alone = PushPlan("main", None, (), (UserOutcome(BOB, MENTION),))  # notifies bob only
    await _write(database, ROOM, range(1, 6), alone)
    await _own(database, ROOM, range(6, 7), None)  # not bob: the event's common row is not his
    await database.execute(text("UPDATE push_user_actions SET ts = 1000 + stream_ordering"))
    await _write(database, ROOM, range(7, 9), alone)  # recent
    await _common(database, ROOM, range(9, 10))
    await _read(database, ROOM, 9)
    await _write(database, ROOM, range(10, 11), alone)
    await database.execute(
        text("UPDATE push_user_actions SET ts = 1000 WHERE stream_ordering = 10")
    )  # unread
    assert await store.delete_read_before(5000, 2) == 2
    assert await store.delete_read_before(5000, 2) == 2
    assert await store.delete_read_before(5000, 2) == 1
    assert await store.delete_read_before(5000, 2) == 0  # 6 stays: without it 6 would be bob's
    assert set(await _listed(store)) == {7, 8, 9, 10}  # the common row stays
    retention = PushRetention(store, 1, clock=lambda: (2 * DAY_MS + 10**13) / 1000)
    assert await retention.sweep() == 2  # 7 and 8, read (10 is not)
    assert set(await _listed(store)) == {9, 10}
    assert _rows(await store.unread(BOB)) == {(ROOM, "main", 1, 1, 10), (ROOM, "", 0, 0, 10)}


async def test_pages_of_notifications_go_on_past_a_window_without_any(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(push, "SCAN_WINDOW", 3)
    store = PushActionStore(database)
    await _join(database, ROOM)
    await _common(database, ROOM, range(1, 3))
    await _common(database, OTHER, range(3, 9))  # not bob's room: six rows to look through
    await _common(database, ROOM, range(9, 10))
    seen: list[int] = []
    before: int | None = None
    pages = 0
    while True:
        rows, before = await store.notifications(BOB, before, 2, False)
        seen += [n.stream_ordering for n in rows]
        pages += 1
        if before is None:
            break
    assert seen == [9, 2, 1] and pages >= 3


async def test_a_receipt_between_commit_and_report_does_not_count_twice(database: Database) -> None:
    """The race: an event is committed, a receipt reads it, the counts are read, and only
    then does the writer report the event: it must not be counted."""
    store = PushActionStore(database)
    counts = UnreadCounts(store, Notifier())
    await _join(database, ROOM)
    await _common(database, ROOM, range(1, 3))
    await _read(database, ROOM, 2)
    assert (await counts.for_rooms(BOB, [ROOM]))[ROOM].total().notifications == 0
    plan = PushPlan("main", NOTIFY, (BOB,))
    counts.on_committed([EventToPersist(_event(ROOM, 2), 2, None, push=plan)])
    assert (await counts.for_rooms(BOB, [ROOM]))[ROOM].total().notifications == 0
    await _common(database, ROOM, range(3, 4))
    counts.on_committed([EventToPersist(_event(ROOM, 3), 3, None, push=plan)])
    assert (await counts.for_rooms(BOB, [ROOM]))[ROOM].total().notifications == 1


async def _history(db: Database) -> None:
    """Bob's long read history in three rooms with a few unread rows, others' own rows;
    PostgreSQL's statistics are taken (SQLite's planner must do without: none are)."""
    for n, room_id in enumerate((ROOM, OTHER, RoomID("!c:example.org"))):
        await _join(db, room_id)
        base = n * 1000
        await _common(db, room_id, range(base + 1, base + 600))
        await _read(db, room_id, base + 590)
    planned = [
        (_event(ROOM, s), s, PushPlan("main", None, (), (UserOutcome(UserID(f"@u{s % 40}:x"), MENTION),)))
        for s in range(5000, 9000)
    ]
    await db.run_transaction(lambda conn: write_push_plans(conn, planned))
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


async def test_unread_counting_starts_at_the_read_positions_through_indexes(database: Database) -> None:
    """Event rows: a range of (room, stream) from the read position on. Own rows: the user's
    notifying ones (read ones go with the retention period)."""
    await _history(database)
    plan = await _plan(database, unread_statement(BOB))
    if database.is_sqlite:
        assert "push_events_room (room_id=? AND stream_ordering>?)" in plan, plan
        assert "push_user_actions_user_notify_room (user_id=? AND notify=?" in plan, plan
        assert "SCAN" not in plan, plan
    else:
        assert "Seq Scan" not in plan, plan
        assert "push_events_room" in plan and "push_user_actions_user_notify_room" in plan, plan


async def test_retention_and_redaction_find_rows_through_indexes(database: Database) -> None:
    await _history(database)
    plans = [await _plan(database, delete_read_statement(5000, 1000))]
    plans += [await _plan(database, s) for s in forget_redacted_statements(EventID("$e5"))]
    assert "push_user_actions_ts" in plans[0], plans[0]
    assert "push_user_actions_stream" in plans[2], plans[2]
    for plan in plans:
        assert "Seq Scan on push" not in plan and "SCAN push" not in plan, plan
