"""The event pipeline (homeserver/rooms/send.py): a failure anywhere in persistence leaves
nothing partial behind, concurrent sends make a linear DAG, stream positions are only
announced once everything below them is durable, and state deltas add up to the state."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from homeserver.appkeys import DATABASE, EVENTS, NOTIFIER, PIPELINE, ROOMS
from homeserver.events.model import Event
from homeserver.ids import EventID, RoomID, UserID
from homeserver.rooms import send
from homeserver.rooms.heads import Draft
from homeserver.storage import event_writes
from homeserver.storage.events import TxnKey
from homeserver.storage.tables import room_aliases, room_forward_extremities, rooms, state_groups
from tests.clientapi.room_helpers import create_room, current_state_rows, event_count, send_text
from tests.helpers import HomeserverUnderTest, MatrixClient
from tests.homeserver.pipeline_helpers import hold_first_batch, until


class Boom(Exception):
    pass


def fail_on_call(monkeypatch: pytest.MonkeyPatch, name: str, call: int = 1) -> list[Event | None]:
    """Make the write step `event_writes.<name>(conn, ...)` raise on its `call`-th use from
    now on; returns what it was called for, one entry per call (the event, when one of the
    arguments is one)."""
    original: Callable[..., Any] = getattr(event_writes, name)
    seen: list[Event | None] = []

    def failing(conn: Any, *args: Any) -> Any:  # the steps are synchronous, inside the transaction
        events = [e for a in args for e in (a if isinstance(a, list) else [a]) if isinstance(e, Event)]
        seen.append(events[-1] if events else None)
        if len(seen) == call:
            raise Boom(f"{name} failed")
        return original(conn, *args)

    monkeypatch.setattr(event_writes, name, failing)
    return seen


async def snapshot(hs: HomeserverUnderTest, room: str) -> tuple[int, dict[tuple[str, str], str], list[str]]:
    db = hs.app[DATABASE]
    rows = await db.fetch_all(
        select(room_forward_extremities.c.event_id).where(room_forward_extremities.c.room_id == room)
    )
    return await event_count(hs, room), await current_state_rows(hs, room), sorted(r.event_id for r in rows)


async def last_event(hs: HomeserverUnderTest, client: MatrixClient, room: str) -> Event:
    page = await client.get(f"/rooms/{room}/messages", params={"dir": "b", "limit": "1"})
    event = await hs.app[EVENTS].get_event(EventID(page["chunk"][0]["event_id"]))
    assert event is not None
    return event


@pytest.mark.parametrize("step", ["_update_extremities", "_update_current_state", "_insert_state_group"])
async def test_failed_state_event_leaves_nothing(
    hs: HomeserverUnderTest, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    alice = await hs.register("alice")
    room = await create_room(alice, name="before")
    before = await snapshot(hs, room)
    head = await last_event(hs, alice, room)
    store = hs.app[EVENTS]
    seen = fail_on_call(monkeypatch, step)

    await alice.put(f"/rooms/{room}/state/m.room.name", {"name": "after"}, expect=500)

    monkeypatch.undo()
    assert await snapshot(hs, room) == before  # no event row, same current state and DAG head
    assert seen, "the failing step was never reached"
    failed = seen[-1]
    if failed is not None:
        assert await store.get_event(failed.event_id) is None
    assert (await alice.get(f"/rooms/{room}/state/m.room.name")) == {"name": "before"}
    # The room goes on from where it was: prev_events and depth as if nothing happened.
    await alice.put(f"/rooms/{room}/state/m.room.name", {"name": "after"})
    now = await last_event(hs, alice, room)
    assert now.prev_event_ids == [head.event_id]
    assert now.depth == head.depth + 1
    assert (await alice.get(f"/rooms/{room}/state/m.room.name")) == {"name": "after"}


async def test_failed_message_with_txn_can_be_retried(
    hs: HomeserverUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await hs.register("alice")
    room = await create_room(alice)
    head = await last_event(hs, alice, room)
    fail_on_call(monkeypatch, "_update_extremities")
    body = {"msgtype": "m.text", "body": "retry me"}
    await alice.put(f"/rooms/{room}/send/m.room.message/t1", body, expect=500)
    monkeypatch.undo()
    sent = await alice.put(f"/rooms/{room}/send/m.room.message/t1", body)
    event = await hs.app[EVENTS].get_event(EventID(sent["event_id"]))
    assert event is not None and event.prev_event_ids == [head.event_id] and event.depth == head.depth + 1
    again = await alice.put(f"/rooms/{room}/send/m.room.message/t1", body)
    assert again == sent


async def test_failed_send_does_not_hide_later_events_from_stream_readers(
    hs: HomeserverUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream position given to an event that was never stored is skipped harmlessly: a
    reader that has seen everything up to the notifier's position misses nothing after it."""
    alice = await hs.register("alice")
    room = await create_room(alice)
    notifier, store = hs.app[NOTIFIER], hs.app[EVENTS]
    seen_up_to = notifier.room_stream_position
    fail_on_call(monkeypatch, "_update_extremities")
    await send_text(alice, room, "lost", expect=500)
    monkeypatch.undo()
    kept = await send_text(alice, room, "kept")
    assert notifier.room_stream_position == hs.app[PIPELINE].streams.current
    after = await store.room_events_after(RoomID(room), seen_up_to, 10)
    assert after == [kept]


async def test_failed_redaction_keeps_the_content(
    hs: HomeserverUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await hs.register("alice")
    room = await create_room(alice)
    target = await send_text(alice, room, "keep me")
    fail_on_call(monkeypatch, "_update_extremities")
    await alice.put(f"/rooms/{room}/redact/{target}/r", {}, expect=500)
    monkeypatch.undo()
    event = await alice.get(f"/rooms/{room}/event/{target}")
    assert event["content"]["body"] == "keep me"
    await alice.put(f"/rooms/{room}/redact/{target}/r", {})
    assert (await alice.get(f"/rooms/{room}/event/{target}"))["content"] == {}


@pytest.mark.parametrize(
    ("step", "call"),
    [
        ("_insert_state_group", 1),
        ("_update_current_state", 4),
        ("_update_current_state", 9),
        ("_update_extremities", 1),
    ],
)
async def test_failed_create_room_leaves_no_room(
    hs: HomeserverUnderTest, monkeypatch: pytest.MonkeyPatch, step: str, call: int
) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    db = hs.app[DATABASE]
    fail_on_call(monkeypatch, step, call)
    body = {"room_alias_name": "doomed", "name": "n", "topic": "t", "invite": [bob.user_id]}
    await alice.post("/createRoom", body, expect=500)
    monkeypatch.undo()
    assert await event_count(hs) == 0
    for table in (rooms, room_aliases, state_groups):
        assert await db.fetch_value(select(func.count()).select_from(table)) == 0
    assert (await alice.get("/joined_rooms"))["joined_rooms"] == []
    room = await create_room(alice, **body)  # the alias was not taken by the failed attempt
    assert await hs.app[ROOMS].resolve_alias(f"#doomed:{hs.config.server_name}") == room


async def test_concurrent_sends_make_a_linear_dag(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await create_room(alice, preset="public_chat")
    await bob.post(f"/join/{room}")
    head = await last_event(hs, alice, room)
    results = await asyncio.gather(*(send_text(alice if i % 2 else bob, room, f"c{i}") for i in range(20)))
    assert len(set(results)) == 20
    found = await hs.app[EVENTS].get_events([EventID(e) for e in results])
    chain = sorted(found.values(), key=lambda e: e.depth)
    assert [e.depth for e in chain] == list(range(head.depth + 1, head.depth + 21))
    previous = head
    for event in chain:
        assert event.prev_event_ids == [previous.event_id]
        previous = event
    _, _, extremities = await snapshot(hs, room)
    assert extremities == [chain[-1].event_id]
    page = await alice.get(f"/rooms/{room}/messages", params={"dir": "b", "limit": "20"})
    assert [e["event_id"] for e in page["chunk"]] == [e.event_id for e in reversed(chain)]


async def test_concurrent_sends_in_many_rooms(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room_ids = [await create_room(alice) for _ in range(4)]
    await asyncio.gather(*(send_text(alice, r, f"{r}-{i}") for r in room_ids for i in range(5)))
    for room in room_ids:
        page = await alice.get(f"/rooms/{room}/messages", params={"dir": "f", "limit": "50"})
        depths = [(await hs.app[EVENTS].get_event(EventID(e["event_id"]))) for e in page["chunk"]]
        assert [e.depth for e in depths if e is not None] == list(range(1, len(page["chunk"]) + 1))
    assert hs.app[NOTIFIER].room_stream_position == hs.app[PIPELINE].streams.current


async def test_stream_position_waits_for_slower_rooms(
    hs: HomeserverUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Room A takes a position, then stalls in its transaction; room B takes the next one and
    commits first. The notifier must not announce B's position until A is durable."""
    alice = await hs.register("alice")
    slow_room, fast_room = await create_room(alice), await create_room(alice)
    store, notifier = hs.app[EVENTS], hs.app[NOTIFIER]
    release = asyncio.Event()
    stalled = asyncio.Event()
    original = store.persist_many

    async def persist_many(items: Any) -> None:
        if items[0].event.room_id == slow_room:
            stalled.set()
            await release.wait()
        await original(items)

    monkeypatch.setattr(store, "persist_many", persist_many)
    before = notifier.room_stream_position
    slow = asyncio.ensure_future(send_text(alice, slow_room, "slow"))
    await stalled.wait()
    await send_text(alice, fast_room, "fast")
    assert notifier.room_stream_position == before  # position slow+1 is durable, slow is not
    release.set()
    await slow
    assert notifier.room_stream_position == before + 2


async def test_head_is_rebuilt_from_storage(hs: HomeserverUnderTest) -> None:
    """After a restart (or eviction from the head cache) the next event still follows on."""
    alice = await hs.register("alice")
    room = await create_room(alice)
    await alice.put(f"/rooms/{room}/state/org.example.s", {"v": 1})
    head = await last_event(hs, alice, room)
    hs.app[PIPELINE]._heads.clear()
    await alice.put(f"/rooms/{room}/state/org.example.s", {"v": 2})
    now = await last_event(hs, alice, room)
    assert now.prev_event_ids == [head.event_id] and now.depth == head.depth + 1
    store = hs.app[EVENTS]
    meta = (await store.get_meta([now.event_id]))[now.event_id]
    assert meta.state_group is not None
    assert await store.state_ids_at_group(meta.state_group) == await store.current_state_ids(RoomID(room))


async def test_state_deltas_and_snapshots_add_up(
    hs: HomeserverUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(send, "MAX_STATE_CHAIN", 3)
    alice = await hs.register("alice")
    room = await create_room(alice)
    store = hs.app[EVENTS]
    for i in range(10):
        await alice.put(f"/rooms/{room}/state/org.example.k/{i % 4}", {"v": i})
        await send_text(alice, room, f"m{i}")
        event = await last_event(hs, alice, room)
        meta = (await store.get_meta([event.event_id]))[event.event_id]
        assert meta.state_group is not None
        assert await store.state_ids_at_group(meta.state_group) == await store.current_state_ids(RoomID(room))
    chains = await hs.app[DATABASE].fetch_all(select(state_groups.c.chain_length))
    assert max(r.chain_length for r in chains) <= 3


async def test_sends_queued_together_share_a_transaction(
    hs: HomeserverUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Group commit: drafts queued while a transaction is in flight go into the next one
    together, still each on top of the previous; one refused draft fails alone."""
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await create_room(alice, preset="public_chat")
    await bob.post(f"/join/{room}")
    head = await last_event(hs, alice, room)
    store = hs.app[EVENTS]
    batches, gate = hold_first_batch(monkeypatch, store)
    first = asyncio.ensure_future(send_text(alice, room, "first"))
    await until(lambda: bool(batches))
    rest = [asyncio.ensure_future(send_text(alice, room, f"m{i}")) for i in range(10)]
    refused = asyncio.ensure_future(bob.put(f"/rooms/{room}/state/m.room.name", {"name": "no"}, expect=403))
    await until(lambda: len(hs.app[PIPELINE]._queues[RoomID(room)]) == 11)
    gate.set()
    ids = [await first] + [await r for r in rest]
    assert (await refused)["errcode"] == "M_FORBIDDEN"
    assert batches == [1, 10]
    found = await store.get_events([EventID(e) for e in ids])
    chain = sorted(found.values(), key=lambda e: e.depth)
    assert chain[0].event_id == ids[0]
    previous = head
    for event in chain:
        assert event.prev_event_ids == [previous.event_id] and event.depth == previous.depth + 1
        previous = event
    _, _, extremities = await snapshot(hs, room)
    assert extremities == [chain[-1].event_id]


async def test_a_failed_batch_fails_all_its_sends_and_the_room_goes_on(
    hs: HomeserverUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await hs.register("alice")
    room = await create_room(alice)
    store = hs.app[EVENTS]
    original = store.persist_many
    calls: list[int] = []
    gate = asyncio.Event()

    async def persist_many(items: Any) -> None:
        calls.append(len(items))
        if len(calls) == 1:
            await gate.wait()
        elif len(calls) == 2:
            raise Boom("the batch's transaction failed")
        await original(items)

    first = asyncio.ensure_future(send_text(alice, room, "first"))
    monkeypatch.setattr(store, "persist_many", persist_many)
    await until(lambda: bool(calls))
    batch = [asyncio.ensure_future(send_text(alice, room, f"x{i}", expect=500)) for i in range(4)]
    await until(lambda: len(hs.app[PIPELINE]._queues[RoomID(room)]) == 4)
    gate.set()
    kept = await first
    assert [(await b)["errcode"] for b in batch] == ["M_UNKNOWN"] * 4
    assert calls == [1, 4]
    monkeypatch.undo()
    _, _, extremities = await snapshot(hs, room)
    assert extremities == [kept]
    await send_text(alice, room, "after")
    now = await last_event(hs, alice, room)
    assert now.prev_event_ids == [EventID(kept)]


async def test_a_cancelled_send_still_completes_and_its_retry_gets_the_event(
    hs: HomeserverUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once queued, a send is written even if its caller goes away; a retry of the same
    transaction, made while the first is still in flight, waits for the same event."""
    alice = await hs.register("alice")
    room = await create_room(alice)
    pipeline = hs.app[PIPELINE]
    txn = TxnKey(UserID(alice.user_id), alice.device_id, "gone", "gone")
    draft = Draft(
        RoomID(room),
        UserID(alice.user_id),
        "m.room.message",
        {"msgtype": "m.text", "body": "patience"},
        txn=txn,
    )
    batches, gate = hold_first_batch(monkeypatch, hs.app[EVENTS])
    first = asyncio.ensure_future(pipeline.send(draft))
    await until(lambda: batches == [1])  # in the writer's transaction
    retry = asyncio.ensure_future(pipeline.send(draft))
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    gate.set()
    event = await retry
    page = await alice.get(f"/rooms/{room}/messages", params={"dir": "b", "limit": "50"})
    texts = [e["event_id"] for e in page["chunk"] if e["type"] == "m.room.message"]
    assert texts == [event.event_id]
    assert batches == [1]
    assert not pipeline._writers and not pipeline._txn_sends


async def test_a_cancelled_send_without_transaction_is_still_written(
    hs: HomeserverUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await hs.register("alice")
    room = await create_room(alice)
    pipeline = hs.app[PIPELINE]
    draft = Draft(
        RoomID(room), UserID(alice.user_id), "m.room.message", {"msgtype": "m.text", "body": "anyway"}
    )
    batches, gate = hold_first_batch(monkeypatch, hs.app[EVENTS])
    sending = asyncio.ensure_future(pipeline.send(draft))
    await until(lambda: batches == [1])
    sending.cancel()
    gate.set()
    with pytest.raises(asyncio.CancelledError):
        await sending
    await until(lambda: not pipeline._writers)
    page = await alice.get(f"/rooms/{room}/messages", params={"dir": "b", "limit": "50"})
    assert [e["content"]["body"] for e in page["chunk"] if e["type"] == "m.room.message"] == ["anyway"]
