"""OpenID: POST /_matrix/client/v3/user/{userId}/openid/request_token, and the Server-Server
side that checks such a token: GET /_matrix/federation/v1/openid/userinfo."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote

import pytest

from homeserver import clock
from tests.clientapi.util import assert_error, short_token_hashes
from tests.helpers import HomeserverUnderTest, MatrixClient

USERINFO = "/_matrix/federation/v1/openid/userinfo"


def request_path(user_id: str | None) -> str:
    assert user_id is not None
    return f"/user/{quote(user_id, safe='')}/openid/request_token"


async def userinfo(hs: HomeserverUnderTest, token: str, expect: int = 200) -> Any:
    return await hs.client().get(USERINFO, params={"access_token": token}, expect=expect)


async def issued(hs: HomeserverUnderTest) -> int:
    return len(await short_token_hashes(hs, "openid"))


async def test_token_names_its_user_to_another_service(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    body = await alice.post(request_path(alice.user_id), {})

    assert set(body) == {"access_token", "token_type", "matrix_server_name", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["matrix_server_name"] == hs.config.server_name
    assert body["expires_in"] == 3600
    assert isinstance(body["access_token"], str) and len(body["access_token"]) >= 32
    # A service may ask as often as it likes while the token lives.
    assert await userinfo(hs, body["access_token"]) == {"sub": alice.user_id}
    assert await userinfo(hs, body["access_token"]) == {"sub": alice.user_id}


async def test_each_request_gets_a_new_token_and_r0_answers_too(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    first = (await alice.post(request_path(alice.user_id), {}))["access_token"]
    second = (await alice.post("/_matrix/client/r0" + request_path(alice.user_id), {}))["access_token"]
    of_bob = (await bob.post(request_path(bob.user_id), {}))["access_token"]

    assert len({first, second, of_bob}) == 3
    assert (await userinfo(hs, second))["sub"] == alice.user_id
    assert (await userinfo(hs, of_bob))["sub"] == bob.user_id


async def test_tokens_are_kept_only_as_hashes(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    token = (await alice.post(request_path(alice.user_id), {}))["access_token"]
    assert await short_token_hashes(hs) == [hashlib.sha256(token.encode()).hexdigest()]


async def test_only_for_the_caller_themself(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    for other in (bob.user_id, "@nobody:localhost", "@bob:elsewhere.example", "not a user id"):
        err = await alice.post(request_path(other), {}, expect=403)
        assert_error(err, "M_FORBIDDEN")
    assert await issued(hs) == 0


async def test_bad_bodies_issue_nothing(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    path = request_path(alice.user_id)
    assert_error(await alice.post(path, [], expect=400), "M_BAD_JSON")
    assert_error(await alice.post(path, "x", expect=400), "M_BAD_JSON")
    not_json = await alice.post(path, data=b"{nope", headers={"Content-Type": "application/json"}, expect=400)
    assert_error(not_json, "M_NOT_JSON")
    assert await issued(hs) == 0


async def test_needs_a_valid_access_token(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    path = request_path(alice.user_id)
    assert_error(await hs.client().post(path, {}, expect=401), "M_MISSING_TOKEN")
    assert_error(await hs.client("bad").post(path, {}, expect=401), "M_UNKNOWN_TOKEN")
    assert await issued(hs) == 0


async def test_openid_token_is_no_access_token(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    token = (await alice.post(request_path(alice.user_id), {}))["access_token"]
    holder = hs.client(token)
    assert_error(await holder.get("/account/whoami", expect=401), "M_UNKNOWN_TOKEN")
    assert_error(await holder.post(request_path(alice.user_id), {}, expect=401), "M_UNKNOWN_TOKEN")
    assert await issued(hs) == 1


async def test_userinfo_refuses_unknown_tokens(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    assert alice.access_token is not None
    for token in ("", "nope", alice.access_token, "x" * 5000, "a\x00b", "\u00e9"):
        assert_error(await userinfo(hs, token, expect=401), "M_UNKNOWN_TOKEN")
    missing = await hs.client().get(USERINFO, expect=400)
    assert_error(missing, "M_MISSING_PARAM")


async def test_userinfo_refuses_an_expired_token(
    hs: HomeserverUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await hs.register("alice")
    now = [clock.now_ms()]  # the tokens' clock stands still but for the steps below
    monkeypatch.setattr("homeserver.short_tokens.now_ms", lambda: now[0])
    token = (await alice.post(request_path(alice.user_id), {}))["access_token"]
    now[0] += 3599 * 1000
    assert (await userinfo(hs, token))["sub"] == alice.user_id
    now[0] += 1000 + 1
    assert_error(await userinfo(hs, token, expect=401), "M_UNKNOWN_TOKEN")


async def test_userinfo_refuses_a_deactivated_users_token(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    token = (await alice.post(request_path(alice.user_id), {}))["access_token"]
    await deactivate(alice)
    assert_error(await userinfo(hs, token, expect=401), "M_UNKNOWN_TOKEN")


async def deactivate(client: MatrixClient) -> None:
    await client.post("/account/deactivate", {"auth": client.password_auth()})


async def test_another_process_of_the_server_knows_the_token(hs: HomeserverUnderTest) -> None:
    """Tokens are in the database: a second process on it (or this one restarted) answers
    userinfo for a token the first one issued."""
    alice = await hs.register("alice")
    token = (await alice.post(request_path(alice.user_id), {}))["access_token"]
    other = HomeserverUnderTest(hs.config)
    await other.start()
    try:
        assert (await userinfo(other, token))["sub"] == alice.user_id
    finally:
        await other.stop()
