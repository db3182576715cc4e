"""Incremental /sync: every event exactly once and in order, transaction IDs only for the
sending device, the same answers from a server whose in-memory log of recent events is cold
as from a warm one, limited timelines, bundled relations inside one window, rejoined rooms,
long-poll wake-ups (and the ones that must not happen), bad since tokens, and listeners
sharing one range of the room."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest

from homeserver.appkeys import NOTIFIER, SYNC
from homeserver.filters import SyncFilter
from homeserver.ids import RoomID
from homeserver.sync.recent import RecentEvent, RecentEvents
from homeserver.sync.request import SyncRequest
from homeserver.sync.tokens import SyncToken
from tests.clientapi.stream_helpers import uid
from tests.helpers import HomeserverUnderTest, MatrixClient

_txn = itertools.count()
WITHIN_S = 20  # bounds an await on something that must come; never reached when it works


async def sync(
    client: MatrixClient, since: str | None = None, *, limit: int | None = None, timeout_ms: int = 0
) -> dict[str, Any]:
    params = {"timeout": str(timeout_ms)}
    if since is not None:
        params["since"] = since
    if limit is not None:
        params["filter"] = json.dumps({"room": {"timeline": {"limit": limit}}})
    body: dict[str, Any] = await client.get("/sync", params=params)
    return body


def section(body: dict[str, Any], room: str) -> dict[str, Any]:
    found: dict[str, Any] = body["rooms"]["join"].get(room, {})
    return found


def timeline(body: dict[str, Any], room: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = section(body, room).get("timeline", {}).get("events", [])
    return events


def ids(events: list[dict[str, Any]]) -> list[str]:
    return [e["event_id"] for e in events]


async def send(client: MatrixClient, room: str, body: str, **extra: Any) -> tuple[str, str]:
    """Send an m.text message; returns (event ID, transaction ID)."""
    txn = f"txn{next(_txn)}"
    content = {"msgtype": "m.text", "body": body, **extra}
    result = await client.put(f"/rooms/{room}/send/m.room.message/{txn}", content)
    return result["event_id"], txn


async def text(client: MatrixClient, room: str, body: str, **extra: Any) -> str:
    return (await send(client, room, body, **extra))[0]


async def fix_typo(client: MatrixClient, room: str, original: str) -> str:
    """An edit of `original` to "hello"; returns its event ID."""
    new_content = {"msgtype": "m.text", "body": "hello"}
    relation = {"rel_type": "m.replace", "event_id": original}
    return await text(client, room, "* hello", **{"m.new_content": new_content, "m.relates_to": relation})


async def public_room(owner: MatrixClient, *members: MatrixClient) -> str:
    room: str = (await owner.post("/createRoom", {"preset": "public_chat", "name": "Inc"}))["room_id"]
    for member in members:
        await member.post(f"/join/{room}")
    return room


def recent_log(hs: HomeserverUnderTest) -> RecentEvents:
    log: RecentEvents = hs.app[SYNC]._sections._recent
    return log


def count_log_answers(log: RecentEvents, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts, from now on, the sections the log could answer ([answered, not covered])."""
    counts = [0, 0]
    original = log.between

    def between(room_id: RoomID, since: int, until: int) -> list[RecentEvent] | None:
        answer = original(room_id, since, until)
        counts[answer is None] += 1
        return answer

    monkeypatch.setattr(log, "between", between)
    return counts


# (a) Every event exactly once, in order; transaction IDs for the sending device only


async def test_interleaved_sends_and_syncs_deliver_each_event_once_in_order(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    alice2 = await hs.login("alice")
    room = await public_room(alice, bob)
    readers = {"alice": alice, "alice2": alice2, "bob": bob}
    since = {name: (await sync(client))["next_batch"] for name, client in readers.items()}
    seen: dict[str, list[dict[str, Any]]] = {name: [] for name in readers}
    sent_by: dict[str, tuple[str, str]] = {}  # event ID -> (sending client, transaction ID)

    async def sync_into(name: str, timeout_ms: int = 0) -> None:
        body = await sync(readers[name], since[name], timeout_ms=timeout_ms)
        if room in body["rooms"]["join"]:
            assert section(body, room)["timeline"]["limited"] is False
        seen[name] += timeline(body, room)
        since[name] = body["next_batch"]

    async def send_as(name: str, i: int, j: int) -> None:
        event_id, txn = await send(readers[name], room, f"{i}.{j}")
        sent_by[event_id] = (name, txn)

    senders = ["alice", "alice2", "bob"]
    for i in range(12):
        poll = asyncio.create_task(sync_into("bob", timeout_ms=10_000)) if i % 3 == 0 else None
        batch = [(senders[(i + j) % 3], j) for j in range(i % 4)]
        if i % 2:
            await asyncio.gather(*(send_as(name, i, j) for name, j in batch))
        else:
            for name, j in batch:
                await send_as(name, i, j)
        if poll is not None:
            if not batch:
                await send_as("alice", i, 9)  # the poll returns only with something new
            await asyncio.wait_for(poll, WITHIN_S)
        for name in readers:
            await sync_into(name)

    page = await alice.get(f"/rooms/{room}/messages", params={"dir": "b", "limit": "100"})
    in_order = [e["event_id"] for e in reversed(page["chunk"]) if e["event_id"] in sent_by]
    assert sorted(in_order) == sorted(sent_by)
    for name, events in seen.items():
        assert ids(events) == in_order, name
        for event in events:
            sender, txn = sent_by[event["event_id"]]
            if sender == name:
                assert event["unsigned"]["transaction_id"] == txn, (name, event)
            else:
                assert "transaction_id" not in event.get("unsigned", {}), (name, event)


async def test_second_device_does_not_see_the_transaction_id(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    alice2 = await hs.login("alice")
    room = await public_room(alice)
    first, second = (await sync(alice))["next_batch"], (await sync(alice2))["next_batch"]
    event_id, txn = await send(alice, room, "from device one")
    redaction = (await alice.put(f"/rooms/{room}/redact/{event_id}/redact-txn", {}))["event_id"]
    mine, other = timeline(await sync(alice, first), room), timeline(await sync(alice2, second), room)
    assert ids(mine) == ids(other) == [event_id, redaction]
    assert [e["unsigned"].get("transaction_id") for e in mine] == [txn, "redact-txn"]
    assert all("transaction_id" not in e.get("unsigned", {}) for e in other)


async def test_window_longer_than_the_log_is_still_complete(hs: HomeserverUnderTest) -> None:
    """More new events than the in-memory log keeps for a room: the database answers."""
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await public_room(alice, bob)
    since = (await sync(bob))["next_batch"]
    sent = [await text(alice, room, str(i)) for i in range(75)]
    middle = (await sync(bob, since, limit=100))["next_batch"]
    more = [await text(alice, room, f"more {i}") for i in range(3)]
    body = await sync(bob, since, limit=100)
    assert ids(timeline(body, room)) == sent + more
    assert section(body, room)["timeline"]["limited"] is False
    assert ids(timeline(await sync(bob, middle), room)) == more


# (b) A cold log gives the same answers as a warm one


def comparable(body: dict[str, Any]) -> dict[str, Any]:
    """The joined rooms of a response, with what depends on the moment left out."""

    def strip(value: Any, key: str = "") -> Any:  # `age` in any `unsigned`, bundles included
        if isinstance(value, dict):
            return {k: strip(v, k) for k, v in value.items() if not (key == "unsigned" and k == "age")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    out: dict[str, Any] = {}
    for room, joined in body["rooms"]["join"].items():
        out[room] = {
            "timeline": [strip(e) for e in joined["timeline"]["events"]],
            "limited": joined["timeline"]["limited"],
            "prev_batch": joined["timeline"].get("prev_batch"),
            "state": sorted(e["event_id"] for e in joined["state"]["events"]),
            "summary": joined.get("summary"),
        }
    return out


async def test_cold_log_answers_like_a_warm_one(
    hs: HomeserverUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await public_room(alice, bob)
    other = await public_room(bob, alice)
    tokens = [(await sync(bob))["next_batch"]]

    async def step(action: Callable[[], Awaitable[object]]) -> None:
        await action()
        tokens.append((await sync(bob))["next_batch"])

    async def messages(n: int, who: MatrixClient = alice, where: str = room) -> None:
        for i in range(n):
            await text(who, where, f"m{i}")

    first = await text(alice, room, "first")
    tokens.append((await sync(bob))["next_batch"])
    await step(lambda: messages(3))
    await step(lambda: alice.put(f"/rooms/{room}/state/m.room.topic", {"topic": "t1"}))
    await step(lambda: messages(6))  # more than the smaller limit below

    async def relations() -> None:
        root = await text(alice, room, "root")
        await text(bob, room, "reply", **{"m.relates_to": {"rel_type": "m.thread", "event_id": root}})
        edit = {"m.new_content": {"msgtype": "m.text", "body": "root!"}}
        await text(
            alice, room, "* root!", **edit, **{"m.relates_to": {"rel_type": "m.replace", "event_id": root}}
        )
        await alice.put(f"/rooms/{room}/redact/{first}/red{next(_txn)}", {"reason": "old"})

    await step(relations)
    await step(lambda: messages(2, bob, other))
    await step(lambda: bob.put(f"/rooms/{other}/state/m.room.name", {"name": "renamed"}))
    carol = await hs.register("carol")
    await step(lambda: carol.post(f"/join/{room}"))
    await step(lambda: messages(1))

    async def message_and_its_redaction() -> None:
        doomed = await text(alice, room, "doomed")
        await bob.put(
            f"/rooms/{room}/send/m.room.message/late{next(_txn)}", {"msgtype": "m.text", "body": "x"}
        )
        await alice.put(f"/rooms/{room}/redact/{doomed}/red{next(_txn)}", {})

    await step(message_and_its_redaction)

    warm_counts = count_log_answers(recent_log(hs), monkeypatch)
    cold = HomeserverUnderTest(hs.config)
    await cold.start()
    try:
        cold_counts = count_log_answers(recent_log(cold), monkeypatch)
        for user in (alice, bob):
            on_cold = cold.client(user.access_token)
            for since in tokens:
                for limit in (5, 20):
                    warm_body = await sync(user, since, limit=limit)
                    cold_body = await sync(on_cold, since, limit=limit)
                    cold_rooms, warm_rooms = comparable(cold_body), comparable(warm_body)
                    assert cold_rooms == warm_rooms, (
                        user.user_id,
                        since,
                        limit,
                        differences(cold_rooms, warm_rooms),
                    )
                    # Two servers on one database: each counts presence and the other
                    # ephemeral streams itself, so only the room positions must agree.
                    cold_token = SyncToken.parse(cold_body["next_batch"])
                    assert cold_token.rooms == SyncToken.parse(warm_body["next_batch"]).rooms
    finally:
        await cold.stop()
    assert warm_counts[0] > 0  # the warm server did answer from its log
    assert cold_counts[0] == 0


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two JSON values differ, as readable paths (for assertion messages)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [
            d for k in sorted(a.keys() | b.keys()) for d in differences(a.get(k), b.get(k), f"{path}.{k}")
        ]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, f"{path}[{i}]")
        ]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


# (c) Limited timelines


async def test_more_events_than_the_limit_is_limited_with_prev_batch_and_state_delta(
    hs: HomeserverUnderTest,
) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await public_room(alice, bob)
    since = (await sync(bob))["next_batch"]
    await alice.put(f"/rooms/{room}/state/m.room.topic", {"topic": "in the gap"})
    sent = [await text(alice, room, str(i)) for i in range(5)]
    body = await sync(bob, since, limit=3)
    joined = section(body, room)
    assert joined["timeline"]["limited"] is True
    assert ids(joined["timeline"]["events"]) == sent[-3:]
    state = {(e["type"], e["state_key"]): e for e in joined["state"]["events"]}
    assert set(state) == {("m.room.topic", "")}  # only what changed in the gap
    assert state["m.room.topic", ""]["content"] == {"topic": "in the gap"}
    page = await bob.get(
        f"/rooms/{room}/messages", params={"dir": "b", "from": joined["timeline"]["prev_batch"], "limit": "1"}
    )
    assert ids(page["chunk"]) == [sent[1]]


async def test_exactly_the_limit_is_not_limited(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await public_room(alice, bob)
    since = (await sync(bob))["next_batch"]
    topic = (await alice.put(f"/rooms/{room}/state/m.room.topic", {"topic": "inside"}))["event_id"]
    sent = [topic] + [await text(alice, room, str(i)) for i in range(2)]
    joined = section(await sync(bob, since, limit=3), room)
    assert joined["timeline"]["limited"] is False
    assert ids(joined["timeline"]["events"]) == sent
    assert joined["state"]["events"] == []
    assert "prev_batch" in joined["timeline"]
    over = await text(alice, room, "one more")
    joined = section(await sync(bob, since, limit=3), room)
    assert joined["timeline"]["limited"] is True
    assert ids(joined["timeline"]["events"]) == [*sent[1:], over]
    assert [e["event_id"] for e in joined["state"]["events"]] == [topic]


# (d), (e) Relations inside one window


async def test_thread_root_and_reply_in_one_window_bundle_the_thread(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await public_room(alice, bob)
    since = {c.user_id: (await sync(c))["next_batch"] for c in (alice, bob)}
    root = await text(alice, room, "root")
    reply = await text(bob, room, "reply", **{"m.relates_to": {"rel_type": "m.thread", "event_id": root}})
    for client, participated in ((alice, True), (bob, True)):
        events = timeline(await sync(client, since[client.user_id]), room)
        assert ids(events) == [root, reply]
        thread = events[0]["unsigned"]["m.relations"]["m.thread"]
        assert thread["count"] == 1
        assert thread["latest_event"]["event_id"] == reply
        assert thread["current_user_participated"] is participated
        assert "m.relations" not in events[1].get("unsigned", {})


async def test_thread_bundle_for_a_root_in_the_window_with_replies_after_it(hs: HomeserverUnderTest) -> None:
    """A second device syncing from before the root sees all replies counted."""
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    room = await public_room(alice, bob, carol)
    since = (await sync(carol))["next_batch"]
    root = await text(alice, room, "root")
    relates = {"m.relates_to": {"rel_type": "m.thread", "event_id": root}}
    await text(bob, room, "r1", **relates)
    last = await text(alice, room, "r2", **relates)
    events = timeline(await sync(carol, since), room)
    thread = events[0]["unsigned"]["m.relations"]["m.thread"]
    assert (thread["count"], thread["latest_event"]["event_id"]) == (2, last)
    assert thread["current_user_participated"] is False


async def test_edit_of_an_event_in_the_same_window_is_bundled(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await public_room(alice, bob)
    since = (await sync(bob))["next_batch"]
    original = await text(alice, room, "helo")
    edit = await fix_typo(alice, room, original)
    events = timeline(await sync(bob, since), room)
    assert ids(events) == [original, edit]
    assert events[0]["unsigned"]["m.relations"]["m.replace"]["event_id"] == edit
    assert events[0]["content"]["body"] == "helo"  # the original content is left as it is


async def test_events_without_relations_get_no_bundle(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await public_room(alice, bob)
    since = (await sync(bob))["next_batch"]
    target = await text(alice, room, "plain")
    await bob.put(
        f"/rooms/{room}/send/m.reaction/rx{next(_txn)}",
        {"m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": "👍"}},
    )
    events = timeline(await sync(bob, since), room)
    assert all("m.relations" not in e.get("unsigned", {}) for e in events)


# (f) Leaving and rejoining between two syncs


async def test_rejoin_between_syncs_is_a_newly_joined_room_with_full_state(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await public_room(alice, bob)
    for i in range(3):
        await text(alice, room, f"before {i}")
    since = (await sync(bob))["next_batch"]
    await text(alice, room, "while joined")
    await bob.post(f"/rooms/{room}/leave")
    await text(alice, room, "while away")
    rejoin = (await bob.post(f"/join/{room}"))["room_id"]
    assert rejoin == room
    joined = section(await sync(bob, since, limit=5), room)
    events = joined["timeline"]["events"]
    assert events[-1]["type"] == "m.room.member" and events[-1]["state_key"] == bob.user_id
    assert events[-1]["content"]["membership"] == "join"
    assert len(events) == 5 and joined["timeline"]["limited"] is True  # the newest, not the window
    state_types = {e["type"] for e in joined["state"]["events"]}
    assert {"m.room.create", "m.room.power_levels", "m.room.join_rules"} <= state_types
    assert joined["summary"]["m.joined_member_count"] == 2


async def test_own_displayname_change_does_not_resend_the_room(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await public_room(alice, bob)
    old = await text(alice, room, "already seen")
    since = (await sync(bob))["next_batch"]
    member = await bob.put(
        f"/rooms/{room}/state/m.room.member/{bob.user_id}", {"membership": "join", "displayname": "Bobby"}
    )
    new = await text(alice, room, "new")
    joined = section(await sync(bob, since), room)
    assert old not in ids(joined["timeline"]["events"])
    assert ids(joined["timeline"]["events"]) == [member["event_id"], new]
    assert joined["state"]["events"] == []


# (g) Long-poll wake-ups


class PollWatch:
    """Tells when a user's long-poll starts waiting on the notifier, and how each wait ended."""

    def __init__(self, hs: HomeserverUnderTest, monkeypatch: pytest.MonkeyPatch) -> None:
        notifier = hs.app[NOTIFIER]
        original = notifier.wait_for
        self._armed: dict[str, asyncio.Event] = {}
        self.ended: dict[str, list[bool]] = {}

        async def wait_for(user_id: str, rooms: Any, timeout_s: float) -> bool:
            armed = self._armed.pop(user_id, None)
            if armed is not None:
                armed.set()  # the poll registers before it first yields: no change is missed
            woken = await original(user_id, rooms, timeout_s)
            self.ended.setdefault(user_id, []).append(woken)
            return woken

        monkeypatch.setattr(notifier, "wait_for", wait_for)

    async def poll(self, client: MatrixClient, since: str, timeout_ms: int) -> asyncio.Task[dict[str, Any]]:
        """Start a long-poll and return once it waits."""
        assert client.user_id is not None
        armed = self._armed[client.user_id] = asyncio.Event()
        task = asyncio.create_task(sync(client, since, timeout_ms=timeout_ms))
        await asyncio.wait_for(armed.wait(), WITHIN_S)
        return task


async def test_send_in_a_room_the_user_is_not_in_does_not_end_the_poll(
    hs: HomeserverUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    room = await public_room(alice, bob)
    elsewhere = await public_room(carol)
    watch = PollWatch(hs, monkeypatch)
    since = (await sync(bob))["next_batch"]
    poll = await watch.poll(bob, since, timeout_ms=300)
    await text(carol, elsewhere, "not for bob")
    body = await asyncio.wait_for(poll, WITHIN_S)
    assert body["rooms"] == {"join": {}, "invite": {}, "leave": {}, "knock": {}}
    assert watch.ended[bob.user_id or ""] == [False]  # one wait, to its timeout
    poll = await watch.poll(bob, body["next_batch"], timeout_ms=WITHIN_S * 1000)
    sent = await text(alice, room, "for bob")
    body = await asyncio.wait_for(poll, WITHIN_S)
    assert ids(timeline(body, room)) == [sent]
    assert watch.ended[bob.user_id or ""] == [False, True]


async def test_invite_wakes_the_invitees_poll(
    hs: HomeserverUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    watch = PollWatch(hs, monkeypatch)
    since = (await sync(bob))["next_batch"]
    poll = await watch.poll(bob, since, timeout_ms=WITHIN_S * 1000)
    room = (await alice.post("/createRoom", {"name": "For Bob", "invite": [bob.user_id]}))["room_id"]
    body = await asyncio.wait_for(poll, WITHIN_S)
    assert list(body["rooms"]["invite"]) == [room]
    assert watch.ended[bob.user_id or ""] == [True]


async def test_join_from_another_device_wakes_the_poll_and_the_next_poll_waits_there(
    hs: HomeserverUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    bob_phone = await hs.login("bob")
    room = await public_room(alice)
    watch = PollWatch(hs, monkeypatch)
    since = (await sync(bob))["next_batch"]
    poll = await watch.poll(bob, since, timeout_ms=WITHIN_S * 1000)
    await bob_phone.post(f"/join/{room}")
    body = await asyncio.wait_for(poll, WITHIN_S)
    assert timeline(body, room)[-1]["state_key"] == bob.user_id
    poll = await watch.poll(bob, body["next_batch"], timeout_ms=WITHIN_S * 1000)
    sent = await text(alice, room, "now you hear me")
    assert ids(timeline(await asyncio.wait_for(poll, WITHIN_S), room)) == [sent]
    assert watch.ended[bob.user_id or ""] == [True, True]


# (h) Since tokens


@pytest.mark.parametrize(
    "token",
    [
        "s1_x",
        "abc",
        "s" + "_".join(["1"] * 8),
        "s-1_2",
        "s1_-2",
        "s1_2_",
        "s1",
        "s",
        "s_",
        "s1__2",
        "S1_2",
        "t1_2",
        "s 1_2",
        "s+1_2",
        "s1.5_2",
        "s\uff11_2",  # a fullwidth digit
        "s\u0661_2",  # an Arabic-Indic digit
        "s" + "1" * 300 + "_2",
    ],
)
async def test_bad_since_token_is_invalid_param(hs: HomeserverUnderTest, token: str) -> None:
    alice = await hs.register("alice")
    err = await alice.get("/sync", params={"since": token}, expect=400)
    assert err["errcode"] == "M_INVALID_PARAM"


async def test_older_two_position_token_still_works(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await public_room(alice, bob)
    full = (await sync(bob))["next_batch"]
    rooms_pos, account_pos = full[1:].split("_")[:2]
    sent = await text(alice, room, "after the old token")
    body = await sync(bob, f"s{rooms_pos}_{account_pos}")
    assert ids(timeline(body, room)) == [sent]
    assert body["next_batch"].count("_") == 6  # answered with a full token


async def test_every_token_length_from_two_to_seven_parses(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    current = (await sync(alice))["next_batch"][1:].split("_")
    for n in range(2, 8):
        await sync(alice, "s" + "_".join(current[:n]))


# (g) Listeners asking for the same range share its fetch, not what is theirs


async def test_one_range_for_several_listeners_keeps_each_ones_own_parts(hs: HomeserverUnderTest) -> None:
    """The sender's device sees its transaction ID, a member ignoring the sender sees none of
    their messages, the others see them plain: all asking from one token for one range."""
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    room = await public_room(alice, bob, carol)
    await carol.put(
        f"/user/{carol.user_id}/account_data/m.ignored_user_list", {"ignored_users": {alice.user_id: {}}}
    )
    since = (await sync(bob))["next_batch"]
    event_id, txn = await send(alice, room, "to everyone")
    bob_sees = timeline(await sync(bob, since), room)
    alice_sees = timeline(await sync(alice, since), room)
    carol_body = await sync(carol, since)
    assert ids(bob_sees) == ids(alice_sees) == [event_id]
    assert "transaction_id" not in bob_sees[0]["unsigned"]
    assert alice_sees[0]["unsigned"]["transaction_id"] == txn
    assert timeline(carol_body, room) == []


async def test_a_shared_range_is_read_again_once_the_room_moves_on(hs: HomeserverUnderTest) -> None:
    """An edit after the range changes what the range shows (its bundle): a range answered
    before it is not reused after it."""
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await public_room(alice, bob)
    handler = hs.app[SYNC]
    since = SyncToken.parse((await sync(bob))["next_batch"])
    original = await text(alice, room, "helo")
    until = handler.current_token().rooms
    membership = next(m for m in await handler._store.memberships(uid(bob)) if m.room_id == room)
    assert bob.device_id is not None
    request = SyncRequest(uid(bob), bob.device_id, since, SyncFilter(), False, 0)

    async def events_of_the_range() -> list[dict[str, Any]]:
        section = await handler._sections.section(
            request, membership, since.rooms, until, frozenset(), stayed_joined=True
        )
        return [json.loads(orjson.dumps(e)) for e in section["timeline"]["events"]]

    before = await events_of_the_range()
    edit = await fix_typo(alice, room, original)
    after = await events_of_the_range()
    assert ids(before) == ids(after) == [original]
    assert "m.relations" not in before[0]["unsigned"]
    assert after[0]["unsigned"]["m.relations"]["m.replace"]["event_id"] == edit


async def test_a_member_of_many_rooms_gets_just_the_rooms_with_news(hs: HomeserverUnderTest) -> None:
    """Of twelve rooms, the incremental sync carries the one with a message, the one with a
    receipt and the one with room account data, each with only its own news; a leave shows
    under `leave`."""
    alice, bob = await hs.register("alice"), await hs.register("bob")
    rooms = [await public_room(alice, bob) for _ in range(12)]
    target = await text(alice, rooms[4], "read me")
    since = (await sync(bob))["next_batch"]
    message = await text(alice, rooms[2], "news")
    await alice.post(f"/rooms/{rooms[4]}/receipt/m.read/{target}", {})
    await bob.put(f"/user/{bob.user_id}/rooms/{rooms[7]}/account_data/org.example.tag", {"x": 1})
    await bob.post(f"/rooms/{rooms[9]}/leave", {})
    body = await sync(bob, since)
    joined = body["rooms"]["join"]
    assert sorted(joined) == sorted([rooms[2], rooms[4], rooms[7]])
    assert ids(timeline(body, rooms[2])) == [message]
    assert [e["type"] for e in joined[rooms[4]]["ephemeral"]["events"]] == ["m.receipt"]
    assert timeline(body, rooms[4]) == [] and timeline(body, rooms[7]) == []
    assert [e["type"] for e in joined[rooms[7]]["account_data"]["events"]] == ["org.example.tag"]
    assert list(body["rooms"]["leave"]) == [rooms[9]]
    again = await sync(bob, body["next_batch"])
    assert again["rooms"]["join"] == {} and again["rooms"]["leave"] == {}
