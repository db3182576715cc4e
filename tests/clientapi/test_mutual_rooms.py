"""Mutual rooms: GET /_matrix/client/v1/mutual_rooms?user_id=...&from=... (the rooms the caller
and another user are both joined to, paginated with next_batch, counted in full)."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from tests.clientapi.test_sync_queries import statements
from tests.clientapi.util import assert_error
from tests.helpers import HomeserverUnderTest, MatrixClient

PATH = "/_matrix/client/v1/mutual_rooms"


async def mutual(client: MatrixClient, *, expect: int = 200, **params: str) -> Any:
    return await client.get(PATH, params=params, expect=expect)


async def shared_room(owner: MatrixClient, *joiners: MatrixClient) -> str:
    room = (await owner.post("/createRoom", {"preset": "public_chat"}))["room_id"]
    assert isinstance(room, str)
    for joiner in joiners:
        await joiner.post(f"/rooms/{room}/join")
    return room


async def test_only_rooms_both_are_joined_to(hs: HomeserverUnderTest) -> None:
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    assert bob.user_id is not None and alice.user_id is not None
    both = {await shared_room(alice, bob), await shared_room(bob, alice)}
    await shared_room(alice, carol)  # not bob's
    left = await shared_room(alice, bob)
    await bob.post(f"/rooms/{left}/leave")
    invited = await shared_room(alice)
    await alice.post(f"/rooms/{invited}/invite", {"user_id": bob.user_id})

    body = await mutual(alice, user_id=bob.user_id)
    assert set(body["joined"]) == both and len(body["joined"]) == 2
    assert body["count"] == 2
    assert "next_batch" not in body
    assert set((await mutual(bob, user_id=alice.user_id))["joined"]) == both


async def test_no_shared_rooms_and_unknown_users_give_an_empty_list(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    await shared_room(alice)
    assert bob.user_id is not None
    for other in (bob.user_id, "@nobody:localhost", "@someone:elsewhere.example"):
        assert await mutual(alice, user_id=other) == {"joined": [], "count": 0}


async def test_pages_follow_next_batch(hs: HomeserverUnderTest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("clientapi.routes.mutual_rooms.PAGE_SIZE", 2)
    alice, bob = await hs.register("alice"), await hs.register("bob")
    assert bob.user_id is not None
    rooms = {await shared_room(alice, bob) for _ in range(5)}

    seen: list[str] = []
    params = {"user_id": bob.user_id}
    pages = 0
    while True:
        body = await alice.get(PATH, params=params)
        pages += 1
        assert body["count"] == 5
        assert len(body["joined"]) <= 2
        seen += body["joined"]
        if "next_batch" not in body:
            break
        params = {"user_id": bob.user_id, "from": body["next_batch"]}
    assert pages == 3
    assert len(seen) == 5 and set(seen) == rooms


async def test_count_stays_whole_past_the_last_page(
    hs: HomeserverUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("clientapi.routes.mutual_rooms.PAGE_SIZE", 2)
    alice, bob = await hs.register("alice"), await hs.register("bob")
    assert bob.user_id is not None
    for _ in range(3):
        await shared_room(alice, bob)
    first = await mutual(alice, user_id=bob.user_id)
    second = await mutual(alice, user_id=bob.user_id, **{"from": first["next_batch"]})
    # Bob leaves the room of the last page: the token now points past every room left.
    await bob.post(f"/rooms/{second['joined'][0]}/leave")
    after = await mutual(alice, user_id=bob.user_id, **{"from": first["next_batch"]})
    assert after == {"joined": [], "count": 2}


async def test_a_token_is_for_the_same_pair_of_users_only(
    hs: HomeserverUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("clientapi.routes.mutual_rooms.PAGE_SIZE", 1)
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    assert bob.user_id is not None and carol.user_id is not None and alice.user_id is not None
    for _ in range(2):
        await shared_room(alice, bob, carol)
    token = (await mutual(alice, user_id=bob.user_id))["next_batch"]

    for client, other in ((alice, carol.user_id), (carol, bob.user_id), (bob, alice.user_id)):
        err = await mutual(client, user_id=other, expect=400, **{"from": token})
        assert_error(err, "M_INVALID_PARAM")


def forged(*items: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(items))).decode().rstrip("=")


async def test_bad_input(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    assert alice.user_id is not None and bob.user_id is not None
    await shared_room(alice, bob)
    assert_error(await alice.get(PATH, expect=400), "M_MISSING_PARAM")
    for bad in ("", "alice", "@alice", "@:", "@a:b:c:d", "@a\x00b:localhost", "@" + "a" * 300 + ":localhost"):
        assert_error(await mutual(alice, user_id=bad, expect=400), "M_INVALID_PARAM")
    assert_error(await mutual(alice, user_id=alice.user_id, expect=400), "M_INVALID_PARAM")  # oneself
    tokens = ("", "nope", "!!!", "x" * 2000, "\u00e9", forged(1, "x", "!r"), forged(2), forged(1, "a", 5))
    for token in tokens:
        err = await mutual(alice, user_id=bob.user_id, expect=400, **{"from": token})
        assert_error(err, "M_INVALID_PARAM")


async def test_needs_a_valid_access_token(hs: HomeserverUnderTest) -> None:
    await hs.register("alice")
    assert_error(await mutual(hs.client(), user_id="@alice:localhost", expect=401), "M_MISSING_TOKEN")
    assert_error(await mutual(hs.client("bad"), user_id="@alice:localhost", expect=401), "M_UNKNOWN_TOKEN")


async def test_one_query_however_many_rooms(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    assert bob.user_id is not None
    for _ in range(6):
        await shared_room(alice, bob)
    await mutual(alice, user_id=bob.user_id)  # warm the token cache
    with statements(hs) as seen:
        body = await mutual(alice, user_id=bob.user_id)
    assert body["count"] == 6
    assert len([s for s in seen if "room_memberships" in s]) == 1, seen
