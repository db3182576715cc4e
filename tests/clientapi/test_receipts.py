"""Receipts and read markers: POST /receipt and /read_markers, what sync reads back through
`Receipts.for_sync`, private and threaded receipts, receipts never moving backwards, bad
input changing nothing, and long-poll wake-ups."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from homeserver.appkeys import DATABASE, NOTIFIER, RECEIPTS
from homeserver.ids import EventID, RoomID, UserID
from homeserver.notifier import Stream
from homeserver.receipts import Receipts
from homeserver.storage import receipts as receipt_storage
from homeserver.storage.receipts import ReceiptStore
from tests.clientapi.room_helpers import create_room, send_text
from tests.helpers import HomeserverUnderTest, MatrixClient


async def _room(hs: HomeserverUnderTest) -> tuple[MatrixClient, MatrixClient, str]:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await create_room(alice, preset="public_chat")
    await bob.post(f"/join/{room}")
    return alice, bob, room


def _receipts(hs: HomeserverUnderTest) -> Receipts:
    return hs.app[RECEIPTS]


async def _seen_by(hs: HomeserverUnderTest, viewer: MatrixClient, *rooms: str, since: int = 0) -> Any:
    service = _receipts(hs)
    assert viewer.user_id is not None
    return await service.for_sync(UserID(viewer.user_id), [RoomID(r) for r in rooms], since, service.position)


async def _fully_read(client: MatrixClient, room: str, expect: int = 200) -> Any:
    return await client.get(f"/user/{client.user_id}/rooms/{room}/account_data/m.fully_read", expect=expect)


async def _unchanged(hs: HomeserverUnderTest, position: int) -> None:
    """Nothing was written: no receipt row past `position`, the stream did not move."""
    service = _receipts(hs)
    assert service.position == position
    assert await ReceiptStore(hs.app[DATABASE]).max_stream_id() <= position


# Posting receipts


async def test_read_receipt_reaches_the_room(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    event = await send_text(alice, room, "hello")
    assert await bob.post(f"/rooms/{room}/receipt/m.read/{event}", {}) == {}
    seen = await _seen_by(hs, alice, room)
    assert list(seen) == [room]
    data = seen[room][event]["m.read"][bob.user_id]
    assert isinstance(data["ts"], int) and "thread_id" not in data
    assert await _seen_by(hs, bob, room) == seen


async def test_receipt_answers_under_r0_and_with_empty_body(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    event = await send_text(alice, room, "hello")
    await bob.request("POST", f"/_matrix/client/r0/rooms/{room}/receipt/m.read/{event}", data=b"")
    assert bob.user_id in (await _seen_by(hs, alice, room))[room][event]["m.read"]


async def test_private_receipt_is_seen_only_by_its_sender(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    event = await send_text(alice, room, "psst")
    await bob.post(f"/rooms/{room}/receipt/m.read.private/{event}", {})
    assert await _seen_by(hs, alice, room) == {}
    mine = await _seen_by(hs, bob, room)
    assert list(mine[room][event]) == ["m.read.private"]
    assert bob.user_id in mine[room][event]["m.read.private"]


async def test_threaded_receipts_are_kept_apart_from_unthreaded(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    root = await send_text(alice, room, "root")
    first = await send_text(alice, room, "one")
    second = await send_text(alice, room, "two")
    await bob.post(f"/rooms/{room}/receipt/m.read/{second}", {"thread_id": "main"})
    await bob.post(f"/rooms/{room}/receipt/m.read/{first}", {})  # unthreaded: its own marker
    await bob.post(f"/rooms/{room}/receipt/m.read/{root}", {"thread_id": root})
    seen = (await _seen_by(hs, alice, room))[room]
    assert seen[second]["m.read"][bob.user_id]["thread_id"] == "main"
    assert "thread_id" not in seen[first]["m.read"][bob.user_id]
    assert seen[root]["m.read"][bob.user_id]["thread_id"] == root
    store = ReceiptStore(hs.app[DATABASE])
    user = UserID(bob.user_id or "")
    assert (await store.get(RoomID(room), "m.read", user)).event_id == first  # type: ignore[union-attr]
    assert (await store.get(RoomID(room), "m.read", user, "main")).event_id == second  # type: ignore[union-attr]


async def test_receipt_never_moves_backwards(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    older = await send_text(alice, room, "older")
    newer = await send_text(alice, room, "newer")
    await bob.post(f"/rooms/{room}/receipt/m.read/{newer}", {})
    position = _receipts(hs).position
    assert await bob.post(f"/rooms/{room}/receipt/m.read/{older}", {}) == {}
    stored = await ReceiptStore(hs.app[DATABASE]).get(RoomID(room), "m.read", UserID(bob.user_id or ""))
    assert stored is not None and stored.event_id == newer
    assert await _seen_by(hs, alice, room, since=position) == {}
    assert (await _seen_by(hs, alice, room))[room] == {newer: {"m.read": {bob.user_id: stored.data}}}
    # The same event again changes nothing either.
    await bob.post(f"/rooms/{room}/receipt/m.read/{newer}", {})
    assert await _seen_by(hs, alice, room, since=position) == {}


async def test_receipt_types_and_threads_move_independently(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    older = await send_text(alice, room, "older")
    newer = await send_text(alice, room, "newer")
    await bob.post(f"/rooms/{room}/receipt/m.read/{newer}", {})
    # A private or threaded receipt behind the public one is a marker of its own.
    await bob.post(f"/rooms/{room}/receipt/m.read.private/{older}", {})
    await bob.post(f"/rooms/{room}/receipt/m.read/{older}", {"thread_id": "main"})
    seen = (await _seen_by(hs, bob, room))[room]
    assert set(seen[older]) == {"m.read.private", "m.read"}
    assert seen[older]["m.read"][bob.user_id]["thread_id"] == "main"
    assert "thread_id" not in seen[newer]["m.read"][bob.user_id]


async def test_for_sync_reads_many_rooms_in_batches(
    hs: HomeserverUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(receipt_storage, "BATCH", 2)
    alice, bob = await hs.register("alice"), await hs.register("bob")
    rooms, events = [], []
    for _ in range(5):
        room = await create_room(alice, preset="public_chat")
        await bob.post(f"/join/{room}")
        rooms.append(room)
        events.append(await send_text(alice, room, "hi"))
    for room, event in zip(rooms[:3], events[:3], strict=True):
        await bob.post(f"/rooms/{room}/receipt/m.read/{event}", {})
    middle = _receipts(hs).position
    for room, event in zip(rooms[3:], events[3:], strict=True):
        await bob.post(f"/rooms/{room}/receipt/m.read/{event}", {})

    everything = await _seen_by(hs, alice, *rooms)
    assert set(everything) == set(rooms)
    for room, event in zip(rooms, events, strict=True):
        assert list(everything[room]) == [event]
    assert set(await _seen_by(hs, alice, *rooms, since=middle)) == set(rooms[3:])
    assert set(await _seen_by(hs, alice, *rooms[:4], since=middle)) == {rooms[3]}
    service = _receipts(hs)
    until_middle = await service.for_sync(UserID(alice.user_id or ""), [RoomID(r) for r in rooms], 0, middle)
    assert set(until_middle) == set(rooms[:3])
    assert await service.for_sync(UserID(alice.user_id or ""), [], 0, service.position) == {}


async def test_receipts_survive_a_restart(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    event = await send_text(alice, room, "hello")
    await bob.post(f"/rooms/{room}/receipt/m.read/{event}", {})
    position = _receipts(hs).position
    again = HomeserverUnderTest(hs.config)
    await again.start()
    try:
        assert again.app[NOTIFIER].positions[Stream.RECEIPTS] == position == again.app[RECEIPTS].position
        seen = await again.app[RECEIPTS].for_sync(UserID(alice.user_id or ""), [RoomID(room)], 0, position)
        assert bob.user_id in seen[room][event]["m.read"]
    finally:
        await again.stop()


# Fully read markers


async def test_fully_read_receipt_type_writes_the_read_marker(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    event = await send_text(alice, room, "hello")
    position = _receipts(hs).position
    await bob.post(f"/rooms/{room}/receipt/m.fully_read/{event}", {})
    assert await _fully_read(bob, room) == {"event_id": event}
    await _unchanged(hs, position)  # not a receipt: nothing under m.receipt
    assert await _seen_by(hs, bob, room) == {}


async def test_read_markers_sets_marker_and_both_receipts(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    first = await send_text(alice, room, "one")
    second = await send_text(alice, room, "two")
    body = {"m.fully_read": first, "m.read": second, "m.read.private": second}
    assert await bob.post(f"/rooms/{room}/read_markers", body) == {}
    assert await _fully_read(bob, room) == {"event_id": first}
    assert set((await _seen_by(hs, bob, room))[room][second]) == {"m.read", "m.read.private"}
    assert set((await _seen_by(hs, alice, room))[room][second]) == {"m.read"}


async def test_read_markers_fields_are_optional(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    event = await send_text(alice, room, "one")
    await bob.post(f"/rooms/{room}/read_markers", {"m.read": event, "m.fully_read": None})
    await _fully_read(bob, room, expect=404)
    assert bob.user_id in (await _seen_by(hs, alice, room))[room][event]["m.read"]
    assert await bob.post(f"/rooms/{room}/read_markers", {}) == {}


async def test_read_marker_never_moves_backwards(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    older = await send_text(alice, room, "older")
    newer = await send_text(alice, room, "newer")
    await bob.post(f"/rooms/{room}/read_markers", {"m.fully_read": newer})
    await bob.post(f"/rooms/{room}/read_markers", {"m.fully_read": older})
    await bob.post(f"/rooms/{room}/receipt/m.fully_read/{older}", {})
    assert await _fully_read(bob, room) == {"event_id": newer}


async def test_read_marker_cannot_be_set_as_account_data(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    event = await send_text(alice, room, "one")
    err = await bob.put(
        f"/user/{bob.user_id}/rooms/{room}/account_data/m.fully_read", {"event_id": event}, expect=405
    )
    assert err["errcode"] == "M_BAD_JSON"
    await _fully_read(bob, room, expect=404)


# Bad input changes nothing


@pytest.mark.parametrize(
    ("receipt_type", "body", "errcode"),
    [
        ("m.unknown", {}, "M_INVALID_PARAM"),
        ("m.read", {"thread_id": 5}, "M_INVALID_PARAM"),
        ("m.read", {"thread_id": ""}, "M_INVALID_PARAM"),
        ("m.read", {"thread_id": "not-an-event"}, "M_INVALID_PARAM"),
        ("m.read", {"thread_id": ["main"]}, "M_INVALID_PARAM"),
        ("m.read.private", {"thread_id": "$"}, "M_INVALID_PARAM"),
        ("m.fully_read", {"thread_id": "main"}, "M_INVALID_PARAM"),
    ],
)
async def test_bad_receipt_is_refused(
    hs: HomeserverUnderTest, receipt_type: str, body: dict[str, Any], errcode: str
) -> None:
    alice, bob, room = await _room(hs)
    event = await send_text(alice, room, "hello")
    position = _receipts(hs).position
    err = await bob.post(f"/rooms/{room}/receipt/{receipt_type}/{event}", body, expect=400)
    assert err["errcode"] == errcode
    await _unchanged(hs, position)
    await _fully_read(bob, room, expect=404)


async def test_receipt_body_must_be_a_json_object(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    event = await send_text(alice, room, "hello")
    position = _receipts(hs).position
    path = f"/rooms/{room}/receipt/m.read/{event}"
    err = await bob.request("POST", path, data=b"{nope", expect=400)
    assert err["errcode"] == "M_NOT_JSON"
    err = await bob.post(path, ["m.read"], expect=400)
    assert err["errcode"] == "M_BAD_JSON"
    await _unchanged(hs, position)


async def test_receipt_for_unknown_or_foreign_event_is_not_found(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    other_room = await create_room(alice)
    foreign = await send_text(alice, other_room, "elsewhere")
    position = _receipts(hs).position
    for event in ("$nonexistent", foreign):
        for receipt_type in ("m.read", "m.read.private", "m.fully_read"):
            err = await bob.post(f"/rooms/{room}/receipt/{receipt_type}/{event}", {}, expect=404)
            assert err["errcode"] == "M_NOT_FOUND"
    await _unchanged(hs, position)
    await _fully_read(bob, room, expect=404)


async def test_receipt_needs_a_joined_member(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    charlie = await hs.register("charlie")
    event = await send_text(alice, room, "hello")
    await bob.post(f"/rooms/{room}/leave")
    position = _receipts(hs).position
    for client in (bob, charlie):
        for receipt_type in ("m.read", "m.read.private", "m.fully_read"):
            err = await client.post(f"/rooms/{room}/receipt/{receipt_type}/{event}", {}, expect=403)
            assert err["errcode"] == "M_FORBIDDEN"
        err = await client.post(f"/rooms/{room}/read_markers", {"m.read": event}, expect=403)
        assert err["errcode"] == "M_FORBIDDEN"
    err = await charlie.post(f"/rooms/!nowhere:localhost/receipt/m.read/{event}", {}, expect=403)
    assert err["errcode"] == "M_FORBIDDEN"
    await _unchanged(hs, position)


async def test_receipt_path_must_hold_valid_ids(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    event = await send_text(alice, room, "hello")
    position = _receipts(hs).position
    err = await bob.post(f"/rooms/not-a-room/receipt/m.read/{event}", {}, expect=400)
    assert err["errcode"] == "M_INVALID_PARAM"
    err = await bob.post(f"/rooms/{room}/receipt/m.read/not-an-event", {}, expect=400)
    assert err["errcode"] == "M_INVALID_PARAM"
    err = await bob.post(f"/rooms/{room}/receipt/m.read/$" + "x" * 300, {}, expect=400)
    assert err["errcode"] == "M_INVALID_PARAM"
    await _unchanged(hs, position)


@pytest.mark.parametrize(
    "body",
    [
        {"m.fully_read": 1},
        {"m.read": True},
        {"m.read.private": {"event_id": "$x"}},
        {"m.read": "not-an-event"},
        {"m.fully_read": ""},
    ],
)
async def test_bad_read_markers_are_refused(hs: HomeserverUnderTest, body: dict[str, Any]) -> None:
    alice, bob, room = await _room(hs)
    event = await send_text(alice, room, "hello")
    position = _receipts(hs).position
    err = await bob.post(f"/rooms/{room}/read_markers", {"m.fully_read": event, **body}, expect=400)
    assert err["errcode"] == "M_INVALID_PARAM"
    await _unchanged(hs, position)
    await _fully_read(bob, room, expect=404)


async def test_read_markers_with_one_unknown_event_write_nothing(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    event = await send_text(alice, room, "hello")
    position = _receipts(hs).position
    body = {"m.fully_read": event, "m.read": event, "m.read.private": "$missing"}
    err = await bob.post(f"/rooms/{room}/read_markers", body, expect=404)
    assert err["errcode"] == "M_NOT_FOUND"
    await _unchanged(hs, position)
    await _fully_read(bob, room, expect=404)


# Wake-ups


async def test_receipt_wakes_a_waiter_in_the_room(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    event = await send_text(alice, room, "hello")
    notifier = hs.app[NOTIFIER]
    waiter = asyncio.create_task(notifier.wait_for(alice.user_id or "", [room], 30))
    await asyncio.sleep(0)  # registered; it returns only when woken
    await bob.post(f"/rooms/{room}/receipt/m.read/{event}", {})
    assert await waiter is True
    assert notifier.positions[Stream.RECEIPTS] == _receipts(hs).position


async def test_private_receipt_wakes_only_its_sender(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    event = await send_text(alice, room, "hello")
    notifier = hs.app[NOTIFIER]
    theirs = asyncio.create_task(notifier.wait_for(alice.user_id or "", [room], 30))
    mine = asyncio.create_task(notifier.wait_for(bob.user_id or "", [], 30))
    await asyncio.sleep(0)
    await bob.post(f"/rooms/{room}/receipt/m.read.private/{event}", {})
    assert await mine is True
    await bob.get("/account/whoami")  # a full request later, a woken waiter would have returned
    assert not theirs.done()
    theirs.cancel()


async def test_ignored_backward_receipt_still_moves_the_stream(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    older = await send_text(alice, room, "older")
    newer = await send_text(alice, room, "newer")
    await bob.post(f"/rooms/{room}/receipt/m.read/{newer}", {})
    await bob.post(f"/rooms/{room}/receipt/m.read/{older}", {})
    # Nothing in flight: whatever was allocated is visible to readers.
    assert hs.app[NOTIFIER].positions[Stream.RECEIPTS] == _receipts(hs).position


async def test_concurrent_receipts_keep_the_latest(hs: HomeserverUnderTest) -> None:
    alice, bob, room = await _room(hs)
    events = [EventID(await send_text(alice, room, f"m{i}")) for i in range(6)]
    await asyncio.gather(
        *(bob.post(f"/rooms/{room}/receipt/m.read/{e}", {}) for e in reversed(events)),
        *(bob.post(f"/rooms/{room}/receipt/m.read/{e}", {}) for e in events),
    )
    stored = await ReceiptStore(hs.app[DATABASE]).get(RoomID(room), "m.read", UserID(bob.user_id or ""))
    assert stored is not None and stored.event_id == events[-1]
    assert hs.app[NOTIFIER].positions[Stream.RECEIPTS] == _receipts(hs).position
