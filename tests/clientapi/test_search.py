"""POST /search (spec: "Server Side Search"), on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from typing import Any

from tests.clientapi.util import assert_error
from tests.helpers import HomeserverUnderTest, MatrixClient


async def new_room(client: MatrixClient, **body: Any) -> str:
    return str((await client.post("/createRoom", body))["room_id"])


async def say(client: MatrixClient, room: str, body: str) -> str:
    txn = secrets.token_hex(8)
    sent = await client.put(f"/rooms/{room}/send/m.room.message/{txn}", {"msgtype": "m.text", "body": body})
    return str(sent["event_id"])


async def search(client: MatrixClient, term: str, *, next_batch: str | None = None, **criteria: Any) -> Any:
    params = {"next_batch": next_batch} if next_batch is not None else None
    body = {"search_categories": {"room_events": {"search_term": term, **criteria}}}
    return (await client.post("/search", body, params=params))["search_categories"]["room_events"]


def found(results: Any) -> list[str]:
    return [r["result"]["event_id"] for r in results["results"]]


def bodies(results: Any) -> list[str]:
    return [r["result"]["content"].get("body") for r in results["results"]]


async def test_finds_words_in_messages_names_and_topics(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await new_room(alice, name="Martian embassy", topic="Talks with martians")
    hello = await say(alice, room, "Hello MARTIANS, we come in peace")
    await say(alice, room, "nothing to see")

    res = await search(alice, "martians")
    assert res["count"] == 2
    assert set(found(res)) >= {hello}
    assert {r["result"]["type"] for r in res["results"]} == {"m.room.message", "m.room.topic"}
    assert set(res["highlights"]) >= {"martians", "MARTIANS"}
    result = next(r for r in res["results"] if r["result"]["event_id"] == hello)
    assert result["result"]["content"]["body"] == "Hello MARTIANS, we come in peace"
    assert result["result"]["room_id"] == room
    assert isinstance(result["rank"], float) and result["rank"] > 0
    assert "next_batch" not in res and "context" not in result

    assert found(await search(alice, "embassy")) != []
    assert found(await search(alice, "embassy", keys=["content.body"])) == []
    assert bodies(await search(alice, "peace martians", keys=["content.body"])) == [
        "Hello MARTIANS, we come in peace"
    ]
    assert found(await search(alice, "martian")) != []  # the room name's word
    assert found(await search(alice, "peaceful")) == []


async def test_rank_and_recent_orders(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await new_room(alice)
    for i in range(5):
        await say(alice, room, f"unrelated chatter {i}")
    strong = await say(alice, room, "kiwi kiwi kiwi")
    weak = await say(alice, room, "a kiwi, among many other words of a rather long sentence")

    assert found(await search(alice, "kiwi", order_by="recent")) == [weak, strong]
    ranked = await search(alice, "kiwi", order_by="rank")
    assert found(ranked) == [strong, weak]
    assert ranked["results"][0]["rank"] > ranked["results"][1]["rank"]
    assert found(await search(alice, "kiwi")) == [strong, weak]  # rank is the default


async def test_next_batch_pages_through_all_results(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await new_room(alice)
    sent = [await say(alice, room, "plum " * (1 + i % 3) + f"number{i}") for i in range(7)]
    for order in ("recent", "rank"):
        pages: list[list[str]] = []
        token = None
        while True:
            res = await search(alice, "plum", order_by=order, filter={"limit": 3}, next_batch=token)
            assert res["count"] == 7
            pages.append(found(res))
            token = res.get("next_batch")
            if token is None:
                break
        assert [len(p) for p in pages] == [3, 3, 1], order
        everything = [e for page in pages for e in page]
        assert sorted(everything) == sorted(sent), order
        if order == "recent":
            assert everything == list(reversed(sent))


async def test_next_batch_of_a_room_group_stays_in_that_room(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    first, second = await new_room(alice), await new_room(alice)
    in_first = [await say(alice, first, f"fig {i}") for i in range(3)]
    in_second = [await say(alice, second, f"fig {i}") for i in range(3)]
    res = await search(
        alice, "fig", order_by="recent", filter={"limit": 2}, groupings={"group_by": [{"key": "room_id"}]}
    )
    assert found(res) == in_second[::-1][:2]
    groups = res["groups"]["room_id"]
    assert list(groups) == [second]
    assert groups[second]["results"] == found(res) and groups[second]["order"] == 1
    rest = await search(
        alice, "fig", order_by="recent", filter={"limit": 10}, next_batch=groups[second]["next_batch"]
    )
    assert found(rest) == [in_second[0]]
    rest = await search(alice, "fig", order_by="recent", filter={"limit": 10}, next_batch=res["next_batch"])
    assert found(rest) == [in_second[0], *in_first[::-1]]


async def test_groups_by_sender(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await new_room(alice, preset="public_chat")
    await bob.post(f"/join/{room}")
    a1 = await say(alice, room, "lime")
    b1 = await say(bob, room, "lime")
    a2 = await say(alice, room, "lime")
    res = await search(
        alice, "lime", order_by="recent", groupings={"group_by": [{"key": "sender"}, {"key": "room_id"}]}
    )
    senders = res["groups"]["sender"]
    assert senders[alice.user_id] == {"results": [a2, a1], "order": 1}
    assert senders[bob.user_id] == {"results": [b1], "order": 2}
    assert res["groups"]["room_id"][room]["results"] == [a2, b1, a1]
    bobs = await search(alice, "lime", order_by="rank", filter={"senders": [bob.user_id]})
    assert found(bobs) == [b1]


async def test_event_context_and_profiles(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await new_room(alice, preset="public_chat")
    await bob.post(f"/join/{room}")
    await bob.put(
        f"/rooms/{room}/state/m.room.member/{bob.user_id}", {"membership": "join", "displayname": "Bobby"}
    )
    before = [await say(alice, room, f"before {i}") for i in range(3)]
    hit = await say(bob, room, "the needle")
    after = [await say(alice, room, f"after {i}") for i in range(3)]

    res = await search(
        alice, "needle", event_context={"before_limit": 2, "after_limit": 1, "include_profile": True}
    )
    (result,) = res["results"]
    context = result["context"]
    assert [e["event_id"] for e in context["events_before"]] == before[::-1][:2]
    assert [e["event_id"] for e in context["events_after"]] == after[:1]
    assert context["profile_info"][bob.user_id] == {"displayname": "Bobby"}
    assert context["profile_info"][alice.user_id] == {"displayname": "alice"}
    older = await alice.get(
        f"/rooms/{room}/messages", params={"dir": "b", "from": context["start"], "limit": "1"}
    )
    assert [e["event_id"] for e in older["chunk"]] == [before[0]]
    newer = await alice.get(
        f"/rooms/{room}/messages", params={"dir": "f", "from": context["end"], "limit": "5"}
    )
    assert [e["event_id"] for e in newer["chunk"]] == after[1:]

    plain = await search(alice, "needle", event_context={})
    assert len(plain["results"][0]["context"]["events_before"]) == 5
    assert "profile_info" not in plain["results"][0]["context"]
    assert found(plain) == [hit]


async def test_include_state(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await new_room(alice, name="Stateful")
    await say(alice, room, "quince")
    res = await search(alice, "quince", include_state=True)
    names = [e for e in res["state"][room] if e["type"] == "m.room.name"]
    assert names[0]["content"] == {"name": "Stateful"}
    assert "state" not in await search(alice, "quince")


async def test_rooms_the_user_is_not_in_are_not_searched(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    private = await new_room(bob, name="Secret plans")
    await say(bob, private, "the secret is mango")
    public = await new_room(bob, preset="public_chat")
    await say(bob, public, "mango for everyone")
    ours = await new_room(alice)
    await say(alice, ours, "nothing about fruit")

    assert found(await search(alice, "mango")) == []
    assert found(await search(alice, "secret")) == []
    assert found(await search(alice, "mango", filter={"rooms": [private, public]})) == []
    assert (await search(alice, "mango"))["count"] == 0
    assert len(found(await search(bob, "mango"))) == 2


async def test_a_former_member_finds_what_was_said_while_they_were_there(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await new_room(alice, preset="public_chat")
    await bob.post(f"/join/{room}")
    seen = await say(alice, room, "papaya while bob is here")
    await bob.post(f"/rooms/{room}/leave")
    await say(alice, room, "papaya after bob left")
    assert found(await search(bob, "papaya")) == [seen]
    await bob.post(f"/rooms/{room}/forget")
    assert found(await search(bob, "papaya")) == []


async def test_history_visibility_applies(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await new_room(alice, preset="public_chat")
    await alice.put(f"/rooms/{room}/state/m.room.history_visibility", {"history_visibility": "joined"})
    await say(alice, room, "grape before bob")
    await bob.post(f"/join/{room}")
    later = await say(alice, room, "grape with bob")
    assert found(await search(bob, "grape")) == [later]


async def test_filters(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    one, two = await new_room(alice, topic="cherry topic"), await new_room(alice)
    in_one = await say(alice, one, "cherry one")
    in_two = await say(alice, two, "cherry two")
    assert set(found(await search(alice, "cherry", filter={"rooms": [two]}))) == {in_two}
    assert in_two not in found(await search(alice, "cherry", filter={"not_rooms": [two]}))
    assert set(found(await search(alice, "cherry", filter={"types": ["m.room.message"]}))) == {in_one, in_two}
    topics = await search(alice, "cherry", filter={"types": ["m.room.t*"]})
    assert [r["result"]["type"] for r in topics["results"]] == ["m.room.topic"]
    assert found(await search(alice, "cherry", filter={"not_senders": [alice.user_id]})) == []
    assert found(await search(alice, "cherry", filter={"limit": 0})) == []


async def test_redacted_events_are_not_found(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await new_room(alice)
    secret = await say(alice, room, "my password is hunter2")
    kept = await say(alice, room, "hunter2 is not a password")
    await alice.put(f"/rooms/{room}/redact/{secret}/r1", {"reason": "oops"})
    res = await search(alice, "hunter2", event_context={"before_limit": 0, "after_limit": 0})
    assert found(res) == [kept]
    assert res["count"] == 1
    assert found(await search(alice, "my")) == []


async def test_ignored_users_are_left_out(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await new_room(alice, preset="public_chat")
    await bob.post(f"/join/{room}")
    await say(bob, room, "durian from bob")
    mine = await say(alice, room, "durian from alice")
    await alice.put(
        f"/user/{alice.user_id}/account_data/m.ignored_user_list", {"ignored_users": {bob.user_id: {}}}
    )
    assert found(await search(alice, "durian")) == [mine]


async def test_text_with_nul_and_odd_characters_is_indexed(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await new_room(alice)
    odd = await say(alice, room, "nul\x00byte and 'quotes' \"here\" (NEAR) * AND OR NOT")
    assert found(await search(alice, "byte")) == [odd]
    assert found(await search(alice, '"quotes here"')) == [odd]
    assert found(await search(alice, "near not")) == [odd]


HOSTILE_TERMS = [
    '"',
    "AND OR NOT (",
    "\x00",
    "a\x00b",
    "*",
    "NEAR(a b, 2)",
    "body:x",
    "{body}: x",
    "'",
    "\\",
    "a & !b | c <-> d:*",
    "-",
    "- -",
    "^x",
    "\U0001f600",
    "x" * 10_000,
    "",
    "   ",
]


async def test_hostile_search_terms_are_answered(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await new_room(alice)
    await say(alice, room, "a b x body near")
    for term in HOSTILE_TERMS:
        for order in ("rank", "recent"):
            res = await search(
                alice, term, order_by=order, event_context={}, groupings={"group_by": [{"key": "sender"}]}
            )
            assert isinstance(res["results"], list) and isinstance(res["count"], int), term
    err = await alice.post(
        "/search", {"search_categories": {"room_events": {"search_term": "w " * 100}}}, expect=400
    )
    assert_error(err, "M_INVALID_PARAM")


async def test_bad_requests(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")

    def body(**criteria: Any) -> dict[str, Any]:
        return {"search_categories": {"room_events": {"search_term": "x", **criteria}}}

    cases: list[tuple[Any, str]] = [
        ({}, "M_MISSING_PARAM"),
        ({"search_categories": None}, "M_MISSING_PARAM"),
        ({"search_categories": []}, "M_INVALID_PARAM"),
        ({"search_categories": {"room_events": "x"}}, "M_INVALID_PARAM"),
        ({"search_categories": {"room_events": {}}}, "M_MISSING_PARAM"),
        ({"search_categories": {"room_events": {"search_term": 5}}}, "M_INVALID_PARAM"),
        (body(keys="content.body"), "M_INVALID_PARAM"),
        (body(keys=["content.nope"]), "M_INVALID_PARAM"),
        (body(keys=[1]), "M_INVALID_PARAM"),
        (body(order_by="oldest"), "M_INVALID_PARAM"),
        (body(order_by=1), "M_INVALID_PARAM"),
        (body(filter="x"), "M_INVALID_PARAM"),
        (body(filter={"limit": "x"}), "M_BAD_JSON"),
        (body(filter={"rooms": "!a:b"}), "M_BAD_JSON"),
        (body(filter={"senders": [1]}), "M_BAD_JSON"),
        (body(event_context=[]), "M_INVALID_PARAM"),
        (body(event_context={"before_limit": "5"}), "M_INVALID_PARAM"),
        (body(event_context={"after_limit": -1}), "M_INVALID_PARAM"),
        (body(event_context={"include_profile": "yes"}), "M_INVALID_PARAM"),
        (body(include_state="true"), "M_INVALID_PARAM"),
        (body(groupings=[]), "M_INVALID_PARAM"),
        (body(groupings={"group_by": {}}), "M_INVALID_PARAM"),
        (body(groupings={"group_by": [{"key": "type"}]}), "M_INVALID_PARAM"),
        (body(groupings={"group_by": ["room_id"]}), "M_INVALID_PARAM"),
    ]
    for request, errcode in cases:
        assert_error(await alice.post("/search", request, expect=400), errcode)
    assert_error(await alice.post("/search", data=b"{", expect=400), "M_NOT_JSON")
    assert_error(await alice.post("/search", [], expect=400), "M_BAD_JSON")
    for token in ("garbage", "\x00", "e30", "WzEsInJlY2VudCIsbnVsbCxudWxsLC0xLDBd", "W10"):
        err = await alice.post("/search", body(), params={"next_batch": token}, expect=400)
        assert_error(err, "M_INVALID_PARAM")
    assert_error(await hs.client().post("/search", body(), expect=401), "M_MISSING_TOKEN")


async def test_a_token_from_another_order_is_refused(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    room = await new_room(alice)
    for i in range(3):
        await say(alice, room, f"olive {i}")
    res = await search(alice, "olive", order_by="recent", filter={"limit": 1})
    err = await alice.post(
        "/search",
        {"search_categories": {"room_events": {"search_term": "olive", "order_by": "rank"}}},
        params={"next_batch": res["next_batch"]},
        expect=400,
    )
    assert_error(err, "M_INVALID_PARAM")


async def test_no_categories_and_r0(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    assert await alice.post("/search", {"search_categories": {}}) == {"search_categories": {}}
    res = await alice.post(
        "/_matrix/client/r0/search", {"search_categories": {"room_events": {"search_term": "x"}}}
    )
    assert res["search_categories"]["room_events"] == {"count": 0, "highlights": ["x"], "results": []}
