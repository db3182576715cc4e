"""Cross-signing: keys uploaded (the first time without UIA, a replacement behind UIA) and
queried (the user-signing key only by its owner), bad keys refused with nothing stored,
signatures of devices and master keys uploaded, checked and shown in /keys/query, and
changes reaching those who share a room."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from homeserver.appkeys import DATABASE, DEVICE_LISTS, NOTIFIER
from homeserver.crypto.signing import sign_json
from homeserver.notifier import Stream
from homeserver.storage.tables import (
    e2e_cross_signing_keys,
    e2e_cross_signing_signatures,
    e2e_room_key_versions,
    e2e_room_keys,
)
from tests.clientapi.e2e_helpers import CrossSigning, Device, Ed25519
from tests.clientapi.stream_helpers import shared_room, uid
from tests.clientapi.util import assert_error
from tests.helpers import HomeserverUnderTest, MatrixClient

UPLOAD = "/keys/device_signing/upload"


async def _rows(hs: HomeserverUnderTest) -> tuple[int, int]:
    db = hs.app[DATABASE]
    keys = await db.fetch_value(select(func.count()).select_from(e2e_cross_signing_keys))
    sigs = await db.fetch_value(select(func.count()).select_from(e2e_cross_signing_signatures))
    return int(keys), int(sigs)


async def _query(client: MatrixClient, *users: str) -> Any:
    return await client.post("/keys/query", {"device_keys": {u: [] for u in users}})


async def test_first_upload_needs_no_uia_and_keys_are_queried(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    keys = CrossSigning(alice.user_id)
    assert await alice.post(UPLOAD, keys.all_keys()) == {}

    mine = await _query(alice, alice.user_id)
    assert mine["master_keys"] == {alice.user_id: keys.master_key()}
    assert mine["self_signing_keys"] == {alice.user_id: keys.self_signing_key()}
    assert mine["user_signing_keys"] == {alice.user_id: keys.user_signing_key()}
    theirs = await _query(bob, alice.user_id)
    assert theirs["master_keys"] == mine["master_keys"]
    assert theirs["self_signing_keys"] == mine["self_signing_keys"]
    assert theirs["user_signing_keys"] == {}  # only for its owner


async def test_same_keys_again_need_no_uia_and_new_keys_do(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    keys = CrossSigning(alice.user_id)
    await alice.post(UPLOAD, keys.all_keys())
    assert await alice.post(UPLOAD, keys.all_keys()) == {}  # a retry
    assert await alice.post(UPLOAD, {"master_key": keys.master_key()}) == {}

    new = CrossSigning(alice.user_id)
    challenge = await alice.post(UPLOAD, new.all_keys(), expect=401)
    assert challenge["flows"] == [{"stages": ["m.login.password"]}]
    # A new self-signing key alone is a change too.
    other = CrossSigning(alice.user_id)
    other.master = keys.master
    await alice.post(UPLOAD, {"self_signing_key": other.self_signing_key()}, expect=401)
    assert (await _query(alice, alice.user_id))["master_keys"][alice.user_id] == keys.master_key()

    body = new.all_keys() | {"auth": alice.password_auth(challenge["session"])}
    assert await alice.post(UPLOAD, body) == {}
    assert (await _query(alice, alice.user_id))["master_keys"][alice.user_id] == new.master_key()
    wrong = new.all_keys() | {"auth": alice.password_auth(challenge["session"])}  # session used up
    await alice.post(UPLOAD, CrossSigning(alice.user_id).all_keys() | {"auth": wrong["auth"]}, expect=400)


def _bad_uploads(user_id: str) -> list[tuple[str, dict[str, Any], int, str]]:
    keys, stranger = CrossSigning(user_id), Ed25519()
    return [
        (
            "ssk signed by another key",
            {"self_signing_key": keys.key(keys.self_signing, "self_signing", signer=stranger)}
            | {"master_key": keys.master_key()},
            400,
            "M_INVALID_SIGNATURE",
        ),
        (
            "usk unsigned",
            {
                "master_key": keys.master_key(),
                "user_signing_key": keys.key(keys.user_signing, "user_signing"),
            },
            400,
            "M_INVALID_SIGNATURE",
        ),
        ("ssk without any master key", {"self_signing_key": keys.self_signing_key()}, 400, "M_MISSING_PARAM"),
        ("another user's key", {"master_key": keys.master_key(user_id="@mallory:x")}, 400, "M_INVALID_PARAM"),
        ("wrong usage", {"master_key": keys.master_key(usage=["self_signing"])}, 400, "M_INVALID_PARAM"),
        ("usage not strings", {"master_key": keys.master_key(usage=["master", {}])}, 400, "M_INVALID_PARAM"),
        ("unknown usage", {"master_key": keys.master_key(usage=["master", "admin"])}, 400, "M_INVALID_PARAM"),
        (
            "two keys",
            {"master_key": keys.master_key(keys={"ed25519:a": "a", "ed25519:b": "b"})},
            400,
            "M_INVALID_PARAM",
        ),
        (
            "key ID not the key",
            {"master_key": keys.master_key(keys={f"ed25519:{keys.master.public}": "x"})},
            400,
            "M_INVALID_PARAM",
        ),
        (
            "not ed25519",
            {"master_key": keys.master_key(keys={"curve25519:abc": "abc"})},
            400,
            "M_INVALID_PARAM",
        ),
        ("not an object", {"master_key": "key"}, 400, "M_INVALID_PARAM"),
        ("signatures a list", {"master_key": keys.master_key(signatures=[])}, 400, "M_INVALID_PARAM"),
        ("huge", {"master_key": keys.master_key(extra="x" * 20_000)}, 413, "M_TOO_LARGE"),
    ]


@pytest.mark.parametrize("case", [c for c, _, _, _ in _bad_uploads("@a:b")])
async def test_bad_cross_signing_keys_are_refused(hs: HomeserverUnderTest, case: str) -> None:
    alice = await hs.register("alice")
    ((_, body, status, errcode),) = [b for b in _bad_uploads(alice.user_id) if b[0] == case]
    assert_error(await alice.post(UPLOAD, body, expect=status), errcode)
    assert await _rows(hs) == (0, 0)


async def test_key_named_like_a_device_is_forbidden(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    keys = CrossSigning(alice.user_id)
    # Log in with a device ID equal to the master public key (clients pick their device IDs).
    await hs.login("alice", device_id=keys.master.public)
    assert_error(await alice.post(UPLOAD, keys.all_keys(), expect=403), "M_FORBIDDEN")
    assert await _rows(hs) == (0, 0)


async def test_new_cross_signing_keys_are_a_device_list_change(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    await shared_room(alice, bob)
    lists = hs.app[DEVICE_LISTS]
    since, rooms = lists.position, hs.app[NOTIFIER].positions[Stream.ROOMS]
    keys = CrossSigning(alice.user_id)
    await alice.post(UPLOAD, keys.all_keys())
    now = hs.app[NOTIFIER].positions[Stream.ROOMS]
    assert await lists.for_sync(uid(bob), since, lists.position, rooms, now) == ([alice.user_id], [])
    position = lists.position
    await alice.post(UPLOAD, keys.all_keys())  # the same keys: no change
    assert lists.position == position


async def _set_up(
    hs: HomeserverUnderTest,
) -> tuple[MatrixClient, Device, CrossSigning, MatrixClient, CrossSigning]:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    device = Device(alice)
    await device.upload()
    alice_keys, bob_keys = CrossSigning(alice.user_id), CrossSigning(bob.user_id)
    await alice.post(UPLOAD, alice_keys.all_keys())
    await bob.post(UPLOAD, bob_keys.all_keys())
    return alice, device, alice_keys, bob, bob_keys


async def test_signatures_of_devices_and_master_keys_are_shown(hs: HomeserverUnderTest) -> None:
    alice, device, alice_keys, bob, bob_keys = await _set_up(hs)
    signed_device = sign_json(device.device_keys(), alice.user_id, alice_keys.self_signing)
    signed_master = device.sign(alice_keys.master_key())
    signed_bob = sign_json(bob_keys.master_key(), alice.user_id, alice_keys.user_signing)
    body = {
        alice.user_id: {device.device_id: signed_device, alice_keys.master.public: signed_master},
        bob.user_id: {bob_keys.master.public: signed_bob},
    }
    assert await alice.post("/keys/signatures/upload", body) == {"failures": {}}

    seen_by_bob = await _query(bob, alice.user_id, bob.user_id)
    shown_device = seen_by_bob["device_keys"][alice.user_id][device.device_id]
    assert shown_device["signatures"] == signed_device["signatures"]
    assert seen_by_bob["master_keys"][alice.user_id]["signatures"] == signed_master["signatures"]
    # Alice's signature of bob's master key is hers: bob does not see it, alice does.
    assert seen_by_bob["master_keys"][bob.user_id] == bob_keys.master_key()
    seen_by_alice = await _query(alice, bob.user_id)
    assert seen_by_alice["master_keys"][bob.user_id]["signatures"] == signed_bob["signatures"]

    # The device uploading its keys again keeps the signature.
    await device.upload()
    again = await _query(bob, alice.user_id)
    assert again["device_keys"][alice.user_id][device.device_id]["signatures"] == signed_device["signatures"]


async def test_bad_signatures_are_reported_per_key(hs: HomeserverUnderTest) -> None:
    alice, device, alice_keys, bob, bob_keys = await _set_up(hs)
    stranger = Ed25519()
    forged_device = sign_json(device.device_keys(), alice.user_id, Ed25519(alice_keys.self_signing.public))
    changed_device = sign_json(device.device_keys(algorithms=["x"]), alice.user_id, alice_keys.self_signing)
    forged_bob = sign_json(bob_keys.master_key(), alice.user_id, Ed25519(alice_keys.user_signing.public))
    by_stranger = sign_json(alice_keys.master_key(), alice.user_id, Ed25519(device.device_id, stranger.key))
    body = {
        alice.user_id: {device.device_id: forged_device, alice_keys.master.public: by_stranger, "NOKEY": {}},
        bob.user_id: {bob_keys.master.public: forged_bob, "not-bobs-master": bob_keys.master_key()},
    }
    result = await alice.post("/keys/signatures/upload", body)
    errcodes = {
        user: {key: err["errcode"] for key, err in keys.items()} for user, keys in result["failures"].items()
    }
    assert errcodes == {
        alice.user_id: {
            device.device_id: "M_INVALID_SIGNATURE",
            alice_keys.master.public: "M_INVALID_SIGNATURE",
            "NOKEY": "M_NOT_FOUND",
        },
        bob.user_id: {bob_keys.master.public: "M_INVALID_SIGNATURE", "not-bobs-master": "M_NOT_FOUND"},
    }
    changed = await alice.post("/keys/signatures/upload", {alice.user_id: {device.device_id: changed_device}})
    assert changed["failures"][alice.user_id][device.device_id]["errcode"] == "M_INVALID_PARAM"
    assert await _rows(hs) == (6, 0)
    # A good one next to a bad one is stored.
    good = sign_json(device.device_keys(), alice.user_id, alice_keys.self_signing)
    mixed = {alice.user_id: {device.device_id: good}, bob.user_id: {bob_keys.master.public: forged_bob}}
    assert list((await alice.post("/keys/signatures/upload", mixed))["failures"]) == [bob.user_id]
    assert await _rows(hs) == (6, 1)


async def test_signing_without_a_signing_key_fails(hs: HomeserverUnderTest) -> None:
    alice, bob = await hs.register("alice"), await hs.register("bob")
    device = Device(alice)
    await device.upload()
    bob_keys = CrossSigning(bob.user_id)
    await bob.post(UPLOAD, bob_keys.all_keys())
    body = {
        alice.user_id: {device.device_id: device.device_keys()},
        bob.user_id: {bob_keys.master.public: bob_keys.master_key()},
    }
    result = await alice.post("/keys/signatures/upload", body)
    assert result["failures"][alice.user_id][device.device_id]["errcode"] == "M_MISSING_PARAM"
    assert result["failures"][bob.user_id][bob_keys.master.public]["errcode"] == "M_MISSING_PARAM"


async def test_bad_signature_upload_bodies(hs: HomeserverUnderTest) -> None:
    alice = await hs.register("alice")
    for body in ({"not-a-user": {}}, {"@a:b": []}):
        assert_error(await alice.post("/keys/signatures/upload", body, expect=400), "M_INVALID_PARAM")
    many = {"@a:b": {f"K{i}": {} for i in range(1001)}}
    assert_error(await alice.post("/keys/signatures/upload", many, expect=413), "M_TOO_LARGE")
    result = await alice.post("/keys/signatures/upload", {alice.user_id: {"X": "not an object"}})
    assert result["failures"][alice.user_id]["X"]["errcode"] == "M_INVALID_PARAM"


async def test_deleting_a_device_drops_its_signatures(hs: HomeserverUnderTest) -> None:
    alice, device, alice_keys, _, _ = await _set_up(hs)
    laptop_client = await hs.login("alice")
    laptop = Device(laptop_client)
    await laptop.upload()
    body = {
        alice.user_id: {
            laptop.device_id: sign_json(laptop.device_keys(), alice.user_id, alice_keys.self_signing),
            alice_keys.master.public: laptop.sign(alice_keys.master_key()),
        }
    }
    assert await alice.post("/keys/signatures/upload", body) == {"failures": {}}
    assert await _rows(hs) == (6, 2)
    await alice.delete(f"/devices/{laptop.device_id}", {"auth": alice.password_auth()})
    assert await _rows(hs) == (6, 0)
    shown = await _query(alice, alice.user_id)
    assert list(shown["device_keys"][alice.user_id]) == [device.device_id]
    assert shown["master_keys"][alice.user_id] == alice_keys.master_key()


async def test_deactivation_deletes_keys_signatures_and_backups(hs: HomeserverUnderTest) -> None:
    alice, device, alice_keys, bob, bob_keys = await _set_up(hs)
    signed_device = sign_json(device.device_keys(), alice.user_id, alice_keys.self_signing)
    await alice.post("/keys/signatures/upload", {alice.user_id: {device.device_id: signed_device}})
    bobs_view = sign_json(alice_keys.master_key(), bob.user_id, bob_keys.user_signing)
    await bob.post("/keys/signatures/upload", {alice.user_id: {alice_keys.master.public: bobs_view}})
    body = {"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": {"public_key": "pk"}}
    version = (await alice.post("/room_keys/version", body))["version"]
    backup = {"first_message_index": 0, "forwarded_count": 0, "is_verified": False, "session_data": {}}
    await alice.put(f"/room_keys/keys/!r:x/s?version={version}", backup)
    assert await _rows(hs) == (6, 2)

    await alice.post("/account/deactivate", {"auth": alice.password_auth()})
    assert await _rows(hs) == (3, 0)  # bob's keys stay
    db = hs.app[DATABASE]
    for table in (e2e_room_keys, e2e_room_key_versions):
        assert await db.fetch_value(select(func.count()).select_from(table)) == 0
    shown = await _query(bob, alice.user_id)
    assert shown["device_keys"][alice.user_id] == {} and shown["master_keys"] == {}
