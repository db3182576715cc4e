"""The recent-events log behind incremental /sync (homeserver/sync/recent.py): what it
covers after trimming, when it must say "ask the database" (None), the `until` bound, which
events became relation targets, and which rooms it keeps."""

from __future__ import annotations

from typing import Any

from homeserver.events.model import Event
from homeserver.ids import EventID, RoomID, UserID
from homeserver.room_versions import KNOWN_ROOM_VERSIONS
from homeserver.storage.events import TxnKey
from homeserver.sync.recent import RecentEvent, RecentEvents
from tests.homeserver.eventbuilder import make_event

ROOM_A, ROOM_B, ROOM_C = RoomID("!a:test"), RoomID("!b:test"), RoomID("!c:test")


def event(room_id: str, event_id: str, content: dict[str, Any] | None = None) -> Event:
    return make_event(
        KNOWN_ROOM_VERSIONS["10"],
        event_id=event_id,
        type="m.room.message",
        sender="@alice:test",
        content=content or {"msgtype": "m.text", "body": event_id},
        room_id=room_id,
    )


def feed(log: RecentEvents, room_id: str, *positions: int) -> None:
    """Events `$<room letter><position>` at those positions."""
    for position in positions:
        log.on_event(event(room_id, f"${room_id[1]}{position}"), position, None)


def streams(entries: list[RecentEvent] | None) -> list[int] | None:
    return None if entries is None else [e.stream for e in entries]


def test_unknown_room_is_not_covered() -> None:
    log = RecentEvents()
    assert log.between(ROOM_A, 0, 100) is None
    feed(log, ROOM_B, 1)
    assert log.between(ROOM_A, 0, 100) is None


def test_log_covers_from_its_first_event() -> None:
    """Events of the room before the first one fed may exist: positions before it are not covered."""
    log = RecentEvents()
    feed(log, ROOM_A, 10, 12)
    assert streams(log.between(ROOM_A, 9, 100)) == [10, 12]
    assert streams(log.between(ROOM_A, 10, 100)) == [12]
    assert streams(log.between(ROOM_A, 11, 100)) == [12]
    assert log.between(ROOM_A, 8, 100) is None
    assert log.between(ROOM_A, 0, 100) is None


def test_nothing_new_is_an_empty_answer_not_none() -> None:
    log = RecentEvents()
    feed(log, ROOM_A, 3, 4)
    assert log.between(ROOM_A, 4, 4) == []
    assert log.between(ROOM_A, 4, 100) == []
    assert log.between(ROOM_A, 50, 100) == []


def test_until_bound_leaves_out_newer_events() -> None:
    """Events above the visible position (committed but not yet announced) wait for the next sync."""
    log = RecentEvents()
    feed(log, ROOM_A, 1, 2, 3, 4)
    assert streams(log.between(ROOM_A, 1, 3)) == [2, 3]
    assert streams(log.between(ROOM_A, 1, 1)) == []
    assert streams(log.between(ROOM_A, 0, 4)) == [1, 2, 3, 4]


def test_trimmed_log_covers_only_what_it_kept() -> None:
    log = RecentEvents(per_room=3)
    feed(log, ROOM_A, 1, 2, 3)
    assert streams(log.between(ROOM_A, 0, 10)) == [1, 2, 3]
    feed(log, ROOM_A, 5)  # 1 is dropped: the log now covers positions after 1 only
    assert log.between(ROOM_A, 0, 10) is None
    assert streams(log.between(ROOM_A, 1, 10)) == [2, 3, 5]
    feed(log, ROOM_A, 8, 9)  # 2, 3 dropped
    assert log.between(ROOM_A, 1, 10) is None
    assert log.between(ROOM_A, 2, 10) is None
    assert streams(log.between(ROOM_A, 3, 10)) == [5, 8, 9]
    assert streams(log.between(ROOM_A, 4, 10)) == [5, 8, 9]
    assert streams(log.between(ROOM_A, 5, 8)) == [8]


def test_events_and_transactions_are_kept_as_fed() -> None:
    log = RecentEvents()
    txn = TxnKey(UserID("@alice:test"), "DEV", "send/m.room.message/t1", "t1")
    log.on_event(event(ROOM_A, "$x"), 7, txn)
    log.on_event(event(ROOM_A, "$y"), 8, None)
    assert log.between(ROOM_A, 6, 8) == [
        RecentEvent(7, EventID("$x"), txn),
        RecentEvent(8, EventID("$y"), None),
    ]


def test_rooms_are_separate() -> None:
    log = RecentEvents()
    feed(log, ROOM_A, 1, 3, 5)
    feed(log, ROOM_B, 2, 4)
    assert streams(log.between(ROOM_A, 0, 5)) == [1, 3, 5]
    assert streams(log.between(ROOM_B, 1, 5)) == [2, 4]
    assert log.between(ROOM_B, 0, 5) is None


def test_position_going_backwards_restarts_the_room_log() -> None:
    log = RecentEvents()
    feed(log, ROOM_A, 5, 6)
    feed(log, ROOM_A, 4)
    assert log.between(ROOM_A, 6, 10) == []  # a reader that saw 6 is told of nothing older
    feed(log, ROOM_A, 7)
    assert streams(log.between(ROOM_A, 6, 10)) == [7]


def test_same_position_again_restarts_the_room_log() -> None:
    log = RecentEvents()
    feed(log, ROOM_A, 5)
    log.on_event(event(ROOM_A, "$again"), 5, None)
    assert log.between(ROOM_A, 4, 10) is None  # the restarted log cannot vouch for 5 any more
    assert log.between(ROOM_A, 5, 10) == []


def test_restarted_room_log_does_not_hide_events_it_dropped() -> None:
    """After 5, 6 and then 4, the log no longer holds 6: it must not answer for a range
    that contains 6 as if it were complete (the database would return 6)."""
    log = RecentEvents()
    feed(log, ROOM_A, 5, 6)
    feed(log, ROOM_A, 4)
    for since in (3, 4, 5):
        answer = log.between(ROOM_A, since, 10)
        assert answer is None or 6 in [e.stream for e in answer], (since, answer)


# Relation targets


def relation(room_id: str, event_id: str, rel_type: str, target: str) -> Event:
    return event(room_id, event_id, {"body": "r", "m.relates_to": {"rel_type": rel_type, "event_id": target}})


def test_related_names_events_that_became_relation_targets() -> None:
    log = RecentEvents()
    feed(log, ROOM_A, 1, 2, 3)
    log.on_event(relation(ROOM_A, "$thread", "m.thread", "$a1"), 4, None)
    log.on_event(relation(ROOM_A, "$edit", "m.replace", "$a3"), 5, None)
    ids = [EventID(i) for i in ("$a1", "$a2", "$a3", "$thread", "$edit")]
    assert log.related(ROOM_A, ids) == [EventID("$a1"), EventID("$a3")]
    assert log.related(ROOM_A, [EventID("$a2")]) == []


def test_reply_without_rel_type_and_malformed_relations_make_no_target() -> None:
    log = RecentEvents()
    feed(log, ROOM_A, 1)
    reply = {"body": "r", "m.relates_to": {"m.in_reply_to": {"event_id": "$a1"}}}
    log.on_event(event(ROOM_A, "$reply", reply), 2, None)
    log.on_event(event(ROOM_A, "$bad1", {"body": "x", "m.relates_to": "$a1"}), 3, None)
    log.on_event(event(ROOM_A, "$bad2", {"body": "x", "m.relates_to": {"event_id": 5}}), 4, None)
    assert log.related(ROOM_A, [EventID("$a1")]) == []


def test_relation_to_an_event_of_another_room_is_noted_in_the_relations_room() -> None:
    log = RecentEvents()
    feed(log, ROOM_A, 1)
    feed(log, ROOM_B, 2)
    log.on_event(relation(ROOM_B, "$r", "m.reference", "$a1"), 3, None)
    assert log.related(ROOM_A, [EventID("$a1")]) == []


def test_related_in_unknown_room_is_every_event() -> None:
    """Without a log nothing is known: every event may have relations."""
    log = RecentEvents()
    ids = [EventID("$1"), EventID("$2")]
    assert log.related(ROOM_A, ids) == ids


def test_too_many_relation_targets_drop_the_room() -> None:
    log = RecentEvents(per_room=2)
    feed(log, ROOM_A, 1)
    for i in range(8):  # 4 * per_room targets: still kept
        log.on_event(relation(ROOM_A, f"$r{i}", "m.annotation", f"$t{i}"), 2 + i, None)
    assert log.between(ROOM_A, 9, 20) == []
    log.on_event(relation(ROOM_A, "$r8", "m.annotation", "$t8"), 10, None)
    assert log.between(ROOM_A, 9, 20) is None
    ids = [EventID("$t0"), EventID("$t8")]
    assert log.related(ROOM_A, ids) == ids
    feed(log, ROOM_A, 11)  # starts afresh
    assert streams(log.between(ROOM_A, 10, 20)) == [11]
    assert log.related(ROOM_A, ids) == []


# Which rooms are kept


def test_least_recently_active_room_is_evicted() -> None:
    log = RecentEvents(max_rooms=2)
    feed(log, ROOM_A, 1)
    feed(log, ROOM_B, 2)
    feed(log, ROOM_A, 3)  # A is now the most recent
    feed(log, ROOM_C, 4)  # over the limit: B goes
    assert log.between(ROOM_B, 1, 10) is None
    assert streams(log.between(ROOM_A, 0, 10)) == [1, 3]
    assert streams(log.between(ROOM_C, 3, 10)) == [4]


def test_evicted_room_comes_back_covering_only_its_new_events() -> None:
    log = RecentEvents(max_rooms=1)
    feed(log, ROOM_A, 1, 2)
    feed(log, ROOM_B, 3)
    assert log.between(ROOM_A, 0, 10) is None
    feed(log, ROOM_A, 4)
    assert log.between(ROOM_B, 2, 10) is None
    assert log.between(ROOM_A, 2, 10) is None  # 1 and 2 are gone: only after 3 is covered
    assert streams(log.between(ROOM_A, 3, 10)) == [4]
