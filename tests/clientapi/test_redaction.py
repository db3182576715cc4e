"""PUT /rooms/{roomId}/redact/{eventId}/{txnId}: who may redact, and that the content is gone
from storage, not just hidden."""

from __future__ import annotations

import pytest

from homeserver.appkeys import EVENTS
from homeserver.ids import EventID
from tests.clientapi.room_helpers import create_room, event_count, send_text, state_content, stored_event_json
from tests.clientapi.util import assert_error
from tests.helpers import HomeserverUnderTest


@pytest.mark.parametrize("version", ["10", "12"])
async def test_redact_own_event_removes_content_from_storage(hs: HomeserverUnderTest, version: str) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await create_room(alice, preset="public_chat", room_version=version)
    await bob.post(f"/join/{room}")
    target = await send_text(bob, room, "my credit card number")
    stored = await stored_event_json(hs, target)
    assert stored is not None and stored["content"]["body"] == "my credit card number"

    redaction = await bob.put(f"/rooms/{room}/redact/{target}/r1", {"reason": "oops"})

    stored = await stored_event_json(hs, target)
    assert stored is not None
    assert stored["content"] == {}
    assert "credit card" not in str(stored)
    assert stored["signatures"] and stored["hashes"]  # still a valid (redacted) PDU
    seen = await alice.get(f"/rooms/{room}/event/{target}")
    assert seen["content"] == {}
    assert seen["unsigned"]["redacted_because"]["event_id"] == redaction["event_id"]
    event = await alice.get(f"/rooms/{room}/event/{redaction['event_id']}")
    assert event["type"] == "m.room.redaction"
    assert event["redacts"] == target
    assert event["content"]["reason"] == "oops"
    if version == "12":
        assert event["content"]["redacts"] == target
    page = await alice.get(f"/rooms/{room}/messages", params={"dir": "b", "limit": "5"})
    by_id = {e["event_id"]: e for e in page["chunk"]}
    assert by_id[target]["content"] == {}


async def test_redaction_is_idempotent_per_txn(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await create_room(alice)
    target = await send_text(alice, room, "x")
    first = await alice.put(f"/rooms/{room}/redact/{target}/same", {})
    count = await event_count(hs, room)
    again = await alice.put(f"/rooms/{room}/redact/{target}/same", {})
    assert again == first
    assert await event_count(hs, room) == count


async def test_redacting_others_needs_the_redact_level(hs: HomeserverUnderTest) -> None:
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    room = await create_room(alice, preset="public_chat")
    await bob.post(f"/join/{room}")
    await carol.post(f"/join/{room}")
    target = await send_text(carol, room, "carol's words")
    count = await event_count(hs, room)
    err = await bob.put(f"/rooms/{room}/redact/{target}/r", {}, expect=403)
    assert_error(err, "M_FORBIDDEN")
    assert await event_count(hs, room) == count
    stored = await stored_event_json(hs, target)
    assert stored is not None and stored["content"]["body"] == "carol's words"
    # alice, the creator, has the power.
    await alice.put(f"/rooms/{room}/redact/{target}/r", {})
    stored = await stored_event_json(hs, target)
    assert stored is not None and stored["content"] == {}
    # With the redact level lowered, bob may too.
    power = await state_content(alice, room, "m.room.power_levels")
    await alice.put(f"/rooms/{room}/state/m.room.power_levels", {**power, "redact": 0})
    other = await send_text(carol, room, "more")
    await bob.put(f"/rooms/{room}/redact/{other}/r", {})
    assert (await stored_event_json(hs, other) or {})["content"] == {}


async def test_redacting_a_state_event_keeps_the_protected_keys(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await create_room(alice, preset="public_chat", name="Named")
    await bob.post(f"/join/{room}")
    name = await alice.get(f"/rooms/{room}/state/m.room.name", params={"format": "event"})
    await alice.put(f"/rooms/{room}/redact/{name['event_id']}/r", {})
    assert await state_content(bob, room, "m.room.name") == {}
    rules = await alice.get(f"/rooms/{room}/state/m.room.join_rules", params={"format": "event"})
    await alice.put(f"/rooms/{room}/redact/{rules['event_id']}/r2", {})
    assert await state_content(bob, room, "m.room.join_rules") == {"join_rule": "public"}
    # The cached copy is gone too: the event read through the store is the redacted one.
    cached = await hs.app[EVENTS].get_event(EventID(name["event_id"]))
    assert cached is not None and cached.content == {}


async def test_redaction_errors(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await create_room(alice, preset="public_chat")
    other = await create_room(alice)
    target = await send_text(alice, room, "x")
    err = await alice.put(f"/rooms/{room}/redact/$unknown/r", {}, expect=404)
    assert_error(err, "M_NOT_FOUND")
    err = await alice.put(f"/rooms/{other}/redact/{target}/r", {}, expect=404)  # wrong room
    assert_error(err, "M_NOT_FOUND")
    err = await alice.put(f"/rooms/{room}/redact/{target}/r", {"reason": 5}, expect=400)
    assert err["errcode"] in ("M_INVALID_PARAM", "M_BAD_JSON")
    err = await alice.put(f"/rooms/{room}/redact/{target}/r", data=b"}", expect=400)
    assert_error(err, "M_NOT_JSON")
    err = await bob.put(f"/rooms/{room}/redact/{target}/r", {}, expect=403)  # not in the room
    assert_error(err, "M_FORBIDDEN")
    create = await alice.get(f"/rooms/{room}/state/m.room.create", params={"format": "event"})
    err = await alice.put(f"/rooms/{room}/redact/{create['event_id']}/r", {}, expect=403)
    assert_error(err, "M_FORBIDDEN")
    stored = await stored_event_json(hs, target)
    assert stored is not None and stored["content"]["body"] == "x"


async def test_former_member_cannot_redact_own_event(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await create_room(alice, preset="public_chat")
    await bob.post(f"/join/{room}")
    target = await send_text(bob, room, "said before leaving")
    await bob.post(f"/rooms/{room}/leave")
    err = await bob.put(f"/rooms/{room}/redact/{target}/r", {}, expect=403)
    assert_error(err, "M_FORBIDDEN")
    stored = await stored_event_json(hs, target)
    assert stored is not None and stored["content"]["body"] == "said before leaving"
