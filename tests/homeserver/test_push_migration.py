"""Migrations 0014 and 0015 with data, on both databases (0014): read positions become read flags (unthreaded,
per thread, rooms left), rows get the time of their event, and a downgrade turns each room's
highest read row back into an unthreaded read position."""

from __future__ import annotations

from sqlalchemy import text

from homeserver.ids import UserID
from homeserver.storage.database import Database
from homeserver.storage.migrate import downgrade, migrate
from homeserver.storage.push import PushActionStore

ROWS = [  # (event, room, stream, thread)
    ("$1", "!a", 1, "main"),
    ("$2", "!a", 2, "main"),
    ("$3", "!a", 3, "$root"),
    ("$4", "!a", 4, "$root"),
    ("$5", "!a", 5, "main"),
    ("$6", "!b", 6, "main"),  # bob left !b
]


async def _exec(db: Database, sql: str, rows: list[dict[str, object]]) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(text(sql), rows)


async def test_read_positions_become_read_flags_and_back(database: Database) -> None:
    await downgrade(database, "0013")
    await _exec(
        database,
        "INSERT INTO room_memberships (room_id, user_id, membership, event_id, stream_ordering, forgotten)"
        " VALUES (:room, '@bob:x', :m, :room, 1, FALSE)",
        [{"room": "!a", "m": "join"}, {"room": "!b", "m": "leave"}],
    )
    await _exec(
        database,
        "INSERT INTO event_push_actions (user_id, event_id, room_id, stream_ordering, thread_id, highlight,"
        " actions) VALUES ('@bob:x', :e, :room, :s, :t, FALSE, '[]')",
        [{"e": e, "room": r, "s": s, "t": t} for e, r, s, t in ROWS],
    )
    await _exec(
        database,
        "INSERT INTO events (stream_ordering, event_id, room_id, type, sender, depth, origin_server_ts,"
        " json, outlier) VALUES (:s, :e, '!a', 'm.room.message', '@a:x', 1, :ts, '{}', FALSE)",
        [{"s": 1, "e": "$1", "ts": 111}],
    )
    await _exec(
        database,
        "INSERT INTO push_read_positions (user_id, room_id, thread_id, stream_ordering)"
        " VALUES ('@bob:x', '!a', :t, :s)",
        [{"t": "", "s": 1}, {"t": "$root", "s": 3}],
    )
    await migrate(database, "0014")
    async with database.engine.connect() as conn:
        rows = (
            await conn.execute(text("SELECT event_id, read, ts FROM event_push_actions ORDER BY event_id"))
        ).all()
    assert [(r[0], bool(r[1])) for r in rows] == [
        ("$1", True),  # unthreaded position
        ("$2", False),
        ("$3", True),  # the thread's position
        ("$4", False),
        ("$5", False),
        ("$6", True),  # a room bob left
    ]
    assert [r[2] for r in rows] == [111, 0, 0, 0, 0, 0]
    await downgrade(database, "0013")
    async with database.engine.connect() as conn:
        positions = (
            await conn.execute(text("SELECT room_id, thread_id, stream_ordering FROM push_read_positions"))
        ).all()
    assert sorted(tuple(p) for p in positions) == [("!a", "", 3), ("!b", "", 6)]
    await migrate(database)


async def test_per_user_rows_become_own_rows_and_read_flags_positions(database: Database) -> None:
    """0015: every old row is a notification of the user's own; each thread's highest read row
    is its read position, so the same rows are unread; a downgrade gives the flags back."""
    await downgrade(database, "0014")
    await _exec(
        database,
        "INSERT INTO room_memberships (room_id, user_id, membership, event_id, stream_ordering, forgotten)"
        " VALUES ('!a', '@bob:x', 'join', '$m', 1, FALSE)",
        [{}],
    )
    read = {1, 2, 3}  # main up to 2, the thread up to 3
    await _exec(
        database,
        "INSERT INTO event_push_actions (user_id, event_id, room_id, stream_ordering, thread_id, highlight,"
        " actions, read, ts) VALUES ('@bob:x', :e, :room, :s, :t, :h, '[\"notify\"]', :read, 7)",
        [{"e": e, "room": r, "s": s, "t": t, "h": s == 5, "read": s in read} for e, r, s, t in ROWS[:5]],
    )
    await migrate(database)
    store = PushActionStore(database)
    unread = {(r.thread_id, r.notifications, r.highlights) for r in await store.unread(UserID("@bob:x"))}
    assert unread == {("main", 1, 1), ("$root", 1, 0), ("", 0, 0)}  # $5 (highlight) and $4
    listed, _ = await store.notifications(UserID("@bob:x"), None, 10, False)
    assert [(n.event_id, n.read) for n in listed] == [
        ("$5", False),
        ("$4", False),
        ("$3", True),
        ("$2", True),
        ("$1", True),
    ]
    await downgrade(database, "0014")
    async with database.engine.connect() as conn:
        rows = (
            await conn.execute(text("SELECT event_id, read, ts FROM event_push_actions ORDER BY event_id"))
        ).all()
    assert [(r[0], bool(r[1]), r[2]) for r in rows] == [
        ("$1", True, 7),
        ("$2", True, 7),
        ("$3", True, 7),
        ("$4", False, 7),
        ("$5", False, 7),
    ]
    await migrate(database)
