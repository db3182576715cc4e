"""POST /search serves its results with bundled aggregations (spec: "Server-side aggregation
of child events" lists /search), like /messages and /context: an edited result carries its
latest edit, a thread root its summary, and so do the context events around a result."""

from __future__ import annotations

from typing import Any

from tests.clientapi.relation_helpers import bundle, edit, public_room, reply_in_thread, text
from tests.helpers import HomeserverUnderTest, MatrixClient


async def _search(client: MatrixClient, term: str, **criteria: Any) -> list[dict[str, Any]]:
    body = {"search_categories": {"room_events": {"search_term": term, **criteria}}}
    results: list[dict[str, Any]] = (await client.post("/search", body))["search_categories"]["room_events"][
        "results"
    ]
    return results


async def test_edited_result_carries_its_edit(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await public_room(alice)
    original = await text(alice, room, "a message with a tpyo")
    fixed = await edit(alice, room, original, "a message without a typo")

    [result] = await _search(alice, "tpyo")
    assert result["result"]["event_id"] == original
    relations = result["result"]["unsigned"]["m.relations"]
    assert relations["m.replace"]["event_id"] == fixed
    served = (await bundle(alice, room, original))["m.replace"]  # the same as /event serves
    assert relations["m.replace"]["content"] == served["content"]
    assert relations["m.replace"]["content"]["m.new_content"]["body"] == "a message without a typo"


async def test_thread_root_result_carries_its_summary(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await public_room(alice, bob)
    root = await text(alice, room, "shall we talk about penguins")
    reply = await reply_in_thread(bob, room, root, "yes, emperor ones")

    [result] = await _search(bob, "penguins")
    thread = result["result"]["unsigned"]["m.relations"]["m.thread"]
    assert thread["count"] == 1
    assert thread["latest_event"]["event_id"] == reply
    assert thread["current_user_participated"] is True


async def test_context_events_carry_their_bundles(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await public_room(alice)
    before = await text(alice, room, "first words")
    await edit(alice, room, before, "first words, edited")
    await text(alice, room, "the needle is here")

    [result] = await _search(alice, "needle", event_context={"before_limit": 2, "after_limit": 0})
    assert "m.relations" not in result["result"].get("unsigned", {})  # nothing relates to it
    by_id = {e["event_id"]: e for e in result["context"]["events_before"]}
    assert by_id[before]["unsigned"]["m.relations"]["m.replace"]["content"]["m.new_content"]["body"] == (
        "first words, edited"
    )
