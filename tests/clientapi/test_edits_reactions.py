"""Edits (m.replace), reactions (m.annotation) and references: what the server refuses, what
it bundles in unsigned.m.relations, and what redaction undoes."""

from __future__ import annotations

from tests.clientapi.relation_helpers import (
    bundle,
    edit,
    get_event,
    ids,
    public_room,
    react,
    redact,
    relates,
    relation_rows,
    relations,
    send,
    text,
)
from tests.helpers import HomeserverUnderTest

# Edits


async def test_latest_edit_is_bundled_and_the_content_left_intact(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await public_room(alice, bob)
    original = await text(alice, room, "I like cake")
    await edit(alice, room, original, "I like chocolate cake")
    latest = await edit(alice, room, original, "I like lemon cake")

    event = await get_event(bob, room, original)
    assert event["content"]["body"] == "I like cake"  # spec v1.7+: never replaced by the server
    replace = event["unsigned"]["m.relations"]["m.replace"]
    assert replace["event_id"] == latest
    assert replace["sender"] == alice.user_id
    assert replace["content"]["m.new_content"]["body"] == "I like lemon cake"
    assert replace["content"]["m.relates_to"] == {"rel_type": "m.replace", "event_id": original}

    page = await bob.get(f"/rooms/{room}/messages", params={"dir": "b", "limit": "10"})
    served = {e["event_id"]: e for e in page["chunk"]}
    assert served[original]["unsigned"]["m.relations"]["m.replace"]["event_id"] == latest
    assert served[original]["content"]["body"] == "I like cake"
    assert "m.relations" not in served[latest]["unsigned"]  # edits get no bundle of their own


async def test_invalid_replacements_are_not_bundled(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await public_room(alice, bob)
    original = await text(alice, room, "mine")
    by_bob = await edit(bob, room, original, "bob's words")  # another sender
    other_type = await send(
        alice,
        room,
        {"body": "x", "m.new_content": {"body": "y"}, **relates("m.replace", original)},
        "org.example.other",
    )
    no_new_content = await send(
        alice, room, {"msgtype": "m.text", "body": "*", **relates("m.replace", original)}
    )

    assert "m.replace" not in await bundle(alice, room, original)
    # They are still children, as the relations API shows.
    listed = await relations(alice, room, original, "m.replace")
    assert set(ids(listed["chunk"])) == {by_bob, other_type, no_new_content}


async def test_edit_of_an_edit_and_of_a_state_event_are_not_bundled(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await public_room(alice, name="Room")
    original = await text(alice, room, "v1")
    first = await edit(alice, room, original, "v2")
    await edit(alice, room, first, "v3")  # an edit of an edit: ignored
    assert (await bundle(alice, room, original))["m.replace"]["event_id"] == first
    assert await bundle(alice, room, first) == {}

    state = await alice.get(f"/rooms/{room}/state/m.room.name", params={"format": "event"})
    await send(
        alice, room, {"name": "x", "m.new_content": {"name": "y"}, **relates("m.replace", state["event_id"])}
    )
    assert await bundle(alice, room, state["event_id"]) == {}


async def test_redacting_the_latest_edit_reverts_to_the_previous_one(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await public_room(alice)
    original = await text(alice, room, "v1")
    first = await edit(alice, room, original, "v2")
    second = await edit(alice, room, original, "v3")
    await redact(alice, room, second)
    assert (await bundle(alice, room, original))["m.replace"]["event_id"] == first
    await redact(alice, room, first)
    assert "m.replace" not in await bundle(alice, room, original)
    assert await relation_rows(hs, original) == []


async def test_a_redacted_original_gets_no_edit(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await public_room(alice)
    original = await text(alice, room, "v1")
    await edit(alice, room, original, "v2")
    await redact(alice, room, original)
    event = await get_event(alice, room, original)
    assert event["content"] == {}
    assert "m.relations" not in event["unsigned"]


# Reactions


async def test_reactions_are_listed_not_aggregated(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await public_room(alice, bob)
    target = await text(alice, room, "react to me")
    thumbs = await react(bob, room, target, "👍")
    heart = await react(alice, room, target, "❤️")

    # spec v1.7: m.annotation is not part of the bundled aggregations.
    assert await bundle(alice, room, target) == {}
    listed = await relations(alice, room, target, "m.annotation", "m.reaction")
    assert ids(listed["chunk"]) == [heart, thumbs]  # most recent first
    assert listed["chunk"][1]["content"]["m.relates_to"]["key"] == "👍"


async def test_duplicate_annotation_is_refused_and_nothing_stored(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await public_room(alice, bob)
    target = await text(alice, room, "react to me")
    first = await react(bob, room, target, "👍")

    err = await react(bob, room, target, "👍", expect=400)
    assert err["errcode"] == "M_DUPLICATE_ANNOTATION"
    assert await relation_rows(hs, target) == [first]
    page = await alice.get(f"/rooms/{room}/messages", params={"dir": "b", "limit": "50"})
    assert [e["event_id"] for e in page["chunk"] if e["type"] == "m.reaction"] == [first]

    # Another key, another sender or another event type is not a duplicate.
    await react(bob, room, target, "👎")
    await react(alice, room, target, "👍")
    await send(bob, room, relates("m.annotation", target, key="👍"), "org.example.vote")


async def test_redacting_a_reaction_removes_it_and_allows_it_again(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await public_room(alice, bob)
    target = await text(alice, room, "react to me")
    first = await react(bob, room, target, "👍")
    await redact(bob, room, first)

    listed = await relations(alice, room, target, "m.annotation")
    assert listed["chunk"] == []
    assert await relation_rows(hs, target) == []
    again = await react(bob, room, target, "👍")
    assert ids((await relations(alice, room, target))["chunk"]) == [again]


async def test_reactions_that_the_server_refuses(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await public_room(alice)
    other_room = await public_room(alice)
    target = await text(alice, room, "react to me")
    reaction = await react(alice, room, target, "👍")
    edited = await edit(alice, room, target, "edited")
    elsewhere = await text(alice, other_room, "elsewhere")
    doomed = await text(alice, room, "doomed")
    await redact(alice, room, doomed)
    redaction = (await alice.get(f"/rooms/{room}/messages", params={"dir": "b", "limit": "1"}))["chunk"][0]
    assert redaction["type"] == "m.room.redaction"

    for parent in (reaction, edited, redaction["event_id"]):  # annotate the original instead
        err = await react(alice, room, parent, "😀", expect=400)
        assert err["errcode"] == "M_UNKNOWN", parent
    err = await send(alice, room, relates("m.annotation", target), "m.reaction", expect=400)  # no key
    assert err["errcode"] == "M_UNKNOWN"
    err = await react(alice, room, target, "x" * 501, expect=400)
    assert err["errcode"] == "M_UNKNOWN"
    err = await react(alice, room, elsewhere, "👍", expect=400)  # parent in another room
    assert err["errcode"] == "M_UNKNOWN"
    err = await react(alice, room, "$unknown", "👍", expect=400)
    assert err["errcode"] == "M_UNKNOWN"
    assert await relation_rows(hs, target) == sorted([reaction, edited])


async def test_a_reply_is_no_relation(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await public_room(alice)
    target = await text(alice, room, "hello")
    content = {"msgtype": "m.text", "body": "reply", "m.relates_to": {"m.in_reply_to": {"event_id": target}}}
    await send(alice, room, content)
    await send(alice, room, {"body": "x", "m.relates_to": {"rel_type": 5, "event_id": target}})
    await send(
        alice, room, {"body": "x", "m.relates_to": {"rel_type": "m.reference", "event_id": "no-sigil"}}
    )
    assert await relation_rows(hs, target) == []
    assert (await relations(alice, room, target))["chunk"] == []


# References


async def test_references_are_bundled_in_order_and_redaction_removes_them(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await public_room(alice, bob)
    target = await text(alice, room, "start")
    one = await send(bob, room, {"body": "1", **relates("m.reference", target)}, "org.example.step")
    two = await send(alice, room, {"body": "2", **relates("m.reference", target)}, "org.example.step")
    assert (await bundle(bob, room, target))["m.reference"] == {
        "chunk": [{"event_id": one}, {"event_id": two}]
    }
    await redact(bob, room, one)
    assert (await bundle(bob, room, target))["m.reference"] == {"chunk": [{"event_id": two}]}


async def test_context_bundles_the_event_and_its_neighbours(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await public_room(alice)
    before = await text(alice, room, "before")
    fixed_before = await edit(alice, room, before, "before, edited")
    middle = await text(alice, room, "middle")
    fixed_middle = await edit(alice, room, middle, "middle, edited")
    after = await text(alice, room, "after")
    fixed_after = await edit(alice, room, after, "after, edited")

    found = await alice.get(f"/rooms/{room}/context/{middle}", params={"limit": "10"})
    assert found["event"]["unsigned"]["m.relations"]["m.replace"]["event_id"] == fixed_middle
    neighbours = {e["event_id"]: e for e in found["events_before"] + found["events_after"]}
    assert neighbours[before]["unsigned"]["m.relations"]["m.replace"]["event_id"] == fixed_before
    assert neighbours[after]["unsigned"]["m.relations"]["m.replace"]["event_id"] == fixed_after
