"""GET /rooms/{roomId}/messages: pagination both ways, tokens, filters, lazy-loaded members."""

from __future__ import annotations

from typing import Any

from tests.clientapi.room_helpers import bodies, create_room, messages, send_text
from tests.clientapi.util import assert_error
from tests.helpers import HomeserverUnderTest, MatrixClient


async def room_with_messages(hs: HomeserverUnderTest, n: int) -> tuple[MatrixClient, str, list[str]]:
    alice = await hs.register("alice")
    room = await create_room(alice, preset="public_chat")
    sent = [await send_text(alice, room, f"m{i}") for i in range(n)]
    return alice, room, sent


async def page_all(client: MatrixClient, room: str, direction: str, limit: int) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"dir": direction, "limit": limit}
        if token is not None:
            params["from"] = token
        page = await messages(client, room, **params)
        if token is not None:
            assert page["start"] == token
        pages.append(page["chunk"])
        assert len(pages) < 20, "pagination does not end"
        if "end" not in page:
            return pages
        token = page["end"]


async def test_backwards_pages_without_duplicates_or_gaps(hs: HomeserverUnderTest) -> None:
    alice, room, sent = await room_with_messages(hs, 25)
    pages = await page_all(alice, room, "b", 10)
    ids = [e["event_id"] for page in pages for e in page]
    assert len(ids) == len(set(ids))
    assert [i for i in ids if i in sent] == list(reversed(sent))
    assert [len(p) for p in pages[:2]] == [10, 10]
    assert ids[-1] == ids[-1] and pages[-1][-1]["type"] == "m.room.create"  # the very beginning
    everything = await messages(alice, room, dir="f", limit=100)
    assert [e["event_id"] for e in everything["chunk"]] == list(reversed(ids))
    assert "end" not in everything


async def test_forwards_pages_without_duplicates_or_gaps(hs: HomeserverUnderTest) -> None:
    alice, room, sent = await room_with_messages(hs, 25)
    pages = await page_all(alice, room, "f", 10)
    ids = [e["event_id"] for page in pages for e in page]
    assert len(ids) == len(set(ids))
    assert [i for i in ids if i in sent] == sent
    assert pages[0][0]["type"] == "m.room.create"
    assert all(len(p) == 10 for p in pages[:-1])
    assert ids[-1] == sent[-1]


async def test_from_and_to_tokens(hs: HomeserverUnderTest) -> None:
    """A token names the last event read; paginating on from it, either way, starts just past
    that event, and `to` stops just before the event it names."""
    alice, room, sent = await room_with_messages(hs, 25)
    first = await messages(alice, room, dir="b", limit=10)
    second = await messages(alice, room, dir="b", limit=10, **{"from": first["end"]})
    assert [e["event_id"] for e in second["chunk"]] == list(reversed(sent[5:15]))
    forward = await messages(alice, room, dir="f", limit=10, **{"from": second["end"]})
    assert [e["event_id"] for e in forward["chunk"]] == sent[6:16]
    # `to`: fill the gap between the newest events and a page read earlier, without repeats.
    bounded = await messages(alice, room, dir="b", limit=50, to=second["end"])
    assert [e["event_id"] for e in bounded["chunk"]] == list(reversed(sent[6:]))
    assert "end" not in bounded
    bounded = await messages(alice, room, dir="f", limit=50, **{"from": second["end"], "to": first["end"]})
    assert [e["event_id"] for e in bounded["chunk"]] == sent[6:15]
    # The start of a page from the newest event, paginated forwards, finds only newer events.
    assert (await messages(alice, room, dir="f", **{"from": first["start"]}))["chunk"] == []


async def test_end_is_absent_at_the_end_and_empty_room_pages(hs: HomeserverUnderTest) -> None:
    alice, room, sent = await room_with_messages(hs, 3)
    page = await messages(alice, room, dir="b", limit=100)
    assert "end" not in page
    assert page["chunk"][0]["event_id"] == sent[-1]
    page = await messages(alice, room, dir="f", limit=3)
    assert "end" in page
    page = await messages(alice, room, dir="b", limit=3, **{"from": page["end"]})
    assert len(page["chunk"]) == 2 and "end" not in page  # before the third event: only two


async def test_new_events_appear_after_the_last_page(hs: HomeserverUnderTest) -> None:
    alice, room, _ = await room_with_messages(hs, 3)
    page = await messages(alice, room, dir="b", limit=1)
    later = await send_text(alice, room, "later")
    newer = await messages(alice, room, dir="f", limit=10, **{"from": page["start"]})
    assert [e["event_id"] for e in newer["chunk"]] == [later]


async def test_filters(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    room = await create_room(alice, preset="public_chat")
    await bob.post(f"/join/{room}")
    for i in range(3):
        await send_text(alice, room, f"a{i}")
        await send_text(bob, room, f"b{i}")
    await alice.put(f"/rooms/{room}/send/org.example.ping/p", {"url": "mxc://x/y"})
    assert await bodies(alice, room, limit=20, filter={"senders": [bob.user_id]}) == ["b2", "b1", "b0"]
    assert await bodies(
        alice, room, limit=20, filter={"not_senders": [bob.user_id], "types": ["m.room.message"]}
    ) == [
        "a2",
        "a1",
        "a0",
    ]
    page = await messages(
        alice, room, limit=20, filter={"types": ["m.room.*"], "not_types": ["m.room.message"]}
    )
    assert {e["type"] for e in page["chunk"]} <= {
        "m.room.create",
        "m.room.member",
        "m.room.power_levels",
        "m.room.join_rules",
        "m.room.history_visibility",
    }
    page = await messages(alice, room, limit=20, filter={"contains_url": True})
    assert [e["type"] for e in page["chunk"]] == ["org.example.ping"]
    # A filter that drops most events still fills pages and ends.
    page = await messages(alice, room, dir="f", limit=2, filter={"types": ["m.room.message"]})
    assert [e["content"]["body"] for e in page["chunk"]] == ["a0", "b0"]
    page = await messages(
        alice, room, dir="f", limit=10, filter={"types": ["m.room.message"]}, **{"from": page["end"]}
    )
    assert [e["content"]["body"] for e in page["chunk"]] == ["a1", "b1", "a2", "b2"]


async def test_lazy_load_members(hs: HomeserverUnderTest) -> None:
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    room = await create_room(alice, preset="public_chat")
    await bob.post(f"/join/{room}")
    await carol.post(f"/join/{room}")
    await send_text(bob, room, "from bob")
    await send_text(alice, room, "from alice")
    page = await messages(carol, room, limit=2, filter={"lazy_load_members": True})
    assert [e["sender"] for e in page["chunk"]] == [alice.user_id, bob.user_id]
    members = {e["state_key"]: e for e in page["state"]}
    assert set(members) == {alice.user_id, bob.user_id}
    assert all(e["type"] == "m.room.member" for e in page["state"])
    assert members[bob.user_id]["content"]["membership"] == "join"
    plain = await messages(carol, room, limit=2)
    assert "state" not in plain or plain["state"] == []


async def test_bad_parameters(hs: HomeserverUnderTest) -> None:
    alice, room, _ = await room_with_messages(hs, 1)
    path = f"/rooms/{room}/messages"
    for params in (
        {"dir": "x"},
        {"dir": "b", "limit": "ten"},
        {"dir": "b", "limit": "-1"},
        {"dir": "b", "from": "garbage"},
        {"dir": "b", "to": "t1"},
    ):
        err = await alice.get(path, params=params, expect=400)
        assert_error(err, "M_INVALID_PARAM")
    for bad_filter in ("{", "[]", '{"types": "m.room.message"}', '{"limit": -1}'):
        err = await alice.get(path, params={"dir": "b", "filter": bad_filter}, expect=400)
        assert err["errcode"] in ("M_BAD_JSON", "M_NOT_JSON", "M_INVALID_PARAM"), err


async def test_non_member_gets_403(hs: HomeserverUnderTest) -> None:
    _, room, _ = await room_with_messages(hs, 2)
    bob = await hs.register("bob")
    err = await bob.get(f"/rooms/{room}/messages", params={"dir": "b"}, expect=403)
    assert_error(err, "M_FORBIDDEN")
    err = await bob.get(f"/rooms/!nowhere:{hs.config.server_name}/messages", params={"dir": "b"}, expect=403)
    assert_error(err, "M_FORBIDDEN")


async def test_limit_is_capped_and_zero_is_allowed(hs: HomeserverUnderTest) -> None:
    alice, room, _ = await room_with_messages(hs, 3)
    page = await messages(alice, room, limit=0)
    assert page["chunk"] == []
    page = await messages(alice, room, limit=10**9)
    assert len(page["chunk"]) >= 3
