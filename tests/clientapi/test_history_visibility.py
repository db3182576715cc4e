"""History visibility (spec: "History visibility") as /messages and /event apply it."""

from __future__ import annotations

from tests.clientapi.room_helpers import bodies, create_room, messages, send_text
from tests.helpers import HomeserverUnderTest, MatrixClient


async def room_with_visibility(alice: MatrixClient, visibility: str, **body: object) -> str:
    room = await create_room(
        alice,
        preset="public_chat",
        initial_state=[{"type": "m.room.history_visibility", "content": {"history_visibility": visibility}}],
        **body,
    )
    return room


async def test_joined(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await room_with_visibility(alice, "joined")
    before = await send_text(alice, room, "before")
    await alice.post(f"/rooms/{room}/invite", {"user_id": bob.user_id})
    await send_text(alice, room, "while invited")
    await bob.post(f"/join/{room}")
    await send_text(alice, room, "after")
    assert await bodies(bob, room, limit=50) == ["after"]
    await bob.get(f"/rooms/{room}/event/{before}", expect=404)
    page = await messages(bob, room, limit=50)
    # bob sees his own membership changes.
    own = [e["content"]["membership"] for e in page["chunk"] if e.get("state_key") == bob.user_id]
    assert own == ["join", "invite"]


async def test_shared(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await room_with_visibility(alice, "shared")
    early = await send_text(alice, room, "before")
    await bob.post(f"/join/{room}")
    await send_text(alice, room, "after")
    assert await bodies(bob, room, limit=50) == ["after", "before"]
    assert (await bob.get(f"/rooms/{room}/event/{early}"))["content"]["body"] == "before"


async def test_invited(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await room_with_visibility(alice, "invited")
    await send_text(alice, room, "before")
    await alice.post(f"/rooms/{room}/invite", {"user_id": bob.user_id})
    await send_text(alice, room, "while invited")
    await bob.post(f"/join/{room}")
    await send_text(alice, room, "after")
    assert await bodies(bob, room, limit=50) == ["after", "while invited"]


async def test_world_readable(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await room_with_visibility(alice, "world_readable")
    await send_text(alice, room, "one")
    await send_text(alice, room, "two")
    assert await bodies(bob, room, limit=50) == ["two", "one"]  # bob never joined
    state = await bob.get(f"/rooms/{room}/state")
    assert any(e["type"] == "m.room.create" for e in state)
    # Once history is no longer world-readable, newer events are hidden from outsiders.
    await alice.put(f"/rooms/{room}/state/m.room.history_visibility", {"history_visibility": "shared"})
    await send_text(alice, room, "three")
    await bob.get(f"/rooms/{room}/messages", params={"dir": "b"}, expect=403)


async def test_a_user_who_left_sees_up_to_the_leave(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await room_with_visibility(alice, "shared")
    await send_text(alice, room, "before join")
    await bob.post(f"/join/{room}")
    await send_text(alice, room, "while joined")
    await bob.post(f"/rooms/{room}/leave")
    after = [await send_text(alice, room, f"after leave {i}") for i in range(30)]
    page = await messages(bob, room, limit=5)
    assert page["chunk"][0]["content"] == {"membership": "leave"}  # bob's own leave comes first
    assert await bodies(bob, room, limit=50) == ["while joined", "before join"]
    await bob.get(f"/rooms/{room}/event/{after[0]}", expect=404)
    forwards = await messages(bob, room, dir="f", limit=100)
    assert not any(e["content"].get("body", "").startswith("after") for e in forwards["chunk"])
    # The state bob sees is the state when he left.
    await alice.put(f"/rooms/{room}/state/m.room.name", {"name": "renamed later"})
    await bob.get(f"/rooms/{room}/state/m.room.name", expect=404)


async def test_kicked_user_sees_the_kick(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await room_with_visibility(alice, "joined")
    await bob.post(f"/join/{room}")
    await send_text(alice, room, "hi bob")
    await alice.post(f"/rooms/{room}/kick", {"user_id": bob.user_id, "reason": "bye"})
    await send_text(alice, room, "bob is gone")
    page = await messages(bob, room, limit=10)
    assert page["chunk"][0]["content"] == {"membership": "leave", "reason": "bye"}
    assert await bodies(bob, room, limit=10) == ["hi bob"]
