"""Login tokens: POST /_matrix/client/v1/login/get_token (behind user-interactive auth), the
m.login.token flow of POST /login that uses one once, how GET /login and GET /capabilities
advertise them."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from homeserver import clock
from tests.clientapi.conftest import MakeServer
from tests.clientapi.test_ratelimit import TIGHT, assert_limited, limits
from tests.clientapi.util import assert_error, device_ids, short_token_hashes
from tests.helpers import HomeserverUnderTest, MatrixClient

GET_TOKEN = "/_matrix/client/v1/login/get_token"


async def get_token(client: MatrixClient) -> str:
    """The UIA dance: a challenge, then the password."""
    challenge = await client.post(GET_TOKEN, {}, expect=401)
    assert challenge["flows"] == [{"stages": ["m.login.password"]}]
    body = await client.post(GET_TOKEN, {"auth": client.password_auth(challenge["session"])})
    assert set(body) == {"login_token", "expires_in_ms"}
    assert body["expires_in_ms"] == 120_000
    token = body["login_token"]
    assert isinstance(token, str)
    return token


async def token_login(hs: HomeserverUnderTest, token: Any, expect: int = 200, **extra: Any) -> Any:
    return await hs.client().post("/login", {"type": "m.login.token", "token": token, **extra}, expect=expect)


async def live_tokens(hs: HomeserverUnderTest) -> int:
    return len(await short_token_hashes(hs, "login"))


async def test_token_logs_a_new_device_in_once(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    token = await get_token(alice)

    body = await token_login(hs, token, initial_device_display_name="Tablet")
    assert body["user_id"] == alice.user_id
    assert body["device_id"] != alice.device_id
    assert body["device_id"] in await device_ids(hs, alice.user_id)
    new = hs.client(body["access_token"])
    assert (await new.get("/account/whoami"))["user_id"] == alice.user_id
    # Single use: the same token again is refused, and no device is made.
    assert_error(await token_login(hs, token, expect=403), "M_FORBIDDEN")
    assert len(await device_ids(hs, alice.user_id)) == 2


async def test_tokens_are_kept_only_as_hashes(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    token = await get_token(alice)
    assert await short_token_hashes(hs) == [hashlib.sha256(token.encode()).hexdigest()]


async def test_every_token_needs_the_password_again(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    challenge = await alice.post(GET_TOKEN, {}, expect=401)
    await alice.post(GET_TOKEN, {"auth": alice.password_auth(challenge["session"])})
    # The finished session cannot be used for a second token ...
    again = await alice.post(GET_TOKEN, {"auth": {"session": challenge["session"]}}, expect=400)
    assert_error(again, "M_UNKNOWN")
    # ... and a new request starts a new challenge.
    assert (await alice.post(GET_TOKEN, {}, expect=401))["session"] != challenge["session"]
    assert await live_tokens(hs) == 1


async def test_wrong_password_gives_no_token(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    challenge = await alice.post(GET_TOKEN, {}, expect=401)
    auth = alice.password_auth(challenge["session"]) | {"password": "wrong password"}
    failed = await alice.post(GET_TOKEN, {"auth": auth}, expect=401)
    assert_error(failed, "M_FORBIDDEN")
    assert failed["completed"] == []
    # Another user's password for alice's request is no better.
    bob = await hs.register("bob")
    assert_error(await alice.post(GET_TOKEN, {"auth": bob.password_auth()}, expect=401), "M_FORBIDDEN")
    assert await live_tokens(hs) == 0


async def test_get_token_bad_input(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    assert_error(await alice.post(GET_TOKEN, [], expect=400), "M_BAD_JSON")
    assert_error(await alice.post(GET_TOKEN, {"auth": "password"}, expect=400), "M_UNKNOWN")
    auth = {"type": "m.login.password", "session": "no-such-session", "password": "x"}
    assert_error(await alice.post(GET_TOKEN, {"auth": auth}, expect=400), "M_UNKNOWN")
    assert_error(await hs.client().post(GET_TOKEN, {}, expect=401), "M_MISSING_TOKEN")
    assert_error(await hs.client("bad").post(GET_TOKEN, {}, expect=401), "M_UNKNOWN_TOKEN")
    assert await live_tokens(hs) == 0


async def test_token_login_refuses_bad_tokens(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    assert alice.access_token is not None
    for token in ("", "nope", alice.access_token, "x" * 10_000, "a\x00b"):
        assert_error(await token_login(hs, token, expect=403), "M_FORBIDDEN")
    assert_error(await token_login(hs, None, expect=400), "M_MISSING_PARAM")
    for wrong_type in (5, ["t"], {"t": 1}, True):
        assert_error(await token_login(hs, wrong_type, expect=400), "M_INVALID_PARAM")
    assert await device_ids(hs, alice.user_id) == {alice.device_id}


async def test_bad_login_fields_leave_the_token_usable(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    token = await get_token(alice)
    assert_error(await token_login(hs, token, device_id=5, expect=400), "M_INVALID_PARAM")
    assert_error(await token_login(hs, token, refresh_token="yes", expect=400), "M_INVALID_PARAM")
    assert_error(await token_login(hs, token, device_id="D" * 300, expect=400), "M_INVALID_PARAM")
    assert await device_ids(hs, alice.user_id) == {alice.device_id}
    body = await token_login(hs, token, device_id="PHONE", refresh_token=True)
    assert body["device_id"] == "PHONE" and "refresh_token" in body


async def test_expired_token_is_refused(hs: HomeserverUnderTest, monkeypatch: pytest.MonkeyPatch) -> None:
    alice = await hs.register("alice")
    token = await get_token(alice)
    real = clock.now_ms
    monkeypatch.setattr("homeserver.short_tokens.now_ms", lambda: real() + 120_000 + 1)
    assert_error(await token_login(hs, token, expect=403), "M_FORBIDDEN")
    assert await device_ids(hs, alice.user_id) == {alice.device_id}


async def test_deactivated_users_token_is_refused(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    token = await get_token(alice)
    await alice.post("/account/deactivate", {"auth": alice.password_auth()})
    assert_error(await token_login(hs, token, expect=403), "M_USER_DEACTIVATED")


async def test_login_flows_and_capability_advertise_it(hs: HomeserverUnderTest) -> None:
    flows = (await hs.client().get("/login"))["flows"]
    assert {"type": "m.login.token", "get_login_token": True} in flows
    assert {"type": "m.login.password"} in flows
    alice = await hs.register("alice")
    assert (await alice.get("/capabilities"))["capabilities"]["m.get_login_token"] == {"enabled": True}


async def test_password_login_still_works(hs: HomeserverUnderTest) -> None:
    await hs.register("alice")
    assert (await hs.login("alice")).user_id is not None
    bad = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"}, "password": "no"}
    assert_error(await hs.client().post("/login", bad, expect=403), "M_FORBIDDEN")
    assert_error(await hs.client().post("/login", {"type": "m.login.sso"}, expect=400), "M_UNKNOWN")


async def test_get_token_rate_limited_per_user(make_hs: MakeServer) -> None:
    hs = await make_hs(rate_limits=limits(login=TIGHT))
    alice = await hs.register("alice")
    await get_token(alice)
    challenge = await alice.post(GET_TOKEN, {}, expect=429)
    assert_limited(alice, challenge)
    assert await live_tokens(hs) == 1
