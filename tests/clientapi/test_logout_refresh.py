"""POST /logout, /logout/all and /refresh; expiring access tokens and soft logout."""

from __future__ import annotations

from typing import Any

import pytest

from homeserver import clock
from tests.clientapi.util import assert_error, device_ids, has_device
from tests.helpers import HomeserverUnderTest, MatrixClient


async def login_refreshable(hs: HomeserverUnderTest, name: str = "alice") -> tuple[MatrixClient, str]:
    body = {
        "type": "m.login.password",
        "user": name,
        "password": "correct horse battery",
        "refresh_token": True,
    }
    result = await hs.client().post("/login", body)
    client = hs.client(result["access_token"])
    client.user_id, client.device_id = result["user_id"], result["device_id"]
    return client, result["refresh_token"]


def later(monkeypatch: pytest.MonkeyPatch, ms: int) -> None:
    """Move the server's clock `ms` into the future (for token expiry)."""
    real = clock.now_ms
    monkeypatch.setattr("clientapi.middleware.now_ms", lambda: real() + ms)


async def test_logout_revokes_the_token_and_deletes_the_device(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    laptop = await hs.login("alice")
    assert await alice.post("/logout") == {}
    assert_error(await alice.get("/account/whoami", expect=401), "M_UNKNOWN_TOKEN")
    assert not await has_device(hs, alice.user_id, alice.device_id)
    assert_error(await alice.post("/logout", expect=401), "M_UNKNOWN_TOKEN")
    # Other sessions live on.
    await laptop.get("/account/whoami")
    assert await device_ids(hs, alice.user_id) == {laptop.device_id}


async def test_logout_needs_a_token(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    assert_error(await hs.client().post("/logout", expect=401), "M_MISSING_TOKEN")
    assert_error(await hs.client("nonsense").post("/logout", expect=401), "M_UNKNOWN_TOKEN")
    assert_error(await hs.client().post("/logout/all", expect=401), "M_MISSING_TOKEN")
    assert await device_ids(hs, alice.user_id) == {alice.device_id}


async def test_logout_all(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    others = [await hs.login("alice") for _ in range(3)]
    bob = await hs.register("bob")
    assert await alice.post("/logout/all") == {}
    for client in (alice, *others):
        assert_error(await client.get("/account/whoami", expect=401), "M_UNKNOWN_TOKEN")
    assert await device_ids(hs, alice.user_id) == set()
    await bob.get("/account/whoami")  # other users are untouched
    # The password still works.
    await hs.login("alice")


async def test_logout_ignores_the_body(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    await alice.post("/logout", data=b"")
    assert_error(await alice.get("/account/whoami", expect=401), "M_UNKNOWN_TOKEN")


async def test_refresh_rotates_tokens(hs: HomeserverUnderTest) -> None:
    await hs.register("alice")
    alice, refresh = await login_refreshable(hs)
    result = await hs.client().post("/refresh", {"refresh_token": refresh})
    assert result["expires_in_ms"] == hs.config.access_token_lifetime_ms
    assert result["refresh_token"] != refresh
    fresh = hs.client(result["access_token"])
    me = await fresh.get("/account/whoami")
    assert me == {"user_id": alice.user_id, "device_id": alice.device_id, "is_guest": False}
    # The new access token has been used: the old refresh token is spent.
    err = await hs.client().post("/refresh", {"refresh_token": refresh}, expect=401)
    assert_error(err, "M_UNKNOWN_TOKEN")
    assert err["soft_logout"] is True
    await fresh.get("/account/whoami")  # a refused refresh changes nothing
    # The new refresh token works, once its successor is used the same way.
    again = await hs.client().post("/refresh", {"refresh_token": result["refresh_token"]})
    await hs.client(again["access_token"]).get("/account/whoami")
    assert alice.device_id in await device_ids(hs, alice.user_id)


async def test_refresh_chain_spends_older_tokens(hs: HomeserverUnderTest) -> None:
    await hs.register("alice")
    _, first = await login_refreshable(hs)
    second = (await hs.client().post("/refresh", {"refresh_token": first}))["refresh_token"]
    await hs.client().post("/refresh", {"refresh_token": second})
    err = await hs.client().post("/refresh", {"refresh_token": first}, expect=401)
    assert_error(err, "M_UNKNOWN_TOKEN")


@pytest.mark.parametrize(
    ("body", "status", "errcode"),
    [
        ({}, 400, "M_MISSING_PARAM"),
        ({"refresh_token": None}, 400, "M_MISSING_PARAM"),
        ({"refresh_token": 5}, 400, "M_INVALID_PARAM"),
        ({"refresh_token": ["mr_x"]}, 400, "M_INVALID_PARAM"),
        ({"refresh_token": "mr_unknown"}, 401, "M_UNKNOWN_TOKEN"),
        ({"refresh_token": ""}, 401, "M_UNKNOWN_TOKEN"),
    ],
)
async def test_bad_refresh_requests(
    hs: HomeserverUnderTest, body: dict[str, Any], status: int, errcode: str
) -> None:
    await hs.register("alice")
    alice, refresh = await login_refreshable(hs)
    assert_error(await hs.client().post("/refresh", body, expect=status), errcode)
    # Nothing changed: the session and its refresh token still work.
    await alice.get("/account/whoami")
    await hs.client().post("/refresh", {"refresh_token": refresh})


async def test_refresh_not_json(hs: HomeserverUnderTest) -> None:
    assert_error(await hs.client().post("/refresh", data=b"{", expect=400), "M_NOT_JSON")


async def test_refresh_token_dies_with_its_device(hs: HomeserverUnderTest) -> None:
    await hs.register("alice")
    alice, refresh = await login_refreshable(hs)
    await alice.post("/logout")
    err = await hs.client().post("/refresh", {"refresh_token": refresh}, expect=401)
    assert_error(err, "M_UNKNOWN_TOKEN")
    assert not await has_device(hs, alice.user_id, alice.device_id)


async def test_access_token_is_not_a_refresh_token(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    err = await hs.client().post("/refresh", {"refresh_token": alice.access_token}, expect=401)
    assert_error(err, "M_UNKNOWN_TOKEN")


async def test_expired_access_token_is_a_soft_logout(
    hs: HomeserverUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    await hs.register("alice")
    alice, refresh = await login_refreshable(hs)
    later(monkeypatch, hs.config.access_token_lifetime_ms + 1)
    err = await alice.get("/account/whoami", expect=401)
    assert_error(err, "M_UNKNOWN_TOKEN")
    assert err["soft_logout"] is True
    # The device survives a soft logout, and refreshing brings the session back.
    assert await has_device(hs, alice.user_id, alice.device_id)
    monkeypatch.undo()
    result = await hs.client().post("/refresh", {"refresh_token": refresh})
    await hs.client(result["access_token"]).get("/account/whoami")


async def test_tokens_without_refresh_never_expire(
    hs: HomeserverUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await hs.register("alice")
    later(monkeypatch, 10 * 365 * 24 * 3600 * 1000)
    await alice.get("/account/whoami")


async def test_token_just_before_expiry_works(
    hs: HomeserverUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    await hs.register("alice")
    alice, _ = await login_refreshable(hs)
    later(monkeypatch, hs.config.access_token_lifetime_ms - 60_000)
    await alice.get("/account/whoami")


async def test_short_lifetime_from_config(make_hs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    hs = await make_hs(access_token_lifetime_ms=60_000)
    await hs.register("alice")
    alice, _ = await login_refreshable(hs)
    later(monkeypatch, 60_001)
    err = await alice.get("/account/whoami", expect=401)
    assert err["soft_logout"] is True


async def test_lost_refresh_response_can_be_retried(hs: HomeserverUnderTest) -> None:
    """Spec: the old refresh token stays valid until the new access or refresh token is used."""
    await hs.register("alice")
    _, refresh = await login_refreshable(hs)
    lost = await hs.client().post("/refresh", {"refresh_token": refresh})
    retried = await hs.client().post("/refresh", {"refresh_token": refresh})
    assert retried["access_token"] != lost["access_token"]
    # The newest pair replaced the unused one.
    err = await hs.client(lost["access_token"]).get("/account/whoami", expect=401)
    assert_error(err, "M_UNKNOWN_TOKEN")
    await hs.client(retried["access_token"]).get("/account/whoami")
    # Now that the new access token was used, the original refresh token is spent.
    err = await hs.client().post("/refresh", {"refresh_token": refresh}, expect=401)
    assert_error(err, "M_UNKNOWN_TOKEN")
    await hs.client().post("/refresh", {"refresh_token": retried["refresh_token"]})
