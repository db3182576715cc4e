"""Device management: list, get, rename, and delete behind User-Interactive Auth."""

from __future__ import annotations

from typing import Any

import pytest

from homeserver import clock
from homeserver.uia import SESSION_LIFETIME_MS
from tests.clientapi.util import assert_cors, assert_error, device_ids, has_device, uia_session
from tests.helpers import HomeserverUnderTest


async def test_list_and_get_devices(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice", initial_device_display_name="Phone")
    laptop = await hs.login("alice", initial_device_display_name="Laptop")
    listed = (await alice.get("/devices"))["devices"]
    assert_cors(alice)
    names = {d["device_id"]: d["display_name"] for d in listed}
    assert names == {alice.device_id: "Phone", laptop.device_id: "Laptop"}
    mine = await alice.get(f"/devices/{alice.device_id}")
    assert mine["device_id"] == alice.device_id and mine["display_name"] == "Phone"
    # The middleware noted where the device was last seen.
    assert isinstance(mine["last_seen_ts"], int) and mine["last_seen_ip"] == "127.0.0.1"


async def test_unset_device_fields_are_null_not_absent(hs: HomeserverUnderTest) -> None:
    # The spec's Device leaves unset fields out, but matrix-nio's response schema requires all
    # four keys (nullable), and Synapse sends null: keep them.
    alice = await hs.register("alice")
    unused = await hs.login("alice")  # never makes a request, so never seen
    expected = {
        "device_id": unused.device_id,
        "display_name": None,
        "last_seen_ts": None,
        "last_seen_ip": None,
    }
    listed = {d["device_id"]: d for d in (await alice.get("/devices"))["devices"]}
    assert listed[unused.device_id] == expected
    assert await alice.get(f"/devices/{unused.device_id}") == expected


async def test_devices_of_others_are_not_found(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    bob = await hs.register("bob")
    assert_error(await alice.get(f"/devices/{bob.device_id}", expect=404), "M_NOT_FOUND")
    assert_error(await alice.get("/devices/NOSUCHDEVICE", expect=404), "M_NOT_FOUND")
    err = await alice.put(f"/devices/{bob.device_id}", {"display_name": "pwned"}, expect=404)
    assert_error(err, "M_NOT_FOUND")
    assert (await bob.get(f"/devices/{bob.device_id}"))["display_name"] is None
    err = await alice.delete(f"/devices/{bob.device_id}", {"auth": alice.password_auth()}, expect=404)
    assert_error(err, "M_NOT_FOUND")
    await alice.post("/delete_devices", {"devices": [bob.device_id], "auth": alice.password_auth()})
    assert await has_device(hs, bob.user_id, bob.device_id)
    await bob.get("/account/whoami")
    assert [d["device_id"] for d in (await alice.get("/devices"))["devices"]] == [alice.device_id]


async def test_rename_device(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice", initial_device_display_name="Phone")
    assert await alice.put(f"/devices/{alice.device_id}", {"display_name": "Renamed"}) == {}
    assert (await alice.get(f"/devices/{alice.device_id}"))["display_name"] == "Renamed"
    # No display_name: unchanged.
    await alice.put(f"/devices/{alice.device_id}", {})
    assert (await alice.get(f"/devices/{alice.device_id}"))["display_name"] == "Renamed"


@pytest.mark.parametrize("body", [{"display_name": 5}, {"display_name": ["x"]}, {"display_name": {}}])
async def test_rename_with_wrong_types(hs: HomeserverUnderTest, body: dict[str, Any]) -> None:
    alice = await hs.register("alice", initial_device_display_name="Phone")
    assert_error(await alice.put(f"/devices/{alice.device_id}", body, expect=400), "M_INVALID_PARAM")
    assert (await alice.get(f"/devices/{alice.device_id}"))["display_name"] == "Phone"


async def test_rename_with_bad_bodies(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice", initial_device_display_name="Phone")
    path = f"/devices/{alice.device_id}"
    assert_error(await alice.put(path, data=b"{{", expect=400), "M_NOT_JSON")
    assert_error(await alice.put(path, data=b"[]", expect=400), "M_BAD_JSON")
    assert (await alice.get(path))["display_name"] == "Phone"


async def test_device_endpoints_need_a_token(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    anon = hs.client()
    assert_error(await anon.get("/devices", expect=401), "M_MISSING_TOKEN")
    assert_error(await anon.get(f"/devices/{alice.device_id}", expect=401), "M_MISSING_TOKEN")
    assert_error(
        await anon.put(f"/devices/{alice.device_id}", {"display_name": "x"}, expect=401), "M_MISSING_TOKEN"
    )
    assert_error(await anon.delete(f"/devices/{alice.device_id}", {}, expect=401), "M_MISSING_TOKEN")
    assert_error(await anon.post("/delete_devices", {"devices": []}, expect=401), "M_MISSING_TOKEN")
    assert await has_device(hs, alice.user_id, alice.device_id)


async def test_delete_device_behind_uia(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    laptop = await hs.login("alice")
    path = f"/devices/{laptop.device_id}"
    session = await uia_session(alice, "DELETE", path, {})
    assert await has_device(hs, alice.user_id, laptop.device_id)

    # A wrong password fails the stage, keeps the session, deletes nothing.
    auth = alice.password_auth(session) | {"password": "wrong password"}
    err = await alice.delete(path, {"auth": auth}, expect=401)
    assert_error(err, "M_FORBIDDEN")
    assert err["session"] == session and err["completed"] == []
    assert await has_device(hs, alice.user_id, laptop.device_id)
    await laptop.get("/account/whoami")

    assert await alice.delete(path, {"auth": alice.password_auth(session)}) == {}
    assert not await has_device(hs, alice.user_id, laptop.device_id)
    assert_error(await laptop.get("/account/whoami", expect=401), "M_UNKNOWN_TOKEN")
    await alice.get("/account/whoami")


async def test_delete_own_current_device(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    await alice.delete(f"/devices/{alice.device_id}", {"auth": alice.password_auth()})
    assert_error(await alice.get("/account/whoami", expect=401), "M_UNKNOWN_TOKEN")
    assert await device_ids(hs, alice.user_id) == set()


async def test_legacy_user_field_in_password_auth(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    laptop = await hs.login("alice")
    auth = {"type": "m.login.password", "user": "alice", "password": alice.password}
    await alice.delete(f"/devices/{laptop.device_id}", {"auth": auth})
    assert not await has_device(hs, alice.user_id, laptop.device_id)


async def test_uia_must_prove_the_requesters_identity(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    laptop = await hs.login("alice")
    await hs.register("bob", password="bobs own password")
    path = f"/devices/{laptop.device_id}"
    for auth in (
        {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": "bob"},
            "password": "bobs own password",
        },
        {"type": "m.login.password", "password": alice.password},
        {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"}},
        {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"}, "password": 5},
        {"type": "m.login.dummy"},
        {"type": "m.login.registration_token", "token": "x"},
    ):
        err = await alice.delete(path, {"auth": auth}, expect=401)
        assert_error(err, "M_FORBIDDEN")
    assert await has_device(hs, alice.user_id, laptop.device_id)


async def test_uia_session_bound_to_uri_and_user(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    laptop = await hs.login("alice")
    tablet = await hs.login("alice")
    bob = await hs.register("bob")
    session = await uia_session(alice, "DELETE", f"/devices/{laptop.device_id}", {})
    # The same session for another device: refused.
    err = await alice.delete(
        f"/devices/{tablet.device_id}", {"auth": alice.password_auth(session)}, expect=403
    )
    assert_error(err, "M_FORBIDDEN")
    # For another endpoint: refused.
    body = {"devices": [tablet.device_id], "auth": alice.password_auth(session)}
    assert_error(await alice.post("/delete_devices", body, expect=403), "M_FORBIDDEN")
    # By another user, even with their own password: refused.
    bob_session = await uia_session(bob, "DELETE", f"/devices/{bob.device_id}", {})
    err = await alice.delete(
        f"/devices/{laptop.device_id}", {"auth": alice.password_auth(bob_session)}, expect=403
    )
    assert_error(err, "M_FORBIDDEN")
    # An unknown session.
    err = await alice.delete(
        f"/devices/{laptop.device_id}", {"auth": alice.password_auth("nope")}, expect=400
    )
    assert_error(err, "M_UNKNOWN")
    assert await device_ids(hs, alice.user_id) == {alice.device_id, laptop.device_id, tablet.device_id}
    assert await has_device(hs, bob.user_id, bob.device_id)


async def test_delete_devices(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    others = [await hs.login("alice") for _ in range(3)]
    doomed = [others[0].device_id, others[1].device_id, "NOSUCHDEVICE"]
    session = await uia_session(alice, "POST", "/delete_devices", {"devices": doomed})
    await alice.post("/delete_devices", {"devices": doomed, "auth": alice.password_auth(session)})
    assert await device_ids(hs, alice.user_id) == {alice.device_id, others[2].device_id}
    for client in others[:2]:
        assert_error(await client.get("/account/whoami", expect=401), "M_UNKNOWN_TOKEN")
    await others[2].get("/account/whoami")


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        ({}, "M_MISSING_PARAM"),
        ({"devices": None}, "M_MISSING_PARAM"),
        ({"devices": "ABC"}, "M_INVALID_PARAM"),
        ({"devices": [1, 2]}, "M_INVALID_PARAM"),
        ({"devices": {"ABC": 1}}, "M_INVALID_PARAM"),
        ({"devices": ["A"] * 1001}, "M_INVALID_PARAM"),
    ],
)
async def test_delete_devices_bad_input(hs: HomeserverUnderTest, body: dict[str, Any], errcode: str) -> None:
    alice = await hs.register("alice")
    laptop = await hs.login("alice")
    assert_error(
        await alice.post("/delete_devices", {**body, "auth": alice.password_auth()}, expect=400), errcode
    )
    assert await device_ids(hs, alice.user_id) == {alice.device_id, laptop.device_id}


async def test_delete_devices_wrong_password(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    laptop = await hs.login("alice")
    auth = alice.password_auth() | {"password": "not it at all"}
    err = await alice.post("/delete_devices", {"devices": [laptop.device_id], "auth": auth}, expect=401)
    assert_error(err, "M_FORBIDDEN")
    assert {"stages": ["m.login.password"]} in err["flows"]
    assert await has_device(hs, alice.user_id, laptop.device_id)


async def test_uia_session_expires(hs: HomeserverUnderTest, monkeypatch: pytest.MonkeyPatch) -> None:
    alice = await hs.register("alice")
    laptop = await hs.login("alice")
    path = f"/devices/{laptop.device_id}"
    session = await uia_session(alice, "DELETE", path, {})
    real = clock.now_ms
    monkeypatch.setattr("homeserver.uia.now_ms", lambda: real() + SESSION_LIFETIME_MS + 1)
    err = await alice.delete(path, {"auth": alice.password_auth(session)}, expect=400)
    assert_error(err, "M_UNKNOWN")
    assert await has_device(hs, alice.user_id, laptop.device_id)


async def test_delete_device_bad_bodies(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    laptop = await hs.login("alice")
    path = f"/devices/{laptop.device_id}"
    assert_error(await alice.delete(path, data=b"{", expect=400), "M_NOT_JSON")
    assert_error(await alice.delete(path, data=b"[1]", expect=400), "M_BAD_JSON")
    assert_error(await alice.post("/delete_devices", data=b"\xff", expect=400), "M_NOT_JSON")
    err = await alice.delete(path, {"auth": "m.login.password"}, expect=400)
    assert err["errcode"] in ("M_UNKNOWN", "M_BAD_JSON", "M_INVALID_PARAM")
    assert await has_device(hs, alice.user_id, laptop.device_id)
    await laptop.get("/account/whoami")
