"""Endpoints Element and matrix-js-sdk call at start-up that answer 'nothing configured':
third-party protocols (no bridges) and TURN credentials (no TURN server), as Synapse does."""

from __future__ import annotations

import pytest

from tests.clientapi.util import assert_error
from tests.helpers import HomeserverUnderTest


async def test_no_protocols(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    assert await alice.get("/thirdparty/protocols") == {}
    assert await alice.get("/_matrix/client/r0/thirdparty/protocols") == {}


async def test_unknown_protocol_is_not_found(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    assert_error(await alice.get("/thirdparty/protocol/irc", expect=404), "M_NOT_FOUND")


@pytest.mark.parametrize("kind", ["location", "user"])
async def test_lookups_in_a_protocol_find_nothing(hs: HomeserverUnderTest, kind: str) -> None:
    alice = await hs.register("alice")
    assert await alice.get(f"/thirdparty/{kind}/irc", params={"server": "chat.example"}) == []


async def test_reverse_lookups_find_nothing(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    assert await alice.get("/thirdparty/location", params={"alias": "#a:localhost"}) == []
    assert await alice.get("/thirdparty/user", params={"userid": alice.user_id or ""}) == []


@pytest.mark.parametrize(("kind", "param"), [("location", "alias"), ("user", "userid")])
async def test_reverse_lookup_needs_its_parameter(hs: HomeserverUnderTest, kind: str, param: str) -> None:
    alice = await hs.register("alice")
    assert_error(await alice.get(f"/thirdparty/{kind}", expect=400), "M_MISSING_PARAM")
    assert_error(await alice.get(f"/thirdparty/{kind}", params={param: ""}, expect=400), "M_MISSING_PARAM")


async def test_turn_server_unconfigured_is_empty(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    assert await alice.get("/voip/turnServer") == {}
    assert await alice.get("/_matrix/client/r0/voip/turnServer") == {}


@pytest.mark.parametrize(
    "path", ["/thirdparty/protocols", "/thirdparty/protocol/irc", "/thirdparty/user/irc", "/voip/turnServer"]
)
async def test_access_token_required(hs: HomeserverUnderTest, path: str) -> None:
    assert_error(await hs.client().get(path, expect=401), "M_MISSING_TOKEN")
