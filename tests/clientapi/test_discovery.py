"""Discovery: /versions, /.well-known/matrix/client, /capabilities, /health."""

from __future__ import annotations

import re

from homeserver.room_versions import DEFAULT_ROOM_VERSION, KNOWN_ROOM_VERSIONS
from tests.clientapi.conftest import MakeServer
from tests.clientapi.util import assert_cors, assert_error
from tests.helpers import HomeserverUnderTest


async def test_versions(hs: HomeserverUnderTest) -> None:
    anon = hs.client()
    body = await anon.get("/_matrix/client/versions")
    assert_cors(anon)
    assert all(re.fullmatch(r"v1\.\d+|r0\.\d+\.\d+", v) for v in body["versions"]), body
    assert "v1.1" in body["versions"]
    assert isinstance(body.get("unstable_features", {}), dict)
    assert all(isinstance(v, bool) for v in body.get("unstable_features", {}).values())


async def test_versions_with_tokens_good_and_bad(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    assert "versions" in await alice.get("/_matrix/client/versions")
    assert "versions" in await hs.client("not a token").get("/_matrix/client/versions")


async def test_well_known(hs: HomeserverUnderTest) -> None:
    anon = hs.client()
    body = await anon.get("/.well-known/matrix/client")
    assert body == {"m.homeserver": {"base_url": hs.config.base_url.rstrip("/")}}
    assert_cors(anon)
    assert anon.last_response.content_type == "application/json"


async def test_well_known_uses_the_public_base_url(make_hs: MakeServer) -> None:
    hs = await make_hs(public_baseurl="https://matrix.example.org/")
    body = await hs.client().get("/.well-known/matrix/client")
    assert body == {"m.homeserver": {"base_url": "https://matrix.example.org"}}


async def test_capabilities(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    caps = (await alice.get("/capabilities"))["capabilities"]
    assert_cors(alice)
    assert caps["m.change_password"] == {"enabled": True}
    versions = caps["m.room_versions"]
    assert versions["default"] == DEFAULT_ROOM_VERSION.identifier
    assert versions["default"] in versions["available"]
    assert set(versions["available"]) == set(KNOWN_ROOM_VERSIONS)
    assert set(versions["available"].values()) <= {"stable", "unstable"}
    assert caps["m.3pid_changes"] == {"enabled": False}
    r0 = await alice.get("/_matrix/client/r0/capabilities")
    assert r0["capabilities"] == caps


async def test_capabilities_need_a_token(hs: HomeserverUnderTest) -> None:
    assert_error(await hs.client().get("/capabilities", expect=401), "M_MISSING_TOKEN")
    assert_error(await hs.client("bad").get("/capabilities", expect=401), "M_UNKNOWN_TOKEN")


async def test_health(hs: HomeserverUnderTest) -> None:
    assert await hs.client().get("/health") == b"OK"
