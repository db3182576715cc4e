"""The unstable paths of room summaries (MSC3266) and mutual rooms (MSC2666) that
matrix-js-sdk (Element) calls because /versions stops at v1.12: each answers as the stable
endpoint does (same access, same errors), in the unstable shape js-sdk reads, and /versions
advertises the flags js-sdk checks."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from tests.clientapi.test_mutual_rooms import shared_room
from tests.clientapi.test_room_summary import MEGOLM, new_room, summary_path
from tests.clientapi.util import assert_error
from tests.helpers import HomeserverUnderTest, MatrixClient

# matrix-js-sdk's getRoomSummary asks the first, and the second when the first is unrecognised.
SUMMARY_PATHS = (
    "/_matrix/client/unstable/im.nheko.summary/summary/{}",
    "/_matrix/client/unstable/im.nheko.summary/rooms/{}/summary",
)
MUTUAL_STABLE = "/_matrix/client/v1/mutual_rooms"
MUTUAL_UNSTABLE = "/_matrix/client/unstable/uk.half-shot.msc2666/user/mutual_rooms"


async def summaries(client: MatrixClient, room: str, *, expect: int = 200, **params: Any) -> list[Any]:
    """The stable answer, then the answer at each unstable path."""
    paths = [summary_path(room), *(path.format(quote(room, safe="")) for path in SUMMARY_PATHS)]
    return [await client.get(path, params=params or None, expect=expect) for path in paths]


def unstable_fields(stable: dict[str, Any]) -> dict[str, Any]:
    fields = {
        "im.nheko.summary.room_version": stable["room_version"],
        "im.nheko.summary.version": stable["room_version"],
    }
    if "encryption" in stable:
        fields["im.nheko.summary.encryption"] = stable["encryption"]
    return fields


async def test_summary_aliases_answer_as_the_stable_endpoint(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    alias = f"#cheese:{hs.config.server_name}"
    room = await new_room(alice, preset="public_chat", name="CHEESE", room_alias_name="cheese")

    stable, *unstable = await summaries(bob, room, via=["example.org"])
    assert stable["name"] == "CHEESE" and stable["membership"] == "leave"
    assert "encryption" not in stable
    for body in unstable:
        assert body == {**stable, **unstable_fields(stable)}
        assert body["im.nheko.summary.room_version"] == hs.config.default_room_version
        assert "im.nheko.summary.encryption" not in body
    assert await summaries(bob, alias) == [stable, *unstable]  # by alias: the same room


async def test_summary_aliases_carry_the_prefixed_encryption(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    encrypted = await new_room(
        alice,
        preset="private_chat",
        initial_state=[{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": MEGOLM}}],
    )
    stable, *unstable = await summaries(alice, encrypted)
    assert stable["encryption"] == MEGOLM and stable["membership"] == "join"
    for body in unstable:
        assert body["im.nheko.summary.encryption"] == MEGOLM
        assert body == {**stable, **unstable_fields(stable)}


async def test_summary_aliases_answer_without_a_token_and_hide_private_rooms(hs: HomeserverUnderTest) -> None:
    alice, carol = await hs.register("alice"), await hs.register("carol")
    anon = hs.client()
    public = await new_room(alice, preset="public_chat", name="Open")
    private = await new_room(alice, preset="private_chat", name="Secret")

    stable, *unstable = await summaries(anon, public)
    assert "membership" not in stable
    assert all(body == {**stable, **unstable_fields(stable)} for body in unstable)
    for caller in (anon, carol):
        for body in await summaries(caller, private, expect=404):
            assert_error(body, "M_NOT_FOUND")
            assert "Secret" not in str(body)
    for body in await summaries(hs.client("bad"), public, expect=401):
        assert_error(body, "M_UNKNOWN_TOKEN")  # a token given is checked, as on the stable path


async def test_summary_aliases_give_the_stable_errors(hs: HomeserverUnderTest) -> None:
    bob = await hs.register("bob")
    unknown = [
        f"!nowhere:{hs.config.server_name}",
        f"#nowhere:{hs.config.server_name}",
        "!elsewhere:remote.example",
    ]
    for room in unknown:
        for body in await summaries(bob, room, expect=404):
            assert_error(body, "M_NOT_FOUND")
    for room in ("nowhere", "#no alias"):
        for body in await summaries(bob, room, expect=400):
            assert_error(body, "M_INVALID_PARAM")
    room = await new_room(bob, preset="public_chat")
    for body in await summaries(bob, room, expect=400, via="not a server"):
        assert_error(body, "M_INVALID_PARAM")


async def test_mutual_rooms_alias_answers_as_the_stable_endpoint(hs: HomeserverUnderTest) -> None:
    alice, bob, carol = await hs.register("alice"), await hs.register("bob"), await hs.register("carol")
    assert bob.user_id is not None and carol.user_id is not None
    both = {await shared_room(alice, bob), await shared_room(bob, alice)}
    await shared_room(alice, carol)

    stable = await alice.get(MUTUAL_STABLE, params={"user_id": bob.user_id})
    unstable = await alice.get(MUTUAL_UNSTABLE, params={"user_id": bob.user_id})
    assert set(stable["joined"]) == both and stable["count"] == 2
    assert unstable == stable  # one page: no token under either name
    empty = await alice.get(MUTUAL_UNSTABLE, params={"user_id": "@nobody:elsewhere.example"})
    assert empty == {"joined": [], "count": 0}


async def test_mutual_rooms_alias_pages_the_way_js_sdk_does(
    hs: HomeserverUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """js-sdk's _unstable_getSharedRooms: `batch_token` in, `next_batch_token` out, until none."""
    monkeypatch.setattr("clientapi.routes.mutual_rooms.PAGE_SIZE", 2)
    alice, bob = await hs.register("alice"), await hs.register("bob")
    assert bob.user_id is not None
    rooms = {await shared_room(alice, bob) for _ in range(5)}

    seen: list[str] = []
    params = {"user_id": bob.user_id}
    pages = 0
    while True:
        body = await alice.get(MUTUAL_UNSTABLE, params=params)
        pages += 1
        assert body["count"] == 5 and len(body["joined"]) <= 2
        seen += body["joined"]
        if "next_batch_token" not in body:
            assert "next_batch" not in body
            break
        assert body["next_batch"] == body["next_batch_token"]
        params = {"user_id": bob.user_id, "batch_token": body["next_batch_token"]}
    assert pages == 3
    assert len(seen) == 5 and set(seen) == rooms

    # The later draft's `from` reads the same pages, and a stable token is good here too.
    first = await alice.get(MUTUAL_STABLE, params={"user_id": bob.user_id})
    by_from = await alice.get(MUTUAL_UNSTABLE, params={"user_id": bob.user_id, "from": first["next_batch"]})
    by_batch = await alice.get(
        MUTUAL_UNSTABLE, params={"user_id": bob.user_id, "batch_token": first["next_batch"]}
    )
    assert by_from == by_batch and by_from["joined"] == seen[2:4]


async def test_mutual_rooms_alias_gives_the_stable_errors(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    assert alice.user_id is not None and bob.user_id is not None
    await shared_room(alice, bob)

    for path in (MUTUAL_STABLE, MUTUAL_UNSTABLE):
        assert_error(await alice.get(path, expect=400), "M_MISSING_PARAM")
        for bad in ("alice", "@:", alice.user_id):  # malformed, or oneself
            assert_error(await alice.get(path, params={"user_id": bad}, expect=400), "M_INVALID_PARAM")
        err = await alice.get(path, params={"user_id": bob.user_id, "from": "nope"}, expect=400)
        assert_error(err, "M_INVALID_PARAM")
        no_token = await hs.client().get(path, params={"user_id": bob.user_id}, expect=401)
        assert_error(no_token, "M_MISSING_TOKEN")
        bad_token = await hs.client("bad").get(path, params={"user_id": bob.user_id}, expect=401)
        assert_error(bad_token, "M_UNKNOWN_TOKEN")
    err = await alice.get(MUTUAL_UNSTABLE, params={"user_id": bob.user_id, "batch_token": "nope"}, expect=400)
    assert_error(err, "M_INVALID_PARAM")
    both = {"user_id": bob.user_id, "batch_token": "a", "from": "b"}
    assert_error(await alice.get(MUTUAL_UNSTABLE, params=both, expect=400), "M_INVALID_PARAM")


async def test_versions_advertises_the_flags_js_sdk_checks(hs: HomeserverUnderTest) -> None:
    body = await hs.client().get("/_matrix/client/versions")
    features = body["unstable_features"]
    # getRoomSummary's MSC3266 prefix, and _unstable_getSharedRooms' query variant of MSC2666
    # (with the MSC's flag for the stable /v1/mutual_rooms).
    assert features["im.nheko.summary"] is True
    assert features["uk.half-shot.msc2666.query_mutual_rooms"] is True
    assert features["uk.half-shot.msc2666.query_mutual_rooms.stable"] is True
    # The older MSC2666 drafts' path-parameter endpoints are not served, so not advertised.
    assert "uk.half-shot.msc2666" not in features
    assert "uk.half-shot.msc2666.mutual_rooms" not in features
