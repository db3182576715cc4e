"""Send-to-device messaging: PUT /sendToDevice, "*" fan-out, idempotency, limits, and the
inbox as /sync reads it (delivery, acknowledgement by syncing on, truncation)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from homeserver.appkeys import DATABASE, TO_DEVICE
from homeserver.config import Registration
from homeserver.storage.tables import device_inbox, to_device_txns
from homeserver.storage.to_device import ToDeviceStore
from homeserver.to_device import MAX_CONTENT_BYTES, MAX_MESSAGES
from tests.clientapi.conftest import MakeServer
from tests.clientapi.stream_helpers import uid, woken_by
from tests.clientapi.util import assert_error
from tests.helpers import HomeserverUnderTest, MatrixClient

_txn = itertools.count()


async def _send(
    sender: MatrixClient,
    messages: Any,
    *,
    event_type: str = "m.test",
    txn: str | None = None,
    expect: int = 200,
) -> Any:
    txn = txn if txn is not None else f"t{next(_txn)}"
    return await sender.put(f"/sendToDevice/{event_type}/{txn}", {"messages": messages}, expect=expect)


async def _inbox(hs: HomeserverUnderTest, client: MatrixClient, since: int = 0, limit: int = 100) -> Any:
    assert client.device_id is not None
    service = hs.app[TO_DEVICE]
    return await service.for_sync(uid(client), client.device_id, since, service.position, limit)


async def _stored(hs: HomeserverUnderTest, user_id: str | None = None) -> int:
    stmt = select(func.count()).select_from(device_inbox)
    stmt = (
        stmt.where(device_inbox.c.user_id != "")
        if user_id is None
        else stmt.where(device_inbox.c.user_id == user_id)
    )
    return int(await hs.app[DATABASE].fetch_value(stmt))


async def test_message_reaches_the_device(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    assert await _send(alice, {bob.user_id: {bob.device_id: {"key": "value"}}}, event_type="m.room_key") == {}
    events, position = await _inbox(hs, bob)
    assert events == [{"sender": alice.user_id, "type": "m.room_key", "content": {"key": "value"}}]
    assert position == hs.app[TO_DEVICE].position
    assert (await _inbox(hs, alice))[0] == []


async def test_star_reaches_every_device_and_a_named_device_gets_its_own(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    phone, laptop = await hs.login("bob"), await hs.login("bob")
    await _send(alice, {bob.user_id: {"*": {"for": "all"}, laptop.device_id: {"for": "laptop"}}})
    for device in (bob, phone):
        assert [e["content"] for e in (await _inbox(hs, device))[0]] == [{"for": "all"}]
    assert [e["content"] for e in (await _inbox(hs, laptop))[0]] == [{"for": "laptop"}]
    assert await _stored(hs) == 3


async def test_unknown_users_devices_and_other_servers_are_dropped(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    messages = {
        bob.user_id: {"NOSUCHDEVICE": {"a": 1}, "x" * 300: {"a": 2}},
        f"@nobody:{hs.config.server_name}": {"*": {"a": 3}},
        "@someone:elsewhere.example": {"DEVICE": {"a": 4}},  # federation carries these, later
    }
    assert await _send(alice, messages) == {}
    assert await _stored(hs) == 0
    assert (await _inbox(hs, bob))[0] == []


async def test_repeated_transaction_stores_nothing(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    messages = {bob.user_id: {bob.device_id: {"n": 1}}}
    assert await _send(alice, messages, txn="same") == {}
    position = hs.app[TO_DEVICE].position
    assert await _send(alice, messages, txn="same") == {}
    assert hs.app[TO_DEVICE].position == position
    assert len((await _inbox(hs, bob))[0]) == 1
    # The key is (sender, sender's device, txn ID): another device or sender may reuse it.
    alice_phone = await hs.login("alice")
    await _send(alice_phone, messages, txn="same")
    await _send(bob, {alice.user_id: {alice.device_id: {"n": 2}}}, txn="same")
    assert len((await _inbox(hs, bob))[0]) == 2
    assert len((await _inbox(hs, alice))[0]) == 1


async def test_transaction_with_no_recipient_is_still_recorded(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    await _send(alice, {}, txn="empty")
    await _send(alice, {bob.user_id: {bob.device_id: {"late": True}}}, txn="empty")
    assert (await _inbox(hs, bob))[0] == []


# Bodies built for a recipient (user ID, device ID).
BAD_BODIES: list[tuple[Callable[[str, str], Any], str]] = [
    (lambda u, d: {}, "M_MISSING_PARAM"),
    (lambda u, d: {"messages": None}, "M_MISSING_PARAM"),
    (lambda u, d: {"messages": []}, "M_INVALID_PARAM"),
    (lambda u, d: {"messages": "x"}, "M_INVALID_PARAM"),
    (lambda u, d: {"messages": {"not-a-user": {d: {}}}}, "M_INVALID_PARAM"),
    (lambda u, d: {"messages": {"@bob": {d: {}}}}, "M_INVALID_PARAM"),
    (lambda u, d: {"messages": {u: [d]}}, "M_INVALID_PARAM"),
    (lambda u, d: {"messages": {u: {d: "text"}}}, "M_INVALID_PARAM"),
    (lambda u, d: {"messages": {u: {d: {"ok": 1}, "*": 5}}}, "M_INVALID_PARAM"),
    (lambda u, d: {"messages": {u: {d: {"ok": 1}}, "@x:elsewhere.example": {"D": None}}}, "M_INVALID_PARAM"),
]


@pytest.mark.parametrize(("make_body", "errcode"), BAD_BODIES)
async def test_bad_bodies_store_nothing(
    hs: HomeserverUnderTest, make_body: Callable[[str, str], Any], errcode: str
) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    assert bob.user_id is not None and bob.device_id is not None
    err = await alice.put("/sendToDevice/m.test/bad", make_body(bob.user_id, bob.device_id), expect=400)
    assert_error(err, errcode)
    assert await _stored(hs) == 0
    # The transaction ID was not used up: a good request with it is delivered.
    await _send(alice, {bob.user_id: {bob.device_id: {"ok": 1}}}, txn="bad")
    assert len((await _inbox(hs, bob))[0]) == 1


async def test_bad_path_parameters(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    messages: dict[Any, Any] = {bob.user_id: {bob.device_id: {}}}
    assert_error(await _send(alice, messages, txn="t" * 256, expect=400), "M_INVALID_PARAM")
    assert_error(await _send(alice, messages, event_type="m." + "x" * 254, expect=400), "M_INVALID_PARAM")
    assert_error(await _send(alice, messages, txn="nul%00", expect=400), "M_INVALID_PARAM")
    path = "/sendToDevice/m.test/t-json"
    assert_error(await alice.put(path, data=b"{nope", expect=400), "M_NOT_JSON")
    assert_error(await alice.put(path, [messages], expect=400), "M_BAD_JSON")
    assert_error(await hs.client().put(path, {"messages": messages}, expect=401), "M_MISSING_TOKEN")
    assert await _stored(hs) == 0
    count = await hs.app[DATABASE].fetch_value(select(func.count()).select_from(to_device_txns))
    assert count == 0


async def test_too_many_messages_or_too_large_content(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    too_many: dict[Any, Any] = {bob.user_id: {f"D{i}": {} for i in range(MAX_MESSAGES + 1)}}
    assert_error(await _send(alice, too_many, expect=413), "M_TOO_LARGE")
    spread: dict[str, Any] = {f"@u{i}:{hs.config.server_name}": {"D": {}} for i in range(MAX_MESSAGES + 1)}
    assert_error(await _send(alice, spread, expect=413), "M_TOO_LARGE")
    big = {bob.user_id: {bob.device_id: {"blob": "x" * MAX_CONTENT_BYTES}}}
    assert_error(await _send(alice, big, expect=413), "M_TOO_LARGE")
    assert await _stored(hs) == 0
    # At the limits it goes through.
    at_limit = {bob.user_id: {bob.device_id: {"blob": "x" * (MAX_CONTENT_BYTES - 20)}}}
    await _send(alice, at_limit)
    assert len((await _inbox(hs, bob))[0]) == 1


async def test_syncing_on_acknowledges_and_deletes(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    for n in range(3):
        await _send(alice, {bob.user_id: {bob.device_id: {"n": n}}})
    first, position = await _inbox(hs, bob)
    assert [e["content"]["n"] for e in first] == [0, 1, 2]
    # Not yet acknowledged: a retried sync from the same token gets them again.
    again, _ = await _inbox(hs, bob)
    assert again == first
    assert await _stored(hs, bob.user_id) == 3
    # Syncing from the returned position acknowledges them.
    await _send(alice, {bob.user_id: {bob.device_id: {"n": 3}}})
    later, _ = await _inbox(hs, bob, since=position)
    assert [e["content"]["n"] for e in later] == [3]
    assert await _stored(hs, bob.user_id) == 1
    assert [e["content"]["n"] for e in (await _inbox(hs, bob))[0]] == [3]


async def test_truncated_inbox_continues_from_the_position(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    for n in range(5):
        await _send(alice, {bob.user_id: {bob.device_id: {"n": n}}})
    until = hs.app[TO_DEVICE].position
    seen: list[int] = []
    since = 0
    while True:
        events, position = await _inbox(hs, bob, since=since, limit=2)
        seen += [e["content"]["n"] for e in events]
        if position == until:
            break
        assert len(events) == 2 and since < position < until
        since = position
    assert seen == [0, 1, 2, 3, 4]
    assert (await _inbox(hs, bob, since=until))[0] == []
    assert await _stored(hs, bob.user_id) == 0


async def test_stream_position_survives_an_empty_inbox(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    for n in range(2):
        await _send(alice, {bob.user_id: {bob.device_id: {"n": n}}})
    position = hs.app[TO_DEVICE].position
    await _inbox(hs, bob, since=position)
    assert await _stored(hs) == 0
    # A restarted server numbers new messages above every position a client may hold.
    assert await ToDeviceStore(hs.app[DATABASE]).max_stream_id() == position
    await _send(alice, {bob.user_id: {bob.device_id: {"n": 2}}})
    await _inbox(hs, bob, since=hs.app[TO_DEVICE].position)
    assert await ToDeviceStore(hs.app[DATABASE]).max_stream_id() == hs.app[TO_DEVICE].position
    total = await hs.app[DATABASE].fetch_value(select(func.count()).select_from(device_inbox))
    assert total == 1  # one marker, no messages


async def test_deleting_a_device_deletes_its_inbox(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    laptop = await hs.login("bob")
    await _send(alice, {bob.user_id: {"*": {"hello": True}}})
    await _send(laptop, {alice.user_id: {alice.device_id: {"from": "laptop"}}}, txn="from-laptop")
    assert await _stored(hs, bob.user_id) == 2
    await bob.delete(f"/devices/{laptop.device_id}", {"auth": bob.password_auth()})
    assert await _stored(hs, bob.user_id) == 1
    txns = await hs.app[DATABASE].fetch_value(
        select(func.count()).select_from(to_device_txns).where(to_device_txns.c.device_id == laptop.device_id)
    )
    assert txns == 0
    await bob.post("/logout")
    assert await _stored(hs, bob.user_id) == 0


async def test_guests_may_send(make_hs: MakeServer) -> None:
    hs = await make_hs(registration=Registration(allow_guests=True))
    bob = await hs.register("bob")
    result = await hs.client().post("/register", {}, params={"kind": "guest"})
    guest = hs.client(result["access_token"])
    await _send(guest, {bob.user_id: {bob.device_id: {"from": "guest"}}})
    assert (await _inbox(hs, bob))[0][0]["sender"] == result["user_id"]


async def test_message_wakes_the_recipient(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    assert await woken_by(hs, uid(bob), _send(alice, {bob.user_id: {"*": {"wake": 1}}}))
